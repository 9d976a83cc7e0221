"""The identity log in the profile table (IDENTITY#<day> partitions), read one day and one kind at a time."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date
from typing import Any

from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.errors import DomainError, StorageUnavailable
from touchpoints.items import identity_log as log_item
from touchpoints.observability import logger


class InvalidLogToken(DomainError):
    status, code = 422, "invalid_next_token"


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    """A log line as the API shows it: ids, kinds, rule, times and counts."""
    entry: dict[str, Any] = {
        "kind": item[log_item.KIND]["S"].lower(),
        "at": item[log_item.AT]["S"],
        "channel": item[log_item.CHANNEL]["S"],
        "event_id": item[log_item.EVENT_ID]["S"],
        "survivor": item[log_item.SURVIVOR]["S"],
        "subjects": [v["S"] for v in item[log_item.SUBJECTS]["L"]],
        "kinds": [v["S"] for v in item[log_item.KINDS]["L"]],
        "conflicting_kinds": [v["S"] for v in item[log_item.CONFLICTING_KINDS]["L"]],
        "rule": item[log_item.RULE]["S"],
        "policy_version": item.get(log_item.POLICY_VERSION, {}).get("S", ""),
    }
    if log_item.STATE in item:
        entry["state"] = item[log_item.STATE]["S"]
        entry["completed_at"] = item.get(log_item.COMPLETED_AT, {}).get("S")
        entry["counts"] = {k: int(v["N"]) for k, v in item.get(log_item.COUNTS, {}).get("M", {}).items()}
    return entry


class DynamoIdentityLog:
    def __init__(self, dynamodb_client: Any, profile_table: str) -> None:
        self._db = dynamodb_client
        self._profiles = profile_table

    def page(self, day: date, kind: str, limit: int, next_token: str | None) -> dict[str, Any]:
        """One page of a day's merges or conflicts, oldest first; `next_token` continues it."""
        prefix = f"{kind.upper()}#"
        query: dict[str, Any] = {
            "TableName": self._profiles,
            "KeyConditionExpression": f"{log_item.PK} = :pk AND begins_with({log_item.SK}, :kind)",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"{log_item.PK_PREFIX}{day.isoformat()}"},
                ":kind": {"S": prefix},
            },
            "Limit": limit,
        }
        if next_token:
            query["ExclusiveStartKey"] = self._decode(next_token, day, prefix)
        try:
            answer = self._db.query(**query)
        except SDK_ERRORS as error:
            logger.warning("identity log read failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the profile store is unavailable; try again") from error
        last = answer.get("LastEvaluatedKey")
        return {
            "day": day.isoformat(),
            "kind": kind,
            "entries": [_entry(item) for item in answer.get("Items", [])],
            "next_token": base64.urlsafe_b64encode(json.dumps(last).encode()).decode().rstrip("=") if last else None,
        }

    @staticmethod
    def _decode(token: str, day: date, prefix: str) -> dict[str, Any]:
        try:
            key = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
            pk, sk = key[log_item.PK]["S"], key[log_item.SK]["S"]
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise InvalidLogToken("next_token is not one this API gave out") from None
        if pk != f"{log_item.PK_PREFIX}{day.isoformat()}" or not isinstance(sk, str) or not sk.startswith(prefix):
            raise InvalidLogToken("next_token belongs to another day or kind; ask again without it")
        return {log_item.PK: {"S": pk}, log_item.SK: {"S": sk}}
