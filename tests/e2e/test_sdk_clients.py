"""Channel teams point the official SDKs at a channel, unchanged: segment-analytics-python and rudder-sdk-python
(gzip by default) post /v1/batch with HTTP Basic auth to the local runner, through the SDK API's write-key
authorizer, to the channel function. What they send is stored as the native route would store it (same tokens),
refusals reach the SDK as errors it reports without crashing, and invalid messages become failed events."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

import tests.document_formats  # noqa: F401  (the document's own formats, registered with schemathesis)
from local_runner.commands.load import Table
from local_runner.commands.openapi import build
from tests.e2e.conftest import REPO_ROOT, Runner, assert_no_pii
from tests.factories import CHANNEL_API_KEYS
from tests.people import Person, person
from tests.reliability import tally
from touchpoints.model import IdentifierKind

pytestmark = pytest.mark.e2e


def consent() -> dict[str, Any]:
    """A consent manager's categories, as a site sends them on every call. A new dict each time: the Rudder SDK
    writes an identify's traits into the context it is given, so a shared one would carry them into later calls."""
    return {"consent": {"categoryPreferences": {"Personalization": True, "Analytics": True, "Advertising": False}}}


@dataclass
class Sdk:
    """One SDK's client as a channel team sets it up: its base URL is the channel's SDK URL."""

    name: str
    client: Any
    errors: list[Any] = field(default_factory=list)

    def flush(self) -> None:
        self.client.flush()


def make_sdk(name: str, runner: Runner, write_key: str, channel: str = "web") -> Sdk:
    host = f"{runner.url}/sdk/{channel}"
    sdk = Sdk(name, None)

    def on_error(error: Exception, batch: Any) -> None:
        sdk.errors.append(error)

    if name == "segment":
        sdk.client = SegmentClient(write_key, host=host, on_error=on_error, max_retries=1)
    else:
        sdk.client = RudderClient(write_key, host=host, on_error=on_error, max_retries=1)  # gzip=True by default
    return sdk


SDKS = ["segment", "rudder"]


def message_id() -> str:
    return f"msg-{uuid.uuid4().hex}"


def events_of(runner: Runner, subject_id: str) -> dict[str, dict[str, Any]]:
    """The subject's events by event id: their metadata, opened with the subject's key (item keys name no event)."""
    return {
        metadata["event_id"]: metadata
        for item, metadata in Table(runner.health).opened_events()
        if item["subject_id"]["S"] == subject_id
    }


def failed_events(runner: Runner) -> list[dict[str, Any]]:
    pages = runner.dynamodb().get_paginator("scan").paginate(TableName=runner.health["tables"]["ProfileTable"])
    return [item for page in pages for item in page["Items"] if item["pk"]["S"].startswith("FAILED#")]


def table_text(runner: Runner) -> str:
    pages = runner.dynamodb().get_paginator("scan").paginate(TableName=runner.health["tables"]["ProfileTable"])
    return json.dumps(
        [item for page in pages for item in page["Items"]], default=lambda b: base64.b64encode(b).decode()
    )


def traits(someone: Person) -> dict[str, Any]:
    return {
        "email": someone.email,
        "firstName": someone.given_name,
        "lastName": someone.family_name,
        "rfc": someone.rfc,
        "birthday": someone.birth_date.isoformat(),
    }


def post_sdk(
    runner: Runner, body: Any, write_key: str | None, call: str = "batch", channel: str = "web", **headers: str
) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    auth = {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()} if write_key else {}
    return requests.post(
        f"{runner.url}/sdk/{channel}/v1/{call}",
        data=data,
        headers={"Content-Type": "application/json", **auth, **headers},
        timeout=60,
    )


def web_key(runner: Runner) -> str:
    return str(runner.health["api_keys"][CHANNEL_API_KEYS["web"]])


@pytest.fixture
def sdk_of(runner: Runner) -> Iterator[Callable[..., Sdk]]:
    made: list[Sdk] = []

    def build(name: str, write_key: str | None = None, channel: str = "web") -> Sdk:
        key = write_key if write_key is not None else str(runner.health["api_keys"][CHANNEL_API_KEYS[channel]])
        sdk = make_sdk(name, runner, key, channel)
        made.append(sdk)
        return sdk

    yield build
    for sdk in made:
        sdk.client.join()  # stops the SDK's consumer thread


@pytest.mark.parametrize(("sdk_name", "n"), [("segment", 1301), ("rudder", 1302)])
def test_each_sdks_calls_without_a_vouch_never_write_to_the_person_the_native_route_made(
    sdk_name: str, n: int, runner: Runner, sdk_of: Callable[..., Sdk]
) -> None:
    """The web write key is public and the SDKs carry no back end's vouch, so (trust.yaml) an identify naming a
    known email is an unproven claim: its new identifiers start a profile of their own, stored with the tokens
    the native route gives them, and the known person is left as the native route made them."""
    someone = person(n)
    anonymous_id = f"anon-{uuid.uuid4().hex}"
    # Given the person signed up through the web channel's own route
    native = runner.post(
        "web",
        {
            "event_id": f"signup-{n}",
            "occurred_at": "2026-11-01T10:00:00Z",
            "action": "sign_up",
            "customer": {"email": someone.email, "given_name": someone.given_name},
            "consent": [{"purpose": "personalization", "granted": True}],
        },
    )
    assert native.status_code == 200, native.text
    known = runner.subject_of(IdentifierKind.EMAIL, someone.email)
    assert known is not None
    known_fields = set(runner.classified(known)["fields"]["M"])
    # When the web team's SDK identifies them, tracks an order, a page and a screen, and aliases a visitor id
    sdk = sdk_of(sdk_name)
    ids = {call: message_id() for call in ("identify", "track", "page", "screen", "alias")}
    user_id = someone.app_user_id
    sdk.client.identify(user_id, traits(someone), context=consent(), message_id=ids["identify"])
    sdk.client.track(user_id, "Order Completed", {"order_id": f"o-{n}", "total": 120.5}, message_id=ids["track"])
    sdk.client.page(user_id, name="Home", properties={"path": "/home"}, message_id=ids["page"])
    sdk.client.screen(user_id, name="Cart", message_id=ids["screen"])
    sdk.client.alias(anonymous_id, user_id, message_id=ids["alias"])
    sdk.flush()
    assert sdk.errors == []
    # Then the known person has only the native sign-up, keeps the email, and gains no identifier or value
    assert set(events_of(runner, known)) == {f"signup-{n}"}
    assert runner.subject_of(IdentifierKind.EMAIL, someone.email) == known
    assert set(runner.classified(known)["fields"]["M"]) == known_fields
    # and the identify's new identifiers (the native route's tokens) found a profile of their own, where the
    # calls that name the user id are stored
    claimed = runner.subject_of(IdentifierKind.APP_USER_ID, user_id)
    assert claimed is not None and claimed != known
    assert runner.subject_of(IdentifierKind.RFC, someone.rfc) == claimed
    stored = events_of(runner, claimed)
    assert {ids[call] for call in ("identify", "track", "page", "screen")} <= set(stored)
    assert stored[ids["track"]]["trace"] == "transactional"
    assert stored[ids["track"]]["action"] == "purchase"
    assert stored[ids["page"]]["trace"] == "visit"
    assert stored[ids["screen"]]["action"] == "screen_view"
    # with the identity it sent, encrypted, but not the email another profile holds
    fields = set(runner.classified(claimed)["fields"]["M"])
    assert {"given_name", "family_name", "rfc", "birth_date"} <= fields
    assert "email" not in fields
    # and the unvouched alias attaches the visitor id to neither (the claimed profile is identified too)
    assert runner.subject_of(IdentifierKind.ANONYMOUS_ID, anonymous_id) not in {known, claimed}
    assert ids["alias"] not in stored
    assert_no_pii(table_text(runner), "the profile table")


@pytest.mark.parametrize("sdk_name", SDKS)
def test_a_wrong_write_key_stores_nothing_and_the_sdk_reports_it(
    sdk_name: str, runner: Runner, sdk_of: Callable[..., Sdk]
) -> None:
    someone = person(1310 + SDKS.index(sdk_name))
    for key in ("not-a-write-key", str(runner.health["api_keys"][CHANNEL_API_KEYS["store"]])):
        sdk = sdk_of(sdk_name, write_key=key)
        sdk.client.identify(someone.app_user_id, traits(someone), context=consent(), message_id=message_id())
        sdk.flush()
        assert len(sdk.errors) == 1, key
        assert getattr(sdk.errors[0], "status", None) == 401
        assert sdk.errors[0].code == "invalid_write_key"
    assert runner.subject_of(IdentifierKind.EMAIL, someone.email) is None
    assert runner.subject_of(IdentifierKind.APP_USER_ID, someone.app_user_id) is None


def failed_report(runner: Runner) -> list[dict[str, Any]]:
    answer = runner.signed("developer", "GET", "/v1/reports/failed-events?channel=web&days=1")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["failed_events"])


@pytest.mark.parametrize("sdk_name", SDKS)
def test_a_batch_with_one_bad_message_in_ten_stores_nine_and_the_report_shows_one(
    sdk_name: str, runner: Runner, sdk_of: Callable[..., Sdk]
) -> None:
    someone = person(1320 + SDKS.index(sdk_name))
    before = {(r["error_code"], r["field"]): r["count"] for r in failed_report(runner)}
    sdk = sdk_of(sdk_name)
    ids = [message_id() for _ in range(10)]
    for index, event_id in enumerate(ids):
        if index == 4:  # an address that is no email: the message fails, alone
            bad = {**traits(someone), "email": "not-an-email"}
            sdk.client.identify(someone.app_user_id, bad, context=consent(), message_id=event_id)
        else:
            # the site's consent manager sends its categories on every call: the user id's token needs a basis
            sdk.client.track(
                someone.app_user_id, "Product Viewed", {"sku": f"sku-{index}"}, context=consent(), message_id=event_id
            )
    sdk.flush()
    assert sdk.errors == []
    subject = runner.subject_of(IdentifierKind.APP_USER_ID, someone.app_user_id)
    assert subject is not None
    assert set(events_of(runner, subject)) == set(ids) - {ids[4]}
    # The channel owner's report (IAM) shows the one failure: its code, its field and its message id
    report = failed_report(runner)
    row = next(r for r in report if (r["error_code"], r["field"]) == ("invalid_email", "traits.email"))
    assert row["count"] == before.get(("invalid_email", "traits.email"), 0) + 1
    assert row["latest_message_ids"][0] == ids[4]
    assert sum(r["count"] for r in report) == sum(before.values()) + 1
    assert_no_pii(json.dumps(report) + json.dumps(failed_events(runner)), "the failed events and their report")
    # and a channel's key cannot read it
    refused = requests.get(f"{runner.url}/v1/reports/failed-events", headers={"x-api-key": web_key(runner)}, timeout=60)
    assert refused.status_code == 403


def test_the_size_limits_and_malformed_bodies_get_400_in_the_shape_the_sdks_parse(runner: Runner) -> None:
    key = web_key(runner)
    message = {"type": "track", "messageId": message_id(), "anonymousId": "anon-size", "event": "Product Viewed"}
    # a batch over 500 KB (each message under 32 KB)
    padding = "x" * 20_000
    big = {"batch": [{**message, "messageId": message_id(), "properties": {"note": padding}} for _ in range(26)]}
    assert len(json.dumps(big)) > 512_000
    answer = post_sdk(runner, big, key)
    assert answer.status_code == 400 and answer.json()["code"] == "payload_too_large", answer.text
    # the same limit after gunzip: a small gzip body cannot smuggle a large batch
    answer = post_sdk(runner, gzip.compress(json.dumps(big).encode()), key, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 400 and answer.json()["code"] == "payload_too_large", answer.text
    # one message over 32 KB
    answer = post_sdk(runner, {"batch": [{**message, "properties": {"note": "y" * 33_000}}]}, key)
    assert answer.status_code == 400 and answer.json()["code"] == "message_too_large", answer.text
    for body in (b"{not json", b"[1, 2]", json.dumps({"batch": "nope"}).encode()):
        answer = post_sdk(runner, body, key)
        assert answer.status_code == 400, answer.text
        assert {"code", "message"} <= answer.json().keys()
    # no write key at all: the gateway's own 401, still with code and message
    answer = post_sdk(runner, {"batch": [message]}, None)
    assert answer.status_code == 401 and answer.json()["code"] == "invalid_write_key", answer.text


def test_single_calls_gzip_bodies_and_retries(runner: Runner) -> None:
    key = web_key(runner)
    anonymous_id = f"anon-{uuid.uuid4().hex}"
    # with the consent manager's categories: an anonymous id's token is kept only under analytics or personalization
    track: dict[str, Any] = {
        "messageId": message_id(),
        "anonymousId": anonymous_id,
        "event": "Signed Up",
        "context": consent(),
    }
    # /v1/track says the message is a track; gzip bodies are accepted
    answer = post_sdk(runner, gzip.compress(json.dumps(track).encode()), key, "track", **{"Content-Encoding": "gzip"})
    assert answer.status_code == 200 and answer.json() == {"success": True}, answer.text
    again = post_sdk(runner, track, key, "track")
    assert again.status_code == 200 and again.json() == {"success": True}
    subject = runner.subject_of(IdentifierKind.ANONYMOUS_ID, anonymous_id)
    assert subject is not None
    stored = events_of(runner, subject)
    assert list(stored) == [track["messageId"]]  # the retry is recognised, not stored twice
    assert stored[track["messageId"]]["action"] == "sign_up"


NODE_SDK = REPO_ROOT / "tests" / "node"


def node_sdk(runner: Runner, write_key: str, calls: list[list[Any]], channel: str = "web") -> dict[str, Any]:
    """@segment/analytics-node (tests/node, installed by `make setup`) posting `calls`; what the SDK reported."""
    if shutil.which("node") is None:
        pytest.skip("Node is not installed: the JavaScript SDK cannot run here")
    assert (NODE_SDK / "node_modules" / "@segment" / "analytics-node").is_dir(), "run `make setup` (npm ci)"
    request = {"host": runner.url, "path": f"/sdk/{channel}/v1/batch", "writeKey": write_key, "calls": calls}
    result = subprocess.run(
        ["node", "send_events.mjs"],
        cwd=NODE_SDK,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert_no_pii(result.stdout + result.stderr, "the Node SDK's output")
    return dict(json.loads(result.stdout))


def test_the_node_sdk_is_stored_like_the_python_ones_and_reports_a_wrong_key(
    runner: Runner,
) -> None:
    someone = person(1330)
    anonymous_id = f"anon-{uuid.uuid4().hex}"
    ids = {call: message_id() for call in ("identify", "track", "page", "screen", "alias")}
    user_id = someone.app_user_id
    calls = [
        [
            "identify",
            {"userId": user_id, "traits": traits(someone), "context": consent(), "messageId": ids["identify"]},
        ],
        [
            "track",
            {
                "userId": user_id,
                "event": "Order Completed",
                "properties": {"order_id": "o-node", "total": 99},
                "messageId": ids["track"],
            },
        ],
        ["page", {"userId": user_id, "name": "Home", "properties": {"path": "/home"}, "messageId": ids["page"]}],
        ["screen", {"userId": user_id, "name": "Cart", "messageId": ids["screen"]}],
        ["alias", {"userId": user_id, "previousId": anonymous_id, "messageId": ids["alias"]}],
    ]
    # A wrong key first: the SDK reports the failure, nothing is stored
    refused = node_sdk(runner, "not-a-write-key", calls[:1])
    assert refused["statuses"] == [401] and len(refused["errors"]) == 1, refused
    assert runner.subject_of(IdentifierKind.EMAIL, someone.email) is None
    # The channel's key: a new person, so every call naming them is stored on one profile, with the tokens the
    # native route gives
    sent = node_sdk(runner, web_key(runner), calls)
    assert sent["errors"] == [] and set(sent["statuses"]) == {200}, sent
    subject = runner.subject_of(IdentifierKind.EMAIL, someone.email)
    assert subject is not None
    assert runner.subject_of(IdentifierKind.APP_USER_ID, user_id) == subject
    assert runner.subject_of(IdentifierKind.RFC, someone.rfc) == subject
    stored = events_of(runner, subject)
    assert {ids[call] for call in ("identify", "track", "page", "screen")} <= set(stored)
    assert stored[ids["track"]]["action"] == "purchase"
    # but the alias, vouched by no back end, attaches no visitor id to that identified profile (trust.yaml)
    assert runner.subject_of(IdentifierKind.ANONYMOUS_ID, anonymous_id) != subject
    assert ids["alias"] not in stored


ACCEPTANCE_EXAMPLES = 60


def _acceptance(runner: Runner, path: str, headers: dict[str, str]) -> tuple[int, int, int]:
    """(bodies generated valid by openapi.json, bodies answered 2xx, messages they carried) for one route."""
    operation = schemathesis.openapi.from_dict(build())[path]["POST"]
    answers: list[int] = []
    messages: list[int] = []

    @settings(
        max_examples=ACCEPTANCE_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    @given(case=operation.as_strategy())
    def send(case: Any) -> None:
        case.headers = {**(case.headers or {}), **headers}
        body = case.body if isinstance(case.body, dict) else {}
        messages.append(len(body["batch"]) if isinstance(body.get("batch"), list) else 1)
        answer = case.call(base_url=runner.url, timeout=60)
        assert answer.status_code < 500, answer.text
        answers.append(answer.status_code)

    send()
    return len(answers), sum(1 for status in answers if status < 300), sum(messages)


def test_bodies_valid_by_the_openapi_document_are_accepted_by_the_sdk_routes(runner: Runner) -> None:
    """The document says what is accepted: of the bodies schemathesis generates from it, at least 90% get 2xx."""
    basic = {"Authorization": "Basic " + base64.b64encode(f"{web_key(runner)}:".encode()).decode()}
    failed_before = sum(r["count"] for r in failed_report(runner))
    sent, accepted, messages = _acceptance(runner, "/sdk/web/v1/{call}", basic)
    failed = sum(r["count"] for r in failed_report(runner)) - failed_before
    tally.add("sdk_document_valid_bodies", sent)
    tally.add("sdk_document_valid_accepted", accepted)
    tally.add("sdk_document_valid_messages", messages)
    tally.add("sdk_document_valid_messages_failed", failed)
    assert sent >= ACCEPTANCE_EXAMPLES // 2
    assert accepted / sent >= 0.9, f"{accepted} of {sent} requests accepted"
    # and the messages in them are stored, not merely answered 200 and reported as failed events
    assert (messages - failed) / messages >= 0.9, f"{failed} of {messages} messages failed"
