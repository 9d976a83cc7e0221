"""Given a channel retries a touchpoint (same channel, same event_id), sequentially or from many
containers at once, it is stored once: one event item, counters incremented once, one profile.

Each Lambda container handles one request at a time, so N concurrent containers are N separate
IngestionService instances (own clients, own caches) driven from N threads against one moto.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests import factories
from tests.people import person
from tests.reliability import tally
from tests.reliability.conftest import ContainerFactory, touchpoint
from touchpoints.adapters import keys
from touchpoints.ingestion import BatchOutcome, IngestStatus, ingest_touchpoints
from touchpoints.model import Touchpoint

pytestmark = pytest.mark.usefixtures("atomic_aws_calls")


def profile(aws: Any, subject_id: str) -> dict[str, Any]:
    key = keys.profile_key(subject_id)
    return aws.dynamodb.get_item(TableName=aws.table("ProfileTable"), Key=key, ConsistentRead=True)["Item"]


def counter(item: dict[str, Any], name: str) -> int:
    return int(item[name]["N"])


def items_of(aws: Any, entity: str) -> list[dict[str, Any]]:
    return [i for i in aws.scan("ProfileTable") if i.get("entity", {}).get("S") == entity]


def race(containers: list[Any], touchpoints: list[Touchpoint], *, channel_retries: int = 0) -> list[BatchOutcome]:
    """Each container ingests its touchpoint at the same moment; a 503 is retried like a channel would."""
    barrier = threading.Barrier(len(containers))

    def run(index: int) -> BatchOutcome:
        barrier.wait()
        for _ in range(channel_retries + 1):
            outcome = ingest_touchpoints(containers[index], [touchpoints[index]])
            if outcome.failure is None:
                break
            tally.add(f"concurrent_503_{outcome.failure.code}")
        return outcome

    tally.add("concurrent_requests", len(containers))
    with ThreadPoolExecutor(max_workers=len(containers)) as pool:
        return list(pool.map(run, range(len(containers))))


def test_a_sequential_retry_is_a_duplicate_and_counts_nothing(lambdas, local_aws):
    p = person(600)
    first = factories.email(p, "open")
    status, body = lambdas.post("email", first)
    assert status == 200
    subject = body["results"][0]["profile_id"]
    before = profile(local_aws, subject)

    status, body = lambdas.post("email", first)

    assert status == 200
    assert body["results"][0] | {"status": "duplicate"} == body["results"][0]
    assert body["results"][0]["profile_id"] == subject
    after = profile(local_aws, subject)
    assert counter(after, "trace_visit") == counter(before, "trace_visit") == 1
    assert counter(after, "version") == counter(before, "version") == 1
    assert len(items_of(local_aws, "event")) == 1


def test_a_resent_batch_stores_only_what_was_missing(lambdas, local_aws):
    p = person(601)
    stored = [factories.sms(p, "click") for _ in range(2)]
    lambdas.post("sms", {"touchpoints": stored})
    missing = [factories.sms(p, "inbound") for _ in range(3)]

    status, body = lambdas.post("sms", {"touchpoints": stored + missing})

    assert status == 200
    assert [r["status"] for r in body["results"]] == ["duplicate"] * 2 + ["stored"] * 3
    subject = body["results"][0]["profile_id"]
    assert counter(profile(local_aws, subject), "trace_visit") == 5
    assert len(items_of(local_aws, "event")) == 5


def test_the_same_event_id_on_two_channels_is_two_touchpoints(lambdas, local_aws):
    p = person(602)
    lambdas.post("web", factories.web(p))
    status_email, email = lambdas.post("email", factories.email(p, "open", event_id="shared-id-1"))
    status_sms, sms = lambdas.post("sms", factories.sms(p, "click", event_id="shared-id-1"))
    assert (status_email, status_sms) == (200, 200)
    assert email["results"][0]["status"] == sms["results"][0]["status"] == "stored"
    assert len(items_of(local_aws, "event")) == 3


def test_concurrent_retries_for_a_known_person_store_it_once(lambdas, local_aws, new_container: ContainerFactory):
    p = person(603)
    lambdas.post("web", factories.web(p))
    subject = local_aws.subject_of("email", p.email)
    before = profile(local_aws, subject)
    retried = touchpoint("email", factories.email(p, "open"))
    containers = [new_container() for _ in range(10)]

    outcomes = race(containers, [retried] * 10)

    statuses = sorted(o.results[0].status for o in outcomes)
    assert statuses == [IngestStatus.DUPLICATE] * 9 + [IngestStatus.STORED]
    assert {o.results[0].profile_id for o in outcomes} == {subject}
    after = profile(local_aws, subject)
    assert counter(after, "trace_visit") == counter(before, "trace_visit") + 1
    assert counter(after, "version") == counter(before, "version") + 1
    events = factories.opened_items(local_aws, "event", subject)
    assert len([e for e in events if e["event_id"] == retried.event_id]) == 1


def test_concurrent_retries_for_a_new_person_create_one_profile(local_aws, new_container: ContainerFactory):
    """Two or more containers race to create the same person: one wins the token claims, the
    others find their claim taken, resolve again and end as duplicates of the same profile."""
    p = person(604)
    first = touchpoint("web", factories.web(p))
    containers = [new_container() for _ in range(8)]

    outcomes = race(containers, [first] * 8)

    results = [o.results[0] for o in outcomes]
    assert all(o.failure is None for o in outcomes)
    assert sorted(r.status for r in results) == [IngestStatus.DUPLICATE] * 7 + [IngestStatus.STORED]
    subjects = {r.profile_id for r in results}
    assert len(subjects) == 1
    assert [r.new_profile for r in results if r.status is IngestStatus.STORED] == [True]
    assert len(items_of(local_aws, "profile")) == 1
    assert len(local_aws.scan("KeyVaultTable")) == 1
    assert len(items_of(local_aws, "event")) == 1
    tokens = [i for i in local_aws.scan("IdentityIndexTable") if i["entity"]["S"] == "token"]
    assert len(tokens) == len(first.identifiers)
    assert {t["subject_id"]["S"] for t in tokens} == subjects
    assert counter(profile(local_aws, subjects.pop()), "version") == 1


def test_different_first_touchpoints_of_a_new_person_at_once_make_one_profile(
    local_aws, new_container: ContainerFactory
):
    p = person(605)
    touchpoints = [touchpoint("email", factories.email(p, "click")) for _ in range(8)]
    containers = [new_container() for _ in range(8)]

    outcomes = race(containers, touchpoints)

    assert all(o.failure is None for o in outcomes)
    assert {o.results[0].status for o in outcomes} == {IngestStatus.STORED}
    subjects = {o.results[0].profile_id for o in outcomes}
    assert len(subjects) == 1
    assert len(items_of(local_aws, "profile")) == 1
    assert len(local_aws.scan("KeyVaultTable")) == 1
    item = profile(local_aws, subjects.pop())
    assert counter(item, "trace_visit") == 8
    assert counter(item, "version") == 8
    assert len(items_of(local_aws, "event")) == 8
