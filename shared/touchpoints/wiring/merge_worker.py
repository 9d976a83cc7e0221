"""The merge worker: composition and handler.

Two event sources, one job. The profile table's stream brings each profile a touchpoint has just
claimed for a merge (status active → merging); the worker queues it on `MergeQueue`, where each
message carries one merge forward from its checkpoint, however long it takes: a run short of time
queues a continuation, a failed one is re-delivered and, after its last receive, waits in the
dead-letter queue to be redriven.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.adapters.merge_store import DynamoMergeStore
from touchpoints.errors import StorageUnavailable
from touchpoints.identity.merge import MergeService
from touchpoints.identity.policy import load_identity_policy
from touchpoints.items import profile as profile_item
from touchpoints.observability import MetricUnit, logger, metrics, record_keys, worker_entrypoint
from touchpoints.settings import PrivacySettings
from touchpoints.wiring.container import LambdaHandler, client, keyring, per_container


class MergeWorkerSettings(PrivacySettings):
    merge_queue_url: str = Field(alias="MERGE_QUEUE_URL", min_length=1)
    # Below this much time left, the worker checkpoints and hands the rest to a fresh invocation.
    reserve_ms: int = Field(default=10_000, alias="MERGE_TIME_RESERVE_MS", ge=0)


@per_container
def merge_worker_settings() -> MergeWorkerSettings:
    return MergeWorkerSettings.model_validate(os.environ)


@per_container
def merge_service() -> MergeService:
    settings = merge_worker_settings()
    store = DynamoMergeStore(
        client(settings, "dynamodb"), settings.profile_table, settings.key_vault_table, settings.identity_index_table
    )
    return MergeService(store, keyring(settings), page_size=load_identity_policy().merge.page_size)


def queue_merge(absorbed: str) -> None:
    settings = merge_worker_settings()
    try:
        client(settings, "sqs").send_message(
            QueueUrl=settings.merge_queue_url, MessageBody=json.dumps({"absorbed": absorbed})
        )
    except SDK_ERRORS as error:
        logger.warning("merge queue send failed", extra={"error_code": error_code(error)})
        raise StorageUnavailable("the merge queue is unavailable; the record is retried") from error


def handle_claim(record: DynamoDBRecord) -> None:
    """A profile claimed for a merge: queue the merge (the stream's filter lets only these through)."""
    image = record.dynamodb.new_image if record.dynamodb else {}
    queue_merge(str(image[profile_item.SUBJECT_ID]))


def handle_merge_message(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    absorbed = str(json.loads(record.body)["absorbed"])
    settings = merge_worker_settings()

    def out_of_time() -> bool:
        return lambda_context is not None and lambda_context.get_remaining_time_in_millis() < settings.reserve_ms

    with record_keys(absorbed_subject=absorbed):
        if merge_service().run(absorbed, should_stop=out_of_time):
            metrics.add_metric(name="MergesCompleted", unit=MetricUnit.Count, value=1)
        else:
            queue_merge(absorbed)  # a fresh invocation continues from the checkpoint
            logger.info("merge continues in a new invocation")


def merge_worker() -> LambdaHandler:
    """The Lambda handler of the merge worker: stream records (claims) or queue messages (merges)."""
    # A failed record is reported, not raised, even when it is the only one: the answer keeps one shape.
    stream = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    queue = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    @worker_entrypoint
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        records = event.get("Records") or [{}]
        if records[0].get("eventSource") == "aws:dynamodb":
            return process_partial_response(  # type: ignore[return-value]
                event=event, record_handler=handle_claim, processor=stream, context=context
            )
        return process_partial_response(  # type: ignore[return-value]
            event=event, record_handler=handle_merge_message, processor=queue, context=context
        )

    return lambda_handler
