"""Classification results on the profile items, and the counters of the distribution, the funnel and data quality.

A profile's classification is one conditional UpdateItem of the profile (`save`): no transaction, no counter in
it. Its counts travel in a tally (touchpoints.classification.counts, which says why and what each failure does);
`commit` carries a tally's counts to the counter items (items/counter.py) so that each is added once:

1. the tally's work item (TALLY_WORK/<token>, a few bytes) is written, leased to the writer until its
   invocation's deadline;
2. the tally is recorded COMMITTED with its sums per counter item (TALLY#<token>, a conditional write: it fails if
   a reader aborted the tally);
3. each counter item gets one UpdateItem that ADDs the sums and sets the marker `applied#<token>`, on the condition
   that the marker is not there: an update retried after an unclear answer, or applied again after a crash, adds
   nothing. Counter items refusing (a conflict, a throttle) are retried a few times, then left;
4. when every counter item has taken its sums, the work item is deleted, then the markers removed; otherwise the
   lease is released, and `settle`, run by later invocations, applies what is left the same way.

`settle` reads the work items (a Query of each of their few partitions at once, a few bytes per tally in flight:
items/counter.py shards them by token so that no key takes every tally's two writes), takes those whose
lease has passed (their writer is gone for sure, or released them), claims one with a lease of its own (a
conditional write), aborts its tally if it never committed (its writer died between 1 and 2), and else finishes 3
and 4 from the sums the tally recorded. Only the lease holder deletes a work item and removes markers, so no marker
is removed while its counts could still be applied again. A marker whose removal failed is removed by the next
tally that applies to its item, once its tally is over and has no work item left.

Writes per tally: 2 + 2 per counter item it touches + 1; a batch of 100 touchpoints touches ~5-30 items, of at most
~0.7 KB each (items/counter.py), whatever the rate: at 3,000 touchpoints a second (30 batches) a counter item takes
~2 tallies a second, ~4 WCU, where it took ~190 transactions (QUALITY#<n>, ~770 WCU) before.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from touchpoints.adapters import keys
from touchpoints.adapters.aws import SDK_ERRORS, error_code
from touchpoints.classification.attribution import Contact
from touchpoints.classification.counts import (
    DEADLINE_MARGIN,
    AgeCell,
    Cell,
    ContactedMoveCell,
    Fate,
    MoveCell,
    ProgramMoveCell,
    StateCell,
    Tally,
    TallyKind,
    Token,
    TouchpointCell,
    encode,
    of_existing,
)
from touchpoints.classification.funnel import Departure
from touchpoints.classification.rules import State
from touchpoints.classification.service import (
    ORIGIN_CHANNELS,
    ClassificationWrite,
    CountExistingResult,
    DepartureMarker,
    Revision,
)
from touchpoints.errors import StorageUnavailable
from touchpoints.items import contact as contact_item
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
# A write that fails (a conflict, a throttle: the SDK retried only throttling already) is asked this often in all,
# waiting a little longer each time. A counter item that still refuses leaves its sums in the tally's work item for
# a later invocation; a commit that still fails fails the invocation (its records are delivered again).
_ATTEMPTS = 3
_BACKOFF_SECONDS = 0.05
# Tallies a `settle` takes on at most: each is a few writes, and every invocation settles.
_SETTLE_LIMIT = 4

ItemKey = tuple[str, str]  # (pk, sk) of a counter item


def state_shard(subject_id: str) -> int:
    return int.from_bytes(hashlib.sha256(subject_id.encode()).digest()[:4], "big") % STATE_SHARDS


def state_key(state: State, origin_channel: str, shard: int) -> str:
    return f"{state.value}#{origin_channel}#{shard}"


def reclassify_day(day: date, shard: int) -> str:
    return f"{day.isoformat()}#{shard}"


_DESERIALIZE = TypeDeserializer().deserialize
_BATCH_GET_KEYS = 100  # BatchGetItem's limit per request


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


def _same_quality(write: ClassificationWrite, names: dict[str, str], values: dict[str, Any], sets: list[str]) -> str:
    """` AND ` the condition that the data-quality counters still hold the revision the image said (and the sets
    that record the new one); nothing when the write carries no quality change."""
    quality = write.quality
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


def _as_read(name: str, attribute: str, seen: str | None, names: dict[str, str], values: dict[str, Any]) -> str:
    """The condition that a text attribute is still as read (absent when read so)."""
    names[name] = attribute
    if seen is None:
        return f"attribute_not_exists({name})"
    values[f":{name[1:]}seen"] = _s(seen)
    return f"{name} = :{name[1:]}seen"


def _bookkeeping(
    write: ClassificationWrite, names: dict[str, str], values: dict[str, Any], sets: list[str], removes: list[str]
) -> str:
    """` AND ` the condition that the counts' bookkeeping is as read, and its changes (classification/counts.py)."""
    condition = " AND " + _as_read("#cby", profile_item.COUNTS_BY, write.counts_by_seen, names, values)
    condition += " AND " + _as_read("#cpend", profile_item.COUNTS_PENDING, write.pending_seen, names, values)
    if write.counts_by is None:
        removes.append("#cby")
    else:
        values[":cby"] = _s(write.counts_by)
        sets.append("#cby = :cby")
    if write.pending != write.pending_seen:
        if write.pending is None:
            removes.append("#cpend")
        else:
            values[":cpend"] = _s(write.pending)
            sets.append("#cpend = :cpend")
    return condition


def _random_shard() -> int:
    return secrets.randbelow(counter_item.SHARDS)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _place(cell: Cell, shard: int) -> tuple[ItemKey, str]:
    """Which counter item holds a cell, and under which attribute (items/counter.py)."""
    if isinstance(cell, StateCell):
        key = (counter_item.distribution_pk(shard), counter_item.DISTRIBUTION_SK)
        return key, counter_item.distribution_counter(cell.state, cell.origin)
    if isinstance(cell, MoveCell):
        sk = counter_item.day_action_sk(cell.day.isoformat(), cell.channel, cell.action)
        return (counter_item.funnel_pk(shard), sk), counter_item.move_counter(cell.from_state, cell.to_state)
    if isinstance(cell, ProgramMoveCell):
        sk = counter_item.program_action_sk(
            cell.day.isoformat(), cell.channel, cell.action, cell.program, cell.campaign
        )
        return (counter_item.funnel_pk(shard), sk), counter_item.move_counter(cell.from_state, cell.to_state)
    if isinstance(cell, ContactedMoveCell):
        sk = counter_item.contacted_sk(cell.day.isoformat(), cell.program, cell.campaign, cell.channel)
        return (counter_item.contacted_pk(shard), sk), counter_item.move_counter(cell.from_state, cell.to_state)
    if isinstance(cell, TouchpointCell):
        sk = counter_item.day_action_sk(cell.day.isoformat(), cell.channel, cell.action)
        return (counter_item.quality_pk(shard), sk), cell.measure
    assert isinstance(cell, AgeCell)
    return (counter_item.field_age_pk(shard), cell.day.isoformat()), cell.field


_ENTITIES = {
    "STATES": counter_item.ENTITY_DISTRIBUTION,
    "FUNNEL": counter_item.ENTITY_FUNNEL,
    "CONTACTED": counter_item.ENTITY_CONTACTED,
    "QUALITY": counter_item.ENTITY_QUALITY,
    "FIELD_AGE": counter_item.ENTITY_FIELD_AGE,
}


def parts_of(counts: Mapping[Cell, int], shard: int) -> dict[ItemKey, dict[str, int]]:
    """A tally's counts by the counter item that takes them, all in one shard."""
    parts: dict[ItemKey, Counter[str]] = {}
    for cell, n in counts.items():
        key, name = _place(cell, shard)
        parts.setdefault(key, Counter())[name] += n
    return {key: {name: n for name, n in sorted(cells.items()) if n} for key, cells in sorted(parts.items())}


def _parts_attribute(parts: Mapping[ItemKey, Mapping[str, int]]) -> dict[str, Any]:
    return {
        "L": [
            {
                "M": {
                    counter_item.PK: _s(pk),
                    counter_item.SK: _s(sk),
                    counter_item.PART_CELLS: {"M": {name: _n(n) for name, n in cells.items()}},
                }
            }
            for (pk, sk), cells in parts.items()
            if cells
        ]
    }


def _parts_from(attribute: Mapping[str, Any]) -> dict[ItemKey, dict[str, int]]:
    parts: dict[ItemKey, dict[str, int]] = {}
    for entry in attribute.get("L", []):
        part = entry["M"]
        cells = {name: int(value["N"]) for name, value in part[counter_item.PART_CELLS]["M"].items()}
        parts[(part[counter_item.PK]["S"], part[counter_item.SK]["S"])] = cells
    return parts


def _update_retried(
    db: Any,
    table: str,
    failure: str,
    unavailable: str,
    sleep: Callable[[float], None],
    attempts: int,
    request: Mapping[str, Any],
) -> bool:
    """An UpdateItem asked up to `attempts` times while it fails (the SDK retries only throttling; a refused condition
    the request does not have is taken for a failure): False when its condition failed. Raises StorageUnavailable."""
    for attempt in range(attempts):
        try:
            db.update_item(TableName=table, **request)
        except SDK_ERRORS as error:
            code = error_code(error)
            if code == "ConditionalCheckFailedException" and "ConditionExpression" in request:
                return False
            logger.warning(failure, extra={"error_code": code})
            if attempt + 1 == attempts:
                raise StorageUnavailable(unavailable) from error
            sleep(_BACKOFF_SECONDS * 2**attempt)
        else:
            return True
    return False


def _take_over(move: Callable[[], bool], holder: Callable[[], str | None], counted_by: str) -> bool:
    """Moves a count from the tally `counted_by` to another (`move`, an update conditioned on `counted_by` holding it),
    read again (`holder`) when refused: False once another took it over or the item went away."""
    for _ in range(_ATTEMPTS):
        if move():
            return True
        if holder() != counted_by:
            return False
    raise StorageUnavailable("the takeover kept being refused; the record is retried")


class TallyLedger:
    """The tallies' fates and work items, and their sums applied to the counter items (see the module docstring)."""

    def __init__(
        self,
        dynamodb_client: Any,
        counter_table: str,
        shard: Callable[[], int] = _random_shard,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = dynamodb_client
        self._counters = counter_table
        self._shard = shard
        self._clock = clock
        self._sleep = sleep
        # The tallies with work left, as the last settle found them, and when: markers of tallies over by then
        # and not among them are left behind (their removal failed), and go with the next marker removed there.
        self._work_seen: tuple[datetime, frozenset[str]] | None = None
        self._leaked: dict[ItemKey, list[str]] = {}

    def update(self, failure: str, attempts: int = _ATTEMPTS, **kwargs: Any) -> bool:
        """An UpdateItem of the counter table (`_update_retried`)."""
        unavailable = "the counter store is unavailable; the counts wait"
        return _update_retried(self._db, self._counters, failure, unavailable, self._sleep, attempts, kwargs)

    def get(self, key: ItemKey, failure: str, projection: str, names: dict[str, str]) -> dict[str, Any] | None:
        """A strongly consistent read of some attributes of a counter table item (None: no item)."""
        for attempt in range(_ATTEMPTS):
            try:
                answer = self._db.get_item(
                    TableName=self._counters,
                    Key={counter_item.PK: _s(key[0]), counter_item.SK: _s(key[1])},
                    ConsistentRead=True,
                    ProjectionExpression=projection,
                    ExpressionAttributeNames=names,
                )
            except SDK_ERRORS as error:
                logger.warning(failure, extra={"error_code": error_code(error)})
                if attempt + 1 == _ATTEMPTS:
                    raise StorageUnavailable("the counter store is unavailable; try again") from error
                self._sleep(_BACKOFF_SECONDS * 2**attempt)
            else:
                item: dict[str, Any] | None = answer.get("Item")
                return item
        return None

    def fate(self, token: str, abort: bool) -> Fate:
        key = (counter_item.tally_pk(token), counter_item.TALLY_SK)
        for _ in range(_ATTEMPTS):
            item = self.get(key, "tally read failed", "#st", {"#st": counter_item.STATUS})
            if item is not None:
                return Fate.COMMITTED if item[counter_item.STATUS]["S"] == counter_item.COMMITTED else Fate.ABORTED
            if not abort:
                return Fate.OPEN
            if self._decide(token, counter_item.ABORTED, permanent=True):
                return Fate.ABORTED
        raise StorageUnavailable("the tally's fate could not be settled; try again")

    def _decide(
        self, token: str, status: str, permanent: bool, parts: Mapping[ItemKey, Mapping[str, int]] | None = None
    ) -> bool:
        """Record the tally's fate (a committed one with its sums per counter item), unless it has one: whichever
        is recorded first holds."""
        names = {"#e": counter_item.ENTITY_ATTR, "#st": counter_item.STATUS, "#pk": counter_item.PK}
        values = {":e": _s(counter_item.ENTITY_TALLY), ":st": _s(status)}
        sets = ["#e = :e", "#st = :st"]
        if not permanent:
            expires_at = _epoch(self._clock()) + counter_item.TALLY_TTL_SECONDS
            names["#x"], values[":x"] = counter_item.EXPIRES_AT, _n(expires_at)
            sets.append("#x = :x")
        if parts:
            names["#parts"], values[":parts"] = counter_item.PARTS, _parts_attribute(parts)
            sets.append("#parts = :parts")
        return self.update(
            "tally fate write failed",
            Key=self._tally_key(token),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    @staticmethod
    def _tally_key(token: str) -> dict[str, Any]:
        return {counter_item.PK: _s(counter_item.tally_pk(token)), counter_item.SK: _s(counter_item.TALLY_SK)}

    def commit(self, tally: Tally) -> None:
        counts = tally.taken()
        if not (counts or tally.named):
            return
        token = tally.token.value
        parts = parts_of(counts, self._shard())
        lease = _epoch(tally.token.deadline + DEADLINE_MARGIN)
        if not parts:  # its writes' counts cancel out: only its fate is recorded, for their readers
            self._commit(token, tally, lease, parts)
            return
        work = self._work_key(token)
        self.update(
            "tally work write failed",
            Key=work,
            UpdateExpression="SET #e = :e, #lease = :lease",
            ExpressionAttributeNames={"#e": counter_item.ENTITY_ATTR, "#lease": counter_item.LEASE_UNTIL},
            ExpressionAttributeValues={":e": _s(counter_item.ENTITY_TALLY_WORK), ":lease": _n(lease)},
        )
        self._commit(token, tally, lease, parts, work)
        self._finish(token, work, parts, lease)

    def _commit(
        self,
        token: str,
        tally: Tally,
        lease: int,
        parts: Mapping[ItemKey, Mapping[str, int]],
        work: dict[str, Any] | None = None,
    ) -> None:
        permanent = tally.parked or tally.token.kind is TallyKind.PARKED
        for _ in range(_ATTEMPTS):
            if self._decide(token, counter_item.COMMITTED, permanent, parts):
                return
            fate = self.fate(token, abort=False)
            if fate is Fate.COMMITTED:
                return
            if fate is Fate.ABORTED:
                if work is not None:
                    self._delete_work(work, lease)
                raise StorageUnavailable("the tally was aborted before it committed: its records are retried")
        raise StorageUnavailable("the tally's commit kept being refused; its records are retried")

    def settle(self, deadline: datetime) -> int:
        try:
            return self._settle(deadline)
        except StorageUnavailable:
            return 0  # logged: the next invocation settles

    def _settle(self, deadline: datetime) -> int:
        asked = self._clock()
        work = self._work_items()
        self._work_seen = (asked, frozenset(item[counter_item.SK]["S"] for item in work))
        settled = 0
        for item in work:
            if int(item[counter_item.LEASE_UNTIL]["N"]) >= _epoch(asked):
                continue  # its holder is at it
            if settled >= _SETTLE_LIMIT or self._clock() >= deadline:
                break
            token, seen = item[counter_item.SK]["S"], item[counter_item.LEASE_UNTIL]["N"]
            key = {counter_item.PK: item[counter_item.PK], counter_item.SK: item[counter_item.SK]}
            lease = _epoch(deadline + DEADLINE_MARGIN)
            if not self.update(
                "tally work claim failed",
                Key=key,
                UpdateExpression="SET #lease = :mine",
                ConditionExpression="#lease = :seen",
                ExpressionAttributeNames={"#lease": counter_item.LEASE_UNTIL},
                ExpressionAttributeValues={":mine": _n(lease), ":seen": {"N": seen}},
            ):
                continue  # another invocation took it
            settled += 1
            if self.fate(token, abort=True) is Fate.ABORTED:
                self._delete_work(key, lease)  # its writer died before committing: its readers take the counts
            else:
                committed = self.get(
                    (counter_item.tally_pk(token), counter_item.TALLY_SK),
                    "tally read failed",
                    "#parts",
                    {"#parts": counter_item.PARTS},
                )
                self._finish(token, key, _parts_from((committed or {}).get(counter_item.PARTS, {})), lease)
        return settled

    def _work_items(self) -> list[dict[str, Any]]:
        """Every work item, from each of their partitions at once (a few bytes each: one short Query each)."""
        partitions = counter_item.tally_work_pks()
        with ThreadPoolExecutor(max_workers=len(partitions)) as pool:
            pages = list(pool.map(self._work_partition, partitions))
        return [item for page in pages for item in page]

    def _work_partition(self, pk: str) -> list[dict[str, Any]]:
        query: dict[str, Any] = {
            "TableName": self._counters,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": counter_item.PK},
            "ExpressionAttributeValues": {":pk": _s(pk)},
            "ConsistentRead": True,
        }
        found = []
        while True:
            try:
                page = self._db.query(**query)
            except SDK_ERRORS as error:
                logger.warning("tally work query failed", extra={"error_code": error_code(error)})
                raise StorageUnavailable("the counter store is unavailable; try again") from error
            found += page["Items"]
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _work_key(token: str) -> dict[str, Any]:
        return {counter_item.PK: _s(counter_item.tally_work_pk(token)), counter_item.SK: _s(token)}

    def _finish(self, token: str, work: dict[str, Any], parts: Mapping[ItemKey, Mapping[str, int]], lease: int) -> None:
        """Apply every part; if all took it, delete the work item and then the markers, else release the lease."""
        applied = [self._apply(token, key, cells) for key, cells in parts.items()]
        if not all(applied):
            logger.warning("counts left for later", extra={"tally": token, "counter_items": applied.count(False)})
            with contextlib.suppress(StorageUnavailable):  # unreleased, it is settled once its lease has passed
                self.update(
                    "tally work release failed",
                    Key=work,
                    UpdateExpression="SET #lease = :now",
                    ConditionExpression="#lease = :mine",
                    ExpressionAttributeNames={"#lease": counter_item.LEASE_UNTIL},
                    ExpressionAttributeValues={":now": _n(0), ":mine": _n(lease)},
                )
            return
        if self._delete_work(work, lease):
            for key in parts:
                self._unmark(token, key)

    def _delete_work(self, work: dict[str, Any], lease: int) -> bool:
        try:
            self._db.delete_item(
                TableName=self._counters,
                Key=work,
                ConditionExpression="attribute_not_exists(#lease) OR #lease = :mine",
                ExpressionAttributeNames={"#lease": counter_item.LEASE_UNTIL},
                ExpressionAttributeValues={":mine": _n(lease)},
            )
        except SDK_ERRORS as error:
            code = error_code(error)
            if code != "ConditionalCheckFailedException":
                logger.warning("tally work delete failed", extra={"error_code": code})
            return False  # another invocation holds it now (or it failed): the markers stay for whoever does
        return True

    def _apply(self, token: str, key: ItemKey, cells: Mapping[str, int]) -> bool:
        """ADD the sums to one counter item, once: False when it keeps refusing."""
        names = {"#e": counter_item.ENTITY_ATTR, "#m": counter_item.applied_marker(token)}
        values = {":e": _s(_ENTITIES[key[0].split("#", 1)[0]]), ":m": _s(counter_item.COMMITTED)}
        adds = []
        for i, (name, n) in enumerate(sorted(cells.items())):
            names[f"#c{i}"], values[f":c{i}"] = name, _n(n)
            adds.append(f"#c{i} :c{i}")
        request = {
            "Key": {counter_item.PK: _s(key[0]), counter_item.SK: _s(key[1])},
            "UpdateExpression": "SET #e = :e, #m = :m ADD " + ", ".join(adds),
            "ConditionExpression": "attribute_not_exists(#m)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        for attempt in range(_ATTEMPTS):
            try:
                answer = self._db.update_item(TableName=self._counters, ReturnValues="ALL_NEW", **request)
            except SDK_ERRORS as error:
                code = error_code(error)
                with contextlib.suppress(StorageUnavailable):
                    if code == "ConditionalCheckFailedException" and self._applied(token, key):
                        return True  # applied by an earlier attempt whose answer was lost
                logger.warning("counter write failed", extra={"error_code": code})
                self._sleep(_BACKOFF_SECONDS * 2**attempt)
                continue
            self._leaked[key] = self._left_behind(answer.get("Attributes", {}), token)
            return True
        return False

    def _left_behind(self, attributes: Mapping[str, Any], token: str) -> list[str]:
        """The markers on a counter item whose tallies are done (see `_work_seen`)."""
        if self._work_seen is None:
            return []
        asked, working = self._work_seen
        left = []
        for name in attributes:
            other = Token.parse(counter_item.marker_token(name) or "")
            if other is not None and other.value != token and other.value not in working and other.over(asked):
                left.append(name)
        return left

    def _applied(self, token: str, key: ItemKey) -> bool:
        return self.get(key, "counter read failed", "#m", {"#m": counter_item.applied_marker(token)}) not in (None, {})

    def _unmark(self, token: str, key: ItemKey) -> None:
        markers = [counter_item.applied_marker(token), *self._leaked.pop(key, [])]
        # A marker left behind (logged) is a few bytes until a later tally's removal there takes it along.
        with contextlib.suppress(StorageUnavailable):
            self.update(
                "counter marker removal failed",
                Key={counter_item.PK: _s(key[0]), counter_item.SK: _s(key[1])},
                UpdateExpression="REMOVE " + ", ".join(f"#m{i}" for i in range(len(markers))),
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={**{f"#m{i}": m for i, m in enumerate(markers)}, "#pk": counter_item.PK},
            )


class DynamoClassificationStore:
    def __init__(
        self,
        dynamodb_client: Any,
        profile_table: str,
        counter_table: str,
        report_concurrency: int = 16,
        shard: Callable[[], int] = _random_shard,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = dynamodb_client
        self._profiles = profile_table
        self._counters = counter_table
        self._concurrency = report_concurrency
        self._clock = clock
        self._ledger = TallyLedger(dynamodb_client, counter_table, shard, clock)

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
        same_count += _same_quality(write, names, values, sets)
        same_count += _bookkeeping(write, names, values, sets, removes)
        if write.audiences is not None:  # the audiences' summary moves with the classification, in the same write
            names["#aud"] = profile_item.AUDIENCES
            if write.audiences:
                values[":aud"] = _s(write.audiences)
                sets.append("#aud = :aud")
            else:
                removes.append("#aud")
        condition = (
            f"attribute_exists({profile_item.PK}) AND #ver = :v AND #cv = :cv AND #st = :active AND {same_state}"
            f" AND {not_yet_done} AND {same_count}"
        )
        return self._update_profile(
            "classification write failed",
            Key=keys.profile_key(write.subject_id),
            UpdateExpression="SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _update_profile(self, failure: str, **kwargs: Any) -> bool:
        """A conditional UpdateItem of a profile (`_update_retried`; a conflict with a transaction of ingestion's is
        as passing)."""
        unavailable = "the profile store is unavailable; the classification was not stored"
        return _update_retried(self._db, self._profiles, failure, unavailable, time.sleep, _ATTEMPTS, kwargs)

    def retag(self, subject_id: str, counted_by: str, now_by: str) -> bool:
        def move() -> bool:
            return self._update_profile(
                "classification count takeover failed",
                Key=keys.profile_key(subject_id),
                UpdateExpression="SET #cby = :now",
                ConditionExpression="#cby = :was",
                ExpressionAttributeNames={"#cby": profile_item.COUNTS_BY},
                ExpressionAttributeValues={":now": _s(now_by), ":was": _s(counted_by)},
            )

        def holder() -> str | None:
            current = self.load(subject_id)
            return None if current is None else current.get(profile_item.COUNTS_BY)

        return _take_over(move, holder, counted_by)

    def record_departure(self, departure: Departure, counts_by: str) -> bool:
        expires_at = _epoch(self._clock()) + counter_item.DEPARTURE_TTL_SECONDS
        return self._ledger.update(
            "departure count failed",
            Key=self._departure_key(departure.subject_id),
            UpdateExpression="SET #e = :e, #x = :x, #cby = :cby, #at = :at",
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={
                "#e": counter_item.ENTITY_ATTR,
                "#x": counter_item.EXPIRES_AT,
                "#pk": counter_item.PK,
                "#cby": counter_item.COUNTS_BY,
                "#at": counter_item.DEPARTED_AT,
            },
            ExpressionAttributeValues={
                ":e": _s(counter_item.ENTITY_DEPARTURE),
                ":x": _n(expires_at),
                ":cby": _s(counts_by),
                ":at": _s(departure.move.day.isoformat()),
            },
        )

    def departure_marker(self, subject_id: str) -> DepartureMarker | None:
        key = self._departure_key(subject_id)
        item = self._ledger.get(
            (key[counter_item.PK]["S"], key[counter_item.SK]["S"]),
            "departure marker read failed",
            "#cby, #at",
            {"#cby": counter_item.COUNTS_BY, "#at": counter_item.DEPARTED_AT},
        )
        if item is None or counter_item.DEPARTED_AT not in item:
            return None
        by = item.get(counter_item.COUNTS_BY, {}).get("S")
        at = datetime.combine(date.fromisoformat(item[counter_item.DEPARTED_AT]["S"]), datetime.min.time(), UTC)
        return DepartureMarker(by, at)

    def retag_departure(self, subject_id: str, counted_by: str, now_by: str) -> bool:
        def move() -> bool:
            return self._ledger.update(
                "departure count takeover failed",
                Key=self._departure_key(subject_id),
                UpdateExpression="SET #cby = :now",
                ConditionExpression="#cby = :was",
                ExpressionAttributeNames={"#cby": counter_item.COUNTS_BY},
                ExpressionAttributeValues={":now": _s(now_by), ":was": _s(counted_by)},
            )

        def holder() -> str | None:
            marker = self.departure_marker(subject_id)
            return None if marker is None else marker.counts_by

        return _take_over(move, holder, counted_by)

    @staticmethod
    def _departure_key(subject_id: str) -> dict[str, Any]:
        subject_hash = hashlib.sha256(subject_id.encode()).hexdigest()
        return {
            counter_item.PK: _s(counter_item.departure_pk(subject_hash)),
            counter_item.SK: _s(counter_item.DEPARTURE_SK),
        }

    def fate(self, token: str, abort: bool) -> Fate:
        return self._ledger.fate(token, abort)

    def commit(self, tally: Tally) -> None:
        self._ledger.commit(tally)

    def settle(self, deadline: datetime) -> int:
        return self._ledger.settle(deadline)

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

    def _batch_get(
        self, item_keys: list[dict[str, Any]], table: str | None = None, **read: Any
    ) -> Iterator[dict[str, Any]]:
        table = table or self._counters
        for start in range(0, len(item_keys), _BATCH_GET_KEYS):
            request: dict[str, Any] = {table: {"Keys": item_keys[start : start + _BATCH_GET_KEYS], **read}}
            while request:
                try:
                    answer = self._db.batch_get_item(RequestItems=request)
                except SDK_ERRORS as error:
                    logger.warning("batch read failed", extra={"error_code": error_code(error)})
                    raise StorageUnavailable("the store is unavailable; try again") from error
                yield from answer["Responses"].get(table, [])
                request = answer.get("UnprocessedKeys") or {}

    def revisions(self, subject_ids: Collection[str]) -> Mapping[str, Revision]:
        """Eventually consistent (0.5 RCU a profile of up to 4 KB, half a strong read), a hundred a request."""
        names = {
            "#pk": profile_item.PK,
            "#ver": profile_item.VERSION,
            "#cv": profile_item.CONSENT_VERSION,
            "#st": profile_item.STATUS,
        }
        wanted = [keys.profile_key(subject_id) for subject_id in sorted(subject_ids)]
        found = self._batch_get(
            wanted, self._profiles, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
        )
        return {
            keys.subject_id_of(item[profile_item.PK]["S"]): Revision(
                *profile_item.revision(item), active=item.get(profile_item.STATUS, {}).get("S") == profile_item.ACTIVE
            )
            for item in found
        }

    def funnel(self, start: date, end: date) -> Mapping[tuple[date, str, str, str, str], int]:
        total: Counter[tuple[date, str, str, str, str]] = Counter()
        for sk, name, n in self._counter_cells(counter_item.funnel_pk, start.isoformat(), end.isoformat()):
            if (cell := counter_item.parse_funnel_cell(sk, name)) is not None:
                day, *move = cell
                total[(date.fromisoformat(day), move[0], move[1], move[2], move[3])] += n
        return total

    def program_moves(self, start: date, end: date) -> Mapping[tuple[date, str, str, str, str, str, str | None], int]:
        total: Counter[tuple[date, str, str, str, str, str, str | None]] = Counter()
        for sk, name, n in self._counter_cells(counter_item.funnel_pk, start.isoformat(), end.isoformat()):
            if (cell := counter_item.parse_program_funnel_cell(sk, name)) is not None:
                day, from_state, to_state, channel, action, program, campaign = cell
                total[(date.fromisoformat(day), from_state, to_state, channel, action, program, campaign or None)] += n
        return total

    def contacted_moves(self, start: date, end: date) -> Mapping[tuple[date, str, str | None, str, str, str], int]:
        total: Counter[tuple[date, str, str | None, str, str, str]] = Counter()
        for sk, name, n in self._counter_cells(counter_item.contacted_pk, start.isoformat(), end.isoformat()):
            if (cell := counter_item.parse_contacted_cell(sk, name)) is not None:
                day, program, campaign, channel, from_state, to_state = cell
                total[(date.fromisoformat(day), program, campaign or None, channel, from_state, to_state)] += n
        return total

    def contacts(self, subject_id: str) -> list[Contact]:
        """The contacts the person was sent, from their contact history (items/contact.py): one GetItem of a few
        hundred bytes (0.5 RCU), eventually consistent (a contact recorded a second before the move may be missed)."""
        key = {contact_item.PK: _s(keys.subject_pk(subject_id)), contact_item.SK: _s(contact_item.SK_VALUE)}
        try:
            answer = self._db.get_item(
                TableName=self._profiles,
                Key=key,
                ProjectionExpression="#sent",
                ExpressionAttributeNames={"#sent": contact_item.SENT},
            )
        except SDK_ERRORS as error:
            logger.warning("contact history read failed", extra={"error_code": error_code(error)})
            raise StorageUnavailable("the profile store is unavailable; the record is retried") from error
        contacts = []
        for entry in answer.get("Item", {}).get(contact_item.SENT, {}).get("L", []):
            members = entry.get("M", {})
            try:
                at = datetime.fromisoformat(members[contact_item.ENTRY_AT]["S"])
                channel = members[contact_item.ENTRY_CHANNEL]["S"]
            except (KeyError, ValueError):
                continue  # an entry this reader cannot place credits nothing
            program = members.get(contact_item.ENTRY_PROGRAM, {}).get("S")
            campaign = members.get(contact_item.ENTRY_CAMPAIGN, {}).get("S")
            contacts.append(Contact(at if at.tzinfo else at.replace(tzinfo=UTC), channel, program, campaign or None))
        return contacts

    def touchpoint_quality(self, start: date, end: date) -> Mapping[tuple[str, str, str], int]:
        total: Counter[tuple[str, str, str]] = Counter()
        for sk, name, n in self._counter_cells(counter_item.quality_pk, start.isoformat(), end.isoformat()):
            if (cell := counter_item.parse_quality_cell(sk, name)) is not None:
                total[cell[1:]] += n
        return total

    def field_ages(self) -> Mapping[tuple[str, date], int]:
        total: Counter[tuple[str, date]] = Counter()
        for day, name, n in self._counter_cells(counter_item.field_age_pk, "0000-00-00", "9999-99-99"):
            total[(name, date.fromisoformat(day))] += n
        return total

    def _counter_cells(self, pk: Callable[[int], str], start: str, end: str) -> Iterator[tuple[str, str, int]]:
        """(sort key, attribute, number) of every counter in the shards of `pk` of the days `start` to `end`."""

        def shard_cells(shard: int) -> list[tuple[str, str, int]]:
            query = {
                "TableName": self._counters,
                "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :start AND :end",
                "ExpressionAttributeNames": {"#pk": counter_item.PK, "#sk": counter_item.SK},
                "ExpressionAttributeValues": {
                    ":pk": _s(pk(shard)),
                    ":start": _s(start),
                    ":end": _s(end + counter_item.DAY_END),
                },
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

    def count_existing(self, keep_going: Callable[[], bool], deadline: datetime) -> CountExistingResult:
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
            tally = Tally.open(TallyKind.PARKED, deadline)
            for entry in page["Items"]:
                if self._count_one(entry, *cells[cell][:2], tally):
                    counted += 1
                else:
                    already += 1
            self._ledger.commit(tally)
            start = page.get("LastEvaluatedKey")
            if start is None:
                cell += 1
            if page["Items"]:
                self._save_checkpoint(cell, start)  # after what was counted: an empty index partition costs no write
        self._save_checkpoint(cell, None)
        self._ledger.settle(deadline)
        return CountExistingResult(counted, already, complete=True)

    def _count_one(self, entry: Mapping[str, Any], state: State, origin: str, tally: Tally) -> bool:
        """Count one profile found in StateIndex, if it is not counted yet and its latest revision is classified
        (a revision still to classify is counted by the classifier when it gets there). Its count is parked on it
        until the tally commits (classification/counts.py)."""
        subject_id = str(entry[profile_item.SUBJECT_ID]["S"])
        one = of_existing(state.value, origin)
        tally.named = tally.parked = True
        for _ in range(_ATTEMPTS):
            if self._count_once(subject_id, entry, state, tally, one):
                tally.add(one)
                return True
            current = self.load(subject_id)
            if current is None or profile_item.COUNTED_STATE in current or profile_item.COUNTS_PENDING in current:
                return False  # counted already, or gone
            if (
                current.get(profile_item.STATE_KEY) != entry[profile_item.STATE_KEY]["S"]
                or current.get(profile_item.STATUS) != profile_item.ACTIVE
                or profile_item.MERGED_INTO in current
                or current.get(profile_item.CLASSIFIED_VERSION) != current.get(profile_item.VERSION)
                or current.get(profile_item.CLASSIFIED_CONSENT_VERSION) != current.get(profile_item.CONSENT_VERSION)
            ):
                return False  # changed since the index was read: its classifier counts it when it gets there
        raise StorageUnavailable("the count of an existing profile kept being refused; try again")

    def _count_once(
        self, subject_id: str, entry: Mapping[str, Any], state: State, tally: Tally, one: Mapping[Cell, int]
    ) -> bool:
        return self._update_profile(
            "existing profile count failed",
            Key=keys.profile_key(subject_id),
            UpdateExpression="SET #counted = :state, #cb = :writer, #cpend = :pending",
            ConditionExpression=(
                "attribute_not_exists(#counted) AND #key = :key AND #st = :active AND attribute_not_exists(#merged)"
                " AND #clv = #ver AND #clcv = #cv AND attribute_not_exists(#cpend)"
            ),
            ExpressionAttributeNames={
                "#counted": profile_item.COUNTED_STATE,
                "#cb": profile_item.CHANGED_BY,
                "#key": profile_item.STATE_KEY,
                "#st": profile_item.STATUS,
                "#merged": profile_item.MERGED_INTO,
                "#clv": profile_item.CLASSIFIED_VERSION,
                "#ver": profile_item.VERSION,
                "#clcv": profile_item.CLASSIFIED_CONSENT_VERSION,
                "#cv": profile_item.CONSENT_VERSION,
                "#cpend": profile_item.COUNTS_PENDING,
            },
            ExpressionAttributeValues={
                ":state": _s(state.value),
                ":writer": _s(WRITER_CLASSIFIER),
                ":key": entry[profile_item.STATE_KEY],
                ":active": _s(profile_item.ACTIVE),
                ":pending": _s(encode(tally.token.value, one)),
            },
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
