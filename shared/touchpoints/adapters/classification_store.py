"""Classification results on the profile items, and the counters of the state distribution and the funnel.

The counters (items/counter.py, in the StateCounterTable) change in the same transaction as the profile's
classification, which is conditioned on the profile's revision: a replayed or retried record fails the
condition and counts nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from touchpoints.adapters import keys
from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.classification import ClassificationWrite, CountExistingResult, Departure, Move, State
from touchpoints.classification.quality import QualityChange
from touchpoints.classification.service import ORIGIN_CHANNELS
from touchpoints.errors import StorageUnavailable
from touchpoints.items import counter as counter_item
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


def _same_count(write: ClassificationWrite, names: dict[str, str], values: dict[str, Any]) -> str:
    """The condition that the counters still hold the profile where the image said (nowhere: not counted)."""
    names["#counted"] = profile_item.COUNTED_STATE
    if write.counted_state is None:
        return "attribute_not_exists(#counted)"
    values[":counted"] = _s(write.counted_state.value)
    return "#counted = :counted"


def _same_quality(quality: QualityChange | None, names: dict[str, str], values: dict[str, Any], sets: list[str]) -> str:
    """` AND ` the condition that the data-quality counters still hold the revision the image said (and the sets
    that record the new one); nothing when the write carries no quality change."""
    if quality is None:
        return ""
    names["#qv"], names["#qc"] = profile_item.QUALITY_VERSION, profile_item.QUALITY_COUNTED
    values[":qv"] = _n(quality.version)
    values[":qc"] = {"M": {name: _s(at) for name, at in quality.counted.items()}}
    sets += ["#qv = :qv", "#qc = :qc"]
    if quality.expected_version is None:
        return " AND attribute_not_exists(#qv)"
    values[":qvread"] = _n(quality.expected_version)
    return " AND #qv = :qvread"


def _random_shard() -> int:
    return secrets.randbelow(counter_item.SHARDS)


class DynamoClassificationStore:
    def __init__(
        self,
        dynamodb_client: Any,
        profile_table: str,
        counter_table: str,
        report_concurrency: int = 16,
        shard: Callable[[], int] = _random_shard,
    ) -> None:
        self._db = dynamodb_client
        self._profiles = profile_table
        self._counters = counter_table
        self._concurrency = report_concurrency
        self._shard = shard

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
        same_count = _same_count(write, names, values)
        if write.moves_the_counts:
            sets.append("#counted = :state")
        same_count += _same_quality(write.quality, names, values, sets)
        condition = (
            f"attribute_exists({profile_item.PK}) AND #ver = :v AND #cv = :cv AND #st = :active AND {same_state}"
            f" AND {not_yet_done} AND {same_count}"
        )
        update = {
            "TableName": self._profiles,
            "Key": keys.profile_key(write.subject_id),
            "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if write.moves_the_counts or write.counts_quality:
            return self._transact([{"Update": update}, *self._count_items(write)], "classification write failed")
        try:
            self._db.update_item(**update)
        except SDK_ERRORS as error:
            code = error_code(error)
            if code == "ConditionalCheckFailedException":
                return False
            logger.warning("classification write failed", extra={"error_code": code})
            raise StorageUnavailable("the profile store is unavailable; the classification was not stored") from error
        return True

    def _count_items(self, write: ClassificationWrite) -> list[dict[str, Any]]:
        shard, origin = self._shard(), write.origin_channel
        changes: Counter[str] = Counter({counter_item.distribution_counter(write.result.state.value, origin): 1})
        if write.counted_state is not None:
            changes[counter_item.distribution_counter(write.counted_state.value, origin)] -= 1
        items = [self._distribution_update(shard, changes)] if any(changes.values()) else []
        if (move := write.move) is not None:
            items.append(self._funnel_update(shard, move))
        if write.quality is not None:
            if touchpoint_counts := write.quality.touchpoint_counts:
                key = {
                    counter_item.PK: _s(counter_item.quality_pk(shard)),
                    counter_item.SK: _s(write.quality.day.isoformat()),
                }
                items.append(self._counter_update(key, counter_item.ENTITY_QUALITY, touchpoint_counts))
            items += self._field_age_updates(shard, write.quality.ages)
        return items

    def _field_age_updates(self, shard: int, ages: Mapping[tuple[str, date], int]) -> list[dict[str, Any]]:
        by_day: dict[date, Counter[str]] = {}
        for (name, day), change in ages.items():
            by_day.setdefault(day, Counter())[name] += change
        return [
            self._counter_update(
                {counter_item.PK: _s(counter_item.field_age_pk(shard)), counter_item.SK: _s(day.isoformat())},
                counter_item.ENTITY_FIELD_AGE,
                changes,
            )
            for day, changes in sorted(by_day.items())
            if any(changes.values())
        ]

    def record_departure(self, departure: Departure) -> bool:
        shard = self._shard()
        subject_hash = hashlib.sha256(departure.subject_id.encode()).hexdigest()
        expires_at = int(datetime.now().timestamp()) + counter_item.DEPARTURE_TTL_SECONDS
        marker = {
            "TableName": self._counters,
            "Key": {
                counter_item.PK: _s(counter_item.departure_pk(subject_hash)),
                counter_item.SK: _s(counter_item.DEPARTURE_SK),
            },
            "UpdateExpression": "SET #e = :e, #x = :x",
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {
                "#e": counter_item.ENTITY_ATTR,
                "#x": counter_item.EXPIRES_AT,
                "#pk": counter_item.PK,
            },
            "ExpressionAttributeValues": {":e": _s(counter_item.ENTITY_DEPARTURE), ":x": _n(expires_at)},
        }
        items = [{"Update": marker}, self._funnel_update(shard, departure.move)]
        if departure.counted_state is not None:
            counted = counter_item.distribution_counter(departure.counted_state.value, departure.origin_channel)
            items.append(self._distribution_update(shard, Counter({counted: -1})))
        items += self._field_age_updates(shard, departure.field_ages)
        return self._transact(items, "departure count failed")

    def _distribution_update(self, shard: int, changes: Mapping[str, int]) -> dict[str, Any]:
        key = {
            counter_item.PK: _s(counter_item.distribution_pk(shard)),
            counter_item.SK: _s(counter_item.DISTRIBUTION_SK),
        }
        return self._counter_update(key, counter_item.ENTITY_DISTRIBUTION, changes)

    def _funnel_update(self, shard: int, move: Move) -> dict[str, Any]:
        key = {counter_item.PK: _s(counter_item.funnel_pk(shard)), counter_item.SK: _s(move.day.isoformat())}
        name = counter_item.funnel_counter(move.from_state, move.to_state, move.cause.channel, move.cause.action)
        return self._counter_update(key, counter_item.ENTITY_FUNNEL, {name: 1})

    def _counter_update(self, key: dict[str, Any], entity: str, changes: Mapping[str, int]) -> dict[str, Any]:
        names = {"#e": counter_item.ENTITY_ATTR}
        values = {":e": _s(entity)}
        adds = []
        for i, (name, change) in enumerate(sorted(changes.items())):
            if change:
                names[f"#c{i}"], values[f":c{i}"] = name, _n(change)
                adds.append(f"#c{i} :c{i}")
        return {
            "Update": {
                "TableName": self._counters,
                "Key": key,
                "UpdateExpression": "SET #e = :e ADD " + ", ".join(adds),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _transact(self, items: list[dict[str, Any]], failure: str) -> bool:
        """True when written; False when the first item's condition failed (the change was made already)."""
        try:
            self._db.transact_write_items(TransactItems=items)
        except SDK_ERRORS as error:
            code = error_code(error)
            if code == "TransactionCanceledException":
                reasons = [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]  # type: ignore[union-attr]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False
                code = next((r for r in reasons if r != "None"), code)
            logger.warning(failure, extra={"error_code": code})
            raise StorageUnavailable("the profile store is unavailable; nothing was counted") from error
        return True

    def distribution(self) -> Mapping[tuple[State, str], int]:
        keys_ = [
            {
                counter_item.PK: _s(counter_item.distribution_pk(shard)),
                counter_item.SK: _s(counter_item.DISTRIBUTION_SK),
            }
            for shard in range(counter_item.SHARDS)
        ]
        counts: Counter[tuple[State, str]] = Counter()
        for item in self._batch_get(keys_):
            for name, value in item.items():
                cell = counter_item.parse_distribution_counter(name)
                if cell is not None and "N" in value:
                    counts[(State(cell[0]), cell[1])] += int(value["N"])
        return counts

    def _batch_get(self, item_keys: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {self._counters: {"Keys": item_keys}}
        while request:
            try:
                answer = self._db.batch_get_item(RequestItems=request)
            except SDK_ERRORS as error:
                logger.warning("counter read failed", extra={"error_code": error_code(error)})
                raise StorageUnavailable("the counter store is unavailable; try again") from error
            yield from answer["Responses"].get(self._counters, [])
            request = answer.get("UnprocessedKeys") or {}

    def funnel(self, start: date, end: date) -> Mapping[tuple[date, str, str, str, str], int]:
        def shard_counts(shard: int) -> Counter[tuple[date, str, str, str, str]]:
            query = {
                "TableName": self._counters,
                "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :start AND :end",
                "ExpressionAttributeNames": {"#pk": counter_item.PK, "#sk": counter_item.SK},
                "ExpressionAttributeValues": {
                    ":pk": _s(counter_item.funnel_pk(shard)),
                    ":start": _s(start.isoformat()),
                    ":end": _s(end.isoformat()),
                },
            }
            counts: Counter[tuple[date, str, str, str, str]] = Counter()
            for page in self._pages(query, "funnel read failed"):
                for item in page["Items"]:
                    day = date.fromisoformat(item[counter_item.SK]["S"])
                    for name, value in item.items():
                        move = counter_item.parse_funnel_counter(name)
                        if move is not None and "N" in value:
                            counts[(day, *move)] += int(value["N"])
            return counts

        total: Counter[tuple[date, str, str, str, str]] = Counter()
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            for counts in pool.map(shard_counts, range(counter_item.SHARDS)):
                total.update(counts)
        return total

    def touchpoint_quality(self, start: date, end: date) -> Mapping[tuple[str, str, str], int]:
        total: Counter[tuple[str, str, str]] = Counter()
        for _, name, n in self._counter_cells(counter_item.quality_pk, start.isoformat(), end.isoformat()):
            if (cell := counter_item.parse_quality_counter(name)) is not None:
                total[cell] += n
        return total

    def field_ages(self) -> Mapping[tuple[str, date], int]:
        total: Counter[tuple[str, date]] = Counter()
        for day, name, n in self._counter_cells(counter_item.field_age_pk, "0000-00-00", "9999-99-99"):
            total[(name, date.fromisoformat(day))] += n
        return total

    def _counter_cells(self, pk: Callable[[int], str], start: str, end: str) -> Iterator[tuple[str, str, int]]:
        """(sort key, attribute, number) of every counter in the shards of `pk` between these sort keys."""

        def shard_cells(shard: int) -> list[tuple[str, str, int]]:
            query = {
                "TableName": self._counters,
                "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :start AND :end",
                "ExpressionAttributeNames": {"#pk": counter_item.PK, "#sk": counter_item.SK},
                "ExpressionAttributeValues": {":pk": _s(pk(shard)), ":start": _s(start), ":end": _s(end)},
            }
            cells = []
            for page in self._pages(query, "counter read failed"):
                for item in page["Items"]:
                    sk = item[counter_item.SK]["S"]
                    cells += [(sk, name, int(value["N"])) for name, value in item.items() if "N" in value]
            return cells

        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            for cells in pool.map(shard_cells, range(counter_item.SHARDS)):
                yield from cells

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

    def count_existing(self, keep_going: Callable[[], bool]) -> CountExistingResult:
        cells = [
            (state, origin, shard) for state in State for origin in ORIGIN_CHANNELS for shard in range(STATE_SHARDS)
        ]
        cell, start = self._checkpoint()
        counted = already = 0
        while cell < len(cells):
            query = self._active_in_state(*cells[cell])
            if start:
                query["ExclusiveStartKey"] = start
            if not keep_going():
                self._save_checkpoint(cell, start)
                return CountExistingResult(counted, already, complete=False)
            try:
                page = self._db.query(**query)
            except SDK_ERRORS as error:
                logger.warning("existing profiles query failed", extra={"error_code": error_code(error)})
                raise StorageUnavailable("the profile store is unavailable; try again") from error
            for entry in page["Items"]:
                if self._count_one(entry, *cells[cell][:2]):
                    counted += 1
                else:
                    already += 1
            start = page.get("LastEvaluatedKey")
            if start is None:
                cell += 1
            if page["Items"]:
                self._save_checkpoint(cell, start)  # after what was counted: an empty index partition costs no write
        self._save_checkpoint(cell, None)
        return CountExistingResult(counted, already, complete=True)

    def _count_one(self, entry: Mapping[str, Any], state: State, origin: str) -> bool:
        """Count one profile found in StateIndex, if it is not counted yet and its latest revision is classified
        (a revision still to classify is counted by the classifier when it gets there)."""
        subject_id = str(entry[profile_item.SUBJECT_ID]["S"])
        profile = {
            "TableName": self._profiles,
            "Key": keys.profile_key(subject_id),
            "UpdateExpression": "SET #counted = :state, #cb = :writer",
            "ConditionExpression": (
                "attribute_not_exists(#counted) AND #key = :key AND #st = :active AND attribute_not_exists(#merged)"
                " AND #clv = #ver AND #clcv = #cv"
            ),
            "ExpressionAttributeNames": {
                "#counted": profile_item.COUNTED_STATE,
                "#cb": profile_item.CHANGED_BY,
                "#key": profile_item.STATE_KEY,
                "#st": profile_item.STATUS,
                "#merged": profile_item.MERGED_INTO,
                "#clv": profile_item.CLASSIFIED_VERSION,
                "#ver": profile_item.VERSION,
                "#clcv": profile_item.CLASSIFIED_CONSENT_VERSION,
                "#cv": profile_item.CONSENT_VERSION,
            },
            "ExpressionAttributeValues": {
                ":state": _s(state.value),
                ":writer": _s(WRITER_CLASSIFIER),
                ":key": entry[profile_item.STATE_KEY],
                ":active": _s(profile_item.ACTIVE),
            },
        }
        one = Counter({counter_item.distribution_counter(state.value, origin): 1})
        return self._transact(
            [{"Update": profile}, self._distribution_update(self._shard(), one)], "existing profile count failed"
        )

    def _checkpoint_key(self) -> dict[str, Any]:
        return {counter_item.PK: _s(counter_item.CHECKPOINT_PK), counter_item.SK: _s(counter_item.CHECKPOINT_SK)}

    def _checkpoint(self) -> tuple[int, dict[str, Any] | None]:
        """Where the last run stopped: (cell, index key to go on after); (0, None) to start over."""
        try:
            item = self._db.get_item(TableName=self._counters, Key=self._checkpoint_key(), ConsistentRead=True)
        except SDK_ERRORS as error:
            logger.warning("checkpoint read failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the counter store is unavailable; try again") from error
        cursor = item.get("Item", {}).get(counter_item.CURSOR)
        if cursor is None:
            return 0, None
        start = cursor["M"].get(counter_item.CURSOR_START)
        return int(cursor["M"][counter_item.CURSOR_CELL]["N"]), (start["M"] if start else None)

    def _save_checkpoint(self, cell: int, start: dict[str, Any] | None) -> None:
        """The position to go on from; removed once every cell is counted, so the next run starts over."""
        names = {"#e": counter_item.ENTITY_ATTR, "#cursor": counter_item.CURSOR}
        values: dict[str, Any] = {":e": _s(counter_item.ENTITY_CHECKPOINT)}
        if cell >= len(State) * len(ORIGIN_CHANNELS) * STATE_SHARDS:
            expression = "SET #e = :e REMOVE #cursor"
        else:
            cursor: dict[str, Any] = {counter_item.CURSOR_CELL: _n(cell)}
            if start:
                cursor[counter_item.CURSOR_START] = {"M": start}
            values[":cursor"] = {"M": cursor}
            expression = "SET #e = :e, #cursor = :cursor"
        try:
            self._db.update_item(
                TableName=self._counters,
                Key=self._checkpoint_key(),
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except SDK_ERRORS as error:
            logger.warning("checkpoint write failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the counter store is unavailable; try again") from error
