"""Given bad input on any channel, the caller gets a clear machine-readable 4xx and nothing is written."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests import factories
from tests.factories import api_event
from tests.people import person

CHANNELS = list(factories.CHANNEL_PAYLOADS)


def _valid(channel: str) -> dict[str, Any]:
    return factories.CHANNEL_PAYLOADS[channel](person(40))


def _codes(body: dict[str, Any]) -> set[str]:
    return {d["code"] for d in body["error"]["details"]} | {body["error"]["code"]}


@pytest.fixture
def assert_nothing_written(local_aws):
    def check() -> None:
        for logical, items in local_aws.all_items().items():
            assert items == [], f"{logical} was written to"

    return check


@pytest.mark.parametrize("channel", CHANNELS)
def test_malformed_json_is_400(lambdas, channel, assert_nothing_written):
    status, body = lambdas.post(channel, None, raw_body='{"event_id": "x", "occurred_at": ')
    assert status == 400
    assert body["error"]["code"] == "malformed_json"
    assert body["error"]["retryable"] is False
    assert_nothing_written()


@pytest.mark.parametrize("channel", CHANNELS)
def test_wrong_types_are_422_with_the_field_named(lambdas, channel, assert_nothing_written):
    payload = _valid(channel)
    payload["occurred_at"] = 12345
    payload["event_id"] = ["not", "a", "string"]
    status, body = lambdas.post(channel, payload)
    assert status == 422
    locs = {tuple(d["loc"]) for d in body["error"]["details"]}
    assert ("touchpoints", 0, "event_id") in locs
    assert any(loc[:3] == ("touchpoints", 0, "occurred_at") for loc in locs)
    assert_nothing_written()


@pytest.mark.parametrize("channel", CHANNELS)
def test_unknown_fields_are_refused(lambdas, channel, assert_nothing_written):
    payload = {**_valid(channel), "loyalty_tier_typo": "gold"}
    status, body = lambdas.post(channel, payload)
    assert status == 422
    assert "extra_forbidden" in _codes(body)
    assert_nothing_written()


@pytest.mark.parametrize("channel", CHANNELS)
def test_oversize_body_is_413(lambdas, channel, assert_nothing_written):
    payload = {**_valid(channel), "padding": "x" * 300_000}
    status, body = lambdas.post(channel, payload)
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert_nothing_written()


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_batch_with_one_bad_touchpoint_writes_nothing(lambdas, channel, assert_nothing_written):
    good = [factories.CHANNEL_PAYLOADS[channel](person(n)) for n in (41, 42)]
    bad = {**factories.CHANNEL_PAYLOADS[channel](person(43)), "occurred_at": "yesterday"}
    status, body = lambdas.post(channel, {"touchpoints": [*good, bad]})
    assert status == 422
    assert {d["loc"][1] for d in body["error"]["details"]} == {2}
    assert_nothing_written()


def test_a_batch_larger_than_allowed_is_refused(lambdas, assert_nothing_written):
    batch = {"touchpoints": [factories.email(person(n), "open") for n in range(26)]}
    status, body = lambdas.post("email", batch)
    assert status == 422
    assert "too_long" in _codes(body)
    assert_nothing_written()


INVALID_IDENTIFIERS = [
    ("web", ["customer", "phone"], "55 12", "invalid_phone"),
    ("web", ["customer", "email"], "ximena@@example", "invalid_email"),
    ("web", ["customer", "rfc"], "QUAA800101H5X", "invalid_rfc"),
    ("web", ["customer", "curp"], "QUAA800101HDFRNS01", "invalid_curp"),
    ("web", ["customer", "birth_date"], "2199-01-01", "invalid_birth_date"),
    ("sms", ["phone"], "+1 555", "invalid_phone"),
    ("email", ["recipient"], "not-an-email", "invalid_email"),
    ("store", ["customer", "rfc"], "ABC", "invalid_rfc"),
    ("contact-center", ["caller", "whatsapp"], "12", "invalid_phone"),
    ("app", ["app_user_id"], "has spaces and ☃", "invalid_identifier"),
    ("push", ["push_token"], "x" * 500, "invalid_identifier"),
]


@pytest.mark.parametrize(("channel", "path", "value", "code"), INVALID_IDENTIFIERS)
def test_invalid_identifiers_are_422_without_echoing_the_value(
    lambdas, channel, path, value, code, assert_nothing_written
):
    payload = _valid(channel)
    target = payload
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    status, body = lambdas.post(channel, payload)
    assert status == 422, body
    assert code in _codes(body)
    problem = next(d for d in body["error"]["details"] if d["code"] == code)
    assert problem["loc"] == ["touchpoints", 0, *path]
    assert value not in json.dumps(body)
    assert_nothing_written()


@pytest.mark.parametrize("channel", ["web", "app", "contact-center", "store"])
def test_personal_data_without_a_consent_block_is_refused(lambdas, channel, assert_nothing_written):
    payload = _valid(channel)
    payload.pop("consent", None)
    status, body = lambdas.post(channel, payload)
    assert status == 422
    assert "consent_required" in _codes(body)
    assert_nothing_written()


def test_an_unknown_consent_purpose_is_refused(lambdas, assert_nothing_written):
    payload = factories.web(person(44), consent=[{"purpose": "resale", "granted": True}])
    status, body = lambdas.post("web", payload)
    assert status == 422
    assert "unknown_purpose" in _codes(body)
    assert_nothing_written()


def test_a_touchpoint_naming_no_one_is_refused(lambdas, assert_nothing_written):
    payload = factories.web(person(45), "page_view", customer=None, anonymous_id=None)
    status, body = lambdas.post("web", payload)
    assert status == 422
    assert "no_identifier" in _codes(body)
    assert_nothing_written()


def test_a_timestamp_without_timezone_or_in_the_future_is_refused(lambdas, assert_nothing_written):
    naive = factories.sms(person(46), occurred_at="2026-11-20T10:00:00")
    future = factories.sms(person(46), occurred_at="2099-01-01T00:00:00Z")
    status, body = lambdas.post("sms", {"touchpoints": [naive, future]})
    assert status == 422
    assert {"timezone_aware", "occurred_in_future"} <= _codes(body)
    assert_nothing_written()


def test_a_body_that_is_not_json_is_415(lambdas, assert_nothing_written):
    status, body = lambdas.post(
        "web", None, raw_body="a=1&b=2", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 415
    assert body["error"]["code"] == "unsupported_media_type"
    assert_nothing_written()


def test_invalid_utf8_is_400(lambdas, assert_nothing_written):
    raw = base64.b64encode(b'{"event_id": "\xff\xfe"}').decode()
    event = api_event(
        "POST", "/v1/web/touchpoints", raw_body=raw, api_key_id=lambdas.aws.provisioned.api_keys["WebApiKey"].key_id
    )
    event["isBase64Encoded"] = True
    result = lambdas.invoke("WebChannelFunction", event)
    assert result["statusCode"] == 400
    assert json.loads(result["body"])["error"]["code"] == "malformed_json"
    assert_nothing_written()


def test_another_channels_key_is_403(lambdas, assert_nothing_written):
    status, body = lambdas.post("store", _valid("store"), api_key="WebApiKey")
    assert status == 403
    assert body["error"]["code"] == "forbidden"
    assert_nothing_written()
