"""The local runner's event source mappings (stream and queue pollers) and provisioning, against moto.

The function is a stand-in here (a scripted pool), so what is checked is the mapping's own
behaviour: filters, batch sizes, retries from the first failed record, the OnFailure destination,
deleting handled messages and keeping failed ones. The real functions run in tests/e2e.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import boto3

from local_runner.emulator.pollers import QueuePoller, StreamPoller
from local_runner.emulator.provision import provision
from local_runner.emulator.template import QueueSource, functions, load
from local_runner.emulator.workers import Invocation

TEMPLATE = load()
CLASSIFIER = next(spec for spec in functions(TEMPLATE) if spec.streams)


class ScriptedPool:
    """Stands in for the function containers: records every event, answers what the test says."""

    def __init__(self, answer: Callable[[dict[str, Any]], Invocation] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self._answer = answer or (lambda event: Invocation("f", result={"batchItemFailures": []}))

    def invoke(self, name: str, event: dict[str, Any]) -> Invocation:
        self.events.append(event)
        return self._answer(event)


def _profile(n: int, changed_by: str = "ingest", **extra: Any) -> dict[str, Any]:
    return {
        "pk": {"S": f"SUBJECT#sub_{n}"},
        "sk": {"S": "PROFILE"},
        "status": {"S": "active"},
        "changed_by": {"S": changed_by},
        **extra,
    }


def _stream_poller(local_aws, pool: ScriptedPool, **changes: Any) -> StreamPoller:  # type: ignore[no-untyped-def]
    source = dataclasses.replace(CLASSIFIER.streams[0], **changes)
    attributes = local_aws.provisioned.intrinsics.attributes
    return StreamPoller(
        pool,  # type: ignore[arg-type]
        CLASSIFIER.logical_id,
        source,
        attributes[(source.table, "StreamArn")],
        boto3.client,
        "us-east-1",
        local_aws.provisioned.queues.get(source.on_failure or ""),
    )


def test_the_stream_poller_sends_filtered_records_in_batches(local_aws) -> None:  # type: ignore[no-untyped-def]
    # Given a poller with the classifier's filters and batches of two
    pool = ScriptedPool()
    poller = _stream_poller(local_aws, pool, batch_size=2)
    table = local_aws.table("ProfileTable")
    # When three profiles change, the classifier writes one back, and an event item is written
    for n in range(3):
        local_aws.dynamodb.put_item(TableName=table, Item=_profile(n))
    local_aws.dynamodb.put_item(TableName=table, Item=_profile(0, changed_by="classifier"))
    local_aws.dynamodb.put_item(TableName=table, Item={"pk": {"S": "SUBJECT#sub_0"}, "sk": {"S": "EVENT#web#1"}})
    assert poller.poll_once()

    # Then only the three profile changes reach the function, two and one, as Lambda records
    assert [len(event["Records"]) for event in pool.events] == [2, 1]
    records = [record for event in pool.events for record in event["Records"]]
    assert {r["dynamodb"]["Keys"]["pk"]["S"] for r in records} == {"SUBJECT#sub_0", "SUBJECT#sub_1", "SUBJECT#sub_2"}
    assert all(r["eventSource"] == "aws:dynamodb" and r["eventSourceARN"] == poller.stream_arn for r in records)
    assert all(isinstance(r["dynamodb"]["ApproximateCreationDateTime"], float) for r in records)
    # And nothing new means an idle poller
    assert not poller.poll_once()


def test_binary_attributes_arrive_base64_encoded(local_aws) -> None:  # type: ignore[no-untyped-def]
    pool = ScriptedPool()
    poller = _stream_poller(local_aws, pool)
    item = _profile(7, fields={"M": {"email": {"M": {"v": {"B": b"\x00ciphertext"}}}}})
    local_aws.dynamodb.put_item(TableName=local_aws.table("ProfileTable"), Item=item)
    poller.poll_once()
    value = pool.events[0]["Records"][0]["dynamodb"]["NewImage"]["fields"]["M"]["email"]["M"]["v"]["B"]
    assert base64.b64decode(value) == b"\x00ciphertext"
    json.dumps(pool.events)  # what a Lambda event is: JSON


def test_a_failed_record_is_retried_from_there_then_reported_to_the_destination(local_aws) -> None:  # type: ignore[no-untyped-def]
    # Given a function that always reports the second record of its batch as failed
    def second_fails(event: dict[str, Any]) -> Invocation:
        sequence = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        failed = sequence[1:2] if len(sequence) > 1 else sequence
        return Invocation("f", result={"batchItemFailures": [{"itemIdentifier": s} for s in failed]})

    pool = ScriptedPool(second_fails)
    poller = _stream_poller(local_aws, pool, maximum_retry_attempts=2)
    for n in range(3):
        local_aws.dynamodb.put_item(TableName=local_aws.table("ProfileTable"), Item=_profile(n))

    poller.poll_once()

    # Then the first record is checkpointed and the retries start at the failed one, twice at most
    sizes = [len(event["Records"]) for event in pool.events]
    assert sizes == [3, 2, 1]
    # And what is left goes to the OnFailure queue: where the records are, never their data
    dlq = local_aws.provisioned.queues[CLASSIFIER.streams[0].on_failure]
    message = boto3.client("sqs").receive_message(QueueUrl=dlq)["Messages"][0]
    failure = json.loads(message["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
    assert "NewImage" not in message["Body"]


def test_a_function_error_with_bisect_splits_the_batch(local_aws) -> None:  # type: ignore[no-untyped-def]
    def poison(event: dict[str, Any]) -> Invocation:
        if any(r["dynamodb"]["Keys"]["pk"]["S"] == "SUBJECT#sub_2" for r in event["Records"]):
            return Invocation("f", error={"errorType": "ValueError", "errorMessage": "x"})
        return Invocation("f", result=None)

    pool = ScriptedPool(poison)
    poller = _stream_poller(local_aws, pool, maximum_retry_attempts=0, bisect_batch_on_error=True)
    for n in range(4):
        local_aws.dynamodb.put_item(TableName=local_aws.table("ProfileTable"), Item=_profile(n))
    poller.poll_once()
    handled = [
        [r["dynamodb"]["Keys"]["pk"]["S"][-1] for r in event["Records"]]
        for event in pool.events
        if not any(r["dynamodb"]["Keys"]["pk"]["S"] == "SUBJECT#sub_2" for r in event["Records"])
    ]
    assert sorted(n for batch in handled for n in batch) == ["0", "1", "3"]


def _queue_poller(local_aws, pool: ScriptedPool, **changes: Any) -> tuple[QueuePoller, str]:  # type: ignore[no-untyped-def]
    url = local_aws.provisioned.queues["ErasureQueue"]
    source = dataclasses.replace(QueueSource("ErasureQueue", 10, True), **changes)
    return QueuePoller(pool, "ErasureWorkerFunction", source, url, boto3.client, "us-east-1"), url  # type: ignore[arg-type]


def _counts(url: str) -> tuple[int, int]:
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_the_queue_poller_deletes_handled_messages_and_keeps_failed_ones(local_aws) -> None:  # type: ignore[no-untyped-def]
    # Given a function that fails the message about request 1
    def one_fails(event: dict[str, Any]) -> Invocation:
        failed = [r["messageId"] for r in event["Records"] if json.loads(r["body"])["request_id"] == "dsr_1"]
        return Invocation("f", result={"batchItemFailures": [{"itemIdentifier": i} for i in failed]})

    pool = ScriptedPool(one_fails)
    poller, url = _queue_poller(local_aws, pool, filters=('{"body": {"request_id": [{"prefix": "dsr_"}]}}',))
    sqs = boto3.client("sqs")
    for body in ({"request_id": "dsr_0"}, {"request_id": "dsr_1"}, {"request_id": "other"}):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))

    assert poller.poll_once()

    # Then the filtered-out message never reached the function, and only the failed one remains (invisible)
    delivered = [json.loads(r["body"])["request_id"] for event in pool.events for r in event["Records"]]
    assert sorted(delivered) == ["dsr_0", "dsr_1"]
    record = pool.events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":ErasureQueue")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert _counts(url) == (0, 1)


def test_a_function_error_leaves_the_whole_batch_for_redrive(local_aws) -> None:  # type: ignore[no-untyped-def]
    pool = ScriptedPool(lambda event: Invocation("f", error={"errorType": "Sandbox.Timedout", "errorMessage": ""}))
    poller, url = _queue_poller(local_aws, pool)
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody="{}")
    poller.poll_once()
    assert _counts(url) == (0, 1)


def test_provisioning_again_finds_what_exists(local_aws) -> None:  # type: ignore[no-untyped-def]
    # Given an endpoint that already holds the template's resources (a second run, LocalStack...)
    first = local_aws.provisioned
    # When provisioned again
    second = provision(TEMPLATE, boto3.client)
    # Then the same tables, key, secret and queues are used, and nothing is duplicated
    assert second.tables == first.tables
    assert second.queues == first.queues
    for logical in ("DataKey", "TokenizationSecret"):
        assert second.intrinsics.refs[logical] == first.intrinsics.refs[logical]
    assert len(boto3.client("kms").list_keys()["Keys"]) == 1
    role = second.intrinsics.attributes[("ComplianceOperatorRole", "Arn")]
    assert role == "arn:aws:iam::123456789012:role/ComplianceOperatorRole"
