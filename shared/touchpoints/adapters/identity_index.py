"""The identity index rebuilt from the profile table and the key vault (see touchpoints.identity.rebuild)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from touchpoints.adapters import keys
from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.adapters.profile_store import subject_tokens, token_claim
from touchpoints.errors import StorageUnavailable
from touchpoints.identity.rebuild import LiveSubject, RebuildPage
from touchpoints.items import profile as profile_item
from touchpoints.items import token as token_item
from touchpoints.items import vault as vault_item
from touchpoints.observability import logger
from touchpoints.privacy.tokenizer import token_kind

_CONDITION_FAILED = "ConditionalCheckFailedException"
_BATCH_GET_LIMIT = 100
_UNPROCESSED_ROUNDS = 6


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class DynamoIndexRebuildStore:
    def __init__(
        self, dynamodb_client: Any, profile_table: str, key_vault_table: str, identity_index: str, page_size: int = 500
    ) -> None:
        self._db = dynamodb_client
        self._profiles = profile_table
        self._vault = key_vault_table
        self._index = identity_index
        self._page_size = page_size

    def page(self, segment: int, total_segments: int, cursor: str | None) -> RebuildPage:
        """One scan page of the profile table: its active profiles and its suppression list entries."""
        scan: dict[str, Any] = {
            "TableName": self._profiles,
            "Segment": segment,
            "TotalSegments": total_segments,
            "Limit": self._page_size,
            "FilterExpression": "(#sk = :profile AND #st = :active) OR (begins_with(#pk, :token) AND #sup = :yes)",
            "ProjectionExpression": "#pk, #sk, #st, #f, #sup",
            "ExpressionAttributeNames": {
                "#pk": keys.PK,
                "#sk": keys.SK,
                "#st": profile_item.STATUS,
                "#f": profile_item.FIELDS,
                "#sup": token_item.SUPPRESSED,
            },
            "ExpressionAttributeValues": {
                ":profile": _s(keys.PROFILE_SK),
                ":active": _s(profile_item.ACTIVE),
                ":token": _s(keys.token_pk("")),
                ":yes": {"BOOL": True},
            },
            "ConsistentRead": True,
        }
        if cursor:
            scan["ExclusiveStartKey"] = json.loads(cursor)
        answer = self._call("profile table scan", self._db.scan, **scan)
        items = answer.get("Items", [])
        suppressed = [
            i[token_item.PK]["S"].removeprefix(keys.token_pk("")) for i in items if i[keys.SK]["S"] == keys.TOKEN_SK
        ]
        profiles = [i for i in items if i[keys.SK]["S"] == keys.PROFILE_SK]
        wrapped = self._wrapped_keys([keys.subject_id_of(i[profile_item.PK]["S"]) for i in profiles])
        subjects = [
            LiveSubject(
                subject_id=(subject_id := keys.subject_id_of(item[profile_item.PK]["S"])),
                fields={
                    name: bytes(value["M"][profile_item.FIELD_VALUE]["B"])
                    for name, value in item.get(profile_item.FIELDS, {}).get("M", {}).items()
                },
                wrapped_key=wrapped.get(subject_id),
            )
            for item in profiles
        ]
        last = answer.get("LastEvaluatedKey")
        return RebuildPage(suppressed, subjects, json.dumps(last, sort_keys=True) if last else None)

    def suppress(self, tokens: Iterable[str], now: datetime) -> int:
        restored = 0
        for token in tokens:
            marker = {
                **keys.token_key(token),
                token_item.ENTITY_ATTR: _s(token_item.ENTITY_SUPPRESSION),
                token_item.SUPPRESSED: {"BOOL": True},
                token_item.ERASED_AT: _s(now.isoformat()),
            }
            # Unconditional: a suppression wins over a live profile that claimed the token earlier in the rebuild.
            answer = self._call(
                "suppression restore", self._db.put_item, TableName=self._index, Item=marker, ReturnValues="ALL_OLD"
            )
            old = answer.get("Attributes", {})
            if holder := old.get(token_item.SUBJECT_ID, {}).get("S"):
                self._call("link delete", self._db.delete_item, TableName=self._index, Key=keys.link_key(holder, token))
                self.recount_links(holder)
            restored += not old.get(token_item.SUPPRESSED, {}).get("BOOL", False)
        return restored

    def claim(self, subject_id: str, tokens: Iterable[str], now: datetime) -> int:
        held = 0
        for token in tokens:
            lookup, link = (op["Put"] for op in token_claim(self._index, subject_id, token, now))
            try:
                self._db.put_item(
                    TableName=self._index,
                    Item=lookup["Item"],
                    ConditionExpression=f"attribute_not_exists({token_item.PK}) OR {token_item.SUBJECT_ID} = :sid",
                    ExpressionAttributeValues={":sid": _s(subject_id)},
                )
            except SDK_ERRORS as error:
                if error_code(error) != _CONDITION_FAILED:
                    raise self._unavailable("token claim", error) from error
                continue
            self._call("link write", self._db.put_item, **link)
            held += 1
        return held

    def recount_links(self, subject_id: str) -> None:
        counts = Counter(token_kind(t) for t in subject_tokens(self._db, self._index, subject_id))
        names = {"#st": profile_item.STATUS}
        values: dict[str, Any] = {":active": _s(profile_item.ACTIVE)}
        sets, removes = [], []
        for i, (kind, counter) in enumerate(sorted(profile_item.LINK_COUNTERS.items())):
            names[f"#l{i}"] = counter
            if counts[kind]:
                values[f":l{i}"] = {"N": str(counts[kind])}
                sets.append(f"#l{i} = :l{i}")
            else:
                removes.append(f"#l{i}")
        expression = " ".join(
            [*([f"SET {', '.join(sets)}"] if sets else []), *([f"REMOVE {', '.join(removes)}"] if removes else [])]
        )
        try:
            self._db.update_item(
                TableName=self._profiles,
                Key=keys.profile_key(subject_id),
                UpdateExpression=expression,
                ConditionExpression="#st = :active",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except SDK_ERRORS as error:
            if error_code(error) != _CONDITION_FAILED:  # no longer active (being erased, merged): nothing to count
                raise self._unavailable("link recount", error) from error

    def _wrapped_keys(self, subject_ids: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for start in range(0, len(subject_ids), _BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._vault: {"Keys": [keys.vault_key(s) for s in subject_ids[start : start + _BATCH_GET_LIMIT]]}
            }
            for attempt in range(_UNPROCESSED_ROUNDS):
                if attempt:
                    time.sleep(0.05 * 2**attempt)  # throttled: back off before asking for the rest
                answer = self._call("key vault read", self._db.batch_get_item, RequestItems=request)
                for item in answer.get("Responses", {}).get(self._vault, []):
                    found[keys.subject_id_of(item[vault_item.PK]["S"])] = bytes(item[vault_item.WRAPPED_KEY]["B"])
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise StorageUnavailable("the key vault kept throttling reads; run the rebuild again from its cursor")
        return found

    def _call(self, what: str, operation: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except SDK_ERRORS as error:
            raise self._unavailable(what, error) from error

    @staticmethod
    def _unavailable(what: str, error: Exception) -> StorageUnavailable:
        logger.warning(f"{what} failed", extra={"error_code": error_code(error)})
        return StorageUnavailable("a table is unavailable; run the rebuild again from its cursor")
