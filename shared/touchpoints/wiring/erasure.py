"""The erasure functions: their settings and adapters, built once per container, and their handlers. The erasure
worker: SQS messages carrying a request id, each erasure carried forward from its checkpoint; and the hourly check
of how close open erasures are to their legal deadline.

A failed record is reported back (ReportBatchItemFailures) and SQS re-delivers it after the
visibility timeout; its last allowed delivery marks the request failed before the queue's
RedrivePolicy moves it to the dead-letter queue, from where it can be redriven to resume.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from touchpoints.adapters.compliance_store import DynamoAuditLog, DynamoRequestStore, SqsErasureQueue
from touchpoints.adapters.erasure_store import DynamoSubjectEraser
from touchpoints.compliance.deadlines import check_erasure_deadlines
from touchpoints.compliance.erasure import ErasureService, ErasureSuperseded
from touchpoints.compliance.policy import load_compliance_policy
from touchpoints.compliance.settings import DeadlineCheckSettings, ErasureWorkerSettings
from touchpoints.observability import MetricUnit, logger, metrics, record_keys, worker_entrypoint
from touchpoints.wiring.container import LambdaHandler, client, per_container


@per_container
def erasure_worker_settings() -> ErasureWorkerSettings:
    return ErasureWorkerSettings.model_validate(os.environ)


@per_container
def erasure_queue() -> SqsErasureQueue:
    settings = erasure_worker_settings()
    return SqsErasureQueue(client(settings, "sqs"), settings.erasure_queue_url)


@per_container
def token_lineage() -> Callable[[Collection[str]], tuple[str, ...]]:
    """Each token in the versions read now (Tokenizer.live): a token recorded before a secret rotation reaches the
    new version too. The secret is read lazily."""
    from touchpoints.adapters.secrets import TokenizerSource

    settings = erasure_worker_settings()
    source = TokenizerSource(client(settings, "secretsmanager"), settings.tokenization_secret_id)

    def lineage(tokens: Collection[str]) -> tuple[str, ...]:
        tokenizer = source()
        return tuple(dict.fromkeys(t for token in tokens for t in tokenizer.live(token)))

    return lineage


@per_container
def erasure_service() -> ErasureService:
    settings = erasure_worker_settings()
    db = client(settings, "dynamodb")
    return ErasureService(
        DynamoRequestStore(db, settings.compliance_table),
        DynamoAuditLog(db, settings.audit_table),
        load_compliance_policy(),
        queue=erasure_queue(),
        eraser=DynamoSubjectEraser(db, settings.profile_table, settings.key_vault_table, settings.identity_index_table),
        page_size=settings.page_size,
        lineage=token_lineage(),
    )


@per_container
def deadline_check_settings() -> DeadlineCheckSettings:
    return DeadlineCheckSettings.model_validate(os.environ)


@per_container
def deadline_index() -> DynamoRequestStore:
    settings = deadline_check_settings()
    return DynamoRequestStore(client(settings, "dynamodb"), settings.compliance_table)


def branch_key_rotation_stalled() -> bool:
    from touchpoints.adapters.branch_key_admin import rotation_record

    settings = deadline_check_settings()
    record = rotation_record(client(settings, "dynamodb"), settings.branch_key_table)
    return record is not None and record.stalled(datetime.now(UTC))


def handle_erasure_message(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    """Carry one erasure as far as the invocation's time allows; hand the rest to a new message."""
    request_id = str(json.loads(record.body)["request_id"])
    settings = erasure_worker_settings()
    service = erasure_service()

    def out_of_time() -> bool:
        return lambda_context is not None and lambda_context.get_remaining_time_in_millis() < settings.reserve_ms

    with record_keys(request_id=request_id):
        try:
            finished = service.run(request_id, should_stop=out_of_time)
        except ErasureSuperseded:
            logger.info("another delivery of this erasure is ahead; stopping")
            return
        except Exception as error:
            if int(record.attributes.approximate_receive_count) >= settings.max_receives:
                service.fail(request_id, type(error).__name__)
            raise
        if finished:
            metrics.add_metric(name="ErasuresCompleted", unit=MetricUnit.Count, value=1)
        else:
            erasure_queue().send(request_id)  # a fresh invocation continues from the checkpoint
            logger.info("erasure continues in a new invocation")


def erasure_worker() -> LambdaHandler:
    """The Lambda handler of the erasure worker."""
    # A failed record is reported, not raised, even when it is the only one: the answer keeps one shape.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    @worker_entrypoint
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return process_partial_response(  # type: ignore[return-value]
            event=event, record_handler=handle_erasure_message, processor=processor, context=context
        )

    return lambda_handler


def erasure_deadline_check() -> LambdaHandler:
    """The Lambda handler of the hourly deadline check: ErasuresNearDeadline, OpenErasures by days left, and
    BranchKeyRotationStalled."""

    @worker_entrypoint
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        warn_days = load_compliance_policy().erasure.warn_days_before_deadline
        check = check_erasure_deadlines(deadline_index(), warn_days, datetime.now(UTC).date())
        metrics.add_metric(name="ErasuresNearDeadline", unit=MetricUnit.Count, value=check.near_deadline)
        for bucket, count in check.by_days_left.items():
            # One metric set per bucket: a dimension's value is shared by every metric of a set.
            with single_metric(
                name="OpenErasures",
                unit=MetricUnit.Count,
                value=count,
                namespace=metrics.namespace,
                default_dimensions=metrics.default_dimensions,
            ) as metric:
                metric.add_dimension(name="days_left", value=bucket)
        answer = {"near_deadline": check.near_deadline, "open": check.open, "by_days_left": check.by_days_left}
        logger.info("erasure deadlines checked", extra={**answer, "warn_days": warn_days})
        # The same hour's other overdue operator work: a branch key rotation whose re-wrap job stopped writing.
        with single_metric(
            name="BranchKeyRotationStalled",
            unit=MetricUnit.Count,
            value=int(branch_key_rotation_stalled()),
            namespace=metrics.namespace,
            default_dimensions=metrics.default_dimensions,
        ):
            pass  # a metric set of its own, flushed as the block ends
        return answer

    return lambda_handler
