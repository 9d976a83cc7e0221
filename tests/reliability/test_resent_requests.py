"""A request resent whole (a channel's batch retried after a timeout, a store's file sent again) is answered
`duplicate` for every touchpoint and stores nothing twice; past its first duplicate, each touchpoint is looked for
with a read instead of a transaction cancelled on its event item (issue 23: a cancelled transaction is charged every
item it carries). A request without a duplicate reads nothing."""

from __future__ import annotations

from collections import Counter

from tests import factories
from tests.people import person
from tests.reliability import aws_hooks


def test_a_batch_resent_whole_is_one_cancelled_transaction_and_then_reads(lambdas, local_aws):
    p = person(640)
    batch = {
        "touchpoints": [
            factories.email(p, event, occurred_at=factories.occurred(i))
            for i, event in enumerate(("open", "click", "open", "click", "open"))
        ]
    }
    status, first = lambdas.post("email", batch)
    assert status == 200 and {r["status"] for r in first["results"]} == {"stored"}, first

    with aws_hooks.recording() as calls:
        status, again = lambdas.post("email", batch)

    assert status == 200 and [r["status"] for r in again["results"]] == ["duplicate"] * 5
    dynamodb = Counter(c.operation for c in calls if c.service == "dynamodb")
    assert dynamodb["TransactWriteItems"] == 1  # the first, cancelled on its event item
    assert dynamodb["GetItem"] == 4  # the other four: each found by a read, never sent to be cancelled
    subject = first["results"][0]["profile_id"]
    stored = factories.opened_items(local_aws, "event", subject)
    assert sorted(e["event_id"] for e in stored) == sorted(t["event_id"] for t in batch["touchpoints"])

    with aws_hooks.recording() as calls:
        status, fresh = lambdas.post(
            "email", {"touchpoints": [factories.email(p, "open", occurred_at=factories.occurred(9))]}
        )
    assert status == 200 and fresh["results"][0]["status"] == "stored"
    assert Counter(c.operation for c in calls if c.service == "dynamodb") == {"TransactWriteItems": 1}
