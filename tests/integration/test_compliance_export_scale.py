"""Exports of any size: a person with 20,000 interactions is exported through the export bucket and a
short-lived link, since Lambda could not answer that inline; nothing of it reaches logs, answers or audit."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from moto.dynamodb.responses import DynamoResult

from tests import factories
from tests.conftest import FUNCTIONS, find_pii
from tests.integration.compliance_helpers import call
from tests.people import person
from touchpoints.compliance.export import LINK_FORMAT
from touchpoints.compliance.policy import load_compliance_policy

CASE = {"regulation": "gdpr", "case_reference": "CASE-2026-0777"}
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024


@pytest.fixture
def quick_moto_queries() -> Iterator[None]:
    """moto 5.2 writes each DynamoDB Query answer by walking the service model for every attribute of every item
    (~10 ms an item here): reading a 20,000-event partition would take ten minutes of the fake's time. This writes
    the same JSON (binary values in base64, as DynamoDB's JSON protocol has them) in one pass; the rest of moto,
    and all of our code, is untouched."""
    original = DynamoResult.execute_result

    def execute_result(self: DynamoResult, context: Any) -> Any:
        if context.operation_model.name != "Query":
            return original(self, context)

        def blob(value: Any) -> str:
            if isinstance(value, bytes):
                return base64.b64encode(value).decode()
            raise TypeError(type(value).__name__)

        return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result, default=blob)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoResult.execute_result = original  # type: ignore[method-assign]


def a_subject_with_history(lambdas: Any, n: int, events: int) -> tuple[str, Any]:
    """A person signed up on the web, then `events` store purchases whose details name the person's phone."""
    p = person(n)
    code, body = lambdas.post("web", factories.web(p))
    assert code == 200, body
    subject_id = str(lambdas.aws.subject_of("email", p.email))
    dynamodb = boto3.client("dynamodb")
    cipher = factories.subject_cipher(dynamodb, boto3.client("kms"), lambdas.aws.table("KeyVaultTable"), subject_id)
    note = f"receipt sent to {p.phone}"
    factories.seed_subject_events(dynamodb, lambdas.aws.table("ProfileTable"), subject_id, events, cipher, note)
    return subject_id, p


def objects(bucket: str) -> list[dict[str, Any]]:
    return list(boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", []))


def test_an_export_of_20000_interactions_is_delivered_through_a_short_lived_link(lambdas, quick_moto_queries):
    # Given a person with 20,000 interactions, every one's details naming their phone number
    subject_id, p = a_subject_with_history(lambdas, 140, 20_000)
    bucket = lambdas.aws.provisioned.buckets["ExportBucket"]

    # When compliance exports them (the answer is scanned for personal data like every other answer)
    code, answer = call(lambdas, "POST", "exports", {"subject": {"email": p.email}, **CASE})

    # Then the answer is a link, not the document: the document is larger than Lambda could return
    assert code == 200, answer
    assert answer["format"] == LINK_FORMAT
    assert answer["bytes"] > load_compliance_policy().export.inline_max_bytes
    assert answer["bytes"] > LAMBDA_RESPONSE_LIMIT
    assert answer["expires_at"] > answer["url"][:0]  # an ISO time, present
    # and the link returns the whole export, every interaction decrypted
    fetched = requests.get(answer["url"], timeout=60)
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == answer["sha256"]
    document = json.loads(fetched.content)
    assert document["request_id"] == answer["request_id"]
    assert document["subject"]["subject_id"] == subject_id
    assert document["personal_data"]["email"]["value"] == p.email.lower()
    assert len(document["interactions"]) == 20_001  # the sign-up's visit and the 20,000 purchases
    seeded = [i for i in document["interactions"] if i["event_id"].startswith("seed-")]
    assert {i["details"]["note"] for i in seeded} == {f"receipt sent to {p.phone}"}

    # and it landed in the export bucket under the request id alone, encrypted with the stack's key
    stored = objects(bucket)
    assert [o["Key"] for o in stored] == [f"exports/{answer['request_id']}.json"]
    head = boto3.client("s3").head_object(Bucket=bucket, Key=stored[0]["Key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == lambdas.aws.provisioned.intrinsics.attributes[("DataKey", "Arn")]
    # the object is the export and nothing else
    body = boto3.client("s3").get_object(Bucket=bucket, Key=stored[0]["Key"])["Body"].read()
    assert body == fetched.content
    # and the request, its audit lines and every table hold no personal value from it
    request = call(lambdas, "GET", f"requests/{answer['request_id']}")[1]
    assert request["state"] == "completed"
    assert request["counts"]["objects_stored"] == 1 and request["counts"]["interactions"] == 20_001
    assert not find_pii(json.dumps([lambdas.aws.scan("ComplianceTable"), lambdas.aws.scan("AuditTable")]))


def test_a_small_export_stays_inline_and_stores_nothing(lambdas):
    # Given a person with a short history
    subject_id, _ = a_subject_with_history(lambdas, 141, 5)

    # When compliance exports them
    code, document = call(
        lambdas, "POST", "exports", {"subject": {"subject_id": subject_id}, **CASE}, personal_answer=True
    )

    # Then the document is the answer and the bucket stays empty
    assert code == 200
    assert document["format"] == "touchpoints.subject-export/1"
    assert len(document["interactions"]) == 6
    assert objects(lambdas.aws.provisioned.buckets["ExportBucket"]) == []


def test_a_large_export_fails_closed_when_the_bucket_is_unavailable(lambdas, faults, monkeypatch):
    # Given a function deployed to send every export through the bucket, and S3 refusing writes
    monkeypatch.setitem(FUNCTIONS["ComplianceApiFunction"].environment, "EXPORT_INLINE_MAX_BYTES", "0")
    subject_id, _ = a_subject_with_history(lambdas, 142, 5)
    faults.fail("s3", "PutObject", "ServiceUnavailable", status=503)

    # When compliance exports them
    code, body = call(lambdas, "POST", "exports", {"subject": {"subject_id": subject_id}, **CASE})

    # Then the answer is a retryable 503 in the error envelope, with nothing of the person in it
    assert code == 503
    assert body["error"]["code"] == "export_storage_unavailable" and body["error"]["retryable"] is True
    # and the request is recorded as failed, nothing stored
    failed = [i for i in lambdas.aws.scan("AuditTable") if i["action"]["S"] == "export.failed"]
    assert len(failed) == 1 and failed[0]["outcome"]["S"] == "export_storage_unavailable"
    assert objects(lambdas.aws.provisioned.buckets["ExportBucket"]) == []
