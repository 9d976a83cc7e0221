"""Every function in template.yaml has a sample in events/, valid as `sam local invoke -e` uses it,
and each sample is served by the function it maps to."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_runner.emulator.filters import matches_any
from local_runner.emulator.template import apis, load
from tests.conftest import FUNCTIONS
from tests.factories import EVENTS_DIR, load_event

SAMPLES = {p.name: json.loads(p.read_text()) for p in sorted(EVENTS_DIR.glob("*.json"))}
ENV_JSON = json.loads((EVENTS_DIR.parent / "env.json").read_text())


APIS = apis(load())


def _function_for(event: dict[str, Any]) -> str:
    """The function the event reaches: by route for API events, by event source for stream and queue records."""
    if "methodArn" in event:  # a Lambda REQUEST authorizer's event: the authorizer of the route's API
        route = next(r for spec in FUNCTIONS.values() for r in spec.routes if r.path == event["resource"])
        return APIS[route.api].authorizers[str(route.authorizer)].function
    if "httpMethod" in event:
        for spec in FUNCTIONS.values():
            if any(r.path == event["resource"] and r.method == event["httpMethod"] for r in spec.routes):
                return spec.logical_id
        raise AssertionError(f"no function serves {event['httpMethod']} {event['resource']}")
    if event.get("check") == "erasure_deadlines":
        return "ErasureDeadlineCheckFunction"
    if "total_segments" in event:  # invoked by an operator, no event source
        return "IdentityIndexRebuildFunction"
    if event.get("detail-type") == "Scheduled Event" or "reclassify" in event:
        return next(spec.logical_id for spec in FUNCTIONS.values() if spec.schedules)
    record = event["Records"][0]
    source = record["eventSource"]
    for spec in FUNCTIONS.values():
        if source == "aws:sqs" and any(record["eventSourceARN"].endswith(f":{q.queue}") for q in spec.queues):
            return spec.logical_id
        if source == "aws:dynamodb" and any(matches_any(s.filters, record) for s in spec.streams):
            return spec.logical_id
    raise AssertionError(f"no function consumes {source} records")


def test_every_function_has_a_sample_event():
    covered = {_function_for(event) for event in SAMPLES.values()}
    assert covered == set(FUNCTIONS)


CHANNEL_AND_REPORT_SAMPLES = sorted(
    name
    for name, event in SAMPLES.items()
    if "httpMethod" in event and "methodArn" not in event and not name.startswith("compliance-")
)


def test_the_authorizer_sample_is_allowed_with_its_write_key(lambdas):
    event = load_event("sdk-authorizer-request.json")
    answer = lambdas.invoke(_function_for(event), event)
    assert answer["usageIdentifierKey"] == "local-key-WebApiKey"
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"


@pytest.mark.parametrize("name", CHANNEL_AND_REPORT_SAMPLES)
def test_channel_and_report_samples_are_served(lambdas, name):
    event = load_event(name)
    function = _function_for(event)
    if event["requestContext"]["identity"].get("apiKeyId"):
        # env.json and the local provisioning agree on each channel's local key id
        assert event["requestContext"]["identity"]["apiKeyId"] == ENV_JSON[function]["CHANNEL_API_KEY_ID"]
    result = lambdas.invoke(function, event)
    assert result["statusCode"] == 200, result["body"]


def test_compliance_samples_serve_a_whole_case(lambdas, local_aws):
    """The samples in order: the person signs up, compliance exports, rectifies, objects, erases, follows up
    and, the person having come back, lifts the suppression of their email."""

    def call(name: str, **substitute: str) -> tuple[int, dict[str, Any]]:
        text = (EVENTS_DIR / name).read_text()
        for old, new in substitute.items():
            text = text.replace(old, new)
        event = json.loads(text)
        result = lambdas.invoke(_function_for(event), event, personal_answer=name == "compliance-export-request.json")
        return result.get("statusCode", 0), result

    assert call("web-signup.json")[0] == 200
    assert call("compliance-export-request.json")[0] == 200
    assert call("compliance-rectification-request.json")[0] == 200
    assert call("compliance-objection-request.json")[0] == 200
    status, result = call("compliance-erasure-request.json")
    assert status == 202
    request_id = json.loads(result["body"])["request_id"]

    placeholder = "dsr_00000000000000000000000000000000"
    worker_answer = call("erasure-worker-message.json", **{placeholder: request_id})[1]
    assert worker_answer == {"batchItemFailures": []}
    status, result = call("compliance-request-status.json", **{placeholder: request_id})
    assert status == 200
    assert json.loads(result["body"])["state"] == "completed"
    status, result = call("compliance-erasure-certificate.json", **{placeholder: request_id})
    assert status == 200
    assert json.loads(result["body"])["key_destroyed"] is True
    status, result = call("compliance-request-queue.json")
    assert status == 200
    assert [r["kind"] for r in json.loads(result["body"])["requests"]] == []  # all done: nothing open under GDPR
    status, result = call("compliance-suppression-lift-request.json")
    assert status == 200
    assert json.loads(result["body"])["counts"] == {"suppressions_lifted": 1, "not_suppressed": 0}


def test_the_scheduled_sample_runs_the_reclassification_sweep(lambdas):
    event = load_event("reclassifier-daily.json")
    answer = lambdas.invoke(_function_for(event), event)
    assert answer["complete"] is True
    assert set(answer["outcomes"]) == {"changed", "refreshed", "current", "stale", "not_due", "malformed", "inactive"}


def test_the_outdated_rules_sample_runs_a_complete_pass(lambdas):
    event = load_event("reclassifier-outdated-rules.json")
    answer = lambdas.invoke(_function_for(event), event)
    assert answer["complete"] is True and answer["outcomes"]["changed"] == 0


def test_the_deadline_check_sample_counts_open_erasures(lambdas):
    event = load_event("erasure-deadline-check-hourly.json")
    answer = lambdas.invoke(_function_for(event), event)
    assert answer == {
        "near_deadline": 0,
        "open": 0,
        "by_days_left": {"overdue": 0, "0-7": 0, "8-14": 0, "15-30": 0, "31+": 0},
    }


def test_the_index_rebuild_sample_reads_a_stack_to_its_end_in_one_run(lambdas):
    event = load_event("identity-index-rebuild.json")
    answer = lambdas.invoke(_function_for(event), event)
    assert answer["done"] is True and answer["cursor"] is None
    assert answer["counts"] == {"suppressions_restored": 0}
