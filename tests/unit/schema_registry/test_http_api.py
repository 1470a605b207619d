"""Every REST resource, success and error responses, against a real server on loopback."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.unit.schema_registry.conftest import Api, expect_error

pytestmark = pytest.mark.unit


def user(*extra_fields: dict[str, Any], name: str = "User", **props: Any) -> dict[str, Any]:
    fields = [{"name": "id", "type": "long"}, *extra_fields]
    return {"type": "record", "name": name, "fields": fields, **props}


EMAIL = {"name": "email", "type": ["null", "string"], "default": None}
PHONE = {"name": "phone", "type": "string"}  # no default: not backward compatible


# -- root, metadata, framework errors ----------------------------------------------------------


def test_root_answers_empty_object(api: Api) -> None:
    assert api.get("/").json() == {}
    assert api.post("/", {}).json() == {}


def test_unknown_route_and_wrong_method_use_the_envelope(api: Api) -> None:
    body = expect_error(api.get("/nope"), 404, 404)
    assert body["message"] == "HTTP 404 Not Found"
    assert (
        expect_error(api.put("/subjects", {}), 405, 405)["message"] == "HTTP 405 Method Not Allowed"
    )
    expect_error(api.get("/associations/subjects/x-value"), 404, 404)
    expect_error(api.get("/associations/resources/-/topic?resourceType=topic"), 404, 404)


def test_openapi_document_is_published(api: Api) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert "/subjects/{subject}/versions" in paths
    assert "/schemas/ids/{schema_id}" in paths


def test_health_and_metrics(api: Api) -> None:
    assert api.get("/health").json() == {"status": "UP", "writer": True}
    api.get("/subjects")
    metrics = api.get("/metrics").text
    assert 'schema_registry_requests_total{method="GET",route="/subjects",status="200"}' in metrics


# -- content negotiation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/vnd.schemaregistry.v1+json"),
        ("*/*", "application/vnd.schemaregistry.v1+json"),
        ("*", "application/vnd.schemaregistry.v1+json"),
        ("application/*", "application/vnd.schemaregistry.v1+json"),
        ("application/json", "application/json"),
        ("application/vnd.schemaregistry+json", "application/vnd.schemaregistry+json"),
        (
            "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json,"
            " application/json",
            "application/vnd.schemaregistry.v1+json",
        ),
        ("application/json;q=0.9, application/vnd.schemaregistry+json;q=0.5", "application/json"),
    ],
)
def test_response_media_type_follows_accept(api: Api, accept: str | None, expected: str) -> None:
    headers = {} if accept is None else {"Accept": accept}
    response = api.get("/subjects", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == expected


@pytest.mark.parametrize("accept", ["text/*", "text/html", "application/octet-stream"])
def test_unacceptable_accept_is_406(api: Api, accept: str) -> None:
    body = expect_error(api.get("/subjects", headers={"Accept": accept}), 406, 406)
    assert body["message"] == "HTTP 406 Not Acceptable"


def test_unsupported_request_type_is_415(api: Api) -> None:
    response = api.post(
        "/subjects/s/versions", {"schema": '"int"'}, headers={"Content-Type": "text/html"}
    )
    assert expect_error(response, 415, 415)["message"] == "HTTP 415 Unsupported Media Type"


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/octet-stream", "application/vnd.schemaregistry+json"],
)
def test_accepted_request_types(api: Api, content_type: str) -> None:
    response = api.post(
        "/subjects/s/versions", {"schema": '"int"'}, headers={"Content-Type": content_type}
    )
    assert response.json() == {"id": 1}


def test_request_charset_is_honoured(api: Api) -> None:
    body = json.dumps({"schema": json.dumps(user(doc="naïve ✓"))}).encode("utf-16")
    headers = {"Content-Type": "application/vnd.schemaregistry.v1+json; charset=utf-16"}
    assert api.post("/subjects/s/versions", body, headers=headers).json() == {"id": 1}
    assert "naïve ✓" in api.get("/schemas/ids/1").json()["schema"]


# -- registration ---------------------------------------------------------------------------------


def test_register_returns_only_the_id_and_is_idempotent(api: Api) -> None:
    first = api.register("users-value", user())
    assert first.status_code == 200 and first.json() == {"id": 1}
    assert api.register("users-value", user()).json() == {"id": 1}
    assert api.get("/subjects/users-value/versions").json() == [1]


def test_same_schema_gets_the_same_id_under_every_subject(api: Api) -> None:
    assert api.register("a", user()).json() == {"id": 1}
    spaced = json.dumps(user(), indent=4)
    assert api.register("b", spaced).json() == {"id": 1}
    assert api.register("c", user(doc="now documented")).json() == {"id": 2}


def test_stored_schema_is_the_canonical_string(api: Api) -> None:
    api.register("s", {"type": "string"})
    assert api.get("/schemas/ids/1").json() == {"schemaType": "AVRO", "schema": '"string"'}
    api.register("r", {"fields": [{"type": "int", "name": "a"}], "name": "R", "type": "record"})
    assert (
        api.get("/schemas/ids/2").json()["schema"]
        == '{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}'
    )


def test_unknown_request_fields_are_ignored(api: Api) -> None:
    body: dict[str, Any] = {
        "schema": json.dumps(user()),
        "schemaType": "AVRO",
        "references": [],
        "metadata": {"properties": {}},
        "ruleSet": None,
        "schemaTagsToAdd": [],
    }
    assert api.post("/subjects/s/versions", body).json() == {"id": 1}


def test_incompatible_schema_is_409(api: Api) -> None:
    api.register("users-value", user())
    body = expect_error(api.register("users-value", user(PHONE)), 409, 409)
    assert body["message"].startswith(
        "Schema being registered is incompatible with an earlier schema"
    )
    assert api.register("users-value", user(EMAIL)).json() == {"id": 2}
    assert api.get("/subjects/users-value/versions").json() == [1, 2]


def test_force_skips_the_compatibility_check(api: Api) -> None:
    api.register("s", user())
    assert api.post(
        "/subjects/s/versions?force=true", {"schema": json.dumps(user(PHONE))}
    ).json() == {"id": 2}


@pytest.mark.parametrize(
    "schema",
    [
        "",
        "{",
        '{"type":"record","name":"1bad","fields":[]}',
        '{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}',
        '{"type":"enum","name":"E","symbols":["A","A"]}',
        '{"type":"nope"}',
        '{"type":"record","name":"R","fields":[{"name":"a","type":"Missing"}]}',
        '{"type":"fixed","name":"F","size":-1}',
        '["int","int"]',
        "[" * 5000 + "]" * 5000,
    ],
)
def test_invalid_schemas_are_42201(api: Api, schema: str) -> None:
    expect_error(api.post("/subjects/s/versions", {"schema": schema}), 422, 42201)


def test_missing_schema_field_is_42201(api: Api) -> None:
    expect_error(api.post("/subjects/s/versions", {"schemaType": "AVRO"}), 422, 42201)


def test_unsupported_schema_type_is_42201(api: Api) -> None:
    expect_error(
        api.post("/subjects/s/versions", {"schema": "{}", "schemaType": "PROTOBUF"}), 422, 42201
    )


def test_invalid_json_body_is_400(api: Api) -> None:
    expect_error(api.post("/subjects/s/versions", "{not json"), 400, 400)


@pytest.mark.parametrize(
    "body",
    ["[]", '"x"', '{"schema": {"type": "string"}}', '{"schema": "\\"int\\"", "references": {}}'],
)
def test_wrongly_shaped_json_is_422(api: Api, body: str) -> None:
    expect_error(api.post("/subjects/s/versions", body), 422, 422)


def test_huge_schema_is_42209(api: Api) -> None:
    fields = [{"name": f"f{i}", "type": "string", "doc": "x" * 100} for i in range(3000)]
    expect_error(api.register("s", user(*fields)), 422, 42209)


@pytest.mark.parametrize("subject", ["bad%01subject", "__GLOBAL", "tab%09in"])
def test_invalid_subject_is_42208(api: Api, subject: str) -> None:
    expect_error(api.register(subject, '"string"'), 422, 42208)


def test_id_in_readwrite_mode_is_refused(api: Api) -> None:
    expect_error(api.post("/subjects/s/versions", {"schema": '"int"', "id": 7}), 422, 42205)


def test_url_encoded_subject_and_trailing_slash(api: Api) -> None:
    assert api.register("my%2Fsubject", '"string"').json() == {"id": 1}
    assert api.get("/subjects").json() == ["my/subject"]
    assert api.post("/subjects/my%2Fsubject/versions/", {"schema": '"string"'}).json() == {"id": 1}
    assert api.get("/subjects/my%2Fsubject/versions/latest/").json()["subject"] == "my/subject"
    response = api.get("/subjects/", follow_redirects=False)
    assert response.status_code == 200 and response.json() == ["my/subject"]


# -- subjects and versions ------------------------------------------------------------------------


def test_subjects_listing_filters(api: Api) -> None:
    for subject in ("a-value", "a-key", "b-value"):
        api.register(subject, user())
    api.delete("/subjects/b-value")
    assert api.get("/subjects").json() == ["a-key", "a-value"]
    assert api.get("/subjects?subjectPrefix=a-v").json() == ["a-value"]
    assert api.get("/subjects?subject=a-k").json() == ["a-key"]
    assert api.get("/subjects?deleted=true").json() == ["a-key", "a-value", "b-value"]
    assert api.get("/subjects?deletedOnly=true").json() == ["b-value"]
    assert api.get("/subjects?offset=1&limit=1").json() == ["a-value"]
    expect_error(api.get("/subjects?offset=x"), 404, 404)


def test_lookup_finds_the_version(api: Api) -> None:
    api.register("s", user())
    api.register("s", user(EMAIL))
    found = api.post(
        "/subjects/s", {"schema": json.dumps(user(), indent=2), "references": []}
    ).json()
    assert found == {
        "subject": "s",
        "version": 1,
        "id": 1,
        "schemaType": "AVRO",
        "schema": api.get("/schemas/ids/1").json()["schema"],
    }
    expect_error(api.post("/subjects/s", {"schema": json.dumps(user(PHONE))}), 404, 40403)
    expect_error(api.post("/subjects/other", {"schema": json.dumps(user())}), 404, 40401)
    expect_error(api.post("/subjects/s", {"schema": "{bad"}), 422, 42201)


def test_lookup_of_soft_deleted_needs_deleted_flag(api: Api) -> None:
    api.register("s", user())
    api.register("s", user(EMAIL))
    api.delete("/subjects/s/versions/1")
    body = {"schema": json.dumps(user())}
    expect_error(api.post("/subjects/s", body), 404, 40403)
    assert api.post("/subjects/s?deleted=true", body).json()["version"] == 1


def test_get_version_forms(api: Api) -> None:
    api.register("s", user())
    api.register("s", user(EMAIL))
    assert api.get("/subjects/s/versions/1").json()["id"] == 1
    assert api.get("/subjects/s/versions/latest").json()["version"] == 2
    assert api.get("/subjects/s/versions/-1").json()["version"] == 2
    assert json.loads(api.get("/subjects/s/versions/1/schema").text) == user()
    expect_error(api.get("/subjects/s/versions/3"), 404, 40402)
    expect_error(api.get("/subjects/nope/versions/1"), 404, 40401)
    expect_error(api.get("/subjects/nope/versions"), 404, 40401)


@pytest.mark.parametrize("version", ["0", "-2", "abc", "2147483648", "1.5"])
def test_invalid_versions_are_42202(api: Api, version: str) -> None:
    api.register("s", user())
    body = expect_error(api.get(f"/subjects/s/versions/{version}"), 422, 42202)
    assert body["message"].startswith(
        f"The specified version '{version}' is not a valid version id."
    )


def test_soft_and_permanent_version_delete(api: Api) -> None:
    api.register("s", user())
    api.register("s", user(EMAIL))
    expect_error(api.delete("/subjects/s/versions/1?permanent=true"), 404, 40407)
    assert api.delete("/subjects/s/versions/1").json() == 1
    expect_error(api.delete("/subjects/s/versions/1"), 404, 40406)
    assert api.get("/subjects/s/versions").json() == [2]
    assert api.get("/subjects/s/versions?deleted=true").json() == [1, 2]
    assert api.get("/subjects/s/versions?deletedAsNegative=true").json() == [-1, 2]
    assert api.get("/subjects/s/versions?deletedOnly=true").json() == [1]
    expect_error(api.get("/subjects/s/versions/1"), 404, 40402)
    assert api.get("/subjects/s/versions/1?deleted=true").json()["id"] == 1
    assert api.get("/schemas/ids/1").status_code == 200  # soft-deleted schemas stay readable
    assert api.delete("/subjects/s/versions/1?permanent=true").json() == 1
    expect_error(api.delete("/subjects/s/versions/1?permanent=true"), 404, 40402)
    expect_error(api.get("/schemas/ids/1"), 404, 40403)
    expect_error(api.delete("/subjects/s/versions/9"), 404, 40402)
    expect_error(api.delete("/subjects/none/versions/1"), 404, 40401)


def test_soft_and_permanent_subject_delete(api: Api) -> None:
    api.register("s", user())
    api.register("s", user(EMAIL))
    expect_error(api.delete("/subjects/s?permanent=true"), 404, 40405)
    assert api.delete("/subjects/s").json() == [1, 2]
    expect_error(api.delete("/subjects/s"), 404, 40404)
    expect_error(api.get("/subjects/s/versions"), 404, 40401)
    assert api.delete("/subjects/s?permanent=true").json() == [1, 2]
    expect_error(api.delete("/subjects/s"), 404, 40401)
    assert api.get("/subjects?deleted=true").json() == []


def test_reregister_after_soft_delete_keeps_ids_and_continues_versions(api: Api) -> None:
    api.register("s", user())
    api.register("s", user(EMAIL))
    api.delete("/subjects/s")
    assert api.register("s", user()).json() == {"id": 1}
    assert api.register("s", user(EMAIL)).json() == {"id": 2}
    assert api.get("/subjects/s/versions").json() == [3, 4]


def test_reregister_after_permanent_delete_restarts_versions_keeps_ids(api: Api) -> None:
    api.register("s", user())
    api.delete("/subjects/s")
    api.delete("/subjects/s?permanent=true")
    assert api.register("s", user(PHONE)).json() == {"id": 2}
    assert api.register("s2", user()).json() == {"id": 1}
    assert api.get("/subjects/s/versions").json() == [1]


def test_only_deleted_versions_mean_no_check(api: Api) -> None:
    api.register("s", user())
    api.delete("/subjects/s")
    assert api.register("s", user(PHONE)).json() == {"id": 2}


# -- schemas by id --------------------------------------------------------------------------------


def test_schema_by_id_resources(api: Api) -> None:
    api.register("a", user())
    api.register("b", user())
    assert api.get("/schemas/ids/1?subject=a&fetchMaxId=false").json()["schemaType"] == "AVRO"
    assert json.loads(api.get("/schemas/ids/1/schema").text) == user()
    assert api.get("/schemas/ids/1/subjects").json() == ["a", "b"]
    assert api.get("/schemas/ids/1/versions").json() == [
        {"subject": "a", "version": 1},
        {"subject": "b", "version": 1},
    ]
    api.delete("/subjects/b")
    assert api.get("/schemas/ids/1/subjects").json() == ["a"]
    assert api.get("/schemas/ids/1/subjects?deleted=true").json() == ["a", "b"]
    expect_error(api.get("/schemas/ids/99"), 404, 40403)
    assert expect_error(api.get("/schemas/ids/99"), 404, 40403)["message"] == "Schema 99 not found"
    expect_error(api.get("/schemas/ids/99/schema"), 404, 40403)
    expect_error(api.get("/schemas/ids/99/subjects"), 404, 40403)
    expect_error(api.get("/schemas/ids/99/versions"), 404, 40403)
    expect_error(api.get("/schemas/ids/abc"), 404, 404)
    expect_error(api.get("/schemas/ids/99999999999"), 404, 404)


def test_schema_types_and_listing(api: Api) -> None:
    assert api.get("/schemas/types").json() == ["AVRO"]
    api.register("a", user())
    api.register("a", user(EMAIL))
    api.register("b", '"string"')
    listed = api.get("/schemas").json()
    assert [(s["subject"], s["version"]) for s in listed] == [("a", 1), ("a", 2), ("b", 1)]
    latest = api.get("/schemas?latestOnly=true&subjectPrefix=a").json()
    assert [(s["subject"], s["version"]) for s in latest] == [("a", 2)]
    assert len(api.get("/schemas?offset=1&limit=1").json()) == 1


# -- compatibility --------------------------------------------------------------------------------


def test_compatibility_against_a_version(api: Api) -> None:
    api.register("s", user())
    ok = api.post("/compatibility/subjects/s/versions/latest", {"schema": json.dumps(user(EMAIL))})
    assert ok.json() == {"is_compatible": True}
    bad = api.post(
        "/compatibility/subjects/s/versions/1?verbose=true", {"schema": json.dumps(user(PHONE))}
    ).json()
    assert bad["is_compatible"] is False
    assert any("READER_FIELD_MISSING_DEFAULT_VALUE" in m for m in bad["messages"])
    assert api.post(
        "/compatibility/subjects/s/versions/1", {"schema": json.dumps(user(PHONE))}
    ).json() == {"is_compatible": False}


def test_compatibility_edge_cases(api: Api) -> None:
    body = {"schema": json.dumps(user())}
    assert api.post("/compatibility/subjects/missing/versions/latest", body).json() == {
        "is_compatible": True
    }
    expect_error(api.post("/compatibility/subjects/missing/versions/1", body), 404, 40402)
    api.register("s", user())
    expect_error(api.post("/compatibility/subjects/s/versions/2", body), 404, 40402)
    expect_error(api.post("/compatibility/subjects/s/versions/0", body), 422, 42202)
    expect_error(
        api.post("/compatibility/subjects/s/versions/latest", {"schema": "{bad"}), 422, 42201
    )
    verbose = api.post(
        "/compatibility/subjects/s/versions/latest?verbose=true", {"schema": "{bad"}
    ).json()
    assert verbose["is_compatible"] is False and verbose["messages"]


def test_compatibility_against_all_versions_uses_the_level(api: Api) -> None:
    api.register("s", user())
    api.register("s", user(EMAIL))
    candidate = {"schema": json.dumps(user({"name": "email", "type": ["null", "string"]}))}
    assert api.post("/compatibility/subjects/s/versions/", candidate).json() == {
        "is_compatible": True
    }
    api.put("/config/s", {"compatibility": "BACKWARD_TRANSITIVE"})
    assert api.post("/compatibility/subjects/s/versions", candidate).json() == {
        "is_compatible": False
    }


# -- config ---------------------------------------------------------------------------------------


def test_global_config(api: Api) -> None:
    assert api.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert api.put("/config", {"compatibility": "full"}).json() == {"compatibility": "FULL"}
    assert api.get("/config/").json() == {"compatibilityLevel": "FULL"}
    assert api.delete("/config").json() == {"compatibilityLevel": "FULL"}
    assert api.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    body = expect_error(api.put("/config", {"compatibility": "SIDEWAYS"}), 422, 42203)
    assert body["message"].startswith("Invalid compatibility level")
    expect_error(api.put("/config", {}), 422, 42203)


def test_subject_config(api: Api) -> None:
    expect_error(api.get("/config/s"), 404, 40408)
    assert api.get("/config/s?defaultToGlobal=true").json() == {"compatibilityLevel": "BACKWARD"}
    assert api.put("/config/s", {"compatibility": "NONE", "normalize": False}).json() == {
        "compatibility": "NONE"
    }
    assert api.get("/config/s").json() == {"compatibilityLevel": "NONE"}
    api.register("s", user())
    assert api.register("s", '"string"').json() == {"id": 2}  # NONE allows anything
    assert api.delete("/config/s").json() == {"compatibilityLevel": "NONE"}
    expect_error(api.delete("/config/s"), 404, 40401)
    expect_error(api.put("/config/__GLOBAL", {"compatibility": "NONE"}), 422, 42208)


# -- mode -----------------------------------------------------------------------------------------


def test_mode_readonly_refuses_writes(api: Api) -> None:
    assert api.get("/mode").json() == {"mode": "READWRITE"}
    api.register("s", user())
    assert api.put("/mode", {"mode": "READONLY"}).json() == {"mode": "READONLY"}
    expect_error(api.register("s", user(EMAIL)), 422, 42205)
    assert api.register("s", user()).json() == {"id": 1}  # idempotent answers still work
    expect_error(api.delete("/subjects/s"), 422, 42205)
    assert api.put("/mode", {"mode": "READWRITE"}).json() == {"mode": "READWRITE"}
    expect_error(api.put("/mode", {"mode": "SOMETIMES"}), 422, 42204)


def test_import_mode_keeps_callers_ids(api: Api) -> None:
    api.register("s", user())
    expect_error(api.put("/mode", {"mode": "IMPORT"}), 422, 42205)
    assert api.put("/mode?force=true", {"mode": "IMPORT"}).json() == {"mode": "IMPORT"}
    imported = {"schema": json.dumps(user(PHONE)), "id": 42, "version": 7}
    assert api.post("/subjects/t/versions", imported).json() == {"id": 42}
    assert api.get("/subjects/t/versions").json() == [7]
    clash = {"schema": '"string"', "id": 42, "version": 8}
    expect_error(api.post("/subjects/t/versions", clash), 422, 42207)
    overwrite = {"schema": '"string"', "id": 50, "version": 7}
    expect_error(api.post("/subjects/t/versions", overwrite), 422, 42205)
    api.put("/mode", {"mode": "READWRITE"})
    assert api.register("u", '"string"').json() == {"id": 43}


def test_subject_mode(api: Api) -> None:
    expect_error(api.get("/mode/s"), 404, 40409)
    assert api.get("/mode/s?defaultToGlobal=true").json() == {"mode": "READWRITE"}
    assert api.put("/mode/s", {"mode": "READONLY"}).json() == {"mode": "READONLY"}
    expect_error(api.register("s", user()), 422, 42205)
    assert api.register("other", user()).json() == {"id": 1}
    assert api.delete("/mode/s").json() == {"mode": "READONLY"}
    expect_error(api.delete("/mode/s"), 404, 40409)
    expect_error(api.put("/mode/s", {"mode": "FORWARD"}), 422, 42204)


# -- references and contexts ----------------------------------------------------------------------


ADDRESS = {
    "type": "record",
    "name": "Address",
    "namespace": "com.acme",
    "fields": [{"name": "city", "type": "string"}],
}
CUSTOMER = {
    "type": "record",
    "name": "Customer",
    "namespace": "com.acme",
    "fields": [{"name": "address", "type": "com.acme.Address"}],
}
REFS = [{"name": "com.acme.Address", "subject": "address", "version": 1}]


def test_references(api: Api) -> None:
    assert api.register("address", ADDRESS).json() == {"id": 1}
    assert api.register("customer", CUSTOMER, references=REFS).json() == {"id": 2}
    got = api.get("/subjects/customer/versions/1").json()
    assert got["references"] == REFS
    assert (
        got["schema"] == '{"type":"record","name":"Customer","namespace":"com.acme",'
        '"fields":[{"name":"address","type":"Address"}]}'
    )
    assert api.get("/schemas/ids/2").json()["references"] == REFS
    assert api.get("/subjects/address/versions/1/referencedby").json() == [2]
    expect_error(api.delete("/subjects/address/versions/1"), 422, 42206)
    expect_error(api.delete("/subjects/address"), 422, 42206)
    lookup = api.post("/subjects/customer", {"schema": json.dumps(CUSTOMER), "references": REFS})
    assert lookup.json()["id"] == 2


def test_missing_reference_is_42201(api: Api) -> None:
    expect_error(api.register("customer", CUSTOMER), 422, 42201)
    expect_error(api.register("customer", CUSTOMER, references=REFS), 422, 42201)


def test_contexts(api: Api) -> None:
    assert api.get("/contexts").json() == ["."]


def test_raw_schema_and_referencedby_errors(api: Api) -> None:
    api.register("s", user())
    expect_error(api.get("/subjects/none/versions/1/schema"), 404, 40401)
    expect_error(api.get("/subjects/s/versions/2/schema"), 404, 40402)
    expect_error(api.get("/subjects/s/versions/0/schema"), 422, 42202)
    assert api.get("/subjects/s/versions/1/referencedby").json() == []
    expect_error(api.get("/subjects/none/versions/1/referencedby"), 404, 40401)
    expect_error(api.get("/subjects/s/versions/2/referencedby"), 404, 40402)


def test_metadata_resources(api: Api) -> None:
    assert api.get("/v1/metadata/id").json()["scope"]["path"] == []
    assert "version" in api.get("/v1/metadata/version").json()


def test_latest_with_metadata(api: Api) -> None:
    api.register("s", user())
    assert api.get("/subjects/s/metadata").json()["version"] == 1
    expect_error(api.get("/subjects/s/metadata?key=owner&value=team"), 404, 40403)
    expect_error(api.get("/subjects/none/metadata"), 404, 40401)


def test_concurrent_registrations_get_distinct_ids_and_versions(api: Api) -> None:
    api.put("/config/s", {"compatibility": "NONE"})
    schemas = [user(name=f"U{i}") for i in range(20)] * 2  # each twice: idempotent under races
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda s: api.register("s", s).json()["id"], schemas))
    assert ids[:20] == ids[20:]
    assert sorted(ids[:20]) == list(range(1, 21))
    assert api.get("/subjects/s/versions").json() == list(range(1, 21))
