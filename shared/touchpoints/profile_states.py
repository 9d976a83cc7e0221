"""Composition of the classifier (stream) and the state report (API), built once per container."""

from __future__ import annotations

import os

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from pydantic import Field

from touchpoints.adapters import aws, keys
from touchpoints.adapters.classification_store import DynamoClassificationStore
from touchpoints.classification import ClassifierService, Outcome, StateReport, load_rules, state_report
from touchpoints.container import per_container
from touchpoints.observability import MetricUnit, logger, metrics
from touchpoints.settings import AwsSettings

_HANDLED_EVENTS = ("INSERT", "MODIFY")


class ProfileStateSettings(AwsSettings):
    profile_table: str = Field(alias="PROFILE_TABLE_NAME", min_length=3)
    report_concurrency: int = Field(default=16, alias="REPORT_CONCURRENCY", ge=1, le=64)


@per_container
def settings() -> ProfileStateSettings:
    return ProfileStateSettings.model_validate(os.environ)


@per_container
def store() -> DynamoClassificationStore:
    config = settings()
    client = aws.client("dynamodb", config.endpoint_url, config.region)
    return DynamoClassificationStore(client, config.profile_table, config.report_concurrency)


@per_container
def classifier() -> ClassifierService:
    return ClassifierService(store(), load_rules())


def classify_record(record: DynamoDBRecord) -> None:
    """Record handler of the classifier's batch: raising marks only this record as failed."""
    stream = record.dynamodb
    if stream is None or record.raw_event.get("eventName") not in _HANDLED_EVENTS:
        return
    if (stream.raw_event.get("Keys", {}).get("sk") or {}).get("S") != keys.PROFILE_SK:
        return  # the event source's filter drops these; a mapping without it must not misread them
    result = classifier().handle(stream.new_image)
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


def report() -> StateReport:
    return state_report(store(), load_rules())
