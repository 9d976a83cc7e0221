"""Classification results on the profile items, and the state counts from the sparse StateIndex."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from touchpoints.adapters import keys
from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.classification import ClassificationWrite, State
from touchpoints.classification.service import ORIGIN_CHANNELS
from touchpoints.errors import StorageUnavailable
from touchpoints.items import profile as profile_item
from touchpoints.observability import logger

WRITER_CLASSIFIER = profile_item.WRITER_CLASSIFIER  # the stream filter drops records whose NewImage says this
STATE_INDEX = "StateIndex"
RECLASSIFY_INDEX = "ReclassifyIndex"
# Each (state, origin) is spread over this many index partitions, so a burst of profiles
# entering one state (a bulk import of cash buyers) never piles onto one index partition.
# Changing it needs a re-classification of every profile.
STATE_SHARDS = 4


def state_shard(subject_id: str) -> int:
    return int.from_bytes(hashlib.sha256(subject_id.encode()).digest()[:4], "big") % STATE_SHARDS


def state_key(state: State, origin_channel: str, shard: int) -> str:
    return f"{state.value}#{origin_channel}#{shard}"


def reclassify_day(day: date, shard: int) -> str:
    return f"{day.isoformat()}#{shard}"


_DESERIALIZE = TypeDeserializer().deserialize


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _list(values: tuple[str, ...]) -> dict[str, Any]:
    return {"L": [_s(str(v)) for v in values]}


class DynamoClassificationStore:
    def __init__(self, dynamodb_client: Any, profile_table: str, report_concurrency: int = 16) -> None:
        self._db = dynamodb_client
        self._profiles = profile_table
        self._concurrency = report_concurrency

    def save(self, write: ClassificationWrite) -> bool:
        result = write.result
        names = {
            "#ver": profile_item.VERSION,
            "#cv": profile_item.CONSENT_VERSION,
            "#st": profile_item.STATUS,
            "#state": profile_item.STATE,
            "#clv": profile_item.CLASSIFIED_VERSION,
            "#clcv": profile_item.CLASSIFIED_CONSENT_VERSION,
            "#rv": profile_item.RULES_VERSION,
            "#cb": profile_item.CHANGED_BY,
        }
        values: dict[str, Any] = {
            ":v": _n(write.expected_version),
            ":cv": _n(write.expected_consent_version),
            ":active": _s(profile_item.ACTIVE),
            ":state": _s(result.state.value),
            ":rv": _s(result.rules_version),
            ":writer": _s(WRITER_CLASSIFIER),
            ":key": _s(state_key(result.state, write.origin_channel, state_shard(write.subject_id))),
            ":dims": _list(tuple(d.value for d in result.dimensions)),
            ":missing": _list(tuple(d.value for d in result.missing)),
            ":idby": _list(result.identity_by),
            ":chans": _list(result.contact_channels),
            ":kinds": _list(tuple(k.value for k in result.trace_kinds)),
            ":stale": _list(result.stale_fields),
            ":recs": _list(result.recommendations),
            ":at": _s(write.classified_at.isoformat()),
        }
        attributes = {
            profile_item.STATE_KEY: ":key",
            profile_item.DIMENSIONS: ":dims",
            profile_item.MISSING: ":missing",
            profile_item.IDENTITY_BY: ":idby",
            profile_item.CONTACT_CHANNELS: ":chans",
            profile_item.TRACE_KINDS: ":kinds",
            profile_item.STALE_FIELDS: ":stale",
            profile_item.RECOMMENDATIONS: ":recs",
            profile_item.CLASSIFIED_AT: ":at",
        }
        names.update({f"#{name}": name for name in attributes})  # some (e.g. missing) are reserved words
        names.update({"#ra": profile_item.RECLASSIFY_AT, "#rd": profile_item.RECLASSIFY_DAY})
        sets = [
            "#state = :state",
            *(f"#{name} = {value}" for name, value in attributes.items()),
            "#rv = :rv",
            "#clv = :v",
            "#clcv = :cv",
            "#cb = :writer",
        ]
        removes = []
        if result.reclassify_at is None:
            removes = ["#ra", "#rd"]
        else:
            # The index key holds the day only, so it moves (an index write) at most once a day.
            values[":ra"] = _s(result.reclassify_at.isoformat())
            values[":rd"] = _s(reclassify_day(result.reclassify_at.date(), state_shard(write.subject_id)))
            sets += ["#ra = :ra", "#rd = :rd"]
        if write.state_changed:
            names["#changed"] = profile_item.STATE_CHANGED_AT
            sets.append("#changed = :at")
            if write.expected_state is not None:
                names["#prevstate"] = profile_item.PREVIOUS_STATE
                sets.append("#prevstate = :prev")
        if write.expected_state is None:
            same_state = "attribute_not_exists(#state)"
        else:
            values[":prev"] = _s(write.expected_state.value)
            same_state = "#state = :prev"
        if write.due_at is None:
            not_yet_done = "NOT (#clv = :v AND #clcv = :cv AND #rv = :rv)"
        else:
            values[":due"] = _s(write.due_at.isoformat())
            not_yet_done = "#ra = :due"
        condition = (
            f"attribute_exists(pk) AND #ver = :v AND #cv = :cv AND #st = :active AND {same_state} AND {not_yet_done}"
        )
        try:
            self._db.update_item(
                TableName=self._profiles,
                Key=keys.profile_key(write.subject_id),
                UpdateExpression="SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except SDK_ERRORS as error:
            code = error_code(error)
            if code == "ConditionalCheckFailedException":
                return False
            logger.warning("classification write failed", extra={"error_code": code})
            raise StorageUnavailable("the profile store is unavailable; the classification was not stored") from error
        return True

    def due(self, days: list[date]) -> Iterator[str]:
        for day in days:
            for shard in range(STATE_SHARDS):
                query = {
                    "TableName": self._profiles,
                    "IndexName": RECLASSIFY_INDEX,
                    "KeyConditionExpression": "#rd = :rd",
                    "ExpressionAttributeNames": {"#rd": profile_item.RECLASSIFY_DAY},
                    "ExpressionAttributeValues": {":rd": _s(reclassify_day(day, shard))},
                }
                yield from self._subject_ids(query, "due profiles query failed")

    def outdated(self, rules_version: str) -> Iterator[str]:
        for state in State:
            for origin in ORIGIN_CHANNELS:
                for shard in range(STATE_SHARDS):
                    query = self._active_in_state(state, origin, shard)
                    query["FilterExpression"] += " AND #rv <> :rv"
                    query["ExpressionAttributeNames"]["#rv"] = profile_item.RULES_VERSION
                    query["ExpressionAttributeValues"][":rv"] = _s(rules_version)
                    yield from self._subject_ids(query, "outdated profiles query failed")

    def load(self, subject_id: str) -> Mapping[str, Any] | None:
        try:
            answer = self._db.get_item(TableName=self._profiles, Key=keys.profile_key(subject_id), ConsistentRead=True)
        except SDK_ERRORS as error:
            logger.warning("profile read failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the profile store is unavailable; the sweep stopped") from error
        item = answer.get("Item")
        return None if item is None else {name: _DESERIALIZE(value) for name, value in item.items()}

    def _active_in_state(self, state: State, origin: str, shard: int) -> dict[str, Any]:
        """The query of one StateIndex partition, active profiles only (those being erased are left out)."""
        return {
            "TableName": self._profiles,
            "IndexName": STATE_INDEX,
            "KeyConditionExpression": "#key = :k",
            "FilterExpression": "#st = :active",
            "ExpressionAttributeNames": {"#key": profile_item.STATE_KEY, "#st": profile_item.STATUS},
            "ExpressionAttributeValues": {
                ":k": _s(state_key(state, origin, shard)),
                ":active": _s(profile_item.ACTIVE),
            },
        }

    def _subject_ids(self, query: dict[str, Any], failure: str) -> Iterator[str]:
        for page in self._pages(query, failure):
            yield from (str(item[profile_item.SUBJECT_ID]["S"]) for item in page["Items"])

    def _pages(self, kwargs: dict[str, Any], failure: str) -> Iterator[dict[str, Any]]:
        while True:
            try:
                page = self._db.query(**kwargs)
            except SDK_ERRORS as error:
                logger.warning(failure, extra={"error_code": error_code(error)})
                raise StorageUnavailable("the profile store is unavailable; try again") from error
            yield page
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def count_states(self) -> Mapping[tuple[State, str], int]:
        cells = [(state, origin) for state in State for origin in ORIGIN_CHANNELS]
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            counts = pool.map(lambda cell: self._count(*cell), cells)
            return dict(zip(cells, counts, strict=True))

    def _count(self, state: State, origin: str) -> int:
        total = 0
        for shard in range(STATE_SHARDS):
            query = {**self._active_in_state(state, origin, shard), "Select": "COUNT"}
            total += sum(int(page["Count"]) for page in self._pages(query, "state count failed"))
        return total
