"""Data quality per touchpoint, from the counters the classifier keeps: touchpoints through the channel functions,
the stream read from moto and delivered through the template's filters, the report through its function. The
field ages must agree with the profiles counted by hand, and replays must count nothing twice."""

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
from tests.integration.test_funnel_counters import ANALYST, REPORT, freeze_for_erasure
from tests.people import person
from touchpoints.adapters import keys
from touchpoints.model import PersonalField

BUCKETS = ("0-30", "31-90", "91-365", ">365")


@pytest.fixture
def pipeline(lambdas, local_aws) -> Pipeline:
    return Pipeline(lambdas, local_aws)


def quality(pipeline: Pipeline, query: dict[str, str] | None = None) -> dict[str, Any]:
    event = api_event("GET", "/v1/reports/data-quality", user_arn=ANALYST)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    answer = pipeline.lambdas.invoke(REPORT, event)
    assert answer["statusCode"] == 200, answer["body"]
    assert "SUBJECT#" not in answer["body"] and "sub_" not in answer["body"]
    return dict(json.loads(answer["body"]))


def by_action(body: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(channel, action) -> (touchpoints, confirmed identity, confirmed contact)."""
    return {
        (row["channel"], row["action"]): (row["touchpoints"], row["confirmed_identity"], row["confirmed_contact"])
        for row in body["touchpoints"]
    }


def ages_in_profiles(pipeline: Pipeline) -> dict[str, dict[str, int]]:
    """The honest cross-check: each active, classified profile's fields, aged by hand from their confirmation time."""
    today = datetime.now(UTC).date()
    ages = {f.value: dict.fromkeys((*BUCKETS, "never"), 0) for f in PersonalField}
    for item in pipeline.aws.scan("ProfileTable"):
        if item["sk"]["S"] != keys.PROFILE_SK or item["status"]["S"] != "active" or "merged_into" in item:
            continue
        fields = item.get("fields", {}).get("M", {})
        for name, cells in ages.items():
            if name not in fields:
                cells["never"] += 1
                continue
            days = (today - datetime.fromisoformat(fields[name]["M"]["at"]["S"]).date()).days
            cells[
                BUCKETS[0] if days <= 30 else BUCKETS[1] if days <= 90 else BUCKETS[2] if days <= 365 else ">365"
            ] += 1
    return ages


def days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def test_each_channels_action_shows_the_share_that_confirmed_identity_or_contact_and_fields_age_as_in_profiles(
    pipeline,
):
    # Given a web sign-up with name, email, phone and address that happened 100 days ago
    signed = pipeline.post("web", factories.web(person(1300), occurred_at=days_ago(100)))
    pipeline.pump()
    # ... an anonymous cash purchase (no personal field), and a contact-center call today that confirms the
    # phone, WhatsApp, Messenger id and email
    pipeline.post("store", factories.store(None, folio="F-9300"))
    pipeline.pump()
    assert pipeline.post("contact-center", factories.contact_center(person(1300), occurred_at=days_ago(0))) == signed
    pipeline.pump()
    # ... and another app user, new, with only an email and a push token
    pipeline.post("app", factories.app(person(1301), occurred_at=days_ago(0)))
    pipeline.pump()

    body = quality(pipeline)

    # Then each channel's action counts its touchpoints and those that confirmed identity or contact fields
    assert by_action(body) == {
        ("web", "sign_up"): (1, 1, 1),
        ("store", "purchase"): (1, 0, 0),
        ("contact-center", "complaint"): (1, 0, 1),
        ("app", "app_open"): (1, 0, 1),
    }
    app_open = next(row for row in body["touchpoints"] if row["action"] == "app_open")
    assert app_open["contact_share"] == 1.0 and app_open["identity_share"] == 0.0
    assert app_open["fields"] == {"email": 1, "push_token": 1}
    # ... and the age of each field across profiles is what the profiles hold, counted by hand
    assert body["field_age"]["profiles"] == 3
    assert body["field_age"]["by_field"] == ages_in_profiles(pipeline)
    assert body["field_age"]["by_field"]["email"] == {"0-30": 2, "31-90": 0, "91-365": 0, ">365": 0, "never": 1}
    assert body["field_age"]["by_field"]["given_name"]["91-365"] == 1


def test_replayed_and_reordered_stream_batches_count_nothing_twice(pipeline):
    pipeline.post("web", factories.web(person(1302)))
    pipeline.pump()
    other = pipeline.post("store", factories.store(person(1303), folio="F-9301"))
    pipeline.pump()
    pipeline.post("email", factories.email(person(1302)))
    pipeline.pump()
    once = quality(pipeline)

    delivered = streams.passing(SOURCE.filters, pipeline.read)
    shuffled = delivered[:]
    random.Random(16).shuffle(shuffled)
    for batch in (delivered, delivered[::-1], shuffled):
        assert pipeline.deliver(batch) == []

    again = quality(pipeline)
    assert (by_action(again), again["field_age"]) == (by_action(once), once["field_age"])
    assert again["field_age"]["by_field"] == ages_in_profiles(pipeline)
    assert pipeline.state(other) is not None


def test_an_erased_or_merged_away_profile_takes_its_fields_out_of_the_ages_once(pipeline):
    erased = pipeline.post("web", factories.web(person(1304)))
    merged = pipeline.post("app", factories.app(person(1305)))
    kept = pipeline.post("store", factories.store(person(1306), folio="F-9302"))
    pipeline.pump()
    assert quality(pipeline)["field_age"]["by_field"]["email"]["0-30"] == 3

    freeze_for_erasure(pipeline, erased)
    pipeline.aws.dynamodb.update_item(
        TableName=pipeline.aws.table("ProfileTable"),
        Key=keys.profile_key(merged),
        UpdateExpression="SET merged_into = :s, changed_by = :w",
        ExpressionAttributeValues={":s": {"S": kept}, ":w": {"S": "merge"}},
    )
    pipeline.pump()
    assert pipeline.deliver(streams.passing(SOURCE.filters, pipeline.read)) == []  # and every record again

    body = quality(pipeline)
    assert body["field_age"]["profiles"] == 1
    assert body["field_age"]["by_field"] == ages_in_profiles(pipeline)
    assert body["field_age"]["by_field"]["email"] == {"0-30": 1, "31-90": 0, "91-365": 0, ">365": 0, "never": 0}
    # ... while the touchpoints they made still count: they happened
    assert Counter({k: v[0] for k, v in by_action(body).items()}) == {
        ("web", "sign_up"): 1,
        ("app", "app_open"): 1,
        ("store", "purchase"): 1,
    }


@pytest.mark.parametrize("query", [{"from": "2026-11-30", "to": "2026-11-01"}, {"from": "yesterday"}])
def test_a_range_that_cannot_be_reported_is_a_422_in_the_error_envelope(lambdas, query):
    event = api_event("GET", "/v1/reports/data-quality", user_arn=ANALYST)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    answer = lambdas.invoke(REPORT, event)
    assert answer["statusCode"] == 422, answer["body"]
    assert json.loads(answer["body"])["error"]["code"]


def test_a_channels_api_key_cannot_read_the_report(lambdas):
    event = api_event("GET", "/v1/reports/data-quality")
    answer = lambdas.invoke(REPORT, event)
    assert answer["statusCode"] == 403, answer["body"]
