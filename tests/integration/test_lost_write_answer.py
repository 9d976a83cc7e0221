"""Issue 23, item 7: a first post is never answered `duplicate`.

A touchpoint's transaction commits, and its answer is lost (a read timeout after the commit). Whether botocore
retries it or the profile store asks again, the request goes under the same ClientRequestToken with the same
parameters, and DynamoDB (and the embedded moto, local_runner.emulator.moto_speed patch 7) answers it as committed
without applying it again: the channel is told `stored`. A channel's real resend is a new request, under a new
token: it finds the event item and is told `duplicate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from local_runner.emulator import moto_speed
from tests import factories
from tests.people import person
from touchpoints.adapters import keys
from touchpoints.wiring import container

WRITE = "dynamodb.TransactWriteItems"


@dataclass
class Boundary:
    """Hooks on the functions' clients: the TransactWriteItems calls (their tokens) and HTTP attempts, and answers
    lost after the commit, `lose` of them."""

    tokens: list[str] = field(default_factory=list)
    attempts: int = 0
    lose: int = 0
    lost: int = 0

    def parameters(self, params: dict[str, Any], **_: Any) -> None:
        self.tokens.append(params.get("ClientRequestToken", ""))

    def sent(self, event_name: str, **_: Any) -> None:
        """Last of every before-send handler, after moto's has applied the request and answered it."""
        if event_name.endswith(".TransactWriteItems"):
            self.attempts += 1

    def losing(self, event_name: str, **_: Any) -> None:
        if event_name.endswith(".TransactWriteItems") and self.lost < self.lose:
            self.lost += 1
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/")


@pytest.fixture
def boundary() -> Iterator[Callable[[str], Boundary]]:
    """`boundary(where)`: answers are lost in `before-send` (after moto's handler: botocore retries the attempt)
    or in `after-call` (once botocore's attempts are over: the profile store's own replay)."""
    from touchpoints.adapters import aws

    registered: list[tuple[str, Any]] = []

    def arm(where: str) -> Boundary:
        hooks = Boundary()
        events = aws.session().events
        for event, handler, last in (
            (f"before-parameter-build.{WRITE}", hooks.parameters, False),
            ("before-send", hooks.sent, True),
            ("before-send" if where == "before-send" else f"after-call.{WRITE}", hooks.losing, True),
        ):
            (events.register_last if last else events.register)(event, handler)
            registered.append((event, handler))
        container.reset()  # clients are built again and carry the hooks
        return hooks

    yield arm
    for event, handler in registered:
        aws.session().events.unregister(event, handler)
    container.reset()


def _profile(aws: Any, subject_id: str) -> dict[str, Any]:
    return aws.dynamodb.get_item(TableName=aws.table("ProfileTable"), Key=keys.profile_key(subject_id))["Item"]


def _events(aws: Any, channel: str, event_id: str) -> int:
    return sum((i["channel"], i["event_id"]) == (channel, event_id) for i in factories.opened_items(aws, "event"))


def _arm(boundary: Callable[[str], Boundary], where: str, lose: int = 1) -> Boundary:
    hooks = boundary(where)
    hooks.lose = lose
    return hooks


@pytest.mark.parametrize("channel", ["email", "store"])
def test_an_answer_lost_after_the_commit_and_retried_by_botocore_is_stored(lambdas, local_aws, boundary, channel):
    """A known person's touchpoint, from a cold container (email) or the warm one that created the person."""
    p = person(41 if channel == "email" else 42)
    known = factories.store(p, occurred_at="2026-11-20T12:00:00+00:00")
    assert lambdas.post("store", known)[1]["results"][0]["status"] == "stored"
    subject_id = local_aws.subject_of("email", p.email)
    payload = (
        factories.email(p, "click", occurred_at="2026-11-20T18:00:00+00:00")
        if channel == "email"
        else factories.store(p, folio="F-000124", occurred_at="2026-11-20T18:00:00+00:00")
    )

    hooks = _arm(boundary, "before-send")
    status, body = lambdas.post(channel, payload)

    assert status == 200 and body["results"][0]["status"] == "stored", body
    assert hooks.lost == 1 and hooks.attempts == 2 and len(hooks.tokens) == 1  # one call, botocore's two attempts
    assert _events(local_aws, channel, payload["event_id"]) == 1
    profile = _profile(local_aws, subject_id)
    # an email click is kept to the day (2026-11-20T00:00), the purchase stays the later trace
    assert profile["last_trace_at"]["S"] == f"2026-11-20T{'12' if channel == 'email' else '18'}:00:00+00:00"
    counted, expected = ("trace_visit", "1") if channel == "email" else ("trace_transactional", "2")
    assert profile[counted]["N"] == expected  # applied once

    # The channel's own resend, later, from this container or another: a new request, recognised as a resend
    assert lambdas.post(channel, payload)[1]["results"][0]["status"] == "duplicate"
    container.reset()
    assert lambdas.post(channel, payload)[1]["results"][0]["status"] == "duplicate"
    assert _profile(local_aws, subject_id)[counted]["N"] == expected


def test_an_answer_still_lost_after_botocores_attempts_is_asked_again_under_the_same_token(
    lambdas, local_aws, boundary
):
    """The timeout reaches the profile store (botocore's retry quota spent under load): it sends the identical
    request once more, under the same token, and the committed write answers `stored`."""
    p = person(43)
    payload = factories.store(p, occurred_at="2026-11-20T12:00:00+00:00")

    hooks = _arm(boundary, "after-call")
    status, body = lambdas.post("store", payload)

    assert status == 200 and body["results"][0]["status"] == "stored", body
    assert body["results"][0]["new_profile"] is True
    assert hooks.lost == 1 and len(hooks.tokens) == 2 and hooks.tokens[0] == hooks.tokens[1] != ""
    subject_id = local_aws.subject_of("email", p.email)
    assert _events(local_aws, "store", payload["event_id"]) == 1
    assert _profile(local_aws, subject_id)["trace_transactional"]["N"] == "1"
    assert lambdas.post("store", payload)[1]["results"][0]["status"] == "duplicate"


def test_unpatched_moto_applies_the_retry_again_and_the_first_post_was_told_duplicate(lambdas, local_aws, boundary):
    """What the issue saw: moto's own TransactWriteItems ignores the token."""
    p = person(44)
    lambdas.post("store", factories.store(p, occurred_at="2026-11-20T12:00:00+00:00"))
    payload = factories.store(p, folio="F-000125", occurred_at="2026-11-20T18:00:00+00:00")
    _arm(boundary, "before-send")
    with moto_speed.unpatched():
        status, body = lambdas.post("store", payload)
    assert status == 200 and body["results"][0]["status"] == "duplicate", body


def test_a_retry_after_a_cancelled_transaction_is_a_new_request_under_a_new_token(lambdas, local_aws, boundary):
    """The pipeline's own retry (a fresh read after the transaction was cancelled) sends other parameters: another
    token, so DynamoDB never answers IdempotentParameterMismatchException, and it is applied."""
    p = person(45)
    lambdas.post("store", factories.store(p, occurred_at="2026-11-20T12:00:00+00:00"))
    subject_id = local_aws.subject_of("email", p.email)
    hooks = boundary("nowhere")
    lambdas.post("email", factories.email(p, "open", occurred_at="2026-11-20T13:00:00+00:00"))
    local_aws.dynamodb.update_item(  # another container's later trace: the warm email container's snapshot is stale
        TableName=local_aws.table("ProfileTable"),
        Key=keys.profile_key(subject_id),
        UpdateExpression="SET last_trace_at = :lt",
        ExpressionAttributeValues={":lt": {"S": "2026-11-23T10:00:00+00:00"}},
    )
    hooks.tokens.clear()
    status, body = lambdas.post("email", factories.email(p, "click", occurred_at="2026-11-22T10:00:00+00:00"))
    assert status == 200 and body["results"][0]["status"] == "stored", body
    assert len(hooks.tokens) == 2 and len(set(hooks.tokens)) == 2
