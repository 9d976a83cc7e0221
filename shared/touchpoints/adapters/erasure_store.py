"""The eraser's side of the profile table, identity index and key vault: freeze, suppress, shred, purge in pages."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from datetime import datetime
from typing import Any

from touchpoints.adapters import keys
from touchpoints.adapters.aws import SDK_ERRORS, ResumableStoreCalls, error_code
from touchpoints.adapters.profile_store import subject_tokens, survivor_of
from touchpoints.errors import StorageUnavailable
from touchpoints.items import profile as profile_item
from touchpoints.items import token as token_item

ERASING = profile_item.ERASING
WRITER = profile_item.WRITER_COMPLIANCE
BATCH_WRITE_LIMIT = 25
_CONDITION_FAILED = "ConditionalCheckFailedException"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def delete_tokens_where(db: Any, table: str, tokens: Collection[str], condition: str, values: dict[str, Any]) -> int:
    """Delete each token item the condition holds for; how many went. Other SDK errors are raised."""
    deleted = 0
    for token in tokens:
        try:
            db.delete_item(
                TableName=table,
                Key=keys.token_key(token),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
            deleted += 1
        except SDK_ERRORS as error:
            if error_code(error) != _CONDITION_FAILED:
                raise
    return deleted


class DynamoSubjectEraser(ResumableStoreCalls):
    resumes = "the erasure will resume"

    def __init__(
        self,
        dynamodb_client: Any,
        profile_table: str,
        key_vault_table: str,
        identity_index: str,
        *,
        max_unprocessed_rounds: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = dynamodb_client
        self._profiles = profile_table
        self._vault = key_vault_table
        self._index = identity_index
        self._rounds = max_unprocessed_rounds
        self._sleep = sleep

    def owners(self, tokens: Collection[str]) -> set[str]:
        found = set()
        for token in tokens:
            item = self._call(
                "token read",
                self._db.get_item,
                TableName=self._index,
                Key=keys.token_key(token),
                ConsistentRead=True,
            )
            subject = item.get("Item", {}).get(token_item.SUBJECT_ID, {}).get("S")
            if subject:
                found.add(subject)
        return found

    def survivor_of(self, subject_id: str) -> str | None:
        return survivor_of(self._db, self._profiles, subject_id)

    def freeze(self, subject_id: str, request_id: str, now: datetime) -> tuple[str, ...] | None:
        try:
            self._db.update_item(
                TableName=self._profiles,
                Key=keys.profile_key(subject_id),
                # Any status but "active" makes ingestion's conditional writes fail: no touchpoint lands from now on.
                UpdateExpression="SET #st = :erasing, #er = :rid, #u = :now, #cb = :writer ADD #ver :one, #cv :one",
                # A profile claimed by a merge is the survivor's to erase: its items are moving there.
                ConditionExpression=f"attribute_exists({profile_item.PK}) AND attribute_not_exists(#mi)",
                ExpressionAttributeNames={
                    "#mi": profile_item.MERGED_INTO,
                    "#st": profile_item.STATUS,
                    "#er": profile_item.ERASURE_REQUEST,
                    "#u": profile_item.UPDATED_AT,
                    "#cb": profile_item.CHANGED_BY,
                    "#ver": profile_item.VERSION,
                    "#cv": profile_item.CONSENT_VERSION,
                },
                ExpressionAttributeValues={
                    ":erasing": _s(ERASING),
                    ":rid": _s(request_id),
                    ":now": _s(now.isoformat()),
                    ":writer": _s(WRITER),
                    ":one": {"N": "1"},
                },
            )
        except SDK_ERRORS as error:
            if error_code(error) == _CONDITION_FAILED:
                return None
            raise self._unavailable("profile freeze", error) from error
        # Frozen: no token can be claimed for the subject any more, so the list read now is complete.
        return subject_tokens(self._db, self._index, subject_id)

    def suppress(self, tokens: Collection[str], subject_id: str | None, request_id: str, now: datetime) -> int:
        """Replace each token's owner with a suppression marker; a token owned by someone else is left alone.

        Each marker is then copied into the profile table, the suppression list that backups keep (the index has
        none): the copy names neither the subject nor the request, so nothing in a backup leads from it to them.
        A resumed erasure finds its marker in place (the condition holds) and copies it again.
        """
        condition = f"attribute_not_exists({token_item.PK}) OR {token_item.SUPPRESSED} = :yes"
        values: dict[str, Any] = {":yes": {"BOOL": True}}
        if subject_id:
            condition += f" OR {token_item.SUBJECT_ID} = :sid"
            values[":sid"] = _s(subject_id)
        done = 0
        for token in tokens:
            listed = {
                **keys.token_key(token),
                token_item.ENTITY_ATTR: _s(token_item.ENTITY_SUPPRESSION),
                token_item.SUPPRESSED: {"BOOL": True},
                token_item.ERASED_AT: _s(now.isoformat()),
            }
            try:
                self._db.put_item(
                    TableName=self._index,
                    Item={**listed, token_item.REQUEST_ID: _s(request_id)},
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
            except SDK_ERRORS as error:
                if error_code(error) != _CONDITION_FAILED:
                    raise self._unavailable("token suppression", error) from error
                continue
            self._call("suppression list write", self._db.put_item, TableName=self._profiles, Item=listed)
            done += 1
        return done

    def release(self, tokens: Collection[str], subject_id: str) -> int:
        try:
            condition, values = f"{token_item.SUBJECT_ID} = :sid", {":sid": _s(subject_id)}
            return delete_tokens_where(self._db, self._index, tokens, condition, values)
        except SDK_ERRORS as error:
            raise self._unavailable("token release", error) from error

    def destroy_key(self, subject_id: str) -> bool:
        answer = self._call(
            "key destruction",
            self._db.delete_item,
            TableName=self._vault,
            Key=keys.vault_key(subject_id),
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in answer

    def purge(self, subject_id: str, page_size: int) -> Iterator[int]:
        """Pages of the subject's links in the index, then of its partition; the profile item goes last, so it
        marks an unfinished erasure.

        Pages are read from the start on every run: deleted items are gone, so a resumed run needs no cursor.
        """
        for table in (self._index, self._profiles):
            query: dict[str, Any] = {
                "TableName": table,
                "KeyConditionExpression": f"{keys.PK} = :pk",
                "ExpressionAttributeValues": {":pk": _s(keys.subject_pk(subject_id))},
                "ProjectionExpression": f"{keys.PK}, {keys.SK}",
                "ConsistentRead": True,
                "Limit": page_size,
            }
            while True:
                page = self._call("subject page read", self._db.query, **query)
                batch = [item for item in page.get("Items", []) if item[keys.SK]["S"] != keys.PROFILE_SK]
                if batch:  # every yield deletes something, so a run stopped after any yield still makes progress
                    self._delete(table, batch)
                    yield len(batch)
                if "LastEvaluatedKey" not in page:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        answer = self._call(
            "profile delete",
            self._db.delete_item,
            TableName=self._profiles,
            Key=keys.profile_key(subject_id),
            ReturnValues="ALL_OLD",
        )
        if "Attributes" in answer:
            yield 1

    def _delete(self, table: str, item_keys: list[dict[str, Any]]) -> None:
        for start in range(0, len(item_keys), BATCH_WRITE_LIMIT):
            pending: dict[str, Any] = {
                table: [{"DeleteRequest": {"Key": key}} for key in item_keys[start : start + BATCH_WRITE_LIMIT]]
            }
            for attempt in range(self._rounds):
                answer = self._call("subject page delete", self._db.batch_write_item, RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
                self._sleep(min(0.05 * 2**attempt, 2.0))  # throttled: back off before the unprocessed rest
            else:
                raise StorageUnavailable("the profile table kept throttling deletes; the erasure will resume")
