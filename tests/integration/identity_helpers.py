"""Driving merges in-process as Lambda would: the profile stream's claims, then the merge queue, until settled."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests import factories, streams
from tests.conftest import FUNCTIONS
from tests.integration.compliance_helpers import queue_arn, receive

WORKER = "MergeWorkerFunction"
CLAIMS = FUNCTIONS[WORKER].streams[0]


class Merges:
    """Reads the profile table's stream from where it last stopped; delivers claims, then drains the queue."""

    def __init__(self, lambdas: Any) -> None:
        self.lambdas = lambdas
        self.stream = streams.TableStream(lambdas.aws.table("ProfileTable"))

    def claims(self) -> int:
        records = streams.passing(CLAIMS.filters, self.stream.read())
        for start in range(0, len(records), CLAIMS.batch_size):
            answer = self.lambdas.invoke(WORKER, streams.event(records[start : start + CLAIMS.batch_size]))
            assert answer == {"batchItemFailures": []}, answer
        return len(records)

    def deliver(self, messages: list[dict[str, Any]], *, receive_count: int | None = None) -> dict[str, Any]:
        event = factories.sqs_event(messages, queue_arn(self.lambdas.aws, "MergeQueue"), receive_count)
        return dict(self.lambdas.invoke(WORKER, event))

    def settle(self, rounds: int = 50) -> int:
        """Every claim queued and every merge carried to its end; the number of merge invocations."""
        sqs = boto3.client("sqs")
        url = self.lambdas.aws.provisioned.queues["MergeQueue"]
        invocations = 0
        self.claims()
        for _ in range(rounds):
            messages = receive(self.lambdas.aws, "MergeQueue")
            if not messages:
                if not self.claims():
                    return invocations
                continue
            for message in messages:
                answer = self.deliver([message])
                invocations += 1
                assert answer == {"batchItemFailures": []}, answer
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        raise AssertionError("the merges never settled")


def profile(aws: Any, subject_id: str) -> dict[str, Any] | None:
    item = aws.dynamodb.get_item(
        TableName=aws.table("ProfileTable"),
        Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
        ConsistentRead=True,
    )
    return item.get("Item")


def identity_log(aws: Any) -> list[dict[str, Any]]:
    return [i for i in aws.scan("ProfileTable") if i["pk"]["S"].startswith("IDENTITY#")]


def as_json(items: Any) -> str:
    return json.dumps(items, default=str)
