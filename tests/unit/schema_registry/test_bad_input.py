"""Bad input of every kind gets a Confluent error envelope with a 4xx status, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.schema_registry.conftest import Api

pytestmark = pytest.mark.unit

SEGMENTS = st.one_of(
    st.sampled_from(
        [
            "s",
            "latest",
            "-1",
            "0",
            "1",
            "abc",
            "%2F",
            "%00",
            "%ZZ",
            "%C3%28",
            "..",
            "2147483648",
            "",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/?#"), max_size=12).map(
        lambda t: "".join(c if c.isalnum() else f"%{ord(c) & 0xFF:02X}" for c in t)
    ),
)
TEMPLATES = [
    "/subjects/{}",
    "/subjects/{}/versions",
    "/subjects/{}/versions/{}",
    "/subjects/{}/versions/{}/schema",
    "/subjects/{}/versions/{}/referencedby",
    "/schemas/ids/{}",
    "/schemas/ids/{}/versions",
    "/compatibility/subjects/{}/versions/{}",
    "/compatibility/subjects/{}/versions",
    "/config/{}",
    "/mode/{}",
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
BODY_OBJECTS = st.fixed_dictionaries(
    {},
    optional={
        "schema": JSON_VALUES
        | st.sampled_from(['"int"', '{"type":"record","name":"R","fields":[]}', "{", ""]),
        "schemaType": JSON_VALUES,
        "references": JSON_VALUES,
        "id": JSON_VALUES,
        "version": JSON_VALUES,
        "compatibility": JSON_VALUES | st.sampled_from(["FULL", "none"]),
        "mode": JSON_VALUES | st.sampled_from(["IMPORT", "READONLY"]),
    },
)
BODIES = st.one_of(
    BODY_OBJECTS.map(json.dumps), JSON_VALUES.map(json.dumps), st.text(max_size=40), st.just("")
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, str, dict[str, str]]:
    template = draw(st.sampled_from(TEMPLATES))
    path = template.format(*(draw(SEGMENTS) for _ in range(template.count("{}"))))
    query = draw(
        st.sampled_from(
            [
                "",
                "?deleted=true",
                "?permanent=true",
                "?verbose=true",
                "?force=true",
                "?limit=x",
                "?offset=-5&limit=2",
            ]
        )
    )
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
    headers = {
        "Content-Type": draw(
            st.sampled_from(
                [
                    "application/json",
                    "application/vnd.schemaregistry.v1+json",
                    "text/plain",
                    "application/json; charset=bogus",
                ]
            )
        )
    }
    return method, path + query, draw(BODIES), headers


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(requests())
def test_no_request_gets_a_500(api: Api, request_: tuple[str, str, str, dict[str, str]]) -> None:
    method, path, body, headers = request_
    response = api.http.request(method, path, content=body.encode(), headers=headers)
    assert response.status_code < 500, (method, path, body, response.text)
    if response.status_code >= 400:
        envelope: Any = response.json()
        assert set(envelope) == {"error_code", "message"}
