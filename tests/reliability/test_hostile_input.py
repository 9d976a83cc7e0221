"""Given hostile requests on every channel route of the template, the answer is always a documented
4xx with the error envelope, never a 5xx; no header is injected and nothing is written.

Routes come from template.yaml, so a new channel is covered without editing this file.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from tests.conftest import FUNCTIONS
from tests.contact_helpers import contact_route_body
from tests.factories import CHANNEL_API_KEYS, api_event
from tests.people import person
from tests.reliability import tally
from touchpoints.api.responses import ERROR_RESPONSES

ROUTES = [
    (spec.logical_id, route.path)
    for spec in FUNCTIONS.values()
    for route in spec.routes
    if route.auth == "api_key" and route.path.split("/")[2] in CHANNEL_API_KEYS
]
DOCUMENTED_4XX = {code for code in ERROR_RESPONSES if 400 <= code < 500}


def channel_of(path: str) -> str:
    return path.split("/")[2]


def valid_body(path: str, n: int = 700) -> dict[str, Any]:
    channel, p = channel_of(path), person(n)
    if (contact_body := contact_route_body(path, p.email)) is not None:
        return contact_body
    if path.endswith("/consents"):
        return {
            "event_id": factories.event_id("cns"),
            "occurred_at": factories.occurred(),
            "subject": {"email": p.email},
            "consent": [{"purpose": "marketing", "channel": "all", "granted": False}],
        }
    return factories.CHANNEL_PAYLOADS[channel](p)


def send(lambdas: Any, function: str, path: str, **kwargs: Any) -> dict[str, Any]:
    key_id = lambdas.aws.provisioned.api_keys[CHANNEL_API_KEYS[channel_of(path)]].key_id
    event = kwargs.pop("event", None) or api_event("POST", path, api_key_id=key_id, **kwargs)
    result = lambdas.invoke(function, event)
    tally.add("hostile_cases")
    if result["statusCode"] >= 500:
        tally.add("server_errors")
    return result


def assert_refused(result: dict[str, Any], *expected: int) -> dict[str, Any]:
    status = result["statusCode"]
    assert status < 500, result["body"]
    assert status in (expected or DOCUMENTED_4XX), (status, result["body"])
    body = json.loads(result["body"])
    assert set(body["error"]) == {"code", "message", "retryable", "details"}
    assert body["error"]["retryable"] is False
    return body


def assert_nothing_written(aws: Any) -> None:
    assert all(items == [] for items in aws.all_items().values())


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


HOSTILE_BODIES = {
    "empty": ("", (400, 422)),
    "null": ("null", (422,)),
    "array": ("[]", (422,)),
    "string": ('"touchpoint"', (422,)),
    "number": ("42", (422,)),
    "truncated": ('{"event_id": "a", "occurred_at": ', (400,)),
    "bom": ("\ufeff{}", (400,)),
    "nan": ('{"event_id": NaN, "occurred_at": Infinity}', (400,)),
    "huge_integer": ('{"event_id": "e1", "total": ' + "9" * 5000 + "}", (400,)),
    "huge_exponent": ('{"event_id": "e1", "total": 1e999999}', (400, 422)),
    "duplicate_keys": ('{"event_id": "a", "event_id": "b"}', (422,)),
    "deep_arrays": (nested(100_000), (400,)),
    "deep_objects": ('{"a":' * 20_000 + "1" + "}" * 20_000, (400,)),
    "deep_below_recursion_limit": ('{"touchpoints": ' + nested(200) + "}", (400,)),
    "deep_dicts_in_lists": ("[" + '{"a": [' * 40 + "]}" * 40 + "]", (400,)),
    "nul_bytes": ('{"event_id": "a\\u0000b"}', (422,)),
    "lone_surrogate_key": ('{"\\ud800": 1}', (400, 422)),
}


@pytest.mark.parametrize(("function", "path"), ROUTES)
def test_hostile_bodies_are_a_documented_4xx(lambdas, local_aws, function, path):
    for case, (raw, expected) in HOSTILE_BODIES.items():
        result = send(lambdas, function, path, raw_body=raw)
        assert result["statusCode"] in expected, (case, result["body"])
        assert_refused(result, *expected)
    assert_nothing_written(local_aws)


@pytest.mark.parametrize(("function", "path"), ROUTES)
def test_oversize_bodies_are_413_even_when_base64(lambdas, local_aws, function, path):
    big = json.dumps({**valid_body(path), "padding": "x" * 400_000})
    assert assert_refused(send(lambdas, function, path, raw_body=big), 413)["error"]["code"] == "payload_too_large"
    encoded = send(lambdas, function, path, raw_body=big, base64_body=True)
    assert assert_refused(encoded, 413)["error"]["code"] == "payload_too_large"
    assert_nothing_written(local_aws)


INVALID_UTF8 = [b'{"event_id": "\xff\xfe"}', b'{"event_id": "\xc3\x28"}', b'{"a": "\xed\xa0\x80"}', b"\x80" * 10]


@pytest.mark.parametrize(("function", "path"), ROUTES)
def test_invalid_utf8_or_base64_is_400(lambdas, local_aws, function, path):
    key_id = lambdas.aws.provisioned.api_keys[CHANNEL_API_KEYS[channel_of(path)]].key_id
    for raw in INVALID_UTF8:
        event = api_event("POST", path, raw_body=base64.b64encode(raw).decode(), api_key_id=key_id)
        event["isBase64Encoded"] = True
        assert assert_refused(send(lambdas, function, path, event=event), 400)["error"]["code"] == "malformed_json"
    garbage = api_event("POST", path, raw_body="not base64!!", api_key_id=key_id)
    garbage["isBase64Encoded"] = True
    assert_refused(send(lambdas, function, path, event=garbage), 400)
    assert_nothing_written(local_aws)


WEIRD_CONTENT_TYPES = [
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/json-patch+json",
    "application/jsonp",
    "",
    "*/*",
    "application/json\r\nX-Injected: 1",
    "application/json\nSet-Cookie: session=stolen",
]


def assert_no_injected_headers(result: dict[str, Any]) -> None:
    headers = {**(result.get("headers") or {}), **(result.get("multiValueHeaders") or {})}
    text = json.dumps(headers)
    assert "\\r" not in text and "\\n" not in text
    assert not {h.lower() for h in headers} & {"x-injected", "set-cookie"}


@pytest.mark.parametrize(("function", "path"), ROUTES)
def test_weird_or_injected_content_types_are_415_and_crlf_is_never_reflected(lambdas, local_aws, function, path):
    for content_type in WEIRD_CONTENT_TYPES:
        result = send(lambdas, function, path, body=valid_body(path), headers={"Content-Type": content_type})
        assert assert_refused(result, 415)["error"]["code"] == "unsupported_media_type", content_type
        assert_no_injected_headers(result)
    assert_nothing_written(local_aws)

    headers = {
        "Content-Type": "Application/JSON; charset=utf-8",
        "X-Request-Id": "abc\r\nSet-Cookie: session=stolen",
        "Origin": "https://evil.example\r\nX-Injected: 1",
        "X-Forwarded-For": "1.2.3.4\r\n\r\n<html>",
    }
    result = send(lambdas, function, path, body=valid_body(path, 701), headers=headers)
    assert result["statusCode"] == 200, result["body"]
    assert_no_injected_headers(result)
    assert "stolen" not in result["body"] and "<html>" not in result["body"]


@pytest.mark.parametrize(("function", "path"), ROUTES)
def test_other_methods_and_lookalike_paths_are_4xx(lambdas, local_aws, function, path):
    key_id = lambdas.aws.provisioned.api_keys[CHANNEL_API_KEYS[channel_of(path)]].key_id
    for method, target in [
        ("GET", path),
        ("PUT", path),
        ("DELETE", path),
        ("POST", path.upper()),
        ("POST", path + "/../../compliance/erasures"),
        ("POST", path + "%00"),
    ]:
        event = api_event(method, target, valid_body(path), api_key_id=key_id)
        assert_refused(send(lambdas, function, path, event=event), 404, 405)
    assert_nothing_written(local_aws)


# A value for any field: what a careless or hostile client might put there.
hostile_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None, categories=None), max_size=300)
    | st.sampled_from(["", " ", "\u0000", "\ud800", "\u202e", "A" * 5000, "%s%n", "${jndi:x}", "' OR 1=1 --"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [prefix, *(p for k, v in value.items() for p in leaf_paths(v, (*prefix, k)))]
    if isinstance(value, list):
        return [prefix, *(p for i, v in enumerate(value) for p in leaf_paths(v, (*prefix, i)))]
    return [prefix]


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = list(document) if isinstance(document, list) else dict(document)
    copy[path[0]] = replaced(document[path[0]], path[1:], value)
    return copy


@pytest.mark.parametrize(("function", "path"), ROUTES)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_field_replaced_by_anything_is_never_a_5xx(lambdas, function, path, data):
    document = valid_body(path, 702)
    where = data.draw(st.sampled_from(leaf_paths(document)), label="field")
    value = data.draw(hostile_values, label="value")
    body = replaced(document, where, value)
    result = send(lambdas, function, path, raw_body=json.dumps(body, allow_nan=True))
    assert result["statusCode"] < 500, result["body"]
    assert result["statusCode"] in {200} | DOCUMENTED_4XX, result["body"]
    if result["statusCode"] != 200:
        assert_refused(result)
