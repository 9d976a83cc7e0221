"""Failed SDK messages in the profile table (items/failed_event.py), written by channel functions, read by reports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from touchpoints.adapters.aws import SDK_ERRORS
from touchpoints.errors import StorageUnavailable
from touchpoints.items import failed_event as item
from touchpoints.observability import logger
from touchpoints.sdk.failed_events import FailedEvent


class DynamoFailedEvents:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def record(self, events: Sequence[FailedEvent]) -> None:
        """Best effort: a failure to record a refused message never fails the messages that were stored."""
        for event in events:
            day = event.failed_at.astimezone(UTC).date().isoformat()
            entry: dict[str, Any] = {
                item.PK: {"S": item.pk(event.channel, day)},
                item.SK: {"S": f"{event.failed_at.astimezone(UTC).isoformat()}#{uuid.uuid4().hex[:8]}"},
                item.ENTITY_ATTR: {"S": item.ENTITY},
                item.CHANNEL: {"S": event.channel},
                item.DAY: {"S": day},
                item.ERROR_CODE: {"S": event.error_code},
                item.FIELD: {"S": event.field},
                item.FAILED_AT: {"S": event.failed_at.astimezone(UTC).isoformat()},
                item.EXPIRES_AT: {"N": str(int((event.failed_at + timedelta(days=item.RETENTION_DAYS)).timestamp()))},
            }
            if event.message_id:
                entry[item.MESSAGE_ID] = {"S": event.message_id}
            try:
                self._client.put_item(TableName=self._table, Item=entry)
            except SDK_ERRORS:
                logger.warning("a failed event could not be recorded", extra={"error_code": event.error_code})

    def read(self, channel: str, day: str) -> Iterator[FailedEvent]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": f"{item.PK} = :pk",
            "ExpressionAttributeValues": {":pk": {"S": item.pk(channel, day)}},
        }
        while True:
            try:
                page = self._client.query(**kwargs)
            except SDK_ERRORS as error:
                raise StorageUnavailable("the failed events could not be read") from error
            for entry in page.get("Items", []):
                yield FailedEvent(
                    entry[item.CHANNEL]["S"],
                    entry[item.ERROR_CODE]["S"],
                    entry[item.FIELD]["S"],
                    entry.get(item.MESSAGE_ID, {}).get("S"),
                    datetime.fromisoformat(entry[item.FAILED_AT]["S"]),
                )
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
