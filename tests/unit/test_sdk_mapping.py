"""Segment messages -> touchpoints, as policies/sdk.yaml says: identifiers, traits, events, consent, clock."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from touchpoints.errors import InvalidTouchpoint
from touchpoints.model import Channel, IdentifierKind, PersonalField, TraceKind
from touchpoints.sdk.mapping import Received, message_bytes, to_touchpoint
from touchpoints.sdk.policy import load_sdk_policy
from touchpoints.sdk.write_key import (
    WriteKeyMissing,
    allow_policy,
    body_write_key,
    is_write_key_of,
    presented_write_key,
    write_key,
)
from touchpoints.settings import BrowserSettings

POLICY = load_sdk_policy()
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CONSENT = {"consent": {"categoryPreferences": {"Personalization": True, "Advertising": False, "Other": True}}}


def _map(message: dict[str, object], channel: Channel = Channel.WEB, received: Received | None = None, call=None):
    return to_touchpoint(message, channel, received or Received(NOW), POLICY, call)


def _problem(message: dict[str, object], **kwargs: object) -> tuple[str, tuple[object, ...]]:
    with pytest.raises(InvalidTouchpoint) as refused:
        _map(message, **kwargs)  # type: ignore[arg-type]
    first = refused.value.problems[0]
    return first.code, first.loc


def test_identify_maps_ids_reserved_and_custom_traits_and_consent_categories() -> None:
    touchpoint = _map(
        {
            "type": "identify",
            "messageId": "m-1",
            "userId": "user-7",
            "anonymousId": "anon-7",
            "traits": {"email": "Ana.Lopez@Example.com", "name": "Ana María López", "curp": None, "unmapped": "x"},
            "context": {**CONSENT, "traits": {"phone": "55 1234 5678"}},
        }
    )
    assert touchpoint.event_id == "m-1"
    assert touchpoint.identifiers == {
        IdentifierKind.APP_USER_ID: "user-7",
        IdentifierKind.ANONYMOUS_ID: "anon-7",
        IdentifierKind.EMAIL: "ana.lopez@example.com",
        IdentifierKind.PHONE: "+525512345678",
    }
    assert touchpoint.personal_data[PersonalField.GIVEN_NAME] == "Ana"
    assert touchpoint.personal_data[PersonalField.FAMILY_NAME] == "María López"
    assert touchpoint.trace is None and touchpoint.consent_declared
    assert {(g.purpose, g.scope, g.granted) for g in touchpoint.consents} == {
        ("personalization", "web", True),
        ("marketing", "web", False),
    }


def test_the_store_channels_user_id_is_its_loyalty_id() -> None:
    touchpoint = _map(
        {"type": "track", "messageId": "m-2", "userId": "LOY-1", "event": "Order Completed"}, Channel.STORE
    )
    assert touchpoint.identifiers == {IdentifierKind.LOYALTY_ID: "LOY-1"}


def test_events_become_traces_by_policy_and_the_event_name_stays_in_the_details() -> None:
    order = _map(
        {"type": "track", "messageId": "m", "anonymousId": "a", "event": "Order Completed", "properties": {"total": 5}}
    )
    assert order.trace is not None and (order.trace.kind, order.trace.action) == (TraceKind.TRANSACTIONAL, "purchase")
    assert order.trace.details == {"event": "Order Completed", "total": 5.0}
    other = _map({"type": "track", "messageId": "m", "anonymousId": "a", "event": "Wishlist Shared"})
    assert other.trace is not None and (other.trace.kind, other.trace.action) == (TraceKind.VISIT, "custom_event")
    page = _map({"type": "page", "messageId": "m", "anonymousId": "a", "context": {"page": {"path": "/home"}}})
    assert page.trace is not None and page.trace.action == "page_view" and page.trace.details == {"page_path": "/home"}
    # a single call's route says what the message is
    screen = _map({"messageId": "m", "anonymousId": "a", "name": "Cart"}, call="screen")
    assert screen.trace is not None and screen.trace.action == "screen_view"


def test_alias_carries_both_identities() -> None:
    touchpoint = _map({"type": "alias", "messageId": "m", "userId": "user-1", "previousId": "anon-1"})
    assert touchpoint.identifiers == {IdentifierKind.APP_USER_ID: "user-1", IdentifierKind.ANONYMOUS_ID: "anon-1"}


def test_the_clients_clock_is_corrected_within_the_bound() -> None:
    client_now = NOW - timedelta(hours=2)  # the device's clock is two hours behind
    happened = client_now - timedelta(minutes=10)
    message = {"type": "track", "messageId": "m", "anonymousId": "a", "event": "E", "timestamp": happened.isoformat()}
    corrected = _map(message, received=Received(NOW, client_now))
    assert corrected.occurred_at == NOW - timedelta(minutes=10)
    far_off = NOW - timedelta(days=3)  # beyond a day: not trusted as a clock error, the client's time is kept
    kept = _map(
        {**message, "timestamp": (far_off - timedelta(minutes=10)).isoformat()}, received=Received(NOW, far_off)
    )
    assert kept.occurred_at == far_off - timedelta(minutes=10)
    future = {**message, "timestamp": (NOW + timedelta(hours=1)).isoformat()}
    assert _problem(future)[0] == "occurred_in_future"


@pytest.mark.parametrize(
    ("message", "code", "loc"),
    [
        ({"type": "track", "messageId": "m", "event": "E"}, "no_identifier", ("userId",)),
        ({"type": "track", "anonymousId": "a", "event": "E"}, "missing", ("messageId",)),
        (
            {"type": "track", "messageId": "m" * 101, "anonymousId": "a", "event": "E"},
            "invalid_message_id",
            ("messageId",),
        ),
        ({"type": "track", "messageId": "m", "anonymousId": "a"}, "event_required", ("event",)),
        ({"type": "fly", "messageId": "m", "anonymousId": "a"}, "literal_error", ("type",)),
        (
            {"type": "identify", "messageId": "m", "userId": "u", "traits": {"email": "nope"}},
            "invalid_email",
            ("traits", "email"),
        ),
        (
            {"type": "identify", "messageId": "m", "userId": "u", "traits": {"email": "a@b.mx"}},
            "consent_required",
            ("consent",),
        ),
        ({"type": "identify", "messageId": "m", "userId": "bad id!"}, "invalid_identifier", ("userId",)),
    ],
)
def test_invalid_messages_name_the_field_and_code_never_the_value(message, code, loc) -> None:
    if code == "consent_required":  # the pipeline's own rule, checked when the touchpoint is prepared
        from touchpoints.consent import check_declared, load_policy

        with pytest.raises(InvalidTouchpoint) as refused:
            check_declared(_map(message), load_policy())
        assert refused.value.problems[0].code == code
        return
    found_code, found_loc = _problem(message)
    assert (found_code, found_loc) == (code, loc)


def test_message_size_is_its_compact_json() -> None:
    assert message_bytes({"a": "é"}) == len('{"a":"é"}'.encode())


def test_the_authorizer_reads_the_basic_write_key_and_allows_the_whole_stage() -> None:
    header = "Basic " + base64.b64encode(b"local-key-WebApiKey:").decode()
    assert write_key({"authorization": header}) == "local-key-WebApiKey"
    for bad in (
        {},
        {"Authorization": "Bearer x"},
        {"Authorization": "Basic !!"},
        {"Authorization": "Basic " + base64.b64encode(b"a b:").decode()},
    ):
        with pytest.raises(WriteKeyMissing):
            write_key(bad)
    policy = allow_policy({"methodArn": "arn:aws:execute-api:us-east-1:1:api/v1/POST/sdk/web/v1/batch"}, "k")
    assert policy["usageIdentifierKey"] == "k"
    assert policy["policyDocument"]["Statement"][0]["Resource"] == "arn:aws:execute-api:us-east-1:1:api/v1/*"


def test_a_browser_write_key_comes_from_http_basic_first_then_the_body() -> None:
    basic = {"Authorization": "Basic " + base64.b64encode(b"header-key:").decode()}
    assert presented_write_key(basic, {"writeKey": "body-key"}) == "header-key"  # analytics-next sends both
    assert presented_write_key({}, {"writeKey": "body-key"}) == "body-key"  # a text/plain beacon
    for document in ({}, {"writeKey": ""}, {"writeKey": 7}, {"writeKey": "a b"}, ["writeKey"], "x" * 10):
        with pytest.raises(WriteKeyMissing):
            body_write_key(document)


def test_a_presented_write_key_is_the_channels_only_when_equal() -> None:
    assert is_write_key_of("local-key-WebApiKey", "local-key-WebApiKey")
    for presented in ("local-key-AppApiKey", "local-key-WebApiKe", "local-key-WebApiKeyX", ""):
        assert not is_write_key_of(presented, "local-key-WebApiKey")
    assert not is_write_key_of("", "")  # a channel whose key could not be read admits no one


def test_allowed_origins_are_a_comma_separated_list_of_exact_origins() -> None:
    origins = "https://shop.example.com, http://127.0.0.1:8080"
    assert BrowserSettings.model_validate({"ALLOWED_ORIGINS": origins}).allowed_origins == (
        "https://shop.example.com",
        "http://127.0.0.1:8080",
    )
    assert BrowserSettings.model_validate({}).allowed_origins == ()
    for bad in ("*", "https://shop.example.com/", "shop.example.com", "https://*.example.com"):
        with pytest.raises(ValueError, match="allowed origin"):
            BrowserSettings.model_validate({"ALLOWED_ORIGINS": bad})
