"""Event source mappings, locally: DynamoDB streams and SQS queues polled, filtered, batched and invoked.

Semantics follow Lambda's: records that match no filter are dropped (SQS: deleted); a stream batch
is retried from the first failed record (ReportBatchItemFailures) a bounded number of times, then
reported to the OnFailure destination and skipped; an SQS message is deleted only once handled,
otherwise it returns after its visibility timeout and the queue's redrive policy applies.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from local_runner.emulator.filters import matches_any, sqs_view
from local_runner.emulator.provision import LOCAL_ACCOUNT
from local_runner.emulator.template import QueueSource, StreamSource
from local_runner.emulator.workers import FunctionPool, Invocation

ClientFactory = Callable[[str], Any]
LOCAL_RETRY_LIMIT = 3  # used where the template leaves retries unbounded (-1): locally, never block forever
POLL_INTERVAL_SECONDS = 0.25  # Lambda polls a stream shard four times a second


def _lambda_json(value: Any) -> Any:
    """boto3's parsed values as the Lambda event carries them: binaries base64, timestamps in epoch seconds."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return float(int(value.timestamp()))
    if isinstance(value, Mapping):
        return {k: _lambda_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_lambda_json(v) for v in value]
    return value


def failed_identifiers(invocation: Invocation, batch_ids: Sequence[str], report_failures: bool) -> list[str] | None:
    """The records to retry, in batch order: all on a function error or a malformed answer, else those reported."""
    if not invocation.ok:
        return list(batch_ids)
    if not report_failures or not isinstance(invocation.result, Mapping):
        return []
    failures = invocation.result.get("batchItemFailures") or []
    try:
        reported = {str(f["itemIdentifier"]) for f in failures}
    except (KeyError, TypeError):
        return list(batch_ids)
    if not reported <= set(batch_ids) or "" in reported:
        return list(batch_ids)
    return [i for i in batch_ids if i in reported]


class _Poller(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._stop_event = threading.Event()
        self._quiet = threading.Event()  # set while the last poll found nothing to do
        self.delivered = 0
        self.errors = 0

    @property
    def idle(self) -> bool:
        return self._quiet.is_set()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                worked = self.poll_once()
            except Exception as error:  # the endpoint went away or refused: report, back off, go on
                self.errors += 1
                print(f"[local-runner] {self.name}: {type(error).__name__}", flush=True)
                worked = False
            if worked:
                self._quiet.clear()
            else:
                self._quiet.set()
                self._stop_event.wait(POLL_INTERVAL_SECONDS)

    def poll_once(self) -> bool:
        raise NotImplementedError


class StreamPoller(_Poller):
    """A DynamoDB stream event source mapping of one function."""

    def __init__(
        self,
        pool: FunctionPool,
        function: str,
        source: StreamSource,
        stream_arn: str,
        client: ClientFactory,
        region: str,
        on_failure_url: str | None = None,
        verify_reads: bool = True,
    ) -> None:
        super().__init__(f"{function}<-{source.table}")
        # An endpoint whose rollbacks may restore an older stream is read twice (`_still_there`); the embedded
        # moto's transactions are journaled under its lock (moto_fixes), so no reader sees a record undone.
        self.verify_reads = verify_reads
        self.pool, self.function, self.source, self.stream_arn, self.region = pool, function, source, stream_arn, region
        self._streams = client("dynamodbstreams")
        self._sqs = client("sqs") if on_failure_url else None
        self._on_failure_url = on_failure_url
        # Where each shard was read up to. A checkpoint is a sequence number, and every poll asks for
        # a fresh AFTER_SEQUENCE_NUMBER iterator, as Lambda resumes: an old iterator can go stale
        # (moto replaces a table's stream shard when it rolls back a failed transaction).
        self._checkpoints: dict[str, str | None] = {}
        self._iterators: dict[str, str] = {}  # only for LATEST before the first record
        self._shards_seen_at = 0.0
        self._discover_shards(self.source.starting_position)

    @property
    def read_up_to(self) -> int | None:
        """The last sequence number read and handled, if any (moto's stream has one shard)."""
        read = [int(sequence) for sequence in self._checkpoints.values() if sequence is not None]
        return max(read) if read else None

    def _discover_shards(self, iterator_type: str) -> None:
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self._checkpoints:
                self._checkpoints[shard_id] = None
                if iterator_type == "LATEST":
                    self._iterators[shard_id] = self._new_iterator(shard_id, "LATEST")
        self._shards_seen_at = time.monotonic()

    def _new_iterator(self, shard_id: str, iterator_type: str, sequence_number: str | None = None) -> str:
        extra = {"SequenceNumber": sequence_number} if sequence_number else {}
        return str(
            self._streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=iterator_type, **extra
            )["ShardIterator"]
        )

    def _iterator(self, shard_id: str) -> str:
        checkpoint = self._checkpoints.get(shard_id)
        if checkpoint is not None:
            return self._new_iterator(shard_id, "AFTER_SEQUENCE_NUMBER", checkpoint)
        return self._iterators.get(shard_id) or self._new_iterator(shard_id, "TRIM_HORIZON")

    def poll_once(self) -> bool:
        if time.monotonic() - self._shards_seen_at > 5:
            self._discover_shards("TRIM_HORIZON")  # shards created since start are read from their beginning
        worked = False
        for shard_id in list(self._checkpoints):
            page = self._streams.get_records(ShardIterator=self._iterator(shard_id), Limit=1000)
            records = [self._record(r) for r in page.get("Records", [])]
            if not records:
                if shard_id in self._iterators and page.get("NextShardIterator"):
                    self._iterators[shard_id] = page["NextShardIterator"]
                continue
            if self.verify_reads and not self._still_there(shard_id, records):
                worked = True  # read again at the next poll, from the same checkpoint
                continue
            worked = True
            self._deliver(shard_id, [r for r in records if matches_any(self.source.filters, r)])
            self._checkpoints[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
            self._iterators.pop(shard_id, None)
        return worked

    def _still_there(self, shard_id: str, records: list[dict[str, Any]]) -> bool:
        """moto binds an iterator to the shard as it was; a transaction rolled back between taking the iterator
        and reading restores an older copy, so what was read may be records that no longer exist, and their
        sequence numbers are then reused by the next writes. Reading the same range again tells."""
        first = records[0]["dynamodb"]["SequenceNumber"]
        iterator = self._new_iterator(shard_id, "AT_SEQUENCE_NUMBER", first)
        again = self._streams.get_records(ShardIterator=iterator, Limit=len(records)).get("Records", [])
        return [r["eventID"] for r in again] == [r["eventID"] for r in records]

    def _record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {**_lambda_json(record), "eventSourceARN": self.stream_arn}

    def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        size = self.source.batch_size
        for start in range(0, len(records), size):
            self._process(shard_id, records[start : start + size])

    def _process(self, shard_id: str, batch: list[dict[str, Any]]) -> None:
        limit = self.source.maximum_retry_attempts if self.source.maximum_retry_attempts >= 0 else LOCAL_RETRY_LIMIT
        attempt = 0
        while batch and not self._stop_event.is_set():
            invocation = self.pool.invoke(self.function, {"Records": batch})
            self.delivered += 1
            ids = [r["dynamodb"]["SequenceNumber"] for r in batch]
            failed = failed_identifiers(invocation, ids, self.source.report_batch_item_failures)
            if not failed:
                return
            if not invocation.ok and self.source.bisect_batch_on_error and len(batch) > 1:
                half = len(batch) // 2
                self._process(shard_id, batch[:half])
                self._process(shard_id, batch[half:])
                return
            # Checkpoint before the first failure; retry from there, as Lambda does.
            batch = batch[ids.index(failed[0]) :]
            attempt += 1
            if attempt > limit:
                self.errors += 1
                self._report_failure(shard_id, batch, attempt)
                return
            self._stop_event.wait(min(2.0, 0.1 * 2**attempt))

    def _report_failure(self, shard_id: str, batch: list[dict[str, Any]], attempts: int) -> None:
        print(f"[local-runner] {self.name}: batch of {len(batch)} discarded after {attempts} attempts", flush=True)
        if self._sqs is None:
            return
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        self._sqs.send_message(
            QueueUrl=self._on_failure_url,
            MessageBody=json.dumps(
                {
                    "requestContext": {
                        "requestId": str(uuid.uuid4()),
                        "functionArn": f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT}:function:{self.function}",
                        "condition": "RetryAttemptsExhausted",
                        "approximateInvokeCount": attempts,
                    },
                    "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                    "version": "1.0",
                    "timestamp": datetime.now(UTC).isoformat(),
                    "DDBStreamBatchInfo": {
                        "shardId": shard_id,
                        "startSequenceNumber": first["SequenceNumber"],
                        "endSequenceNumber": last["SequenceNumber"],
                        "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
                        "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
                        "batchSize": len(batch),
                        "streamArn": self.stream_arn,
                    },
                }
            ),
        )


class QueuePoller(_Poller):
    """An SQS event source mapping of one function."""

    def __init__(
        self, pool: FunctionPool, function: str, source: QueueSource, queue_url: str, client: ClientFactory, region: str
    ) -> None:
        super().__init__(f"{function}<-{source.queue}")
        self.pool, self.function, self.source, self.queue_url, self.region = pool, function, source, queue_url, region
        self._sqs = client("sqs")
        self.queue_arn = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def poll_once(self) -> bool:
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, self.source.batch_size),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return False
        records = [self._record(m) for m in messages]
        wanted = [r for r in records if matches_any(self.source.filters, sqs_view(r))]
        unwanted = [r for r in records if r not in wanted]
        done = unwanted
        if wanted:
            invocation = self.pool.invoke(self.function, {"Records": wanted})
            self.delivered += 1
            ids = [r["messageId"] for r in wanted]
            failed = set(failed_identifiers(invocation, ids, self.source.report_batch_item_failures) or [])
            if failed:
                self.errors += 1
            done = done + [r for r in wanted if r["messageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(done[start : start + 10])
            ]
            self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return True

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": _lambda_json(value["BinaryValue"]) if "BinaryValue" in value else None,
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value["DataType"],
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }


def _iso(epoch: Any) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(float(epoch), UTC).isoformat()
