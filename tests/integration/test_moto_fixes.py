"""The runner's embedded moto, patched (local_runner.emulator.moto_fixes), over HTTP with boto3 as the functions use it.

A cancelled transaction must still leave no item and no stream record behind; trimming must keep
sequence numbers and never drop a record a consumer has not read.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_runner.emulator.provision import LOCAL_ACCOUNT, provision
from local_runner.emulator.runner import LocalAws
from local_runner.emulator.template import load

TEMPLATE = load()


class Aws:
    def __init__(self, local: LocalAws) -> None:
        self.local = local
        self.provisioned = provision(TEMPLATE, local.client, region=local.region)
        self.table = self.provisioned.tables["ProfileTable"]
        self.dynamodb = local.client("dynamodb")
        self.streams = local.client("dynamodbstreams")
        self.stream_arn = self.provisioned.intrinsics.attributes[("ProfileTable", "StreamArn")]

    def stream(self, after: str | None = None) -> list[dict[str, Any]]:
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]
        position = {"ShardIteratorType": "TRIM_HORIZON"}
        if after is not None:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
        iterator = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard["ShardId"], **position)
        return list(self.streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"])

    def items(self) -> list[dict[str, Any]]:
        return list(self.dynamodb.scan(TableName=self.table, ConsistentRead=True)["Items"])

    def put(self, pk: str, **attributes: Any) -> dict[str, Any]:
        item = {"pk": {"S": pk}, "sk": {"S": "PROFILE"}, **{k: {"S": v} for k, v in attributes.items()}}
        return {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    local = LocalAws()
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def aws(local_aws: LocalAws) -> Aws:
    """The template's resources in the runner's embedded moto, emptied first."""
    urllib.request.urlopen(urllib.request.Request(f"{local_aws.endpoint_url}/moto-api/reset", method="POST"))
    local_aws.trim_streams_read_by(dict)  # no consumer has read anything
    return Aws(local_aws)


def _cancelled(aws: Aws, items: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(ClientError) as raised:
        aws.dynamodb.transact_write_items(TransactItems=items)
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    return [reason["Code"] for reason in raised.value.response["CancellationReasons"]]


def test_a_transaction_cancelled_by_its_second_item_writes_nothing_and_no_stream_record(aws: Aws) -> None:
    # Given an item that exists, so that a second Put of it fails its condition
    aws.dynamodb.transact_write_items(TransactItems=[aws.put("p-existing", note="first")])
    before = aws.stream()
    assert len(before) == 1

    # When a transaction of three items fails on its second
    reasons = _cancelled(aws, [aws.put("p-one"), aws.put("p-existing", note="second"), aws.put("p-three")])

    # Then nothing of it is stored, and the stream has no record of it
    assert reasons == ["None", "ConditionalCheckFailed", "None"]
    assert [item["pk"]["S"] for item in aws.items()] == ["p-existing"]
    assert aws.items()[0]["note"]["S"] == "first"
    assert aws.stream() == before
    # And the next write follows the last real record, its sequence number right after it
    aws.dynamodb.transact_write_items(TransactItems=[aws.put("p-after")])
    after = aws.stream(after=before[-1]["dynamodb"]["SequenceNumber"])
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in after] == ["p-after"]
    assert int(after[0]["dynamodb"]["SequenceNumber"]) == int(before[-1]["dynamodb"]["SequenceNumber"]) + 1


def test_a_cancelled_update_and_delete_leave_the_items_as_they_were(aws: Aws) -> None:
    aws.dynamodb.transact_write_items(TransactItems=[aws.put("p-kept", note="v1"), aws.put("p-other", note="o1")])
    records = len(aws.stream())
    key = {"pk": {"S": "p-kept"}, "sk": {"S": "PROFILE"}}
    _cancelled(
        aws,
        [
            {
                "Update": {
                    "TableName": aws.table,
                    "Key": key,
                    "UpdateExpression": "SET note = :v",
                    "ExpressionAttributeValues": {":v": {"S": "v2"}},
                }
            },
            {"Delete": {"TableName": aws.table, "Key": {"pk": {"S": "p-other"}, "sk": {"S": "PROFILE"}}}},
            {
                "ConditionCheck": {
                    "TableName": aws.table,
                    "Key": {"pk": {"S": "p-absent"}, "sk": {"S": "PROFILE"}},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ],
    )
    assert sorted((i["pk"]["S"], i["note"]["S"]) for i in aws.items()) == [("p-kept", "v1"), ("p-other", "o1")]
    assert len(aws.stream()) == records


def test_a_transaction_no_longer_copies_the_tables_it_touches(aws: Aws) -> None:
    from moto.dynamodb.models import dynamodb_backends

    tables = dynamodb_backends[LOCAL_ACCOUNT][aws.local.region].tables
    table = tables[aws.table]
    _cancelled(
        aws,
        [
            aws.put("p-new"),
            {
                "ConditionCheck": {
                    "TableName": aws.table,
                    "Key": {"pk": {"S": "x"}, "sk": {"S": "PROFILE"}},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ],
    )
    assert tables[aws.table] is table  # moto would have swapped in its copy taken before the transaction


def test_housekeeping_trims_what_every_consumer_read_and_keeps_sequence_numbers(aws: Aws) -> None:
    aws.dynamodb.transact_write_items(TransactItems=[aws.put(f"p-{n}") for n in range(4)])
    records = aws.stream()
    read = records[1]["dynamodb"]["SequenceNumber"]
    server = aws.local._server

    server.read_up_to = lambda: {aws.stream_arn: int(read)}
    server.sweep()

    assert aws.stream() == records[2:]  # TRIM_HORIZON starts after what was read
    assert aws.stream(after=read) == records[2:]
    assert server.housekeeping.trimmed_stream_records == 2


def test_housekeeping_trims_records_older_than_24_hours_even_if_unread(aws: Aws) -> None:
    from moto.dynamodb.models import dynamodb_backends

    aws.dynamodb.transact_write_items(TransactItems=[aws.put("p-old"), aws.put("p-new")])
    shard = dynamodb_backends[LOCAL_ACCOUNT][aws.local.region].tables[aws.table].stream_shard
    shard.items[0].record["dynamodb"]["ApproximateCreationDateTime"] -= timedelta(hours=25)

    aws.local._server.sweep()  # no consumer read anything

    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in aws.stream()] == ["p-new"]


def test_housekeeping_forgets_old_shard_iterators_and_receipt_handles(aws: Aws) -> None:
    from moto.dynamodbstreams.models import dynamodbstreams_backends
    from moto.sqs.models import sqs_backends

    iterators = dynamodbstreams_backends[LOCAL_ACCOUNT][aws.local.region].shard_iterators
    sqs = aws.local.client("sqs")
    queue_url = next(iter(aws.provisioned.queues.values()))
    for n in range(3):
        sqs.send_message(QueueUrl=queue_url, MessageBody=str(n))
    for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    queue = sqs_backends[LOCAL_ACCOUNT][aws.local.region].queues[queue_url.rsplit("/", 1)[1]]
    aws.stream()
    assert iterators and queue.deleted_messages

    aws.local._server.sweep()  # a sweep keeps what is new
    assert iterators and queue.deleted_messages
    aws.local._server.sweep()  # the next one drops it

    assert not iterators and not queue.deleted_messages


def test_index_queries_and_scans_see_every_write_since_the_last_read(aws: Aws) -> None:
    def in_state(state: str) -> list[str]:
        answer = aws.dynamodb.query(
            TableName=aws.table,
            IndexName="StateIndex",
            KeyConditionExpression="state_key = :k",
            ExpressionAttributeValues={":k": {"S": state}},
        )
        return sorted(item["pk"]["S"] for item in answer["Items"])

    aws.dynamodb.transact_write_items(
        TransactItems=[aws.put(f"p-{n}", state_key="A", subject_id=f"s-{n}") for n in range(3)]
    )
    assert in_state("A") == ["p-0", "p-1", "p-2"]
    assert in_state("A") == ["p-0", "p-1", "p-2"]  # answered from what the first query cached

    aws.dynamodb.update_item(
        TableName=aws.table,
        Key={"pk": {"S": "p-1"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET state_key = :b",
        ExpressionAttributeValues={":b": {"S": "B"}},
    )
    assert (in_state("A"), in_state("B")) == (["p-0", "p-2"], ["p-1"])

    _cancelled(aws, [aws.put("p-9", state_key="B", subject_id="s-9"), aws.put("p-0")])
    assert in_state("B") == ["p-1"]

    aws.dynamodb.delete_item(TableName=aws.table, Key={"pk": {"S": "p-2"}, "sk": {"S": "PROFILE"}})
    assert in_state("A") == ["p-0"]
    pages = aws.dynamodb.get_paginator("scan").paginate(TableName=aws.table, PaginationConfig={"PageSize": 1})
    assert sorted(item["pk"]["S"] for page in pages for item in page["Items"]) == ["p-0", "p-1"]
