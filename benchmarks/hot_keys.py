"""Hot keys: every DynamoDB write the functions send, priced as DynamoDB prices it, by partition key.

A realistic mix (new and known people on every channel, retries, bad input, merges, recorded contacts,
erasures: `local_runner.commands.load`'s plan plus contacts and erasures) goes over HTTP through the local
runner, started in this process, so that its embedded moto answers here. Every request any function sends is
seen where moto answers it, at the API level (PutItem, UpdateItem, DeleteItem, TransactWriteItems,
BatchWriteItem; reads too), whoever sends it and however its code writes: the item before and after each
write is read from moto's backend and priced (`price`) by DynamoDB's rules:

- PutItem, UpdateItem, DeleteItem, BatchWriteItem: 1 WCU per started KB of the item (names and values,
  `benchmarks.calls.item_size`), on the larger of the item before and after; a delete on the item deleted;
  at least 1 WCU, also when no item was there.
- TransactWriteItems: 2 WCU per started KB of each item, ConditionCheck included (on the item checked).
- A write whose condition fails, or a transaction cancelled, still consumes its units, priced on the item
  as it is (1 KB if none); they are kept apart as wasted.
- Global secondary indexes: a write that puts an item in an index, takes it out or changes what the index
  projects costs one index write, 1 WCU per started KB of the projected entry (table and index keys plus
  the projected attributes); one that changes the index key costs two (delete the old entry, put the new).
  Index writes are asynchronous and not doubled for a transaction; a failed write writes no index.

Each function is told apart by its User-Agent (the runner gives each function `AWS_SDK_UA_APP_ID`, its
logical id, which botocore adds as `app/<id>`).

Keys are reported with ids normalised (`normalise_key`): a key without an id (`QUALITY#3`, `IDENTITY#<day>`)
is one key shared by all traffic, so its units per touchpoint scale with the peak; a key with an id
(`SUBJECT#<id>`, `TOKEN#<id>`) belongs to one person or thing and does not: it is reported as its hottest
single instance, at one person's burst (`PERSON_BURST` touchpoints in one second: an SDK batch of 25 about
one person) times that instance's units per touchpoint that wrote it (`hot_keys`).

The containers' CPU time per invocation is read from /proc, for the all-in cost (`benchmarks.cost.all_in`).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from benchmarks.calls import item_size, read_units, write_units

Item = dict[str, Any]  # an item in DynamoDB's wire format, binary values as bytes

PEAK = 3000.0  # touchpoints/s: Buen Fin (issue 23)
PARTITION_LIMIT_WCU = 1000  # a partition's write throughput, per second
TARGET_KEY_WCU = 500  # the hottest key at the peak: half a partition's limit
TARGET_WCU_PER_TOUCHPOINT = 10.0
TARGET_CANCELLED_SHARE = 0.02
PERSON_BURST = 25.0  # touchpoints of one person in one second: one SDK batch of 25 about one person
ASSUMED_AWS_LATENCY_MS = 8.0  # per AWS call from Lambda: benchmarks.cost's assumption
FULL_VCPU_MB = 1769
CLASSIFIER = "ClassifierFunction"
COUNTER_TABLE = "StateCounterTable"
BATCH_FILLS = (1, 2, 5, 20, 100)  # records a stream batch holds: ~1 at 300 tp/s over hundreds of shards, a 1 s window
TABLE_TYPE = "AWS::DynamoDB::Table"

# -- the tables' keys and indexes, from the template


@dataclass(frozen=True)
class IndexSchema:
    name: str
    hash_key: str
    range_key: str | None
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    non_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSchema:
    name: str  # the template's logical id
    hash_key: str
    range_key: str | None
    indexes: tuple[IndexSchema, ...] = ()


def _keys(schema: list[Mapping[str, Any]]) -> tuple[str, str | None]:
    by_type = {k["KeyType"]: k["AttributeName"] for k in schema}
    return by_type["HASH"], by_type.get("RANGE")


def schemas_from_template(template: Mapping[str, Any]) -> dict[str, TableSchema]:
    """Every DynamoDB table of the template, by logical id: its keys and its global secondary indexes."""
    schemas = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != TABLE_TYPE:
            continue
        props = resource["Properties"]
        hash_key, range_key = _keys(props["KeySchema"])
        indexes = []
        for index in props.get("GlobalSecondaryIndexes", []):
            index_hash, index_range = _keys(index["KeySchema"])
            projection = index.get("Projection", {})
            indexes.append(
                IndexSchema(
                    index["IndexName"],
                    index_hash,
                    index_range,
                    projection.get("ProjectionType", "ALL"),
                    tuple(projection.get("NonKeyAttributes", ())),
                )
            )
        schemas[logical_id] = TableSchema(logical_id, hash_key, range_key, tuple(indexes))
    return schemas


# -- pricing: pure functions of recorded writes


@dataclass(frozen=True)
class Write:
    """One item written (or checked) by one request, with the item before and after (None: no item)."""

    table: str  # logical id
    action: str  # Put | Update | Delete | ConditionCheck
    key: Item
    before: Item | None
    after: Item | None
    transactional: bool = False
    succeeded: bool = True
    function: str = ""
    request: int = 0


@dataclass(frozen=True)
class Charge:
    """Write units one partition key of a table or index was charged."""

    target: str  # "ProfileTable" or "ProfileTable/StateIndex"
    key: str
    units: int
    function: str = ""
    request: int = 0
    wasted: bool = False  # consumed by a write that failed its condition or was cancelled


def key_text(value: Mapping[str, Any]) -> str:
    ((_, inner),) = value.items()
    return inner.hex() if isinstance(inner, bytes) else str(inner)


def _in_index(item: Item | None, index: IndexSchema) -> bool:
    return item is not None and index.hash_key in item and (index.range_key is None or index.range_key in item)


def projected(item: Item, table: TableSchema, index: IndexSchema) -> Item:
    """The index entry of an item: the table's and the index's keys, and what the index projects."""
    if index.projection == "ALL":
        return dict(item)
    names = {table.hash_key, table.range_key, index.hash_key, index.range_key, *index.non_key} - {None}
    if index.projection == "KEYS_ONLY":
        names -= set(index.non_key)
    return {name: value for name, value in item.items() if name in names}


def index_writes(table: TableSchema, index: IndexSchema, before: Item | None, after: Item | None) -> list[Charge]:
    """What a successful write of `before` into `after` costs the index (no charge if it changes no entry)."""
    was, now = _in_index(before, index), _in_index(after, index)
    target = f"{table.name}/{index.name}"

    def charge(item: Item, size: int) -> Charge:
        return Charge(target, key_text(item[index.hash_key]), write_units(size, transactional=False))

    if not was and not now:
        return []
    if was and not now:
        assert before is not None
        return [charge(before, item_size(projected(before, table, index)))]
    if now and not was:
        assert after is not None
        return [charge(after, item_size(projected(after, table, index)))]
    assert before is not None and after is not None
    old, new = projected(before, table, index), projected(after, table, index)
    index_key = [index.hash_key, index.range_key] if index.range_key else [index.hash_key]
    if any(before[name] != after[name] for name in index_key):
        return [charge(before, item_size(old)), charge(after, item_size(new))]
    if old != new:
        return [charge(after, max(item_size(old), item_size(new)))]
    return []


def price(write: Write, table: TableSchema) -> list[Charge]:
    """The write units a write consumed, on the table's partition key and on each index it changed."""
    item = write.after or write.before or write.key
    key = key_text(item[table.hash_key]) if table.hash_key in item else key_text(write.key[table.hash_key])
    if write.succeeded and write.action != "ConditionCheck":
        size = max(item_size(write.before or {}), item_size(write.after or {}))
    else:  # a condition checked, failed or cancelled: priced on the item as it is
        size = item_size(write.before or {})
    base = Charge(
        table.name,
        key,
        write_units(size, transactional=write.transactional),
        write.function,
        write.request,
        wasted=not write.succeeded,
    )
    if not write.succeeded or write.action == "ConditionCheck":
        return [base]
    charges = [base]
    for index in table.indexes:
        for charge in index_writes(table, index, write.before, write.after):
            charges.append(Charge(charge.target, charge.key, charge.units, write.function, write.request))
    return charges


def price_all(writes: Iterable[Write], schemas: Mapping[str, TableSchema]) -> list[Charge]:
    return [charge for write in writes if write.table in schemas for charge in price(write, schemas[write.table])]


# -- which keys are shared

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}([T ].*)?$")
_WORD = re.compile(r"^[A-Za-z][A-Za-z_\-]{0,31}$")  # a name, a channel, a state: no digits


def normalise_key(value: str) -> tuple[str, bool]:
    """A key with its ids replaced by `<id>` and its days by `<day>`; and whether it holds an id (one person's
    or one thing's key). Shards (small numbers) and names stay: `QUALITY#3`, `IDENTITY#<day>`, `SUBJECT#<id>`."""
    parts, entity = [], False
    for part in value.split("#"):
        if _DAY.match(part):
            parts.append("<day>")
        elif (part.isdigit() and len(part) <= 4) or not part or _WORD.match(part):
            parts.append(part)
        else:
            parts.append("<id>")
            entity = True
    return "#".join(parts), entity


def is_touchpoint_function(function: str) -> bool:
    return function.endswith("ChannelFunction")


def hot_keys(
    charges: Iterable[Charge],
    *,
    touchpoints: int,
    peak: float = PEAK,
    person_burst: float = PERSON_BURST,
    top: int = 10,
    touchpoint_function: Callable[[str], bool] = is_touchpoint_function,
) -> dict[str, Any]:
    """The hottest keys at the peak, one row per table or index and normalised key.

    Each row is the instance of its normalised key with the most units in the run. A shared key's WCU/s =
    its units per touchpoint x peak. A person's key (one with an id) does not grow with the peak: its
    WCU/s = that instance's units per touchpoint of its own (all units on the key, stream-side ones too,
    over the channel requests among its writers) x `person_burst`; a key with an id that no touchpoint wrote
    (a compliance request's) counts all its units in one second.
    """
    units: Counter[tuple[str, str]] = Counter()
    wasted: Counter[tuple[str, str]] = Counter()
    touching: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    writers: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for charge in charges:
        where = (charge.target, charge.key)
        units[where] += charge.units
        wasted[where] += charge.units if charge.wasted else 0
        writers[where][charge.function] += charge.units
        if touchpoint_function(charge.function):
            touching[where].add(charge.request)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for (target, key), total in units.items():
        pattern, entity = normalise_key(key)
        if entity and touching[(target, key)]:
            per_touchpoint = total / len(touching[(target, key)])
            rate = per_touchpoint * person_burst
        elif entity:  # no touchpoint wrote it (a compliance request, a merge's own items): all of it in a second
            per_touchpoint = 0.0
            rate = float(total)
        else:
            per_touchpoint = total / touchpoints
            rate = per_touchpoint * peak
        group = groups.setdefault(
            (target, pattern),
            {"table": target, "key": pattern, "per_person": entity, "distinct_keys": 0, "wcu_in_run": -1},
        )
        group["distinct_keys"] += 1
        if (total, rate) > (group["wcu_in_run"], group.get("wcu_per_s", -1.0)):
            group.update(
                wcu_per_s=rate,
                wcu_in_run=total,
                wasted_wcu_in_run=wasted[(target, key)],
                wcu_per_touchpoint=per_touchpoint,
                writers=dict(writers[(target, key)].most_common()),
            )
    rows = sorted(groups.values(), key=lambda g: (-g["wcu_per_s"], g["table"], g["key"]))
    for row in rows:
        row["over_target"] = row["wcu_per_s"] > TARGET_KEY_WCU
        row["share_of_partition_limit"] = row["wcu_per_s"] / PARTITION_LIMIT_WCU
    hottest = rows[0]["wcu_per_s"] if rows else 0.0
    families: defaultdict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        family = re.sub(r"#\d{1,4}$", "#<shard>", row["key"])
        if not row["per_person"] and family != row["key"]:
            families[(row["table"], family)].append(row)
    sharded = []
    for (table, family), members in families.items():
        per_touchpoint = sum(m["wcu_per_touchpoint"] for m in members)
        sharded.append(
            {
                "table": table,
                "key": family,
                "shards_written": len(members),
                "wcu_per_touchpoint": per_touchpoint,
                "wcu_per_s_per_shard_mean": per_touchpoint * peak / len(members),
                "wcu_per_s_per_shard_max": max(m["wcu_per_s"] for m in members),
                "shards_for_target": math.ceil(per_touchpoint * peak / TARGET_KEY_WCU),
            }
        )
    sharded.sort(key=lambda f: -f["wcu_per_s_per_shard_max"])
    return {
        "sharded_keys": sharded,
        "rows": rows[:top],
        "hottest_person": next((row for row in rows if row["per_person"]), None),
        "keys_over_target": [f"{r['table']} {r['key']}" for r in rows if r["over_target"]],
        "hottest_wcu_per_s": hottest,
        "target_wcu_per_s": TARGET_KEY_WCU,
        "met": hottest <= TARGET_KEY_WCU,
        "peak_touchpoints_per_s": peak,
        "person_burst_touchpoints_per_s": person_burst,
    }


def units_by_table(charges: Iterable[Charge], touchpoints: int) -> dict[str, Any]:
    """Write units per touchpoint by table and index (wasted ones apart), and in all."""
    total: Counter[str] = Counter()
    wasted: Counter[str] = Counter()
    for charge in charges:
        total[charge.target] += charge.units
        wasted[charge.target] += charge.units if charge.wasted else 0
    tables = {
        target: {"wcu_per_touchpoint": n / touchpoints, "wasted_wcu_per_touchpoint": wasted[target] / touchpoints}
        for target, n in sorted(total.items(), key=lambda kv: -kv[1])
    }
    all_units = sum(total.values()) / touchpoints
    return {
        "tables": tables,
        "total_wcu_per_touchpoint": all_units,
        "wasted_wcu_per_touchpoint": sum(wasted.values()) / touchpoints,
        "target": TARGET_WCU_PER_TOUCHPOINT,
        "met": all_units <= TARGET_WCU_PER_TOUCHPOINT,
    }


def units_by_function_and_table(charges: Iterable[Charge], touchpoints: int) -> dict[str, dict[str, float]]:
    """Write units per touchpoint, by function and base table (an index's units under its table)."""
    by: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for charge in charges:
        by[charge.function or "runner"][charge.target.split("/", 1)[0]] += charge.units
    return {name: {table: n / touchpoints for table, n in tables.items()} for name, tables in by.items()}


def units_by_function(charges: Iterable[Charge], touchpoints: int) -> dict[str, float]:
    by: Counter[str] = Counter()
    for charge in charges:
        by[charge.function or "runner"] += charge.units
    return {name: n / touchpoints for name, n in by.most_common()}


def cancelled_share(transactions: Iterable[tuple[str, bool]]) -> dict[str, Any]:
    """Of the TransactWriteItems requests (function, cancelled), the share cancelled, in all and by function."""
    sent: Counter[str] = Counter()
    cancelled: Counter[str] = Counter()
    for function, was_cancelled in transactions:
        sent[function] += 1
        cancelled[function] += was_cancelled
    total, failed = sum(sent.values()), sum(cancelled.values())
    share = failed / total if total else 0.0
    return {
        "transactions": total,
        "cancelled": failed,
        "share": share,
        "by_function": {
            name: {"transactions": n, "cancelled": cancelled[name], "share": cancelled[name] / n}
            for name, n in sent.most_common()
        },
        "target": TARGET_CANCELLED_SHARE,
        "met": share <= TARGET_CANCELLED_SHARE,
    }


def shards_needed(peak_records_per_s: float, ms_per_record: float, parallelization: int) -> int:
    """Stream shards the peak needs: each shard runs `parallelization` batches at a time, one invocation
    handling 1000 / ms_per_record records a second."""
    per_invocation = 1000.0 / ms_per_record if ms_per_record > 0 else math.inf
    return max(1, math.ceil(peak_records_per_s / (per_invocation * parallelization)))


# -- the recorder: inside the embedded moto

WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
READ_OPERATIONS = ("GetItem", "BatchGetItem", "TransactGetItems", "Query", "Scan")
_APP_ID = re.compile(r"\bapp/(\S+)")


def function_of(user_agent: str) -> str:
    """The function a request comes from: botocore's `app/<AWS_SDK_UA_APP_ID>`; "" for the runner's own."""
    match = _APP_ID.search(user_agent or "")
    return match.group(1) if match else ""


def _plain(value: Any) -> Any:
    """A moto DynamoType, or a wire-format value of a response, as boto3 gives it (binary as bytes)."""
    if hasattr(value, "to_regular_json"):
        return value.to_regular_json()
    ((kind, inner),) = value.items()
    if kind == "B" and isinstance(inner, str):
        import base64

        return {kind: base64.b64decode(inner)}
    if kind == "M":
        return {kind: {k: _plain(v) for k, v in inner.items()}}
    if kind == "L":
        return {kind: [_plain(v) for v in inner]}
    return {kind: inner}


def _item(moto_item: Any) -> Item | None:
    return None if moto_item is None else {name: _plain(value) for name, value in moto_item.attrs.items()}


@dataclass
class _Target:
    action: str
    table: str  # physical name
    key: Item
    transactional: bool


@dataclass
class Read:
    table: str
    units: float
    function: str


@dataclass
class Recorder:
    """Every DynamoDB request the functions send to the embedded moto, priced; and every AWS request counted.

    `tables` maps physical table names to the template's logical ids; other tables are not recorded.
    """

    tables: Mapping[str, str]
    schemas: Mapping[str, TableSchema] | None = None  # given: writes are priced as they come and not kept
    writes: list[Write] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    transactions: list[tuple[str, bool]] = field(default_factory=list)
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # (function, Service.Operation)
    moto_seconds: Counter[str] = field(default_factory=Counter)  # by function
    errors: Counter[str] = field(default_factory=Counter)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def installed(self) -> Iterator[Recorder]:
        """Hooks moto's request dispatcher (the server's WSGI app) and its DynamoDB handler, then takes them off."""
        from moto.dynamodb.responses import DynamoHandler
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        dispatch, dynamo = DomainDispatcherApplication.__call__, DynamoHandler.call_action
        recorder = self

        def counted(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
            function = function_of(environ.get("HTTP_USER_AGENT", ""))
            operation = (
                environ.get("HTTP_X_AMZ_TARGET") or f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
            )
            started = time.perf_counter()
            try:
                return dispatch(app, environ, start_response)
            finally:
                with recorder._lock:
                    recorder.requests[(function, operation)] += 1
                    recorder.moto_seconds[function] += time.perf_counter() - started

        def priced(handler: Any) -> Any:
            return recorder._dynamodb(handler, dynamo)

        DomainDispatcherApplication.__call__ = counted  # type: ignore[method-assign]
        DynamoHandler.call_action = priced  # type: ignore[method-assign]
        try:
            yield self
        finally:
            DomainDispatcherApplication.__call__ = dispatch  # type: ignore[method-assign]
            DynamoHandler.call_action = dynamo  # type: ignore[method-assign]

    # What one DynamoDB request wrote or read, around moto's own handling of it
    def _dynamodb(self, handler: Any, call_action: Callable[[Any], Any]) -> Any:
        operation = handler._get_action()
        function = function_of(handler.headers.get("User-Agent", ""))
        if not function or (operation not in WRITE_OPERATIONS and operation not in READ_OPERATIONS):
            return call_action(handler)  # the runner's own reads (a load's checks) are no function's
        try:
            body = json.loads(handler.raw_body or b"{}")
            backend = handler.dynamodb_backend
            targets = self._targets(operation, body, backend) if operation in WRITE_OPERATIONS else []
            before = [self._image(backend, t) for t in targets]
        except Exception:  # a request moto will refuse: nothing to price
            return call_action(handler)
        answer = call_action(handler)
        status, _, response = answer
        error = _error_code(status, response)
        with self._lock:
            if operation in READ_OPERATIONS:
                if not error:
                    self._read(operation, body, backend, response, function)
                return answer
            request = next(self._ids)
            if operation == "TransactWriteItems" and error in ("", "TransactionCanceledException"):
                self.transactions.append((function, bool(error)))
            if error and error not in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                self.errors[error] += 1  # refused before writing anything: no units
                return answer
            for target, old in zip(targets, before, strict=True):
                if target.table not in self.tables:
                    continue
                new = old if error or target.action == "ConditionCheck" else self._image(backend, target)
                written = Write(
                    self.tables[target.table],
                    target.action,
                    target.key,
                    old,
                    new,
                    target.transactional,
                    succeeded=not error,
                    function=function,
                    request=request,
                )
                if self.schemas is None:
                    self.writes.append(written)
                elif written.table in self.schemas:
                    self.charges.extend(price(written, self.schemas[written.table]))
        return answer

    @staticmethod
    def _targets(operation: str, body: Mapping[str, Any], backend: Any) -> list[_Target]:
        def key_of(table_name: str, item: Mapping[str, Any]) -> Item:
            table = backend.get_table(table_name)
            names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
            return {name: item[name] for name in names}

        if operation == "PutItem":
            return [_Target("Put", body["TableName"], key_of(body["TableName"], body["Item"]), False)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [_Target(operation.removesuffix("Item"), body["TableName"], body["Key"], False)]
        targets = []
        if operation == "TransactWriteItems":
            for entry in body["TransactItems"]:
                ((action, request),) = entry.items()
                key = key_of(request["TableName"], request["Item"]) if action == "Put" else request["Key"]
                targets.append(_Target(action, request["TableName"], key, True))
            return targets
        for table_name, requests in body["RequestItems"].items():  # BatchWriteItem
            for request in requests:
                if "PutRequest" in request:
                    targets.append(_Target("Put", table_name, key_of(table_name, request["PutRequest"]["Item"]), False))
                else:
                    targets.append(_Target("Delete", table_name, request["DeleteRequest"]["Key"], False))
        return targets

    @staticmethod
    def _image(backend: Any, target: _Target) -> Item | None:
        try:
            return _item(backend.get_item(target.table, target.key))
        except Exception:
            return None

    def _read(self, operation: str, body: Mapping[str, Any], backend: Any, response: Any, function: str) -> None:
        def item_bytes(table: str, key: Item) -> int:
            found = self._image(backend, _Target("Get", table, key, False))
            return item_size(found) if found else 0

        def add(table: str, units: float) -> None:
            if table in self.tables:
                self.reads.append(Read(self.tables[table], units, function))

        if operation == "GetItem":
            table = body["TableName"]
            add(table, read_units(item_bytes(table, body["Key"]), consistent=bool(body.get("ConsistentRead"))))
        elif operation == "BatchGetItem":
            for table, request in body["RequestItems"].items():
                consistent = bool(request.get("ConsistentRead"))
                add(table, sum(read_units(item_bytes(table, key), consistent=consistent) for key in request["Keys"]))
        elif operation == "TransactGetItems":
            for entry in body["TransactItems"]:
                get = entry["Get"]
                add(get["TableName"], 2 * read_units(item_bytes(get["TableName"], get["Key"]), consistent=True))
        else:  # Query, Scan: priced on what they return (a projection or a count reads more: an underestimate)
            try:
                items = json.loads(response).get("Items", [])
            except (TypeError, ValueError):
                items = []
            size = sum(item_size({k: _plain(v) for k, v in item.items()}) for item in items)
            consistent = bool(body.get("ConsistentRead")) and not body.get("IndexName")
            add(body["TableName"], read_units(size, consistent=consistent))


def _error_code(status: Any, response: Any) -> str:
    if int(status) < 400:
        return ""
    try:
        kind = str(json.loads(response).get("__type", ""))
    except (TypeError, ValueError):
        return "Error"
    return kind.rsplit("#", 1)[-1] or "Error"


# -- the run: a realistic mix through the local runner, in this process

CONTACT_SHARE = 0.1  # recorded contacts per touchpoint (each after a reserving decision), sent 25 a request
ERASURE_SHARE = 0.001  # erasures per touchpoint (at least one a run)
OPERATOR_ROLE = "ComplianceOperatorRole"
ERASURE_ROUTE = "/v1/compliance/erasures"
DECISIONS_ROUTE = "/v1/email/contact-decisions"
CONTACTS_ROUTE = "/v1/email/contacts"


@dataclass
class _Invocations:
    count: int = 0
    duration_ms: float = 0.0
    records: int = 0
    cold_starts: int = 0
    warm_count: int = 0  # warm invocations whose CPU time was read
    warm_cpu_ms: float = 0.0
    # The classifier's stream batches: (records, counter write units the batch spent)
    batches: list[tuple[int, int]] = field(default_factory=list)


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time of a process, all its threads (/proc/<pid>/task/*/schedstat, ns; else stat's clock ticks)."""
    if pid is None:
        return None
    try:
        total = 0
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/schedstat") as stat:
                total += int(stat.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None


def _tagged_runner_class() -> Any:
    from local_runner.emulator.runner import LocalRunner

    class TaggedRunner(LocalRunner):
        """The local runner, each function's SDK calls carrying its logical id in their User-Agent."""

        def environment(self, spec: Any) -> dict[str, str]:
            return {**super().environment(spec), "AWS_SDK_UA_APP_ID": spec.logical_id}

    return TaggedRunner


def _counter_units(recorder: Recorder) -> int:
    return sum(c.units for c in list(recorder.charges) if c.function == CLASSIFIER and c.target == COUNTER_TABLE)


@contextmanager
def _measured_containers(invocations: dict[str, _Invocations], recorder: Recorder) -> Iterator[None]:
    """Each container's invocations: wall time, stream or queue records, (warm ones) the CPU time the
    container's process spent on it, which neither moto nor waiting for it counts; and what each of the
    classifier's stream batches spent on counters (its one container runs one batch at a time)."""
    from local_runner.emulator.workers import Container

    invoke = Container.invoke
    lock = threading.Lock()

    def measured(container: Any, event: Mapping[str, Any], request_id: str) -> Any:
        cold = container.init_ms is None
        records = len(event.get("Records") or [])
        batch = container.spec.logical_id == CLASSIFIER and records > 0
        counters_before = _counter_units(recorder) if batch else 0
        before = None if cold else cpu_seconds(container.pid)
        invocation = invoke(container, event, request_id)
        after = None if before is None else cpu_seconds(container.pid)
        with lock:
            seen = invocations[container.spec.logical_id]
            seen.count += 1
            seen.duration_ms += invocation.duration_ms
            seen.records += records
            seen.cold_starts += cold
            if before is not None and after is not None:
                seen.warm_count += 1
                seen.warm_cpu_ms += (after - before) * 1e3
            if batch:
                seen.batches.append((records, _counter_units(recorder) - counters_before))
        return invocation

    Container.invoke = measured  # type: ignore[method-assign]
    try:
        yield
    finally:
        Container.invoke = invoke  # type: ignore[method-assign]


@contextmanager
def recorded_runner(max_containers: int = 1) -> Iterator[tuple[Any, str, Recorder, dict[str, _Invocations]]]:
    """A local runner in this process with the recorder on its embedded moto; its API's URL; invocations by
    function (count, duration, CPU, stream or queue records)."""
    from moto.moto_api._internal import moto_api_backend

    from local_runner.emulator.harness import free_port
    from local_runner.emulator.provision import ENV_JSON
    from local_runner.emulator.server import ApiServer

    # moto's backends are this process's: a second runner would find the tables, and the people, a first one left
    # (provisioning keeps a table that exists). What /moto-api/reset does: each mix starts on an empty AWS.
    moto_api_backend.reset()
    recorder = Recorder({})
    invocations: dict[str, _Invocations] = defaultdict(_Invocations)
    with open(os.devnull, "wb") as devnull, recorder.installed(), _measured_containers(invocations, recorder):
        runner = _tagged_runner_class()(
            env_vars=ENV_JSON if ENV_JSON.exists() else None, max_containers=max_containers, function_output=devnull
        ).start()
        try:
            recorder.tables = {physical: logical for logical, physical in runner.provisioned.tables.items()}
            recorder.schemas = schemas_from_template(runner.template)
            server = ApiServer(runner, "127.0.0.1", free_port(), access_log=False).start()
            try:
                yield runner, server.url, recorder, invocations
            finally:
                server.stop()
        finally:
            runner.stop()


def _post(http: Any, url: str, key: str, body: Mapping[str, Any]) -> dict[str, Any]:
    response = http.post(
        url, data=json.dumps(body), headers={"Content-Type": "application/json", "x-api-key": key}, timeout=120
    )
    if response.status_code != 200:
        raise RuntimeError(f"POST {url.rsplit('/v1/', 1)[-1]} answered {response.status_code}")
    return dict(response.json())


def _contacts(url: str, key: str, profile_ids: list[str]) -> tuple[int, int]:
    """A marketing email to these people (in a time zone where it is early afternoon: no quiet hours): one
    reserving decision, then the contacts it allowed, sent 25 a request. Returns the API requests made and the
    contacts recorded."""
    import requests

    from benchmarks.contacts import _daytime_zone

    if not profile_ids:
        return 0, 0
    made, zone = 0, _daytime_zone()
    with requests.Session() as http:
        decided = []
        for start in range(0, len(profile_ids), 1000):
            body = {
                "purpose": "marketing",
                "campaign_id": "hot-keys",
                "reserve": True,
                "recipients": [{"profile_id": p, "time_zone": zone} for p in profile_ids[start : start + 1000]],
            }
            decided += _post(http, url + DECISIONS_ROUTE, key, body)["decisions"]
            made += 1
        sent = [
            {
                "event_id": f"snt-{uuid.uuid4().hex[:16]}",
                "occurred_at": datetime.now(UTC).isoformat(),
                "subject": {"profile_id": d["profile_id"]},
                "kind": "email",
                "purpose": "marketing",
                "campaign_id": "hot-keys",
                **({"reservation_id": d["reservation_id"]} if "reservation_id" in d else {}),
            }
            for d in decided
            if d["allowed"]
        ]
        for start in range(0, len(sent), 25):
            _post(http, url + CONTACTS_ROUTE, key, {"contacts": sent[start : start + 25]})
            made += 1
    return made, len(sent)


def _erasures(url: str, emails: list[str]) -> int:
    import requests
    from botocore.credentials import Credentials

    from local_runner.emulator.principals import sign_with

    operator = Credentials(f"local-{OPERATOR_ROLE}", f"local-secret-{OPERATOR_ROLE}")
    for n, email in enumerate(emails):
        body = json.dumps(
            {"subject": {"email": email}, "regulation": "gdpr", "case_reference": f"HOT-{n}", "suppress": False}
        ).encode()
        headers = sign_with(operator, "POST", url + ERASURE_ROUTE, body)
        response = requests.post(url + ERASURE_ROUTE, data=body, headers=headers, timeout=120)
        if response.status_code != 202:
            raise RuntimeError(f"POST {ERASURE_ROUTE} answered {response.status_code}")
    return len(emails)


def same_channel_share(planned: list[Any], channel_of: Callable[[str], str]) -> dict[str, float]:
    """Per channel function, the share of its touchpoints (new and known) whose person's previous touchpoint
    went to the same function: those a container's key cache can hold (see benchmarks.cost, KMS)."""
    sent: Counter[str] = Counter()
    repeated: Counter[str] = Counter()
    for request in planned:
        if request.kind not in ("new", "known"):
            continue
        function = channel_of(request.path)
        sent[function] += 1
        if request.kind == "known" and request.after is not None:
            repeated[function] += channel_of(planned[request.after].path) == function
    return {name: repeated[name] / n for name, n in sent.items()}


def measure(
    *,
    touchpoints: int = 1000,
    clients: int = 4,
    peak: float = PEAK,
    person_burst: float = PERSON_BURST,
    contact_share: float = CONTACT_SHARE,
    erasure_share: float = ERASURE_SHARE,
    seed: int = 23,
    returns: int = 0,
    out: Any = sys.stderr,
) -> dict[str, Any]:
    """The mix through the runner, recorded; the hot keys, units by table, cancelled transactions and the
    classifier's stream-side cost, per touchpoint and at the peak."""
    from local_runner.commands import load
    from local_runner.commands.demo_data import demo_person, stack_secret, vouching_keys
    from local_runner.emulator import template as cfn

    started = time.monotonic()
    with recorded_runner() as (runner, url, recorder, invocations):
        keys = {name: str(value) for name, value in runner.health()["api_keys"].items()}
        vouching = vouching_keys(stack_secret(runner.aws.client("secretsmanager")))
        planned, people = load.plan(touchpoints, 0.05, 0.03, seed, "channels", vouching, returns=returns)
        answers = load.send(url, keys, planned, clients, out)
        runner.wait_until_idle(timeout=300, quiet=2.0)
        profile_ids = sorted(
            {
                r["profile_id"]
                for a in answers
                if a.status == 200
                for r in a.results
                if r.get("status") == "stored" and r.get("profile_id")
            }
        )
        wanted = round(len(answers) * contact_share)
        contact_requests, contacts = _contacts(url, keys["EmailApiKey"], profile_ids[:wanted])
        with_email = [n for n in range(people) if n % 6 in (0, 1, 4, 5)]  # load's journeys: these leave an email
        erasures = max(1, round(len(answers) * erasure_share))
        _erasures(url, [demo_person(n).email for n in with_email[-erasures:]])
        idle = runner.wait_until_idle(timeout=300, quiet=2.0)

        def channel_of(path: str) -> str:
            matched = runner.gateway.routes.match("POST", path)
            return str(matched[0].function) if matched else "?"

        sessions = same_channel_share(planned, channel_of)
        good: Counter[str] = Counter(
            channel_of(a.planned.path) for a in answers if a.status == 200 and a.planned.kind in ("new", "known")
        )
    sent = len(answers)
    result = {
        "touchpoints": sent,
        "kinds": dict(Counter(a.planned.kind for a in answers)),
        "statuses": {str(s): n for s, n in sorted(Counter(a.status for a in answers).items())},
        "people": people,
        "returns_per_person": returns,
        "contacts_recorded": contacts,
        "contact_requests": contact_requests,
        "erasures": erasures,
        "settled": idle,
        "seconds": round(time.monotonic() - started, 1),
        **figures(recorder, invocations, cfn.load(), sent, peak=peak, person_burst=person_burst),
        "api_requests_per_touchpoint": (sent + contact_requests + erasures) / sent,
        "good_touchpoints_by_function": dict(good),
        "same_function_share": sessions,
    }
    return result


def figures(
    recorder: Recorder,
    invocations: Mapping[str, _Invocations],
    template: Mapping[str, Any],
    touchpoints: int,
    *,
    peak: float = PEAK,
    person_burst: float = PERSON_BURST,
) -> dict[str, Any]:
    """From what was recorded over `touchpoints`: the hot keys at the peak, units by table and function,
    cancelled transactions, AWS requests and invocations per touchpoint, the classifier's stream-side cost."""
    from local_runner.emulator import template as cfn

    specs = {spec.logical_id: spec for spec in cfn.functions(template)}
    charges = recorder.charges or price_all(recorder.writes, schemas_from_template(template))
    result = {
        "hot_keys": hot_keys(charges, touchpoints=touchpoints, peak=peak, person_burst=person_burst),
        "write_units": units_by_table(charges, touchpoints),
        "write_units_by_function": units_by_function(charges, touchpoints),
        "read_units": _reads_by_table(recorder.reads, touchpoints),
        "read_units_by_function": _reads_by_function(recorder.reads, touchpoints),
        "write_units_by_function_and_table": units_by_function_and_table(charges, touchpoints),
        "read_units_by_function_and_table": _reads_by_function_and_table(recorder.reads, touchpoints),
        "transactions": cancelled_share(recorder.transactions),
        "refused_writes": dict(recorder.errors),
        "requests_per_touchpoint": _requests(recorder.requests, touchpoints),
        "invocations": _invocation_figures(invocations, recorder, specs, touchpoints),
        "note": "every DynamoDB request of the functions, seen where the embedded moto answers it; units priced "
        "from the items before and after each write (benchmarks/hot_keys.py). Reads of Query and Scan are "
        "priced on what they return.",
    }
    result["stream_side"] = stream_side({"touchpoints": touchpoints, **result}, template, peak)
    return result


def _reads_by_table(reads: Iterable[Read], touchpoints: int) -> dict[str, float]:
    by: Counter[str] = Counter()
    for read in reads:
        by[read.table] += read.units
    return {table: n / touchpoints for table, n in by.most_common()}


def _reads_by_function(reads: Iterable[Read], touchpoints: int) -> dict[str, float]:
    by: Counter[str] = Counter()
    for read in reads:
        by[read.function or "runner"] += read.units
    return {name: n / touchpoints for name, n in by.most_common()}


def _reads_by_function_and_table(reads: Iterable[Read], touchpoints: int) -> dict[str, dict[str, float]]:
    by: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for read in reads:
        by[read.function or "runner"][read.table] += read.units
    return {name: {table: n / touchpoints for table, n in tables.items()} for name, tables in by.items()}


def _requests(requests: Mapping[tuple[str, str], int], touchpoints: int) -> dict[str, dict[str, float]]:
    by: defaultdict[str, dict[str, float]] = defaultdict(dict)
    for (function, operation), n in sorted(requests.items()):
        by[function or "runner"][operation] = n / touchpoints
    return dict(by)


def _invocation_figures(
    invocations: Mapping[str, _Invocations], recorder: Recorder, specs: Mapping[str, Any], touchpoints: int
) -> dict[str, dict[str, float]]:
    """Per function: invocations, records and AWS requests per touchpoint; ms per invocation as run here, of
    which moto's; the container's CPU ms per warm invocation; and the ms modelled on AWS at the template's
    memory (CPU ms x 1769 / memory MB + 8 ms per AWS call)."""
    figures = {}
    for name, seen in sorted(invocations.items()):
        calls = sum(n for (function, _), n in recorder.requests.items() if function == name)
        moto_ms = recorder.moto_seconds[name] * 1e3
        memory = specs[name].memory_size if name in specs else 512
        if seen.warm_count:
            cpu_ms = seen.warm_cpu_ms / seen.warm_count
        else:  # only cold invocations: their time outside moto
            cpu_ms = max(0.0, seen.duration_ms - moto_ms) / seen.count
        aws_ms = cpu_ms * FULL_VCPU_MB / memory + calls / seen.count * ASSUMED_AWS_LATENCY_MS
        figures[name] = {
            "cpu_ms_per_invocation": cpu_ms,
            "invocations_per_touchpoint": seen.count / touchpoints,
            "records_per_touchpoint": seen.records / touchpoints,
            "aws_calls_per_invocation": calls / seen.count if seen.count else 0.0,
            "local_ms_per_invocation": seen.duration_ms / seen.count if seen.count else 0.0,
            "moto_ms_per_invocation": moto_ms / seen.count if seen.count else 0.0,
            "aws_ms_per_invocation": aws_ms,
            "cold_starts": seen.cold_starts,
            "records": seen.records,
            "invocations": seen.count,
            "memory_mb": memory,
            **({"batches": list(seen.batches)} if seen.batches else {}),
        }
    return figures


def parallelization_factor(template: Mapping[str, Any], function: str = CLASSIFIER) -> tuple[int, int]:
    """The function's stream event source: (ParallelizationFactor, BatchSize), Lambda's defaults if unset."""
    events = template["Resources"][function]["Properties"].get("Events", {})
    for event in events.values():
        if event.get("Type") == "DynamoDB":
            props = event.get("Properties", {})
            return (
                int(_resolved(template, props.get("ParallelizationFactor", 1))),
                int(_resolved(template, props.get("BatchSize", 100))),
            )
    return 1, 100


def _resolved(template: Mapping[str, Any], value: Any) -> Any:
    """A `!Ref` to a template parameter: its default (what a deploy without overrides gets)."""
    if isinstance(value, Mapping) and "Ref" in value:
        return template.get("Parameters", {})[value["Ref"]]["Default"]
    return value


def stream_side(result: Mapping[str, Any], template: Mapping[str, Any], peak: float) -> dict[str, Any]:
    """The classifier per stream record: ms (here, and modelled on AWS), units; the shards the peak needs."""
    figures = result["invocations"].get(CLASSIFIER)
    factor, batch = parallelization_factor(template)
    if not figures or not figures["records"]:
        return {"measured": False, "parallelization_factor": factor}
    records = figures["records"]
    per_invocation = figures["records"] / figures["invocations"]
    touchpoints = result["touchpoints"]
    wcu = result["write_units_by_function"].get(CLASSIFIER, 0.0) * touchpoints / records
    rcu = result["read_units_by_function"].get(CLASSIFIER, 0.0) * touchpoints / records
    aws_ms_per_record = figures["aws_ms_per_invocation"] / per_invocation
    records_per_touchpoint = figures["records_per_touchpoint"]
    peak_records = peak * records_per_touchpoint
    return {
        "measured": True,
        "records": records,
        "records_per_touchpoint": records_per_touchpoint,
        "records_per_invocation": per_invocation,
        "local_ms_per_record": figures["local_ms_per_invocation"] / per_invocation,
        "moto_ms_per_record": figures["moto_ms_per_invocation"] / per_invocation,
        "aws_ms_per_record": aws_ms_per_record,
        "aws_calls_per_record": figures["aws_calls_per_invocation"] / per_invocation,
        "wcu_per_record": wcu,
        "rcu_per_record": rcu,
        "records_per_s_per_invocation": 1000.0 / aws_ms_per_record if aws_ms_per_record else None,
        "peak_records_per_s": peak_records,
        "parallelization_factor": factor,
        "batch_size": batch,
        "shards_needed": shards_needed(peak_records, aws_ms_per_record, factor),
        "shards_needed_at_factor_10": shards_needed(peak_records, aws_ms_per_record, 10),
        # A stream has a shard per partition, and the table splits a partition past 1,000 WCU/s
        "counters_by_batch_fill": counters_by_batch_fill(figures.get("batches", []), records_per_touchpoint),
        "table_partitions_for_peak_writes": math.ceil(
            result["write_units"]["tables"].get("ProfileTable", {}).get("wcu_per_touchpoint", 0.0)
            * peak
            / PARTITION_LIMIT_WCU
        ),
        "note": "records delivered to the classifier (after its filters). ms modelled on AWS: the invocation's "
        "time outside moto x 1769 / memory MB, plus 8 ms per AWS call, over the records of the batch; batches "
        f"here held {per_invocation:.1f} records (at the peak they fill to {batch}, so fixed costs weigh less).",
    }


def per_batch_and_per_record(batches: Iterable[tuple[int, int]]) -> tuple[float, float] | None:
    """Least squares of a batch's units on its records: (units a batch spends whatever it holds, units per
    record), each at least 0; None when the batches are too few or all the same size."""
    points = list(batches)
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if not spread:
        return None
    slope = max(0.0, sum((x - mean_x) * (y - mean_y) for x, y in points) / spread)
    return max(0.0, mean_y - slope * mean_x), slope


def counters_by_batch_fill(batches: Iterable[tuple[int, int]], records_per_touchpoint: float) -> dict[str, Any]:
    """What the classifier's counters cost a touchpoint as a function of how full its stream batches are: the
    tally is written once a batch, so a batch's fixed part is paid per record when batches hold one."""
    points = list(batches)
    fit = per_batch_and_per_record(points)
    if fit is None:
        return {"measured": False}
    per_batch, per_record = fit
    sizes = [records for records, _ in points]
    return {
        "measured": True,
        "batches": len(points),
        "records_per_batch_here": {"min": min(sizes), "max": max(sizes), "mean": sum(sizes) / len(sizes)},
        "wcu_per_batch": per_batch,
        "wcu_per_record": per_record,
        "wcu_per_touchpoint_at_fill": {
            str(fill): records_per_touchpoint * (per_batch / fill + per_record) for fill in BATCH_FILLS
        },
    }


Row = tuple[str, str, str, str, str, str]


def _met(flag: bool) -> str:
    return "yes" if flag else "NO"


def _units_row(label: str, units: Mapping[str, Any]) -> Row:
    from benchmarks.harness import fmt

    return (
        label,
        fmt(units["total_wcu_per_touchpoint"]),
        f"wasted {fmt(units['wasted_wcu_per_touchpoint'])}",
        "",
        f"<= {TARGET_WCU_PER_TOUCHPOINT:.0f}",
        _met(units["met"]),
    )


def _cancelled_row(label: str, tx: Mapping[str, Any]) -> Row:
    from benchmarks.harness import fmt

    return (
        label,
        f"{fmt(tx['share'] * 100)}%",
        f"{tx['cancelled']} of {tx['transactions']}",
        "",
        f"<= {TARGET_CANCELLED_SHARE * 100:.0f}%",
        _met(tx["met"]),
    )


def rows(m: Mapping[str, Any]) -> list[Row]:
    """The benchmark table's rows."""
    from benchmarks.harness import fmt

    hot, units, tx, stream = m["hot_keys"], m["write_units"], m["transactions"], m["stream_side"]
    peak = hot["peak_touchpoints_per_s"]
    out = [
        (
            f"hot keys: {m['touchpoints']:,} touchpoints of the mix, at {peak:,.0f}/s",
            f"{fmt(hot['hottest_wcu_per_s'])} WCU/s",
            "hottest key",
            f"{len(hot['keys_over_target'])} keys over",
            f"<= {TARGET_KEY_WCU} WCU/s",
            _met(hot["met"]),
        )
    ]
    for row in hot["rows"]:
        who = f"one id, x{fmt(hot['person_burst_touchpoints_per_s'])} tp/s" if row["per_person"] else "shared"
        out.append(
            (
                f"  {row['table']} {row['key']}",
                f"{fmt(row['wcu_per_s'])} WCU/s",
                f"{fmt(row['wcu_per_touchpoint'])} WCU/tp, {who}",
                f"of {row['distinct_keys']} keys",
                "",
                "OVER" if row["over_target"] else "",
            )
        )
    for family in hot["sharded_keys"]:
        if family["wcu_per_s_per_shard_max"] > TARGET_KEY_WCU:
            out.append(
                (
                    f"  sharded: {family['table']} {family['key']}",
                    f"{fmt(family['wcu_per_s_per_shard_mean'])} WCU/s a shard",
                    f"{fmt(family['wcu_per_touchpoint'])} WCU/tp over {family['shards_written']} shards",
                    f"{family['shards_for_target']} shards for the target",
                    "",
                    "",
                )
            )
    person = hot["hottest_person"]
    if person is not None and person not in hot["rows"]:
        out.append(
            (
                f"  (hottest id) {person['table']} {person['key']}",
                f"{fmt(person['wcu_per_s'])} WCU/s",
                f"{fmt(person['wcu_per_touchpoint'])} WCU/tp, x{fmt(hot['person_burst_touchpoints_per_s'])}/s",
                f"of {person['distinct_keys']} keys",
                "",
                "OVER" if person["over_target"] else "",
            )
        )
    out.append(_units_row("WCU per touchpoint (all tables, indexes)", units))
    for table, figures in units["tables"].items():
        out.append(
            (
                f"  {table}",
                fmt(figures["wcu_per_touchpoint"]),
                f"wasted {fmt(figures['wasted_wcu_per_touchpoint'])}",
                "",
                "",
                "",
            )
        )
    out.append(_cancelled_row("TransactWriteItems cancelled", tx))
    for name, f in tx["by_function"].items():
        if f["cancelled"]:
            out.append(
                (f"  {name}", f"{fmt(f['share'] * 100)}%", f"{f['cancelled']} of {f['transactions']}", "", "", "")
            )
    if stream["measured"]:
        out.append(
            (
                "classifier per stream record",
                f"{fmt(stream['aws_ms_per_record'])} ms on AWS (model)",
                f"here {fmt(stream['local_ms_per_record'])} ms, moto {fmt(stream['moto_ms_per_record'])}",
                f"{fmt(stream['wcu_per_record'])} WCU {fmt(stream['rcu_per_record'])} RCU",
                "",
                "",
            )
        )
        out.append(
            (
                f"  stream shards for {peak:,.0f} tp/s",
                str(stream["shards_needed"]),
                f"{fmt(stream['peak_records_per_s'])} records/s",
                f"ParallelizationFactor {stream['parallelization_factor']}",
                f"at factor 10: {stream['shards_needed_at_factor_10']}",
                "",
            )
        )
        out.append(
            (
                "  ProfileTable partitions its peak writes make",
                str(stream["table_partitions_for_peak_writes"]),
                "(a stream shard each)",
                "",
                "",
                "",
            )
        )
        counters = stream.get("counters_by_batch_fill", {})
        if counters.get("measured"):
            at = counters["wcu_per_touchpoint_at_fill"]
            out.append(
                (
                    "  counters a touchpoint, by records a batch",
                    " / ".join(f"{fill}: {fmt(at[fill])}" for fill in at),
                    f"WCU ({fmt(counters['wcu_per_batch'])} a batch + {fmt(counters['wcu_per_record'])} a record)",
                    f"here {fmt(counters['records_per_batch_here']['mean'])} a batch",
                    f"{counters['batches']} batches",
                    "",
                )
            )
    return out


def steady_rows(m: Mapping[str, Any], cost: Mapping[str, Any]) -> list[Row]:
    """The steady state's rows (`measure(returns=...)`): the same targets, over a mix where people come back."""
    from benchmarks.harness import fmt

    hot, units, tx = m["hot_keys"], m["write_units"], m["transactions"]
    first = m["kinds"].get("new", 0) / m["touchpoints"]
    return [
        (
            f"steady state: {m['touchpoints']:,} touchpoints, each person back {m['returns_per_person']} times",
            f"{fmt(first * 100)}% first touches",
            f"{m['people']} people",
            "",
            "",
            "",
        ),
        _units_row("  WCU per touchpoint (all tables, indexes)", units),
        (
            f"  hottest key at {hot['peak_touchpoints_per_s']:,.0f}/s",
            f"{fmt(hot['hottest_wcu_per_s'])} WCU/s",
            "",
            "",
            f"<= {TARGET_KEY_WCU} WCU/s",
            _met(hot["met"]),
        ),
        _cancelled_row("  TransactWriteItems cancelled", tx),
        (
            f"  $ a month all-in at {cost['rate_touchpoints_per_s']:,.0f} tp/s",
            f"${cost['total_per_month']['one_per_request']:,.0f}",
            ", ".join(
                f"${dollars:,.0f} {column.replace('_', ' ')}"
                for column, dollars in cost["total_per_month"].items()
                if column.startswith("batched_")
            ),
            "",
            "",
            "",
        ),
    ]
