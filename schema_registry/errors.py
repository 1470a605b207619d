"""Errors of the schema registry, each carrying Confluent's HTTP status and error code.

Each class carries Confluent's ``error_code``; the HTTP status for each family comes from the
one table in ``strangler.schema_registry.error_responses``. Codes and messages follow
Confluent's ``Errors.java`` so that standard clients branch on them as they would against
Confluent's own registry.
"""

from __future__ import annotations

from strangler.core.errors import StranglerError


class RegistryError(StranglerError):
    """Root of every error the registry reports to a client."""

    error_code: int = 500


class StoreError(RegistryError):
    """The storage log could not be written or read (50001)."""

    retriable = True
    error_code = 50001


class OperationTimeout(RegistryError):
    """A write was not read back from the log in time (50002)."""

    retriable = True
    error_code = 50002


class ForwardingFailed(RegistryError):
    """A follower could not forward a write to the elected writer (50003)."""

    retriable = True
    error_code = 50003


class UnknownLeader(RegistryError):
    """No writer is elected yet, so writes cannot be served (50004)."""

    retriable = True
    error_code = 50004


class BadRequest(RegistryError):
    """The request body is not JSON (Jersey's JSON parse error mapping: 400)."""

    error_code = 400


class NotFound(RegistryError):
    """Base of the 404 family."""

    error_code = 404


class SubjectNotFound(NotFound):
    error_code = 40401

    def __init__(self, subject: str) -> None:
        super().__init__(f"Subject '{subject}' not found.")


class VersionNotFound(NotFound):
    error_code = 40402

    def __init__(self, version: int | str) -> None:
        super().__init__(f"Version {version} not found.")


class SchemaNotFound(NotFound):
    error_code = 40403

    def __init__(self, message: str = "Schema not found") -> None:
        super().__init__(message)


class SubjectSoftDeleted(NotFound):
    error_code = 40404

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
        )


class SubjectNotSoftDeleted(NotFound):
    error_code = 40405

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"Subject '{subject}' was not deleted first before being permanently deleted"
        )


class VersionSoftDeleted(NotFound):
    error_code = 40406

    def __init__(self, subject: str, version: int) -> None:
        super().__init__(
            f"Subject '{subject}' Version {version} was soft deleted."
            "Set permanent=true to delete permanently"
        )


class VersionNotSoftDeleted(NotFound):
    error_code = 40407

    def __init__(self, subject: str, version: int) -> None:
        super().__init__(
            f"Subject '{subject}' Version {version} was not deleted first"
            " before being permanently deleted"
        )


class SubjectConfigNotFound(NotFound):
    error_code = 40408

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"Subject '{subject}' does not have subject-level compatibility configured"
        )


class SubjectModeNotFound(NotFound):
    error_code = 40409

    def __init__(self, subject: str) -> None:
        super().__init__(f"Subject '{subject}' does not have subject-level mode configured")


class IncompatibleSchema(RegistryError):
    """The schema breaks the subject's compatibility level (HTTP 409)."""

    error_code = 409

    def __init__(self, subject: str, messages: tuple[str, ...]) -> None:
        details = ", ".join(messages)
        super().__init__(
            "Schema being registered is incompatible with an earlier schema for subject "
            f'"{subject}", details: [{details}]'
        )
        self.messages = messages


class Unprocessable(RegistryError):
    """Base of the 422 family."""

    error_code = 422


class InvalidSchema(Unprocessable):
    error_code = 42201


class InvalidVersion(Unprocessable):
    error_code = 42202

    def __init__(self, text: str) -> None:
        super().__init__(
            f"The specified version '{text}' is not a valid version id. Allowed values are"
            ' between [1, 2^31-1] and the string "latest"'
        )


class InvalidCompatibilityLevel(Unprocessable):
    error_code = 42203

    def __init__(self) -> None:
        super().__init__(
            "Invalid compatibility level. Valid values are none, backward, forward, full,"
            " backward_transitive, forward_transitive, and full_transitive"
        )


class InvalidMode(Unprocessable):
    error_code = 42204

    def __init__(self) -> None:
        super().__init__("Invalid mode. Valid values are READWRITE, READONLY, IMPORT and FORWARD.")


class OperationNotPermitted(Unprocessable):
    error_code = 42205


class ReferenceExists(Unprocessable):
    error_code = 42206


class IdMismatch(Unprocessable):
    error_code = 42207


class InvalidSubject(Unprocessable):
    error_code = 42208

    def __init__(self, subject: str) -> None:
        super().__init__(f"The specified subject '{subject}' is not a valid.")


class SchemaTooLarge(Unprocessable):
    error_code = 42209


class ContextNotEmpty(Unprocessable):
    error_code = 42211


class ServiceStartFailed(RegistryError):
    """The registry server or its storage could not start."""

    retriable = True
