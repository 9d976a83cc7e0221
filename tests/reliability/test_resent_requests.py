"""A resend (one touchpoint, or a channel's batch retried after a timeout, a store's file sent again) is answered
`duplicate` and stores nothing twice; a known person's touchpoint no later than their last stored trace is looked for
with a read instead of a transaction cancelled on its event item (issue 23: a cancelled transaction is charged every
item it carries). A later touchpoint reads nothing."""

from __future__ import annotations

from collections import Counter

from tests import factories
from tests.people import person
from tests.reliability import aws_hooks


def test_a_batch_resent_whole_is_told_by_reads_and_a_later_touchpoint_by_none(lambdas, local_aws):
    p = person(640)
    a_day_earlier = -24 * 60  # an email visit without analytics consent is kept to the day: a later day is later
    batch = {
        "touchpoints": [
            factories.email(p, event, occurred_at=factories.occurred(a_day_earlier + i))
            for i, event in enumerate(("open", "click", "open", "click", "open"))
        ]
    }
    status, first = lambdas.post("email", batch)
    assert status == 200 and {r["status"] for r in first["results"]} == {"stored"}, first

    with aws_hooks.recording() as calls:
        status, again = lambdas.post("email", batch)

    assert status == 200 and [r["status"] for r in again["results"]] == ["duplicate"] * 5
    dynamodb = Counter(c.operation for c in calls if c.service == "dynamodb")
    assert dynamodb["TransactWriteItems"] == 0  # none sent to be cancelled on its event item
    assert dynamodb["GetItem"] == 5  # each found by a read: stored, so no later than the person's last trace
    subject = first["results"][0]["profile_id"]
    stored = factories.opened_items(local_aws, "event", subject)
    assert sorted(e["event_id"] for e in stored) == sorted(t["event_id"] for t in batch["touchpoints"])

    with aws_hooks.recording() as calls:
        status, fresh = lambdas.post(
            "email", {"touchpoints": [factories.email(p, "open", occurred_at=factories.occurred(9))]}
        )
    assert status == 200 and fresh["results"][0]["status"] == "stored"
    assert Counter(c.operation for c in calls if c.service == "dynamodb") == {"TransactWriteItems": 1}
