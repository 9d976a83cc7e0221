"""The move job of a tokenization secret rotation in DynamoDB: its record, the scans for old-version tokens, and
the conditional, idempotent moves (touchpoints.privacy.token_rotation)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from touchpoints.adapters import keys
from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.errors import StorageUnavailable
from touchpoints.items import link as link_item
from touchpoints.items import token as token_item
from touchpoints.items import token_rotation as item
from touchpoints.observability import logger
from touchpoints.privacy.token_rotation import MovePage, RotationProgress, RotationRefused
from touchpoints.privacy.tokenizer import Phase, token_kind

_CONDITION_FAILED = "ConditionalCheckFailedException"
_CANCELLED = "TransactionCanceledException"
_MOVES_A_TRANSACTION = 25  # 4 operations each: DynamoDB's limit is 100 a transaction


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _time(value: dict[str, str] | None) -> datetime | None:
    return datetime.fromisoformat(value["S"]) if value else None


class DynamoTokenRotationStore:
    def __init__(self, dynamodb_client: Any, identity_index: str, profile_table: str, page_size: int = 1000) -> None:
        self._db = dynamodb_client
        self._index = identity_index
        self._profiles = profile_table
        self._page_size = page_size

    # ------------------------------------------------------------------ the record
    def load(self) -> RotationProgress | None:
        got = self._call(
            "rotation read", self._db.get_item, TableName=self._index, Key=self._key(), ConsistentRead=True
        )
        found = got.get("Item")
        if not found:
            return None
        return RotationProgress(
            from_version=found[item.FROM_VERSION]["S"],
            to_version=found[item.TO_VERSION]["S"],
            phase=Phase(found[item.PHASE]["S"]),
            started_at=datetime.fromisoformat(found[item.STARTED_AT]["S"]),
            phase_since=datetime.fromisoformat(found[item.PHASE_SINCE]["S"]),
            propagation_seconds=int(found[item.PROPAGATION_SECONDS]["N"]),
            total_segments=int(found[item.TOTAL_SEGMENTS]["N"]),
            cursors={k: v["S"] for k, v in found.get(item.CURSORS, {}).get("M", {}).items()},
            counts={k: int(v["N"]) for k, v in found.get(item.COUNTS, {}).get("M", {}).items()},
            heartbeat_at=_time(found.get(item.HEARTBEAT_AT)),
            passes=int(found[item.PASSES]["N"]),
            last_pass_moved=int(found[item.LAST_PASS_MOVED]["N"]),
            finished_at=_time(found.get(item.FINISHED_AT)),
        )

    def save(self, progress: RotationProgress, expected_heartbeat: datetime | None) -> None:
        record: dict[str, Any] = {
            **self._key(),
            item.FROM_VERSION: _s(progress.from_version),
            item.TO_VERSION: _s(progress.to_version),
            item.PHASE: _s(progress.phase.value),
            item.STARTED_AT: _s(progress.started_at.isoformat()),
            item.PHASE_SINCE: _s(progress.phase_since.isoformat()),
            item.PROPAGATION_SECONDS: {"N": str(progress.propagation_seconds)},
            item.TOTAL_SEGMENTS: {"N": str(progress.total_segments)},
            item.CURSORS: {"M": {k: _s(v) for k, v in progress.cursors.items()}},
            item.COUNTS: {"M": {k: {"N": str(v)} for k, v in progress.counts.items()}},
            item.PASSES: {"N": str(progress.passes)},
            item.LAST_PASS_MOVED: {"N": str(progress.last_pass_moved)},
        }
        if progress.heartbeat_at:
            record[item.HEARTBEAT_AT] = _s(progress.heartbeat_at.isoformat())
        if progress.finished_at:
            record[item.FINISHED_AT] = _s(progress.finished_at.isoformat())
        # Two job runs at once would each move from their own cursor: the second one's save is refused.
        if expected_heartbeat is None:
            condition: dict[str, Any] = {"ConditionExpression": f"attribute_not_exists({item.PK})"}
        else:
            condition = {
                "ConditionExpression": "#hb = :hb",
                "ExpressionAttributeNames": {"#hb": item.HEARTBEAT_AT},
                "ExpressionAttributeValues": {":hb": _s(expected_heartbeat.isoformat())},
            }
        try:
            self._db.put_item(TableName=self._index, Item=record, **condition)
        except SDK_ERRORS as error:
            if error_code(error) == _CONDITION_FAILED:
                raise RotationRefused(
                    "another run of the rotation saved its progress meanwhile; only one may run"
                ) from None
            raise self._unavailable("rotation save", error) from error

    # ------------------------------------------------------------------ scans
    def page(self, scan: str, version: str, segment: int, total: int, cursor: str | None) -> MovePage:
        """One scan page of the identity index ("index") or of the profile table's suppression list, old tokens only."""
        prefix = keys.token_pk(f"{version}.")
        if scan == "index":
            request: dict[str, Any] = {
                "TableName": self._index,
                "FilterExpression": "begins_with(#pk, :token) OR begins_with(#sk, :link)",
                "ExpressionAttributeValues": {":token": _s(prefix), ":link": _s(f"{keys.LINK_PREFIX}{version}.")},
            }
        else:
            request = {
                "TableName": self._profiles,
                "FilterExpression": "begins_with(#pk, :token) AND #sk = :sk",
                "ExpressionAttributeValues": {":token": _s(prefix), ":sk": _s(keys.TOKEN_SK)},
            }
        request.update(
            Segment=segment,
            TotalSegments=total,
            Limit=self._page_size,
            ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
            ConsistentRead=True,
        )
        if cursor:
            request["ExclusiveStartKey"] = json.loads(cursor)
        answer = self._call("rotation scan", self._db.scan, **request)
        held, markers, links, listed = [], [], [], []
        for found in answer.get("Items", []):
            pk, sk = found[keys.PK]["S"], found[keys.SK]["S"]
            kept = {k: v for k, v in found.items() if k not in (keys.PK, keys.SK)}
            if scan != "index":
                listed.append((pk.removeprefix(keys.token_pk("")), kept))
            elif sk.startswith(keys.LINK_PREFIX):
                links.append((keys.subject_id_of(pk), sk.removeprefix(keys.LINK_PREFIX), kept))
            elif found.get(token_item.SUPPRESSED, {}).get("BOOL"):
                markers.append((pk.removeprefix(keys.token_pk("")), kept))
            elif holder := found.get(token_item.SUBJECT_ID, {}).get("S"):
                held.append((pk.removeprefix(keys.token_pk("")), holder, kept))
        last = answer.get("LastEvaluatedKey")
        return MovePage(
            held,
            markers,
            links,
            listed,
            int(answer.get("ScannedCount", 0)),
            json.dumps(last, sort_keys=True) if last else None,
        )

    # ------------------------------------------------------------------ moves
    def move_held(self, moves: Sequence[tuple[str, str, str, Any]]) -> tuple[int, int]:
        moved = conflicts = 0
        for start in range(0, len(moves), _MOVES_A_TRANSACTION):
            batch = moves[start : start + _MOVES_A_TRANSACTION]
            operations = [op for move in batch for op in self._held_operations(*move)]
            if self._transact(operations):
                moved += len(batch)
                continue
            for move in batch:  # one of them met a change: each on its own, settled by what it finds
                done, conflict = self._move_one_held(*move)
                moved += done
                conflicts += conflict
        return moved, conflicts

    def move_markers(self, moves: Sequence[tuple[str, str, Any]]) -> int:
        for old, new, kept in moves:
            # Unconditional: a suppression wins over a holder of the new token (as the index rebuild does).
            answer = self._call(
                "marker move",
                self._db.put_item,
                TableName=self._index,
                Item={**kept, **keys.token_key(new)},
                ReturnValues="ALL_OLD",
            )
            if holder := answer.get("Attributes", {}).get(token_item.SUBJECT_ID, {}).get("S"):
                self._call("link delete", self._db.delete_item, TableName=self._index, Key=keys.link_key(holder, new))
            self._delete_if_suppressed(self._index, old)
        return len(moves)

    def move_listed(self, moves: Sequence[tuple[str, str, Any]]) -> int:
        for old, new, kept in moves:
            self._call(
                "suppression list move",
                self._db.put_item,
                TableName=self._profiles,
                Item={**kept, **keys.token_key(new)},
            )
            self._delete_if_suppressed(self._profiles, old)
        return len(moves)

    def move_links(self, moves: Sequence[tuple[str, str, str, Any]]) -> int:
        moved = 0
        for subject_id, old, new, kept in moves:
            # Only a link whose old token its subject no longer holds: otherwise the token moves with it.
            released = f"attribute_not_exists({token_item.PK}) OR {token_item.SUBJECT_ID} <> :sid"
            operations = [
                {
                    "ConditionCheck": {
                        "TableName": self._index,
                        "Key": keys.token_key(old),
                        "ConditionExpression": released,
                        "ExpressionAttributeValues": {":sid": _s(subject_id)},
                    }
                },
                {"Put": {"TableName": self._index, "Item": {**kept, **keys.link_key(subject_id, new)}}},
                {"Delete": {"TableName": self._index, "Key": keys.link_key(subject_id, old)}},
            ]
            if self._transact(operations):
                moved += 1
                continue
            record = self._token(old)
            if record and record.get(token_item.SUBJECT_ID, {}).get("S") == subject_id:
                moved += self._move_one_held(old, new, subject_id, record)[0]
        return moved

    def _move_one_held(self, old: str, new: str, holder: str, kept: Any) -> tuple[int, int]:
        for _ in range(3):
            if self._transact(self._held_operations(old, new, holder, kept)):
                return 1, 0
            target, source = self._token(new), self._token(old)
            if source is None or source.get(token_item.SUBJECT_ID, {}).get("S") is None:
                return 0, 0  # released, erased or moved meanwhile: a later page or pass sees what is left
            if (owner := source[token_item.SUBJECT_ID]["S"]) != holder:
                holder, kept = owner, source  # re-pointed by a merge meanwhile: moved for its holder now
                continue
            if target is not None and target.get(token_item.SUPPRESSED, {}).get("BOOL"):
                # Suppressed in the new version meanwhile: the marker stands, the old holding goes.
                self._transact(
                    [
                        {"Delete": {"TableName": self._index, "Key": keys.token_key(old), **self._held_by(holder)}},
                        {"Delete": {"TableName": self._index, "Key": keys.link_key(holder, old)}},
                    ]
                )
                return 1, 0
            if target is not None and target.get(token_item.SUBJECT_ID, {}).get("S") not in (None, holder):
                logger.warning(
                    "token rotation conflict: two holders of one identifier", extra={"kind": token_kind(old)}
                )
                return 0, 1
        return 0, 0

    def _held_operations(self, old: str, new: str, holder: str, kept: Any) -> list[dict[str, Any]]:
        link = {
            link_item.ENTITY_ATTR: _s(link_item.ENTITY),
            link_item.KIND: _s(token_kind(new)),
            link_item.CREATED_AT: kept.get(token_item.CREATED_AT) or _s(""),
        }
        attributes = {k: v for k, v in kept.items() if k not in (token_item.PK, token_item.SK)}
        return [
            {
                "Put": {
                    "TableName": self._index,
                    "Item": {**attributes, **keys.token_key(new)},
                    "ConditionExpression": f"attribute_not_exists({token_item.PK}) OR {token_item.SUBJECT_ID} = :sid",
                    "ExpressionAttributeValues": {":sid": _s(holder)},
                }
            },
            {"Delete": {"TableName": self._index, "Key": keys.token_key(old), **self._held_by(holder)}},
            {"Put": {"TableName": self._index, "Item": {**link, **keys.link_key(holder, new)}}},
            {"Delete": {"TableName": self._index, "Key": keys.link_key(holder, old)}},
        ]

    @staticmethod
    def _held_by(holder: str) -> dict[str, Any]:
        return {
            "ConditionExpression": f"{token_item.SUBJECT_ID} = :sid",
            "ExpressionAttributeValues": {":sid": _s(holder)},
        }

    def _delete_if_suppressed(self, table: str, token: str) -> None:
        try:
            self._db.delete_item(
                TableName=table,
                Key=keys.token_key(token),
                ConditionExpression=f"{token_item.SUPPRESSED} = :yes",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        except SDK_ERRORS as error:
            if error_code(error) != _CONDITION_FAILED:  # gone already (lifted, or a rerun): nothing to delete
                raise self._unavailable("old marker delete", error) from error

    def _token(self, token: str) -> dict[str, Any] | None:
        got = self._call(
            "token read", self._db.get_item, TableName=self._index, Key=keys.token_key(token), ConsistentRead=True
        )
        found = got.get("Item")
        return dict(found) if found else None

    def _transact(self, operations: list[dict[str, Any]]) -> bool:
        """True when applied; False when a condition failed (or a concurrent write conflicted): nothing applied."""
        try:
            self._db.transact_write_items(TransactItems=operations)
        except SDK_ERRORS as error:
            if error_code(error) != _CANCELLED:
                raise self._unavailable("token move", error) from error
            return False
        return True

    def _call(self, what: str, operation: Any, **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except SDK_ERRORS as error:
            raise self._unavailable(what, error) from error

    @staticmethod
    def _key() -> dict[str, dict[str, str]]:
        return {item.PK: _s(item.PK_VALUE), item.SK: _s(item.SK_VALUE)}

    @staticmethod
    def _unavailable(what: str, error: Exception) -> StorageUnavailable:
        logger.warning(f"{what} failed", extra={"error_code": error_code(error)})
        return StorageUnavailable("a table is unavailable; run the rotation again: it resumes from its cursor")


class CloudWatchRotationMetrics:
    """The job's progress as a metric: the stall alarm (template.yaml TokenSecretRotationStalled) watches it."""

    def __init__(
        self, cloudwatch_client: Any, namespace: str = "CustomerTouchpoints", service: str = "touchpoint-ingestion"
    ) -> None:
        self._client = cloudwatch_client
        self._namespace = namespace
        self._service = service  # the functions' POWERTOOLS_SERVICE_NAME: the alarm reads both metrics under it

    def scanned(self, count: int) -> None:
        try:
            self._client.put_metric_data(
                Namespace=self._namespace,
                MetricData=[
                    {
                        "MetricName": "TokenSecretRotationScanned",
                        "Dimensions": [
                            {"Name": "secret", "Value": "tokenization"},
                            {"Name": "service", "Value": self._service},
                        ],
                        "Value": float(count),
                        "Unit": "Count",
                    }
                ],
            )
        except SDK_ERRORS as error:  # a lost data point must not stop the move: the alarm errs towards firing
            logger.warning("rotation metric not sent", extra={"error_code": error_code(error)})
