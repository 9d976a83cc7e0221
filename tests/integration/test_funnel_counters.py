"""The state distribution and the migration funnel, from the counters the classifier keeps: touchpoints through
the channel functions, the stream read from moto and delivered through the template's filters, the reports
through their function. Replays must count nothing twice, and the counters must agree with the profiles."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import factories, streams
from tests.factories import api_event
from tests.integration.test_classifier_stream import SOURCE, Pipeline
from tests.integration.test_reclassification_sweep import age, sweep
from tests.people import person
from touchpoints.adapters import keys

REPORT = "ProfileStateReportFunction"
RECLASSIFIER = "ReclassifierFunction"
ANALYST = "arn:aws:sts::123456789012:assumed-role/BusinessAnalyst/analyst"


@pytest.fixture
def pipeline(lambdas, local_aws, monkeypatch) -> Pipeline:
    monkeypatch.setenv("RECLASSIFY_LOOKBACK_DAYS", "366")
    monkeypatch.setenv("RECLASSIFY_CONCURRENCY", "1")
    return Pipeline(lambdas, local_aws)


def report(pipeline: Pipeline, route: str = "profile-states", query: dict[str, str] | None = None) -> dict[str, Any]:
    event = api_event("GET", f"/v1/reports/{route}", user_arn=ANALYST)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    answer = pipeline.lambdas.invoke(REPORT, event)
    assert answer["statusCode"] == 200, answer["body"]
    assert "SUBJECT#" not in answer["body"] and "sub_" not in answer["body"]
    return dict(json.loads(answer["body"]))


def moves(pipeline: Pipeline) -> Counter[tuple[str, str, str, str]]:
    """Today's funnel totals: (from, to, channel, action) -> profiles."""
    today = datetime.now(UTC).date().isoformat()
    body = report(pipeline, "funnel", {"from": today, "to": today})
    return Counter({(t["from"], t["to"], t["channel"], t["action"]): t["profiles"] for t in body["totals"]})


def counted_in_profiles(pipeline: Pipeline) -> dict[str, dict[str, int]]:
    """The honest cross-check: every active, classified profile item, counted by hand (origin -> state -> n)."""
    by_origin: dict[str, dict[str, int]] = {}
    for item in pipeline.aws.scan("ProfileTable"):
        if item["sk"]["S"] != keys.PROFILE_SK or "state" not in item or item["status"]["S"] != "active":
            continue
        if "merged_into" in item:
            continue
        cell = by_origin.setdefault(item["origin_channel"]["S"], dict.fromkeys("ABCDEFGU", 0))
        cell[item["state"]["S"]] += 1
    return by_origin


def nonzero(by_origin: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {o: {s: n for s, n in cells.items() if n} for o, cells in by_origin.items() if any(cells.values())}


def freeze_for_erasure(pipeline: Pipeline, subject_id: str) -> None:
    """What the eraser's first step does to the profile (adapters/erasure_store.py freeze)."""
    pipeline.aws.dynamodb.update_item(
        TableName=pipeline.aws.table("ProfileTable"),
        Key=keys.profile_key(subject_id),
        UpdateExpression="SET #st = :e, changed_by = :w ADD #v :one",
        ExpressionAttributeNames={"#st": "status", "#v": "version"},
        ExpressionAttributeValues={":e": {"S": "erasing"}, ":w": {"S": "compliance"}, ":one": {"N": "1"}},
    )


def cash_buyer_registers_the_ticket(pipeline: Pipeline, n: int, folio: str) -> str:
    buyer = pipeline.post("store", factories.store(None, folio=folio))
    pipeline.pump()
    assert pipeline.state(buyer) == "G"
    p = person(n)
    registration = factories.web(
        p,
        action="ticket_registration",
        ticket={"store_id": "TDA-042", "folio": folio},
        customer={"given_name": p.given_name, "family_name": p.family_name, "email": p.email},
    )
    assert pipeline.post("web", registration) == buyer
    pipeline.pump()
    assert pipeline.state(buyer) == "A"
    return buyer


def test_a_cash_buyer_who_registers_the_ticket_on_the_web_is_g_to_a_by_web_ticket_registration(pipeline):
    # Given a cash buyer (G) who registers the ticket on the web with name, email and consent
    cash_buyer_registers_the_ticket(pipeline, 1200, "F-9001")

    # Then the funnel shows the buyer arriving through the store, then moving to A by the web's ticket registration
    assert moves(pipeline) == {("none", "G", "store", "purchase"): 1, ("G", "A", "web", "ticket_registration"): 1}
    # ... and the distribution counts one profile, in A, from the store
    distribution = report(pipeline)
    assert distribution["by_state"] == {**dict.fromkeys("ABCDEFGU", 0), "A": 1}
    assert distribution["by_origin"]["store"]["A"] == 1 and distribution["total"] == 1


def test_replayed_and_reordered_stream_batches_count_nothing_twice(pipeline):
    # Given a journey and an erasure, every record delivered once
    subject = cash_buyer_registers_the_ticket(pipeline, 1201, "F-9002")
    other = pipeline.post("app", factories.app(person(1202)))
    pipeline.pump()
    freeze_for_erasure(pipeline, subject)
    pipeline.pump()
    once = (moves(pipeline), report(pipeline)["by_origin"])
    assert once[0][("A", "gone", "compliance", "erasure")] == 1
    assert once[1]["store"]["A"] == 0 and once[1]["app"]["D"] == 1

    # When the stream delivers every record again, in order, then reversed, then in a shuffled batch
    delivered = streams.passing(SOURCE.filters, pipeline.read)
    shuffled = delivered[:]
    random.Random(12).shuffle(shuffled)
    for batch in (delivered, delivered[::-1], shuffled):
        assert pipeline.deliver(batch) == []

    # Then nothing was counted twice
    assert (moves(pipeline), report(pipeline)["by_origin"]) == once
    assert pipeline.state(other) == "D"


def test_a_merged_away_or_deleted_profile_leaves_the_distribution_once(pipeline):
    merged = pipeline.post("app", factories.app(person(1203)))
    deleted = pipeline.post("store", factories.store(None, folio="F-9003"))
    pipeline.pump()
    assert report(pipeline)["by_state"]["D"] == 1 and report(pipeline)["by_state"]["G"] == 1

    # The merge marks the absorbed profile with the survivor's id; something deletes another profile outright
    pipeline.aws.dynamodb.update_item(
        TableName=pipeline.aws.table("ProfileTable"),
        Key=keys.profile_key(merged),
        UpdateExpression="SET merged_into = :s, changed_by = :w",
        ExpressionAttributeValues={":s": {"S": "sub_" + "0" * 32}, ":w": {"S": "merge"}},
    )
    pipeline.aws.dynamodb.delete_item(TableName=pipeline.aws.table("ProfileTable"), Key=keys.profile_key(deleted))
    pipeline.pump()
    assert pipeline.deliver(streams.passing(SOURCE.filters, pipeline.read)) == []  # and every record again

    assert report(pipeline)["total"] == 0
    today = moves(pipeline)
    assert today[("D", "gone", "identity", "merge")] == 1
    assert today[("G", "gone", "profile", "deleted")] == 1


def test_time_moves_are_attributed_to_time_not_to_a_channel(pipeline):
    subject_id = pipeline.post("web", factories.web(person(1204)))
    pipeline.pump()
    assert pipeline.state(subject_id) == "A"

    age(pipeline, subject_id, 400)  # the visit no longer counts, the contact data is stale
    assert sweep(pipeline)["changed"] == 1

    assert moves(pipeline) == {("none", "A", "web", "sign_up"): 1, ("A", "B", "time", "reclassification"): 1}
    assert report(pipeline)["by_state"]["B"] == 1


def test_counting_existing_profiles_after_deploying_stops_for_time_resumes_and_counts_each_once(pipeline):
    from touchpoints.adapters.classification_store import DynamoClassificationStore

    # Given a table classified before the counters existed: no counter items, no profile counted
    for n in range(1210, 1222):
        pipeline.post("web" if n % 2 else "app", (factories.web if n % 2 else factories.app)(person(n)))
    pipeline.post("store", factories.store(None, folio="F-9010"))
    pipeline.pump()
    table, counters = pipeline.aws.table("ProfileTable"), pipeline.aws.table("StateCounterTable")
    for item in pipeline.aws.scan("StateCounterTable"):
        pipeline.aws.dynamodb.delete_item(TableName=counters, Key={"pk": item["pk"], "sk": item["sk"]})
    for item in pipeline.aws.scan("ProfileTable"):
        if item["sk"]["S"] == "PROFILE":
            pipeline.aws.dynamodb.update_item(
                TableName=table, Key=keys.profile_key(item["subject_id"]["S"]), UpdateExpression="REMOVE counted_state"
            )
    assert report(pipeline)["total"] == 0

    # When the count runs out of time part-way, then the operator runs it again until it completes
    budget = iter([True] * 40)
    store = DynamoClassificationStore(pipeline.aws.dynamodb, table, counters)
    first = store.count_existing(lambda: next(budget, False), datetime.now(UTC) + timedelta(minutes=1))
    assert not first.complete
    second = pipeline.lambdas.invoke(RECLASSIFIER, factories.load_event("reclassifier-count-existing.json"))
    assert second["complete"]

    # Then every profile is counted once, and a run after that counts none again
    assert first.counted + second["counted"] == 13
    assert nonzero(report(pipeline)["by_origin"]) == nonzero(counted_in_profiles(pipeline))
    again = pipeline.lambdas.invoke(RECLASSIFIER, factories.load_event("reclassifier-count-existing.json"))
    assert (again["counted"], again["already"], again["complete"]) == (0, 13, True)
    # ... and the classifier goes on from there: a new touchpoint moves the counted profile, not a second one
    pipeline.post("store", factories.store(person(1211), folio="F-9011"))
    pipeline.pump()
    assert nonzero(report(pipeline)["by_origin"]) == nonzero(counted_in_profiles(pipeline))


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-11-30", "to": "2026-11-01"},
        {"from": "2024-01-01", "to": "2026-11-01"},
        {"from": "yesterday"},
        {"to": "2026-13-45"},
    ],
)
def test_a_funnel_range_that_cannot_be_reported_is_a_422_in_the_error_envelope(lambdas, query):
    event = api_event("GET", "/v1/reports/funnel", user_arn=ANALYST)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    answer = lambdas.invoke(REPORT, event)
    assert answer["statusCode"] == 422, answer["body"]
    assert json.loads(answer["body"])["error"]["code"] == "invalid_touchpoint"
