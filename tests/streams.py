"""The profile table's stream, read from moto and delivered to a function as Lambda's event source would."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import boto3

from local_runner.emulator.filters import matches_any


def _lambda_json(value: Any) -> Any:
    """The Lambda event's JSON form of what boto3 returns: binary as base64, times as epoch seconds."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, dict):
        return {k: _lambda_json(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_lambda_json(v) for v in value]
    return value


class TableStream:
    """Reads every shard of a table's stream from where the last read stopped.

    Each read asks for a fresh iterator after the last sequence number seen: moto rolls a
    cancelled transaction back by swapping in a copy of the table, which strands iterators
    taken before (DynamoDB itself has no such effect).
    """

    def __init__(self, table_name: str) -> None:
        self.arn = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        self._client = boto3.client("dynamodbstreams")
        self._last_sequence: dict[str, str] = {}

    def _iterator(self, shard_id: str) -> str:
        position: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        if shard_id in self._last_sequence:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self._last_sequence[shard_id]}
        answer = self._client.get_shard_iterator(StreamArn=self.arn, ShardId=shard_id, **position)
        return str(answer["ShardIterator"])

    def read(self) -> list[dict[str, Any]]:
        """New records, each as it appears in a Lambda event (with eventSourceARN)."""
        shards = self._client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        records: list[dict[str, Any]] = []
        for shard in shards:
            shard_id = shard["ShardId"]
            iterator: str | None = self._iterator(shard_id)
            while iterator:
                page = self._client.get_records(ShardIterator=iterator)
                iterator = page.get("NextShardIterator")
                if not page["Records"]:
                    break
                self._last_sequence[shard_id] = page["Records"][-1]["dynamodb"]["SequenceNumber"]
                records.extend({**_lambda_json(r), "eventSourceARN": self.arn} for r in page["Records"])
        return records


def event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return json.loads(json.dumps({"Records": records}))


def passing(filters: tuple[Any, ...], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records the event source mapping's FilterCriteria lets through."""
    return [r for r in records if matches_any(filters, r)]
