"""The `sam local generate-event dynamodb update`-shaped sample, and the state distribution report."""

from __future__ import annotations

import base64
import copy
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import factories, streams
from tests.conftest import FUNCTIONS
from tests.factories import api_event, load_event

CLASSIFIER = "ClassifierFunction"
REPORT = "ProfileStateReportFunction"
SOURCE = FUNCTIONS[CLASSIFIER].streams[0]
ANALYST = "arn:aws:sts::123456789012:assumed-role/BusinessAnalyst/analyst"


def _stored(value: Any) -> Any:
    """A Lambda event's attribute value as boto3 writes it (binary from base64 to bytes)."""
    if isinstance(value, dict):
        return {k: base64.b64decode(v) if k == "B" else _stored(v) for k, v in value.items()}
    return value


def profile_item(local_aws, event_record: dict[str, Any]) -> dict[str, Any]:
    return local_aws.dynamodb.get_item(
        TableName=local_aws.table("ProfileTable"), Key=event_record["dynamodb"]["Keys"], ConsistentRead=True
    )["Item"]


class TestGeneratedEventSample:
    """events/classifier-profile-update.json: `sam local generate-event dynamodb update`, made a profile's."""

    @pytest.fixture
    def sample(self, local_aws) -> dict[str, Any]:
        event = load_event("classifier-profile-update.json")
        record = event["Records"][0]
        local_aws.dynamodb.put_item(
            TableName=local_aws.table("ProfileTable"), Item=_stored(record["dynamodb"]["NewImage"])
        )
        return event

    def test_the_sample_passes_the_filter_and_moves_the_cash_buyer_to_a(self, lambdas, local_aws, sample):
        assert streams.passing(SOURCE.filters, sample["Records"]) == sample["Records"]

        assert lambdas.invoke(CLASSIFIER, sample) == {"batchItemFailures": []}

        item = profile_item(local_aws, sample["Records"][0])
        assert (item["state"]["S"], item["previous_state"]["S"]) == ("A", "G")
        assert (item["classified_version"]["N"], item["changed_by"]["S"]) == ("2", "classifier")
        assert item["state_key"]["S"].startswith("A#store#")
        assert [v["S"] for v in item["contact_channels"]["L"]] == ["email"]

    def test_replaying_it_or_its_older_image_changes_nothing(self, lambdas, local_aws, sample):
        lambdas.invoke(CLASSIFIER, sample)
        classified = profile_item(local_aws, sample["Records"][0])
        older = copy.deepcopy(sample)
        older["Records"][0]["dynamodb"]["NewImage"] = older["Records"][0]["dynamodb"]["OldImage"]
        older["Records"][0]["dynamodb"]["NewImage"]["changed_by"] = {"S": "ingest"}

        for event in (sample, older, sample):
            assert lambdas.invoke(CLASSIFIER, copy.deepcopy(event)) == {"batchItemFailures": []}
        assert profile_item(local_aws, sample["Records"][0]) == classified

    @pytest.mark.parametrize(
        "change",
        [
            lambda r: r["dynamodb"]["Keys"]["sk"].update(S="EVENT#web#evt-1"),
            lambda r: r["dynamodb"]["NewImage"]["changed_by"].update(S="classifier"),
            # Still being erased: its departure was counted when the erasure froze it.
            lambda r: (r["dynamodb"]["OldImage"]["status"].update(S="erasing"), r.update(eventName="REMOVE")),
            lambda r: (
                r["dynamodb"]["OldImage"]["status"].update(S="erasing"),
                r["dynamodb"]["NewImage"]["status"].update(S="erasing"),
            ),
            # Never classified: it was never counted, so its removal moves no count.
            lambda r: (r["dynamodb"]["OldImage"].pop("state"), r.update(eventName="REMOVE")),
        ],
    )
    def test_the_filter_drops_what_the_classifier_must_not_see(self, change):
        record = copy.deepcopy(load_event("classifier-profile-update.json")["Records"][0])
        change(record)
        assert streams.passing(SOURCE.filters, [record]) == []

    @pytest.mark.parametrize(
        "change",
        [
            lambda r: r["dynamodb"]["NewImage"]["status"].update(S="erasing"),
            lambda r: r["dynamodb"]["NewImage"].update(merged_into={"S": "sub_5e1ec7ed0c1a55f1e2d0000000000b02"}),
            lambda r: r.update(eventName="REMOVE"),
        ],
    )
    def test_the_filter_passes_a_classified_profile_leaving_the_counts(self, change):
        record = copy.deepcopy(load_event("classifier-profile-update.json")["Records"][0])
        change(record)
        assert streams.passing(SOURCE.filters, [record]) == [record]


# ---------------------------------------------------------------- the report

NOW = datetime.now(UTC)


def _at(days: int) -> dict[str, str]:
    return {"S": (NOW - timedelta(days=days)).isoformat()}


def _field(days: int = 1) -> dict[str, Any]:
    return {"M": {"v": {"B": os.urandom(24)}, "at": _at(days), "ch": {"S": "web"}}}


def _consent(granted: bool = True) -> dict[str, Any]:
    return {
        "M": {"granted": {"BOOL": granted}, "at": _at(2), "source": {"S": "web"}, "policy_version": {"S": "2026-11-01"}}
    }


def _profile(n: int, origin: str, fields=(), consents=(), transactional=0, visit=0, trace_days=1, status="active"):
    sid = f"sub_report{n:04d}"
    item = {
        "pk": {"S": f"SUBJECT#{sid}"},
        "sk": {"S": "PROFILE"},
        "entity": {"S": "profile"},
        "subject_id": {"S": sid},
        "status": {"S": status},
        "origin_channel": {"S": origin},
        "fields": {"M": {name: _field() for name in fields}},
        "consents": {"M": {key: _consent() for key in consents}},
        "consent_version": {"N": "1" if consents else "0"},
        "version": {"N": "1"},
        "trace_transactional": {"N": str(transactional)},
        "trace_visit": {"N": str(visit)},
        "changed_by": {"S": "ingest"},
    }
    if transactional or visit:
        item["last_trace_at"] = _at(trace_days)
    return item


NAME = ("given_name", "family_name")
MKT = ("marketing:all",)
# Each profile with the state a person reading the rules would give it.
FIXTURE = [
    ("A", _profile(1, "web", (*NAME, "email"), MKT, transactional=1)),
    ("A", _profile(2, "store", ("rfc", "phone"), ("marketing:sms",), transactional=3)),
    ("A", _profile(3, "store", ("curp", "email"), MKT, visit=2)),
    ("B", _profile(4, "web", (*NAME, "email"), MKT)),
    ("B", _profile(5, "web", ("rfc", "postal_address"), MKT, visit=1, trace_days=500)),
    ("C", _profile(6, "store", ("rfc", "email"), ("personalization:all",), transactional=1)),
    ("D", _profile(7, "app", ("email", "push_token"), MKT, visit=5)),
    ("D", _profile(8, "contact-center", ("whatsapp",), ("marketing:contact-center",), transactional=1)),
    ("E", _profile(9, "store", ("rfc",), transactional=1, trace_days=2000)),
    ("F", _profile(10, "web", ("email",), ("marketing:email",))),
    ("G", _profile(11, "store", transactional=1)),
    ("G", _profile(12, "store", transactional=1)),
    ("G", _profile(13, "web", ("given_name",), visit=1)),  # a bare given name is not identity
    ("G", _profile(14, "app", ("email",), ("personalization:all",), visit=1)),  # no marketing: not reachable
    ("U", _profile(15, "email", consents=("marketing:email",))),
    ("U", _profile(16, "sms")),
]
EXPECTED_BY_ORIGIN = {
    "web": {"A": 1, "B": 2, "F": 1, "G": 1},
    "store": {"A": 2, "C": 1, "E": 1, "G": 2},
    "app": {"D": 1, "G": 1},
    "contact-center": {"D": 1},
    "email": {"U": 1},
    "sms": {"U": 1},
}


def _report_event(user_arn: str | None = ANALYST, api_key_id: str | None = None) -> dict[str, Any]:
    return api_event("GET", "/v1/reports/profile-states", api_key_id=api_key_id, user_arn=user_arn)


def test_the_report_matches_a_hand_built_fixture_of_profiles(lambdas, local_aws):
    table = local_aws.table("ProfileTable")
    stream = streams.TableStream(table)
    for _, item in FIXTURE:
        local_aws.dynamodb.put_item(TableName=table, Item=item)
    erased = _profile(17, "web", (*NAME, "email"), MKT, transactional=1)
    local_aws.dynamodb.put_item(TableName=table, Item=erased)
    lambdas.post("store", factories.store(None, folio="F-6001"))  # through the real channel: one more G

    delivered = streams.passing(SOURCE.filters, stream.read())
    assert len(delivered) == len(FIXTURE) + 2
    assert lambdas.invoke(CLASSIFIER, streams.event(delivered)) == {"batchItemFailures": []}
    # Erasure freezes the profile: the classifier takes it out of the counts, once however often it is delivered.
    local_aws.dynamodb.update_item(
        TableName=table,
        Key={"pk": erased["pk"], "sk": erased["sk"]},
        UpdateExpression="SET #st = :e, changed_by = :w ADD #v :one",
        ExpressionAttributeNames={"#st": "status", "#v": "version"},
        ExpressionAttributeValues={":e": {"S": "erasing"}, ":w": {"S": "erasure"}, ":one": {"N": "1"}},
    )
    departure = streams.passing(SOURCE.filters, stream.read())
    assert len(departure) == 1
    for _ in range(2):
        assert lambdas.invoke(CLASSIFIER, streams.event(departure)) == {"batchItemFailures": []}

    result = lambdas.invoke(REPORT, _report_event())

    assert result["statusCode"] == 200, result["body"]
    report = json.loads(result["body"])
    expected = {origin: dict.fromkeys("ABCDEFGU", 0) for origin in report["by_origin"]}
    for origin, counts in EXPECTED_BY_ORIGIN.items():
        expected[origin].update(counts)
    expected["store"]["G"] += 1
    assert report["by_origin"] == expected
    assert report["by_state"] == {"A": 3, "B": 2, "C": 1, "D": 2, "E": 1, "F": 1, "G": 5, "U": 2}
    assert report["total"] == len(FIXTURE) + 1
    assert "sub_" not in result["body"] and "SUBJECT#" not in result["body"]


def test_the_report_refuses_a_channel_api_key(lambdas, local_aws):
    key = local_aws.provisioned.api_keys["WebApiKey"].key_id
    result = lambdas.invoke(REPORT, _report_event(user_arn=None, api_key_id=key))
    assert result["statusCode"] == 403
    assert json.loads(result["body"])["error"]["code"] == "forbidden"


def test_the_report_routes_are_iam_authenticated_in_the_template():
    routes = {(route.method, route.path, route.auth) for route in FUNCTIONS[REPORT].routes}
    assert routes == {
        ("GET", "/v1/reports/profile-states", "iam"),
        ("GET", "/v1/reports/funnel", "iam"),
        ("GET", "/v1/reports/contact-pressure", "iam"),
        ("GET", "/v1/reports/data-quality", "iam"),
        ("GET", "/v1/reports/failed-events", "iam"),
        ("GET", "/v1/reports/programs", "iam"),
        ("GET", "/v1/reports/audiences", "iam"),
    }
