"""Calling the compliance function as its operator would, and draining the erasure queue through the worker."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests import factories

API = "ComplianceApiFunction"
WORKER = "ErasureWorkerFunction"
OPERATOR = "arn:aws:sts::123456789012:assumed-role/ComplianceOperatorRole/case-officer-7"


def call(
    lambdas: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    user_arn: str | None = OPERATOR,
    api_key_id: str | None = None,
    personal_answer: bool = False,
) -> tuple[int, dict[str, Any]]:
    event = factories.api_event(method, f"/v1/compliance/{path}", body, user_arn=user_arn, api_key_id=api_key_id)
    result = lambdas.invoke(API, event, personal_answer=personal_answer)
    return result["statusCode"], json.loads(result["body"])


def erase(lambdas: Any, subject: dict[str, Any], regulation: str = "gdpr", **extra: Any) -> tuple[int, dict[str, Any]]:
    return call(
        lambdas,
        "POST",
        "erasures",
        {"subject": subject, "regulation": regulation, "case_reference": "CASE-2026-0042", **extra},
    )


def status(lambdas: Any, request_id: str) -> dict[str, Any]:
    code, body = call(lambdas, "GET", f"requests/{request_id}")
    assert code == 200, body
    return body


def receive(aws: Any, queue: str = "ErasureQueue") -> list[dict[str, Any]]:
    answer = boto3.client("sqs").receive_message(
        QueueUrl=aws.provisioned.queues[queue], MaxNumberOfMessages=10, AttributeNames=["All"]
    )
    return list(answer.get("Messages", []))


def queue_arn(aws: Any, queue: str = "ErasureQueue") -> str:
    return str(aws.provisioned.intrinsics.attributes[(queue, "Arn")])


def deliver(lambdas: Any, messages: list[dict[str, Any]], *, receive_count: int | None = None) -> dict[str, Any]:
    """One invocation of the worker with these messages, as Lambda's SQS poller makes it."""
    return lambdas.invoke(WORKER, factories.sqs_event(messages, queue_arn(lambdas.aws), receive_count))


def drain(lambdas: Any, rounds: int = 20) -> int:
    """Deliver every queued erasure message until the queue is empty; the number of invocations."""
    sqs = boto3.client("sqs")
    url = lambdas.aws.provisioned.queues["ErasureQueue"]
    invocations = 0
    for _ in range(rounds):
        messages = receive(lambdas.aws)
        if not messages:
            return invocations
        for message in messages:
            answer = deliver(lambdas, [message])
            invocations += 1
            assert answer == {"batchItemFailures": []}, answer
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError("the erasure queue never drained")


def lean_transaction_backups(monkeypatch: Any) -> None:
    """moto backs up the whole table, its stream records included, once per item of every transaction,
    so ingesting hundreds of touchpoints slows quadratically. Sharing the stream records with the backup
    keeps items and conditions exactly as they were; only a cancelled transaction's stream records survive
    its rollback, which no test here reads."""
    import copy

    from moto.dynamodb.models.table import Table

    def lean_copy(self: Any, memo: dict[int, Any]) -> Any:
        shard, self.stream_shard = self.stream_shard, None
        try:
            clone = Table.__new__(Table)
            memo[id(self)] = clone
            clone.__dict__.update({k: copy.deepcopy(v, memo) for k, v in self.__dict__.items()})
        finally:
            self.stream_shard = shard
        clone.stream_shard = shard
        return clone

    monkeypatch.setattr(Table, "__deepcopy__", lean_copy, raising=False)
