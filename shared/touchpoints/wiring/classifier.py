"""The classifier (the profile stream) and the reclassifier (daily, or after a rules deploy): their settings, store and
service, built once per container, and their handlers. The report function reads the same counters
(`touchpoints.wiring.reports`)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from touchpoints.adapters import keys
from touchpoints.adapters.audience_store import DynamoAudienceStore
from touchpoints.adapters.classification_store import DynamoClassificationStore
from touchpoints.classification.attribution import load_attribution_policy
from touchpoints.classification.audience import AudienceRules, Audiences
from touchpoints.classification.counts import Tally
from touchpoints.classification.rules import load_rules
from touchpoints.classification.service import ClassifierService, ClassifyResult, Outcome, Revision, state_report
from touchpoints.items import profile as profile_item
from touchpoints.observability import MetricUnit, count_with_dimensions, logger, metrics, tracer
from touchpoints.settings import AwsSettings
from touchpoints.wiring.container import LambdaHandler, client, per_container

_HANDLED_EVENTS = ("INSERT", "MODIFY")
_REMOVE = "REMOVE"


class ProfileStateSettings(AwsSettings):
    profile_table: str = Field(alias="PROFILE_TABLE_NAME", min_length=3)
    counter_table: str = Field(alias="STATE_COUNTER_TABLE_NAME", min_length=3)
    report_concurrency: int = Field(default=16, alias="REPORT_CONCURRENCY", ge=1, le=64)


class SweepSettings(ProfileStateSettings):
    # How many past days the daily sweep reads: profiles left over by missed runs are still found.
    lookback_days: int = Field(default=30, alias="RECLASSIFY_LOOKBACK_DAYS", ge=0, le=366)
    # The sweep takes no more profiles once this much of the invocation is left; the rest stay due.
    reserve_ms: int = Field(default=30_000, alias="RECLASSIFY_TIME_RESERVE_MS", ge=0)
    # Profiles reclassified at once: each waits on a read and a write, so threads multiply throughput.
    concurrency: int = Field(default=16, alias="RECLASSIFY_CONCURRENCY", ge=1, le=64)


@per_container
def settings() -> ProfileStateSettings:
    return ProfileStateSettings.model_validate(os.environ)


@per_container
def sweep_settings() -> SweepSettings:
    return SweepSettings.model_validate(os.environ)


@per_container
def store() -> DynamoClassificationStore:
    config = settings()
    return DynamoClassificationStore(
        client(config, "dynamodb"), config.profile_table, config.counter_table, config.report_concurrency
    )


@per_container
def audience_store() -> DynamoAudienceStore:
    config = settings()
    return DynamoAudienceStore(client(config, "dynamodb"), config.profile_table, config.counter_table)


@per_container
def classifier() -> ClassifierService:
    audiences = Audiences(AudienceRules.load(), audience_store())
    return ClassifierService(store(), load_rules(), attribution=load_attribution_policy(), audiences=audiences)


def _revision(image: Mapping[str, Any] | None) -> tuple[int, int] | None:
    if not image or profile_item.VERSION not in image:
        return None
    return profile_item.revision(image)


def superseded_records(records: list[dict[str, Any]]) -> frozenset[str]:
    """The sequence numbers of records whose image another record of the same profile in this batch replaced with
    a later revision, or whose profile another record shows no longer active (merging, erasing, merged or gone: a
    profile never becomes active again). Their classification would be written on a condition that can no longer
    hold: a conditional write sure to fail, then a read, for nothing. The later record classifies the profile (or
    leaves the counts); a departure is still seen on every record."""
    revisions: dict[str, set[tuple[int, int]]] = defaultdict(set)
    inactive: set[str] = set()
    for raw in records:
        stream = raw.get("dynamodb") or {}
        profile = str(stream.get("Keys", {}).get("pk"))
        image = stream.get("NewImage")
        if (revision := _revision(image)) is not None:
            revisions[profile].add(revision)
        if raw.get("eventName") == _REMOVE or (
            image and image.get(profile_item.STATUS, {}).get("S") not in (None, profile_item.ACTIVE)
        ):
            inactive.add(profile)
    superseded = set()
    for raw in records:
        stream = raw.get("dynamodb") or {}
        if (revision := _revision(stream.get("NewImage"))) is None:
            continue
        profile = str(stream.get("Keys", {}).get("pk"))
        active = stream["NewImage"].get(profile_item.STATUS, {}).get("S") == profile_item.ACTIVE
        later = (
            other
            for other in revisions[profile]
            if other != revision and other[0] >= revision[0] and other[1] >= revision[1]
        )
        if (active and profile in inactive) or any(later):
            superseded.add(str(stream.get("SequenceNumber")))
    return frozenset(superseded)


def left_behind_records(records: list[dict[str, Any]], superseded: frozenset[str]) -> frozenset[str]:
    """The sequence numbers of records whose profile moved on after the batch was read (a later revision waits in a
    later batch, or it is no longer active), asked of the table once for the batch: skipped like those superseded
    within it, they spare a conditional write sure to fail and the read that follows it."""
    seen = {}
    for raw in records:
        stream = raw.get("dynamodb") or {}
        image = stream.get("NewImage")
        sequence = str(stream.get("SequenceNumber"))
        if (
            raw.get("eventName") in _HANDLED_EVENTS
            and sequence not in superseded
            and (stream.get("Keys", {}).get("sk") or {}).get("S") == keys.PROFILE_SK
            and image
            and image.get(profile_item.STATUS, {}).get("S") == profile_item.ACTIVE
            and (revision := _revision(image)) is not None
        ):
            seen[sequence] = (keys.subject_id_of(stream["Keys"]["pk"]["S"]), Revision(*revision, active=True))
    return classifier().left_behind(seen)


def classify_record(record: DynamoDBRecord, tally: Tally, superseded: frozenset[str] = frozenset()) -> None:
    """Record handler of the classifier's batch: raising marks only this record as failed. What the record counts
    joins the batch's tally, committed once the batch is done."""
    stream = record.dynamodb
    event_name = record.raw_event.get("eventName")
    if stream is None or event_name not in (*_HANDLED_EVENTS, _REMOVE):
        return
    if (stream.raw_event.get("Keys", {}).get("sk") or {}).get("S") != keys.PROFILE_SK:
        return  # the event source's filter drops these; a mapping without it must not misread them
    new_image = None if event_name == _REMOVE else stream.new_image
    result: ClassifyResult | None = classifier().leave(stream.old_image, new_image, tally)
    if result is None:
        if new_image is None:
            return
        if stream.sequence_number in superseded:
            metrics.add_metric(name="ProfilesSuperseded", unit=MetricUnit.Count, value=1)
            return
        result = classifier().handle(new_image, tally)
    metrics.add_metric(name=f"Profiles{result.outcome.value.capitalize()}", unit=MetricUnit.Count, value=1)
    if result.outcome is Outcome.CHANGED:
        logger.info(
            "profile state changed",
            extra={
                "subject_id": keys.subject_id_of(stream.raw_event["Keys"]["pk"]["S"]),
                "previous_state": result.previous.value if result.previous else None,
                "state": result.state.value if result.state else None,
            },
        )


OUTDATED_RULES = "outdated_rules"
COUNT_EXISTING = "count_existing"


def reclassify(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The daily run reclassifies the profiles time has changed; `{"reclassify": "outdated_rules"}`, sent by an
    operator after new rules are deployed, those classified under other rules. Answers the outcome counts, and
    whether the run got through everything (`complete`) or stopped for time. `{"reclassify": "count_existing"}`,
    once after the counters are deployed on a table that holds profiles, counts each in the distribution."""
    config = sweep_settings()
    service = classifier()
    deadline = _deadline(context)

    def keep_going() -> bool:
        return context.get_remaining_time_in_millis() > config.reserve_ms

    if event.get("reclassify") == COUNT_EXISTING:
        counted = service.count_existing(keep_going, deadline)
        logger.info("existing profiles counted", extra={"counted": counted.counted, "already": counted.already})
        return {"counted": counted.counted, "already": counted.already, "complete": counted.complete}
    if event.get("reclassify") == OUTDATED_RULES:
        result = service.reclassify_outdated(keep_going, config.concurrency, deadline)
    else:
        result = service.sweep(config.lookback_days, keep_going, config.concurrency, deadline)
    for subject_id in result.malformed:
        logger.warning(
            "profile not reclassified: its item cannot be read as a profile", extra={"subject_id": subject_id}
        )
    counts = {outcome.value: result.outcomes.get(outcome, 0) for outcome in Outcome if outcome is not Outcome.LEFT}
    for outcome, count in result.outcomes.items():
        metrics.add_metric(name=f"Swept{outcome.value.title().replace('_', '')}", unit=MetricUnit.Count, value=count)
    logger.info("reclassification done", extra={"outcomes": counts, "complete": result.complete})
    publish_state_distribution()
    return {"outcomes": counts, "complete": result.complete}


def _deadline(context: LambdaContext) -> datetime:
    """When Lambda stops this invocation at the latest: a tally opened in it can commit no later."""
    return datetime.now(UTC) + timedelta(milliseconds=context.get_remaining_time_in_millis())


def publish_state_distribution() -> None:
    """Profiles per state (metric ProfilesInState, dimension `state`), every state even when empty: the
    dashboard's distribution over time. Read from the counters, like the report."""
    for state, count in state_report(store(), load_rules()).as_dict()["by_state"].items():
        count_with_dimensions("ProfilesInState", {"state": state}, count)


def classifier_handler() -> LambdaHandler:
    """The Lambda handler of the classifier: a batch of the profile stream, each failed record reported alone.

    The batch's counts are committed once every record is handled (a counter refusing them never fails the batch);
    when the commit itself cannot be recorded the invocation fails, and Lambda delivers the batch again, bisected:
    the retry counts what this invocation classified (touchpoints.classification.counts)."""
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        service = classifier()
        tally = service.open_tally(_deadline(context))
        records = event.get("Records", [])
        superseded = superseded_records(records)
        superseded |= left_behind_records(records, superseded)
        handle = partial(classify_record, tally=tally, superseded=superseded)
        try:
            with processor(records, handle, context):
                processor.process()
        finally:
            service.close(tally)
        return processor.response()  # type: ignore[return-value]

    return lambda_handler


def reclassifier_handler() -> LambdaHandler:
    """The Lambda handler of the reclassifier (see `reclassify`)."""

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return reclassify(event, context)

    return lambda_handler
