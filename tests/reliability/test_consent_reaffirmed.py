"""An answer given again unchanged (the same yes to the same purpose, later) is the latest evidence of it, but no
consent change: no new consent version, no history item. So a warm container's snapshot of that person stays good
when another channel's container records it, and writes once (issue 23: in a steady state, where people come back
on several channels, these were a quarter of all transactions, each cancelled and sent again). A stale snapshot's
answer still never goes back in time: the write's condition orders answers by their time as a number."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests import factories
from tests.people import person
from tests.reliability import aws_hooks
from tests.reliability.conftest import ContainerFactory, touchpoint
from tests.reliability.test_idempotency import counter, profile
from touchpoints.adapters import keys
from touchpoints.ingestion import IngestionService, IngestStatus, ingest_touchpoints
from touchpoints.items.profile import epoch_us
from touchpoints.model import Touchpoint

pytestmark = pytest.mark.usefixtures("atomic_aws_calls")


def stored(container: IngestionService, tp: Touchpoint) -> None:
    outcome = ingest_touchpoints(container, [tp])
    assert outcome.failure is None and outcome.results[0].status is IngestStatus.STORED


def operations(calls: list[aws_hooks.Call]) -> Counter[str]:
    return Counter(c.operation for c in calls if c.service == "dynamodb")


def history(aws: Any, subject: str, key: str) -> list[dict[str, Any]]:
    return [i for i in factories.opened_items(aws, "consent", subject) if i["key"] == key]


def consent(item: dict[str, Any], key: str) -> dict[str, Any]:
    return dict(item["consents"]["M"][key]["M"])


def web(aws: Any, p: Any, action: str, minutes: int, **extra: Any) -> Touchpoint:
    """A web touchpoint of minute `minutes` whose back end vouches for the email (a logged-in visit): on a public
    channel only a proven person's answers are theirs."""
    body = factories.web(p, action, occurred_at=factories.occurred(minutes), **extra)
    return touchpoint("web", factories.vouched(body, "web", aws.tokenizer(), email=p.email))


def test_an_answer_given_again_elsewhere_leaves_a_warm_containers_snapshot_good(
    lambdas, local_aws, new_container: ContainerFactory
):
    # Given a person who signed up on the web in container A (which now holds their snapshot)
    p = person(630)
    web_a, web_b = new_container(), new_container()
    stored(web_a, web(local_aws, p, "sign_up", 0))
    subject = local_aws.subject_of("email", p.email)
    signed_up = profile(local_aws, subject)
    # When container B records the same answers again ten minutes later (a second visit: same yes to everything)
    stored(web_b, web(local_aws, p, "page_view", 10))
    # Then they are the latest evidence (time and its number), but no change: no new version, no history item
    again = profile(local_aws, subject)
    assert counter(again, "consent_version") == counter(signed_up, "consent_version")
    marketing = consent(again, "marketing:all")
    assert marketing["granted"]["BOOL"] is True and marketing["at"]["S"] == factories.occurred(10)
    assert int(marketing["at_us"]["N"]) == epoch_us(factories._clock) + 10 * 60 * 10**6
    assert len(history(local_aws, subject, "marketing:all")) == 1
    # and container A's snapshot is still good: its next touchpoints are one write each, no read, none cancelled
    # (before: B's answers moved the consent version, and each of A's writes was cancelled once and read again)
    with aws_hooks.recording() as calls:
        stored(web_a, web(local_aws, p, "page_view", 20, consent=[]))
        stored(web_a, web(local_aws, p, "page_view", 30))
    assert operations(calls) == {"TransactWriteItems": 2}
    last = profile(local_aws, subject)
    assert consent(last, "marketing:all")["at"]["S"] == factories.occurred(30)
    assert counter(last, "consent_version") == counter(signed_up, "consent_version")


def test_a_stale_snapshot_never_takes_an_answer_back_in_time(lambdas, local_aws, new_container: ContainerFactory):
    # Given container A holding a person's yes of minute 0, and container B recording the same yes at minute 30
    p = person(631)
    web_a, web_b = new_container(), new_container()
    stored(web_a, web(local_aws, p, "sign_up", 0))
    subject = local_aws.subject_of("email", p.email)
    stored(web_b, web(local_aws, p, "page_view", 30))
    before = profile(local_aws, subject)

    def late(minutes: int, granted: bool) -> Touchpoint:
        answer = [{"purpose": "marketing", "granted": granted, "collected_at": factories.occurred(minutes)}]
        return web(local_aws, p, "page_view", 31, consent=answer)

    # When A receives a no collected before minute 30 but later than its snapshot's yes
    with aws_hooks.recording() as calls:
        stored(web_a, late(10, granted=False))
    # Then it did not replace the yes of minute 30: the write's condition found a later answer, and the write sent
    # again after a fresh read left the answer alone (the touchpoint itself is stored)
    assert operations(calls)["TransactWriteItems"] == 2
    # and the same yes from before minute 30, now that A knows the later one, is left alone in one write
    with aws_hooks.recording() as calls:
        stored(web_a, late(20, granted=True))
    assert operations(calls)["TransactWriteItems"] == 1
    after = profile(local_aws, subject)
    assert consent(after, "marketing:all") == consent(before, "marketing:all")
    assert counter(after, "consent_version") == counter(before, "consent_version")
    assert counter(after, "trace_visit") == counter(before, "trace_visit") + 2


def test_an_answer_stored_before_its_time_had_a_number_is_recorded_again_as_a_change(
    lambdas, local_aws, new_container: ContainerFactory
):
    # Given a yes stored by an earlier version: its time as text only
    p = person(632)
    stored(new_container(), web(local_aws, p, "sign_up", 0))
    subject = local_aws.subject_of("email", p.email)
    local_aws.dynamodb.update_item(
        TableName=local_aws.table("ProfileTable"),
        Key=keys.profile_key(subject),
        UpdateExpression="REMOVE consents.#k.at_us",
        ExpressionAttributeNames={"#k": "marketing:all"},
    )
    before = profile(local_aws, subject)
    # When the same yes comes again, later, to a new container
    stored(new_container(), web(local_aws, p, "page_view", 10))
    # Then it cannot be ordered by a condition, so it is a change as before: a new version and a history item, and
    # from now on the answer carries its time as a number
    after = profile(local_aws, subject)
    assert counter(after, "consent_version") == counter(before, "consent_version") + 1
    assert len(history(local_aws, subject, "marketing:all")) == 2
    assert int(consent(after, "marketing:all")["at_us"]["N"]) == epoch_us(factories._clock) + 10 * 60 * 10**6
