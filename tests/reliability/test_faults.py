"""Given DynamoDB, KMS or Secrets Manager failing (faults injected at the AWS client boundary),
the SDK retries a bounded number of times with backoff, then the caller gets a clear retryable
503 with Retry-After; nothing is partly written and no plaintext is stored. A batch says which
touchpoints were stored and which were not, and resending it stores only the missing ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests import factories
from tests.conftest import find_pii
from tests.factories import CHANNEL_API_KEYS, CHANNEL_FUNCTIONS, api_event
from tests.people import person
from touchpoints.adapters.aws import SDK_CONFIG

# botocore's max_attempts counts retries; the first try comes on top.
SDK_ATTEMPTS = SDK_CONFIG.retries["max_attempts"] + 1  # type: ignore[index]

pytestmark = pytest.mark.usefixtures("backoff_sleeps")


def call(lambdas: Any, channel: str, body: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    key = lambdas.aws.provisioned.api_keys[CHANNEL_API_KEYS[channel]].key_id
    event = api_event("POST", f"/v1/{channel}/touchpoints", body, api_key_id=key)
    result = lambdas.invoke(CHANNEL_FUNCTIONS[channel], event)
    headers = {k.lower(): v[0] for k, v in (result.get("multiValueHeaders") or {}).items()}
    headers |= {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    return result["statusCode"], headers, json.loads(result["body"])


def stored_text(aws: Any) -> str:
    return json.dumps(aws.all_items(), default=lambda b: bytes(b).decode("latin-1"))


def assert_retryable_503(status: int, headers: dict[str, str], body: dict[str, Any], code: str) -> None:
    assert status == 503, body
    assert body["error"]["code"] == code
    assert body["error"]["retryable"] is True
    assert int(headers["retry-after"]) > 0
    assert headers["content-type"].startswith("application/json")


def nothing_written(aws: Any) -> bool:
    return all(items == [] for items in aws.all_items().values())


def test_dynamodb_throttling_on_the_write_is_retried_three_times_then_503(
    lambdas, local_aws, aws_faults, backoff_sleeps
):
    aws_faults.fail("dynamodb", "TransactWriteItems", "ProvisionedThroughputExceededException")
    status, headers, body = call(lambdas, "web", factories.web(person(640)))
    assert_retryable_503(status, headers, body, "storage_unavailable")
    assert aws_faults.attempts("dynamodb", "TransactWriteItems") == SDK_ATTEMPTS
    assert len(backoff_sleeps) == SDK_ATTEMPTS - 1
    assert body["results"] == [] and len(body["not_stored"]) == 1
    assert nothing_written(local_aws)


def test_throttling_that_clears_within_the_retries_stores_once(lambdas, local_aws, aws_faults):
    p = person(641)
    aws_faults.fail("dynamodb", "TransactWriteItems", "ThrottlingException", times=SDK_ATTEMPTS - 1)
    status, _, body = call(lambdas, "email", factories.email(p, "open"))
    assert status == 200 and body["results"][0]["status"] == "stored"
    assert aws_faults.attempts("dynamodb", "TransactWriteItems") == SDK_ATTEMPTS
    items = local_aws.all_items()["ProfileTable"]
    assert len([i for i in items if i["entity"]["S"] == "event"]) == 1
    assert not find_pii(stored_text(local_aws))


def test_a_transaction_cancelled_by_throttling_is_not_retried_blindly_and_writes_nothing(
    lambdas, local_aws, aws_faults
):
    aws_faults.fail(
        "dynamodb",
        "TransactWriteItems",
        "TransactionCanceledException",
        reasons=["None", "ThrottlingError", "None", "None"],
    )
    status, headers, body = call(lambdas, "email", factories.email(person(642), "open"))
    assert_retryable_503(status, headers, body, "storage_unavailable")
    assert aws_faults.attempts("dynamodb", "TransactWriteItems") == 1
    assert nothing_written(local_aws)


def test_dynamodb_read_throttling_is_bounded_then_503(lambdas, local_aws, aws_faults, backoff_sleeps):
    aws_faults.fail("dynamodb", "BatchGetItem", "ProvisionedThroughputExceededException")
    status, headers, body = call(lambdas, "sms", factories.sms(person(643), "click"))
    assert_retryable_503(status, headers, body, "storage_unavailable")
    assert aws_faults.attempts("dynamodb", "BatchGetItem") == SDK_ATTEMPTS
    assert aws_faults.attempts("dynamodb", "TransactWriteItems") == 0
    assert nothing_written(local_aws)


def test_unprocessed_keys_forever_are_bounded_then_503(lambdas, local_aws, aws_faults, backoff_sleeps):
    """DynamoDB under pressure answers BatchGetItem with UnprocessedKeys instead of an error."""
    aws_faults.fail(
        "dynamodb",
        "BatchGetItem",
        "UnprocessedKeys",
        answer=lambda request: {"Responses": {}, "UnprocessedKeys": request["RequestItems"]},
    )
    status, headers, body = call(lambdas, "sms", factories.sms(person(644), "click"))
    assert_retryable_503(status, headers, body, "storage_unavailable")
    assert aws_faults.attempts("dynamodb", "BatchGetItem") == 5  # rounds, with backoff between them
    assert nothing_written(local_aws)


def test_kms_throttling_when_creating_a_subject_key_is_bounded_then_503(lambdas, local_aws, aws_faults):
    # a new container must unwrap the active branch key before it can wrap a new person's data key
    aws_faults.fail("kms", "Decrypt", "ThrottlingException")
    status, headers, body = call(lambdas, "web", factories.web(person(645)))
    assert_retryable_503(status, headers, body, "encryption_unavailable")
    assert aws_faults.attempts("kms", "Decrypt") == SDK_ATTEMPTS
    assert aws_faults.attempts("dynamodb", "TransactWriteItems") == 0
    assert nothing_written(local_aws)


def test_kms_internal_error_on_unwrap_changes_nothing_for_a_known_person(lambdas, local_aws, aws_faults):
    p = person(646)
    assert call(lambdas, "web", factories.web(p))[0] == 200
    before, attempts = local_aws.all_items(), aws_faults.attempts("kms", "Decrypt")
    aws_faults.fail("kms", "Decrypt", "KMSInternalException", status=500)
    status, headers, body = call(lambdas, "email", factories.email(p, "open"))  # a new container: must unwrap
    assert_retryable_503(status, headers, body, "encryption_unavailable")
    assert aws_faults.attempts("kms", "Decrypt") - attempts == SDK_ATTEMPTS
    assert local_aws.all_items() == before


def test_kms_access_denied_is_not_retried(lambdas, local_aws, aws_faults):
    aws_faults.fail("kms", "Decrypt", "AccessDeniedException")  # the active branch key, on a new container
    status, headers, body = call(lambdas, "web", factories.web(person(647)))
    assert_retryable_503(status, headers, body, "encryption_unavailable")
    assert aws_faults.attempts("kms", "Decrypt") == 1
    assert nothing_written(local_aws)


def test_secrets_manager_down_is_503_and_the_next_request_recovers(lambdas, local_aws, aws_faults):
    fault = aws_faults.fail("secrets-manager", "GetSecretValue", "InternalServiceError", status=500)
    status, headers, body = call(lambdas, "push", factories.push(person(648)))
    assert_retryable_503(status, headers, body, "tokenization_unavailable")
    assert aws_faults.attempts("secrets-manager", "GetSecretValue") == SDK_ATTEMPTS
    assert nothing_written(local_aws)

    fault.times = fault.injected  # the outage ends; the same warm container must not have cached the failure
    status, _, body = call(lambdas, "push", factories.push(person(648)))
    assert status == 200 and body["results"][0]["status"] == "stored"


def test_a_batch_interrupted_by_throttling_reports_what_was_stored_and_a_resend_completes_it(
    lambdas, local_aws, aws_faults
):
    p = person(649)
    batch = [factories.email(p, "open"), factories.email(p, "click"), factories.email(p, "open")]
    ids = [t["event_id"] for t in batch]
    fault = aws_faults.fail("dynamodb", "TransactWriteItems", "ThrottlingException", skip=1)

    status, headers, body = call(lambdas, "email", {"touchpoints": batch})

    assert_retryable_503(status, headers, body, "storage_unavailable")
    assert [(r["event_id"], r["status"]) for r in body["results"]] == [(ids[0], "stored")]
    assert body["not_stored"] == ids[1:]
    assert [local_aws.subject_of_event("email", i) is not None for i in ids] == [True, False, False]

    fault.times = fault.injected
    status, _, body = call(lambdas, "email", {"touchpoints": batch})
    assert status == 200
    assert [r["status"] for r in body["results"]] == ["duplicate", "stored", "stored"]
    profile = next(i for i in local_aws.all_items()["ProfileTable"] if i["entity"]["S"] == "profile")
    assert profile["trace_visit"]["N"] == "3"
    assert not find_pii(stored_text(local_aws))


def test_unprocessed_keys_once_are_asked_again_and_the_touchpoint_is_stored(lambdas, local_aws, aws_faults):
    p = person(650)
    assert call(lambdas, "web", factories.web(p))[0] == 200
    aws_faults.fail(
        "dynamodb",
        "BatchGetItem",
        "UnprocessedKeys",
        times=1,
        answer=lambda request: {"Responses": {}, "UnprocessedKeys": request["RequestItems"]},
    )
    status, _, body = call(lambdas, "email", factories.email(p, "open"))
    assert status == 200 and body["results"][0]["status"] == "stored"
    assert body["results"][0]["new_profile"] is False
