"""Issue 23, items 5/6: a known person's touchpoint older than the profile's last trace is written once.

A store purchase creates the person; an email click from 30 minutes earlier, its visit kept to the day, arrives
after it. The profile's `last_trace_at` must stay the later time, and the click must cost one transaction and one
KMS Decrypt (the email function's container is cold for this person), not three of each. Being no later than the
person's last trace, it might be a resend: it is first looked for with one read of its event item, not found.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests import factories
from tests.people import person
from touchpoints.adapters import keys
from touchpoints.wiring import container

COUNTED = ("dynamodb.TransactWriteItems", "dynamodb.BatchGetItem", "kms.Decrypt")


class Calls:
    """SDK calls made by the functions' clients (one per API call, botocore's own retries not counted)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.counts[f"{model.service_model.endpoint_prefix}.{model.name}"] += 1

    def item_read(self, params: dict[str, Any], **_: Any) -> None:
        self.counts[f"dynamodb.GetItem {params['TableName']}"] += 1

    def clear(self) -> None:
        self.counts.clear()


@pytest.fixture
def calls() -> Iterator[Calls]:
    from touchpoints.adapters import aws

    counter = Calls()
    events = [f"before-call.{name}" for name in COUNTED]
    for event in events:
        aws.session().events.register(event, counter)
    aws.session().events.register("before-parameter-build.dynamodb.GetItem", counter.item_read)
    container.reset()  # clients are built again and carry the hook
    yield counter
    for event in events:
        aws.session().events.unregister(event, counter)
    aws.session().events.unregister("before-parameter-build.dynamodb.GetItem", counter.item_read)
    container.reset()


def _profile(aws: Any, subject_id: str) -> dict[str, Any]:
    return aws.dynamodb.get_item(TableName=aws.table("ProfileTable"), Key=keys.profile_key(subject_id))["Item"]


def _minimized(aws: Any, channel: str, event_id: str) -> bool:
    found = [i for i in factories.opened_items(aws, "event") if (i["channel"], i["event_id"]) == (channel, event_id)]
    assert len(found) == 1
    return bool(found[0]["minimized"])


def test_an_older_day_precision_visit_costs_one_transaction_and_keeps_the_later_trace(lambdas, local_aws, calls):
    event_reads = f"dynamodb.GetItem {local_aws.table('ProfileTable')}"
    p = person(31)
    purchase = factories.store(p, occurred_at="2026-11-20T12:00:00+00:00")
    assert lambdas.post("store", purchase)[0] == 200
    subject_id = local_aws.subject_of("email", p.email)
    assert _profile(local_aws, subject_id)["last_trace_at"]["S"] == "2026-11-20T12:00:00+00:00"

    calls.clear()
    click = factories.email(p, "click", occurred_at="2026-11-20T11:30:00+00:00")
    status, body = lambdas.post("email", click)
    assert status == 200 and body["results"][0]["status"] == "stored", body
    assert _minimized(local_aws, "email", click["event_id"])  # kept to the day: 2026-11-20T00:00, before the purchase
    assert calls.counts["dynamodb.TransactWriteItems"] == 1
    assert calls.counts["kms.Decrypt"] == 1
    assert calls.counts["dynamodb.BatchGetItem"] == 2  # who holds the email, then the person: one read of each
    assert calls.counts[event_reads] == 1  # its event item: a resend would have been told here
    profile = _profile(local_aws, subject_id)
    assert profile["last_trace_at"]["S"] == "2026-11-20T12:00:00+00:00"
    assert profile["trace_visit"]["N"] == "1" and profile["trace_transactional"]["N"] == "1"

    # A newer touchpoint still moves it forward, in one transaction too (the email container now knows the person)
    calls.clear()
    later = factories.email(p, "click", occurred_at="2026-11-21T09:15:00+00:00")
    status, body = lambdas.post("email", later)
    assert status == 200 and body["results"][0]["status"] == "stored", body
    assert calls.counts["dynamodb.TransactWriteItems"] == 1
    assert calls.counts["kms.Decrypt"] == 0
    assert calls.counts[event_reads] == 0  # later than the last trace: no resend, no read
    assert _profile(local_aws, subject_id)["last_trace_at"]["S"] == "2026-11-21T00:00:00+00:00"

    # ...and an older one again, from the same warm container: one transaction, the later time kept
    calls.clear()
    older = factories.email(p, "click", occurred_at="2026-11-20T18:00:00+00:00")
    status, body = lambdas.post("email", older)
    assert status == 200 and body["results"][0]["status"] == "stored", body
    assert calls.counts["dynamodb.TransactWriteItems"] == 1
    assert _profile(local_aws, subject_id)["last_trace_at"]["S"] == "2026-11-21T00:00:00+00:00"

    # ...and that one posted again: told by the read, no transaction sent to be cancelled
    calls.clear()
    status, body = lambdas.post("email", older)
    assert status == 200 and body["results"][0]["status"] == "duplicate", body
    assert (calls.counts[event_reads], calls.counts["dynamodb.TransactWriteItems"]) == (1, 0)


def test_a_stale_cache_costs_one_retry_never_a_trace_moved_back(lambdas, local_aws, calls):
    """The email container knows the person from before another writer moved the trace later: its write (which
    would move the trace forward by what it knew) is refused by the condition, and the fresh read decides."""
    p = person(32)
    lambdas.post("store", factories.store(p, occurred_at="2026-11-20T12:00:00+00:00"))
    subject_id = local_aws.subject_of("email", p.email)
    lambdas.post("email", factories.email(p, "open", occurred_at="2026-11-20T13:00:00+00:00"))
    local_aws.dynamodb.update_item(  # another container's touchpoint, unseen by the warm email container
        TableName=local_aws.table("ProfileTable"),
        Key=keys.profile_key(subject_id),
        UpdateExpression="SET last_trace_at = :lt",
        ExpressionAttributeValues={":lt": {"S": "2026-11-23T10:00:00+00:00"}},
    )

    calls.clear()
    status, body = lambdas.post("email", factories.email(p, "click", occurred_at="2026-11-22T10:00:00+00:00"))
    assert status == 200 and body["results"][0]["status"] == "stored", body
    assert calls.counts["dynamodb.TransactWriteItems"] == 2
    assert _profile(local_aws, subject_id)["last_trace_at"]["S"] == "2026-11-23T10:00:00+00:00"
