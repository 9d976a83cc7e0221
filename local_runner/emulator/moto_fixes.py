"""The embedded moto's two costs that grow with what it stores, fixed in one place (docs/contributors.md).

1. `transact_write_items` (moto 5.2.5) deep-copies every table it touches, with all of that table's
   stream records, before each transaction, to restore it if the transaction is cancelled: every
   touchpoint then costs time and memory in proportion to everything stored so far. `install()`
   replaces that copy with an undo journal of what the transaction can change: the previous
   version of each item it names and the length of each touched stream. A cancelled transaction
   still leaves no item and no stream record behind.
2. moto sorts every item of a table on every Query and on every Scan page (`Table.all_items`), and a
   Query of an index then looks at every item: the state report's 256 StateIndex queries cost
   seconds each on a table of real size. Where every DynamoDB write is seen (the runner's server
   calls `dynamodb_written`), the sorted items and each index partition are kept until the next write.
3. moto keeps every stream record, every shard iterator and every deleted message's receipt handle
   for as long as the process lives. `Housekeeping.sweep()` trims them as AWS does: stream records
   once every consumer has read them or after 24 hours, iterators and receipt handles once old.
4. moto's create_api_key refuses values under 20 characters and picks its own ids, while the local API keys
   (`local-WebApiKey` = `local-key-WebApiKey`) are deterministic and documented: `hold_api_keys` puts them in
   moto's API Gateway as they are, so a function reading its own key value (the web channel's browser routes)
   finds it.

Remove (1) when moto's transaction rollback no longer copies whole tables, (2) when moto indexes its
tables (upstream reports in docs/contributors.md).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from local_runner.emulator import moto_speed

STREAM_RETENTION = timedelta(hours=24)  # DynamoDB Streams keeps a record for 24 hours
_INSTALLED = "_journaled_transactions"


@dataclass
class _Undo:
    """What a transaction may change in one table, as it was before: items by key, and the stream's length."""

    table: Any
    items: dict[tuple[Any, Any], Any] = field(default_factory=dict)
    stream: Any = None
    stream_length: int = 0

    def remember(self, hash_key: Any, range_key: Any) -> None:
        if (hash_key, range_key) in self.items:
            return
        if range_key is None:
            current = dict.get(self.table.items, hash_key)
        else:
            current = dict.get(self.table.items, hash_key, {}).get(range_key)
        # update_item changes the stored Item in place, so keep a copy of this one item.
        self.items[(hash_key, range_key)] = copy.deepcopy(current)

    def restore(self) -> None:
        for (hash_key, range_key), item in self.items.items():
            if range_key is None:
                if item is None:
                    self.table.items.pop(hash_key, None)
                else:
                    self.table.items[hash_key] = item
                continue
            versions = self.table.items[hash_key]
            if item is None:
                versions.pop(range_key, None)
            else:
                versions[range_key] = item
            if not versions:
                del self.table.items[hash_key]
        moto_speed.structure_changed(self.table)
        if self.stream is not None:
            del self.stream.items[self.stream_length :]


def _journal(backend: Any, transact_items: Iterable[Mapping[str, Any]]) -> list[_Undo]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    undo: dict[str, _Undo] = {}
    for entry in transact_items:
        try:
            operation, request = next(iter(entry.items()))
            table = backend.tables[request["TableName"]]
            key = request["Item"] if operation == "Put" else request["Key"]
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        except (StopIteration, KeyError, TypeError, AttributeError):
            continue  # moto rejects it before writing anything
        table_undo = undo.get(table.name)
        if table_undo is None:
            shard = table.stream_shard
            table_undo = undo[table.name] = _Undo(table, stream=shard, stream_length=len(shard.items) if shard else 0)
        table_undo.remember(hash_key, range_key)
    return list(undo.values())


class _KeepTables:
    """moto.dynamodb.models' `copy` module, except that a Table "copied" for a rollback is the table itself:
    restoring it is then a no-op, and the journal restores what changed."""

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


class _ReadCache:
    """Each table's sorted items and index partitions, valid until the next write (`generation`)."""

    def __init__(self) -> None:
        self.generation: int | None = None  # None: writes are not tracked here, nothing is cached
        self.sorted: dict[int, tuple[int, list[Any]]] = {}
        self.partitions: dict[tuple[int, str], tuple[int, dict[Any, list[Any]]]] = {}

    def written(self) -> None:
        if self.generation is not None:
            self.generation += 1
            self.sorted.clear()
            self.partitions.clear()


_CACHE = _ReadCache()


def dynamodb_written() -> None:
    """Called for every DynamoDB request that may write (anything but a read): drops what was cached."""
    _CACHE.generation = _CACHE.generation or 0
    _CACHE.written()


def _install_read_cache(table_class: Any) -> None:
    moto_all_items: Callable[[Any], list[Any]] = table_class.all_items
    moto_query: Callable[..., Any] = table_class.query

    def all_items(self: Any) -> list[Any]:
        window = moto_speed.narrowed_items(self)
        if window is not None:
            return list(window)
        generation = _CACHE.generation
        if generation is None:
            return moto_all_items(self)
        cached = _CACHE.sorted.get(id(self))
        if cached is None or cached[0] != generation:
            cached = _CACHE.sorted[id(self)] = (generation, moto_all_items(self))
        return list(cached[1])

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
        conditions = kwargs.get("hash_key_conditions") or []
        generation = _CACHE.generation
        if generation is None or not index_name or len(conditions) != 1:
            return moto_query(self, *args, **kwargs)
        attribute, value = conditions[0]
        cached = _CACHE.partitions.get((id(self), attribute))
        if cached is None or cached[0] != generation:
            partitions: dict[Any, list[Any]] = {}
            for item in all_items(self):
                if (key := item.attrs.get(attribute)) is not None:
                    partitions.setdefault(key, []).append(item)
            cached = _CACHE.partitions[(id(self), attribute)] = (generation, partitions)
        # moto's query looks at every item of all_items() for those in the partition: hand it only those.
        with moto_speed.narrowing(self, cached[1].get(value, [])):
            return moto_query(self, *args, **kwargs)

    table_class.all_items = all_items
    table_class.query = query


_WRITES = {
    "backend": (
        "create_table",
        "delete_table",
        "update_table",
        "put_item",
        "update_item",
        "delete_item",
        "transact_write_items",
        "execute_statement",
        "execute_transaction",
        "batch_execute_statement",
        "restore_table_from_backup",
        "restore_table_to_point_in_time",
        "import_table",
    ),
    "table": ("put_item", "delete_item"),
}


def _invalidate_on_writes(backend_class: Any, table_class: Any) -> None:
    """Every write moto applies drops the read cache, whoever sends it: the runner's HTTP server, or an
    in-process mock_aws in the same interpreter (a test process that also ran a runner)."""

    def invalidating(write: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _CACHE.written()
            try:
                return write(*args, **kwargs)
            finally:
                _CACHE.written()

        return wrapper

    for owner, names in ((backend_class, _WRITES["backend"]), (table_class, _WRITES["table"])):
        for name in names:
            if hasattr(owner, name):
                setattr(owner, name, invalidating(getattr(owner, name)))


def install() -> None:
    """Journal moto's DynamoDB transactions instead of copying whole tables, and cache its reads between
    writes where writes are tracked (idempotent, process-wide)."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend_class = models.DynamoDBBackend
    if getattr(backend_class, _INSTALLED, False):
        return
    moto_speed.install()  # first: its guards compare moto's own functions, before the read cache wraps them
    moto_transact: Callable[..., None] = backend_class.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        undo = _journal(self, transact_items) if len(transact_items) <= 100 else []
        try:
            moto_transact(self, transact_items)
        except BaseException:
            for table_undo in reversed(undo):
                table_undo.restore()
            raise

    _install_read_cache(Table)
    models.copy = _KeepTables()  # type: ignore[assignment]
    backend_class.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _invalidate_on_writes(backend_class, Table)
    setattr(backend_class, _INSTALLED, True)


def hold_api_keys(keys: Iterable[Any], account: str, region: str) -> None:
    """The local API keys (provision.LocalApiKey) in moto's API Gateway, with their own ids and values."""
    from moto.apigateway.models import ApiKey, apigateway_backends

    backend = apigateway_backends[account][region]
    for key in keys:
        backend.keys[key.key_id] = ApiKey(key.key_id, name=key.logical_id, enabled=True, value=key.value)


class Housekeeping:
    """Trims what the embedded moto would otherwise keep forever. Call `sweep` with moto's lock held."""

    def __init__(self, account: str, region: str) -> None:
        self.account, self.region = account, region
        self._old_iterators: set[str] = set()
        self._old_receipts: dict[int, set[str]] = {}
        self.trimmed_stream_records = 0

    def sweep(self, read_up_to: Mapping[str, int]) -> None:
        """`read_up_to`: per stream ARN, the highest sequence number every consumer has read."""
        from moto.core.utils import utcnow
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodbstreams.models import dynamodbstreams_backends
        from moto.sqs.models import sqs_backends

        for table in dynamodb_backends[self.account][self.region].tables.values():
            if table.stream_shard is not None:
                arn = f"{table.table_arn}/stream/{table.latest_stream_label}"
                horizon = utcnow() - STREAM_RETENTION
                self.trimmed_stream_records += trim_stream(table.stream_shard, read_up_to.get(arn), horizon)
        # Iterators are asked for afresh on every poll; one still unused a whole sweep later is abandoned.
        iterators = dynamodbstreams_backends[self.account][self.region].shard_iterators
        for arn in self._old_iterators:
            iterators.pop(arn, None)
        self._old_iterators = set(iterators)
        # Receipt handles of deleted messages only make a repeated delete succeed; forget them a sweep later.
        for queue in sqs_backends[self.account][self.region].queues.values():
            queue.deleted_messages -= self._old_receipts.get(id(queue), set())
            self._old_receipts[id(queue)] = set(queue.deleted_messages)


def trim_stream(shard: Any, read_up_to: int | None, horizon: Any) -> int:
    """Drop the records every consumer has read and those older than the horizon; sequence numbers stay."""
    records = shard.items
    count = 0
    if read_up_to is not None:
        count = max(0, min(len(records), read_up_to - shard.starting_sequence_number + 1))
    while count < len(records) and records[count].record["dynamodb"]["ApproximateCreationDateTime"] < horizon:
        count += 1
    if count:
        del records[:count]
        shard.starting_sequence_number += count
    return count
