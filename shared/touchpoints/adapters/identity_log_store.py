"""The identity log in the profile table (a day's IDENTITY#<day>#<shard> partitions), read one day and one kind at
a time: each page merges the day's partitions in time order, and its token says where each one stands."""

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


_DONE = ""  # a partition read to its end


class DynamoIdentityLog:
    def __init__(self, dynamodb_client: Any, profile_table: str) -> None:
        self._db = dynamodb_client
        self._profiles = profile_table

    def page(self, day: date, kind: str, limit: int, next_token: str | None) -> dict[str, Any]:
        """One page of a day's merges or conflicts, oldest first; `next_token` continues it."""
        prefix = f"{kind.upper()}#"
        partitions = log_item.partitions(day.isoformat())
        after = self._decode(next_token, day, kind, partitions) if next_token else {}
        found: list[tuple[str, dict[str, Any]]] = []
        exhausted: set[str] = set()
        for pk in partitions:
            if after.get(pk) == _DONE:
                exhausted.add(pk)
                continue
            items, more = self._read(pk, prefix, after.get(pk), limit)
            found.extend((pk, item) for item in items)
            if not more:
                exhausted.add(pk)
        found.sort(key=lambda entry: entry[1][log_item.SK]["S"])
        page, rest = found[:limit], found[limit:]
        for pk, item in page:
            after[pk] = item[log_item.SK]["S"]
        left = {pk for pk, _ in rest}
        for pk in exhausted - left:
            after[pk] = _DONE
        done = all(after.get(pk) == _DONE for pk in partitions)
        return {
            "day": day.isoformat(),
            "kind": kind,
            "entries": [_entry(item) for _, item in page],
            "next_token": None if done else self._encode(day, kind, after),
        }

    def _read(self, pk: str, prefix: str, after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Up to `limit` entries of one partition past `after`; and whether it may hold more."""
        query: dict[str, Any] = {
            "TableName": self._profiles,
            "KeyConditionExpression": f"{log_item.PK} = :pk AND begins_with({log_item.SK}, :kind)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":kind": {"S": prefix}},
            "Limit": limit,
        }
        if after:
            query["ExclusiveStartKey"] = {log_item.PK: {"S": pk}, log_item.SK: {"S": after}}
        try:
            answer = self._db.query(**query)
        except SDK_ERRORS as error:
            logger.warning("identity log read failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the profile store is unavailable; try again") from error
        return answer.get("Items", []), "LastEvaluatedKey" in answer

    @staticmethod
    def _encode(day: date, kind: str, after: dict[str, str]) -> str:
        document = {"day": day.isoformat(), "kind": kind, "after": after}
        return base64.urlsafe_b64encode(json.dumps(document, sort_keys=True).encode()).decode().rstrip("=")

    @staticmethod
    def _decode(token: str, day: date, kind: str, partitions: tuple[str, ...]) -> dict[str, str]:
        try:
            document = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
            after = document["after"]
            same = document["day"] == day.isoformat() and document["kind"] == kind
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise InvalidLogToken("next_token is not one this API gave out") from None
        if not same:
            raise InvalidLogToken("next_token belongs to another day or kind; ask again without it")
        prefix = f"{kind.upper()}#"
        if not isinstance(after, dict) or not all(
            pk in partitions and isinstance(sk, str) and (sk == _DONE or sk.startswith(prefix))
            for pk, sk in after.items()
        ):
            raise InvalidLogToken("next_token is not one this API gave out")
        return dict(after)
