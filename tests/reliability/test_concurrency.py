"""Given 50 touchpoints for one person arriving at once in 50 containers, no update is lost:
every counter, channel, field and consent ends exactly as if they had arrived one by one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests import factories
from tests.people import person
from tests.reliability.conftest import ContainerFactory, touchpoint
from tests.reliability.test_idempotency import counter, items_of, profile, race
from touchpoints.ingestion import IngestStatus

pytestmark = pytest.mark.usefixtures("atomic_aws_calls")

CONCURRENCY = 50


def test_fifty_concurrent_touchpoints_for_one_person_lose_no_update(
    lambdas, local_aws, new_container: ContainerFactory
):
    p = person(620)
    status, _body = lambdas.post("web", factories.web(p))
    assert status == 200
    subject = local_aws.subject_of("email", p.email)
    before = profile(local_aws, subject)
    payloads = [
        lambda i: ("email", factories.email(p, "click")),
        lambda i: ("sms", factories.sms(p, "inbound")),
        lambda i: ("contact-center", factories.contact_center(p, reason="information")),
        lambda i: ("store", factories.store(p, folio=f"F-{i:06d}")),  # each purchase claims a new ticket
    ]
    touchpoints = [touchpoint(*payloads[i % len(payloads)](i)) for i in range(CONCURRENCY)]
    containers = [new_container() for _ in range(CONCURRENCY)]

    outcomes = race(containers, touchpoints, channel_retries=3)

    assert [o.failure for o in outcomes] == [None] * CONCURRENCY
    assert {o.results[0].status for o in outcomes} == {IngestStatus.STORED}
    assert {o.results[0].profile_id for o in outcomes} == {subject}
    after = profile(local_aws, subject)
    visits = sum(1 for t in touchpoints if t.trace and t.trace.kind.value == "visit")
    purchases = CONCURRENCY - visits
    assert counter(after, "trace_visit") == counter(before, "trace_visit") + visits
    assert counter(after, "trace_transactional") == counter(before, "trace_transactional") + purchases
    assert counter(after, "version") == counter(before, "version") + CONCURRENCY
    assert set(after["channels"]["SS"]) == {"web", "email", "sms", "contact-center", "store"}
    assert len([e for e in items_of(local_aws, "event") if e["subject_id"]["S"] == subject]) == CONCURRENCY + 1
    assert len(items_of(local_aws, "profile")) == 1
    # every store ticket claimed for this person, none lost to a concurrent claim
    tickets = [t for t in local_aws.scan("IdentityIndexTable") if t["pk"]["S"].startswith("TOKEN#t1.ticket.")]
    assert len(tickets) == purchases
    linked = factories.linked_tokens(local_aws.scan("IdentityIndexTable"), subject)
    assert linked >= {t["pk"]["S"].removeprefix("TOKEN#") for t in tickets}
    assert counter(after, "links_ticket") == len(tickets)


def test_fifty_concurrent_consent_changes_keep_the_newest_answer(lambdas, local_aws, new_container: ContainerFactory):
    """Every consent change bumps consent_version, so all but one concurrent writer find their
    cached consents stale: they reload and retry; the newest answer wins whatever the order."""
    p = person(621)
    lambdas.post("web", factories.web(p))
    subject = local_aws.subject_of("email", p.email)
    before = profile(local_aws, subject)
    base = factories._clock + timedelta(hours=1)
    touchpoints = [
        touchpoint(
            "sms",
            factories.sms(
                p,
                "click",
                consent=[
                    {
                        "purpose": "marketing",
                        "channel": "sms",
                        "granted": i % 2 == 0,
                        "collected_at": (base + timedelta(seconds=i)).isoformat(),
                    }
                ],
            ),
        )
        for i in range(CONCURRENCY)
    ]
    containers = [new_container() for _ in range(CONCURRENCY)]

    outcomes = race(containers, touchpoints, channel_retries=5)

    assert [o.failure for o in outcomes] == [None] * CONCURRENCY
    assert {o.results[0].status for o in outcomes} == {IngestStatus.STORED}
    after = profile(local_aws, subject)
    newest = after["consents"]["M"]["marketing:sms"]["M"]
    assert newest["at"]["S"] == (base + timedelta(seconds=CONCURRENCY - 1)).isoformat()
    assert newest["granted"]["BOOL"] is ((CONCURRENCY - 1) % 2 == 0)
    assert counter(after, "trace_visit") == counter(before, "trace_visit") + CONCURRENCY
    assert counter(after, "version") == counter(before, "version") + CONCURRENCY
    history = [i for i in factories.opened_items(local_aws, "consent", subject) if i["key"] == "marketing:sms"]
    assert 1 <= len(history) <= CONCURRENCY
    assert counter(after, "consent_version") == counter(before, "consent_version") + len(history)


def test_the_sweep_reclassifies_many_due_profiles_at_once_and_each_exactly_once(lambdas, local_aws, monkeypatch):
    from tests.integration.test_classifier_stream import Pipeline
    from tests.integration.test_reclassification_sweep import age, states, sweep

    monkeypatch.setenv("RECLASSIFY_LOOKBACK_DAYS", "366")
    monkeypatch.setenv("RECLASSIFY_CONCURRENCY", "8")
    pipeline = Pipeline(lambdas, local_aws)
    subjects = [pipeline.post("web", factories.web(person(n))) for n in range(640, 660)]
    pipeline.pump()
    for subject_id in subjects:
        age(pipeline, subject_id, 400)

    outcomes = sweep(pipeline)

    assert outcomes["changed"] == len(subjects) and sum(outcomes.values()) == len(subjects)
    assert {pipeline.state(s) for s in subjects} == {"B"}
    assert sum(sweep(pipeline).values()) == 0  # nothing left due
    # The counters, changed by 8 threads at once, hold each profile once
    assert (states(pipeline)["A"], states(pipeline)["B"]) == (0, len(subjects))
