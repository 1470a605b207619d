"""Config loading: strict keys with suggestions, locations, interpolation, secrets."""

from __future__ import annotations

from enum import StrEnum

import pytest
from pydantic import Field

from strangler.core.config import Secret, StrictModel, load_config
from strangler.core.errors import ConfigError

pytestmark = pytest.mark.unit


class Mode(StrEnum):
    FAST = "fast"
    SAFE = "safe"


class Database(StrictModel):
    host: str
    """Host name."""
    port: int = Field(default=5432, ge=1, le=65535)
    """Port."""
    password: Secret | None = None
    """Password."""


class Root(StrictModel):
    name: str
    """Name."""
    mode: Mode = Mode.SAFE
    """Mode."""
    databases: list[Database] = Field(default_factory=list)
    """Databases."""
    primary: Database | None = None
    """The primary."""


def error_of(text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(text, Root, name="p.yaml", environ=environ or {})
    return str(info.value)


def test_valid_file_gives_typed_frozen_model() -> None:
    cfg = load_config("name: x\nmode: fast\nprimary: {host: h, port: 1}\n", Root, environ={})
    assert cfg.mode is Mode.FAST
    assert cfg.primary is not None and cfg.primary.port == 1
    with pytest.raises(ValueError, match="frozen"):
        cfg.name = "y"


def test_unknown_key_names_line_and_closest_key() -> None:
    message = error_of("name: x\nprimary:\n  host: h\n  prot: 5432\n")
    assert "p.yaml:4:3: primary.prot: unknown key; did you mean 'port'?" in message


def test_unknown_key_in_list_item_is_located() -> None:
    message = error_of("name: x\ndatabases:\n  - host: a\n  - host: b\n    hots: c\n")
    assert "p.yaml:5:5: databases.1.hots: unknown key; did you mean 'host'?" in message


def test_unknown_key_without_close_match_lists_valid_keys() -> None:
    message = error_of("name: x\nzzz: 1\n")
    assert "unknown key; valid keys: databases, mode, name, primary" in message


def test_wrong_type_and_enum_are_located_with_value() -> None:
    message = error_of("name: x\nmode: turbo\nprimary: {host: h, port: abc}\n")
    assert "p.yaml:2:1: mode: Input should be 'fast' or 'safe' (got 'turbo')" in message
    assert "p.yaml:3:" in message and "primary.port" in message


def test_missing_required_key() -> None:
    assert "p.yaml:2:1: primary.host: required key is missing" in error_of("name: x\nprimary: {}\n")


def test_interpolation_with_env_and_default_and_escape() -> None:
    text = "name: ${N}-${M:-dflt}-$${LITERAL}\nprimary: {host: '${H:-localhost}'}\n"
    cfg = load_config(text, Root, environ={"N": "pipe"})
    assert cfg.name == "pipe-dflt-${LITERAL}"
    assert cfg.primary is not None and cfg.primary.host == "localhost"


def test_missing_variable_names_variable_line_and_fix() -> None:
    message = error_of("name: x\nprimary:\n  host: ${DB_HOST}\n")
    assert "p.yaml:3:3: environment variable DB_HOST is not set" in message
    assert "${DB_HOST:-default}" in message


def test_secret_and_interpolated_values_never_printed() -> None:
    text = "name: x\nprimary: {host: h, port: '${P}', password: {nested: hunter2}}\n"
    message = error_of(text, environ={"P": "s3cr3t-port"})
    assert "s3cr3t-port" not in message
    assert "hunter2" not in message
    cfg = load_config("name: x\nprimary: {host: h, password: hunter2}\n", Root, environ={})
    assert "hunter2" not in repr(cfg)
    assert cfg.primary is not None and cfg.primary.password is not None
    assert cfg.primary.password.get_secret_value() == "hunter2"


def test_duplicate_keys_rejected() -> None:
    assert "p.yaml:3:1: duplicate key 'name'" in error_of("name: x\nmode: fast\nname: y\n")


def test_yaml_syntax_error_has_line_and_column() -> None:
    message = error_of("name: x\nprimary:\n  host: [unclosed\n")
    assert message.startswith("p.yaml:")
    assert "invalid YAML" in message


def test_merge_keys_and_anchors() -> None:
    text = "name: x\nbase: &b {host: h, port: 7}\n"
    with pytest.raises(ConfigError, match="base: unknown key"):
        load_config(text, Root, name="p.yaml", environ={})
    text = "name: x\ndatabases:\n  - &b {host: h, port: 7}\n  - <<: *b\n    port: 8\n"
    cfg = load_config(text, Root, environ={})
    assert [(d.host, d.port) for d in cfg.databases] == [("h", 7), ("h", 8)]


def test_empty_file_reports_required_keys() -> None:
    assert "name: required key is missing" in error_of("")


def test_field_docs_come_from_attribute_docstrings() -> None:
    assert Database.model_fields["port"].description == "Port."
