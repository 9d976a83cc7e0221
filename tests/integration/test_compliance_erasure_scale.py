"""Erasure at scale: 10,000 events, a crash half way, a re-delivered message that finishes the job."""

from __future__ import annotations

import time
from typing import Any

import boto3

from tests import factories
from tests.conftest import FUNCTIONS
from tests.integration.compliance_helpers import deliver, drain, erase, receive, status
from tests.people import person
from touchpoints.adapters.erasure_store import DynamoSubjectEraser


def partition_size(aws: Any, subject_id: str, table: str = "ProfileTable") -> int:
    query: dict[str, Any] = {
        "TableName": aws.table(table),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": f"SUBJECT#{subject_id}"}},
        "Select": "COUNT",
    }
    count = 0
    while True:
        answer = boto3.client("dynamodb").query(**query)
        count += int(answer["Count"])
        if "LastEvaluatedKey" not in answer:
            return count
        query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def a_subject_with(lambdas: Any, n: int, events: int) -> str:
    code, body = lambdas.post("web", factories.web(person(n)))
    assert code == 200, body
    subject_id = str(lambdas.aws.subject_of("email", person(n).email))
    factories.seed_subject_events(boto3.client("dynamodb"), lambdas.aws.table("ProfileTable"), subject_id, events)
    return subject_id


def test_erasing_10000_events_survives_a_crash_half_way(lambdas, monkeypatch):
    # Given a subject with 10,000 events, erased 500 items a page
    monkeypatch.setenv("ERASURE_PAGE_SIZE", "500")
    subject_id = a_subject_with(lambdas, 120, 10_000)
    total = partition_size(lambdas.aws, subject_id)
    links = partition_size(lambdas.aws, subject_id, "IdentityIndexTable")  # purged first, in a page of their own
    assert total > 10_000 and links > 0
    code, accepted = erase(lambdas, {"subject_id": subject_id})
    assert code == 202
    message = receive(lambdas.aws)
    # and a worker that dies on its 11th page of the partition
    pages = {"n": 0}
    original = DynamoSubjectEraser._delete

    def dies_half_way(self: Any, table: str, keys: Any) -> None:
        pages["n"] += table == lambdas.aws.table("ProfileTable")
        if pages["n"] > 10:
            raise RuntimeError("simulated crash")
        original(self, table, keys)

    monkeypatch.setattr(DynamoSubjectEraser, "_delete", dies_half_way)

    # When the message is delivered: the worker reports the failure, SQS will deliver it again
    started = time.perf_counter()
    assert deliver(lambdas, message)["batchItemFailures"] == [{"itemIdentifier": message[0]["MessageId"]}]
    halfway = status(lambdas, accepted["request_id"])
    assert halfway["state"] == "in_progress" and halfway["step"] == "purge"
    assert halfway["counts"]["items_deleted"] == links + 10 * 500
    assert partition_size(lambdas.aws, subject_id, "IdentityIndexTable") == 0
    assert partition_size(lambdas.aws, subject_id) == total - 10 * 500
    assert halfway["counts"]["keys_destroyed"] == 1  # the key was shredded before any page
    # and on its last allowed delivery it fails again: the request says so before the DLQ takes it
    assert deliver(lambdas, message, receive_count=5)["batchItemFailures"]
    assert status(lambdas, accepted["request_id"])["state"] == "failed"

    # Then redriven from the dead-letter queue, it resumes from its checkpoint and finishes
    monkeypatch.setattr(DynamoSubjectEraser, "_delete", original)
    assert deliver(lambdas, message) == {"batchItemFailures": []}
    elapsed = time.perf_counter() - started
    done = status(lambdas, accepted["request_id"])
    assert done["state"] == "completed" and done["failure"] is None
    assert done["counts"]["items_deleted"] == total + links
    assert partition_size(lambdas.aws, subject_id) == 0
    actions = [i["action"]["S"] for i in lambdas.aws.scan("AuditTable")]
    assert actions.count("erasure.key_destroyed") == 1
    assert {"erasure.failed", "erasure.resumed", "erasure.completed"} <= set(actions)
    print(f"\n10,000-event erasure with a crash and a redrive: {elapsed:.1f} s in moto")


def test_an_erasure_longer_than_one_invocation_continues_in_the_next(lambdas, monkeypatch):
    # Given a worker left with less time than its reserve after every page
    monkeypatch.setenv("ERASURE_PAGE_SIZE", "400")
    monkeypatch.setenv("ERASURE_TIME_RESERVE_MS", str(FUNCTIONS["ErasureWorkerFunction"].timeout * 1000 + 1))
    subject_id = a_subject_with(lambdas, 121, 1_000)
    code, accepted = erase(lambdas, {"subject_id": subject_id})
    assert code == 202

    # When the queue is drained, each invocation doing one page and queueing the rest
    invocations = drain(lambdas)

    # Then the erasure took several invocations and completed
    assert invocations >= 3
    assert status(lambdas, accepted["request_id"])["state"] == "completed"
    assert partition_size(lambdas.aws, subject_id) == 0
