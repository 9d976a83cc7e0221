"""moto 5.2.5 at the speed and size of what this project does with it: six small patches, each named after
the moto function it replaces, each guarded, each held to unpatched moto by a differential test
(tests/integration/test_moto_speed.py, docs/contributors.md "moto patches, as upstream reports").

Guard: a patch is applied only if the function it replaces is, byte for byte, the one it was written against
(a hash of its source); otherwise moto's own stays and `skipped` names it. `unpatched()` runs moto's own
functions for the duration of a block (the differential tests compare both in one process).

1. `UpdateExpressionParser.make`: parsed once per expression string. The parser sees only the string (names
   and values are resolved later, on a deep copy the Validator takes), so a cached tree is never changed.
2. `UpdateExpressionValidator.get_ast_processors`: `ActionCountValidator` and `OverlappingPathsValidator` are
   keyed on `UpdateExpression`, which every clause node subclasses, so each ran at every node and walked the
   subtree again (quadratic in the actions). Both properties only grow from a subtree to its parent: checked
   once at the root, and only when the root fails is moto's own traversal run, for its exact error.
3. `Table.query`: moto sorts the whole table, compares every item's partition key, re-sorts the partition and
   walks it from the start to the ExclusiveStartKey. Here the partition is looked up, its range keys are kept
   sorted between structural writes, and moto's own loop gets only the window that can be returned: from the
   ExclusiveStartKey (and the key condition's lower bound) on, Limit + 1 items when all of them match the key
   condition, else the whole rest (moto's loop may still stop on its 1 MB page there). Indexes, filters on
   keys other than the table's, and binary range keys take moto's own path.
4. `BaseJSONSerializer._serialize_type_structure` / `_serialize_type_map`: since moto 5.2.0 every member of
   every AttributeValue goes through the generic serializer, which tries up to a dozen name aliases each.
   DynamoDB's AttributeValue maps are serialized here by the same rules, directly; anything unexpected in a
   value (a type, a key, None) falls back to the generic path.
5. `backends.list_of_moto_modules`: the server listed moto's package directory on every request; listed once.
6. `BaseModel.__new__`: every instance of every moto model is kept for ever in its class's `instances_tracked`,
   read only by the /moto-api dashboard and S3's reset. DynamoDB items (and every copy moto takes of one), stream
   records and iterators and SQS messages are made without it: the runner's memory no longer grows ~0.2 MB a
   touchpoint with what it has already thrown away.

And one of fidelity, guarded and switched off by `unpatched()` the same way (tests/integration/
test_moto_request_tokens.py holds it to DynamoDB's documented behaviour):

7. `DynamoHandler.transact_write_items`: moto ignores ClientRequestToken, so a TransactWriteItems that botocore
   retries after a lost answer (a read timeout after the commit) was applied twice, and the pipeline took its
   own touchpoint for a resend (`duplicate`, issue 23). As DynamoDB documents it: within 10 minutes of a
   request that succeeded, the same token with identical parameters answers as it did without applying anything,
   and with other parameters raises IdempotentParameterMismatchException. A request that failed holds no token.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import threading
import time
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_STATE = threading.local()  # `unpatched` is per thread: moto's server threads keep the patches
applied: list[str] = []
skipped: list[str] = []


def active() -> bool:
    return not getattr(_STATE, "off", False)


@contextmanager
def unpatched() -> Iterator[None]:
    """moto's own functions in this thread for the duration of the block."""
    previous = getattr(_STATE, "off", False)
    _STATE.off = True
    try:
        yield
    finally:
        _STATE.off = previous


@dataclass(frozen=True)
class Patch:
    owner: Any
    attribute: str
    source_sha: str  # sha256 of the replaced function's source, first 12 hex digits, at moto 5.2.5
    replacement: Callable[[Callable[..., Any]], Callable[..., Any]]  # given moto's own, returns the fast one
    always: bool = False  # bookkeeping that must see every call, inside `unpatched()` too

    @property
    def name(self) -> str:
        if inspect.ismodule(self.owner):
            return f"{self.owner.__name__}.{self.attribute}"
        return f"{self.owner.__module__}.{self.owner.__qualname__}.{self.attribute}"

    def install(self) -> bool:
        raw = self.owner.__dict__[self.attribute]
        wrapper = type(raw) if isinstance(raw, classmethod | staticmethod) else None
        original = raw.__func__ if wrapper is not None else raw
        if getattr(original, "_moto_speed", False):
            return True
        if source_sha(original) != self.source_sha:
            return False
        fast = self.replacement(original)

        def dispatch(*args: Any, **kwargs: Any) -> Any:
            return (fast if self.always or active() else original)(*args, **kwargs)

        dispatch._moto_speed = True  # type: ignore[attr-defined]
        dispatch.__name__, dispatch.__qualname__ = original.__name__, original.__qualname__
        setattr(self.owner, self.attribute, wrapper(dispatch) if wrapper is not None else dispatch)
        return True


def source_sha(function: Callable[..., Any]) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------- 1. parse cache
def _make(original: Callable[..., Any]) -> Callable[..., Any]:
    cached = lru_cache(maxsize=2048)(original)

    def make(cls: Any, expression_str: str) -> Any:
        if not isinstance(expression_str, str):
            return original(cls, expression_str)
        return cached(cls, expression_str)

    return make


# ------------------------------------------------------------------------------------ 2. validators at the root
def _get_ast_processors(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.dynamodb.parsing.validators import ActionCountValidator, OverlappingPathsValidator

    class _AtRoot:
        """moto's traverser, run only if the check at the root fails (a failing subtree fails the root too)."""

        def __init__(self, traverser: Any, check: Callable[[Any], Any]) -> None:
            self.traverser, self.check = traverser, check

        def traverse(self, node: Any) -> Any:
            try:
                self.check(node)
            except Exception:
                return self.traverser.traverse(node)
            return node

    def get_ast_processors(self: Any) -> list[Any]:
        at_root: list[Any] = []
        for processor in original(self):
            if type(processor) is ActionCountValidator:
                at_root.append(_AtRoot(processor, processor.verify_action_counts))
            elif type(processor) is OverlappingPathsValidator:
                at_root.append(_AtRoot(processor, processor.check_for_overlapping_paths))
            else:
                at_root.append(processor)
        return at_root

    return get_ast_processors


# ------------------------------------------------------------------------------------------------- 3. Query
_NARROWED = threading.local()
_ORDERED_TYPES = frozenset(("S", "N"))  # range keys whose cast values sort in C (str, Decimal) as moto sorts them
_LOWER_BOUND = frozenset(("EQ", "=", "GE", ">=", "GT", ">", "BETWEEN", "BEGINS_WITH"))  # as moto spells them
_NO_LOWER_BOUND = frozenset(("LE", "<=", "LT", "<"))


class SortedPartitions:
    """Per table: each partition's range keys in order, rebuilt after a write that adds or removes an item."""

    def __init__(self) -> None:
        self.partitions: dict[Any, tuple[int, int, list[Any], list[Any]]] = {}

    def changed(self) -> None:
        self.partitions.clear()

    def ordered(self, partition: dict[Any, Any], hash_key: Any) -> tuple[list[Any], list[Any]]:
        cached = self.partitions.get(hash_key)
        if cached is None or cached[0] != id(partition) or cached[1] != len(partition):
            keys = sorted(partition, key=lambda key: key.cast_value)
            cached = (id(partition), len(partition), [key.cast_value for key in keys], keys)
            self.partitions[hash_key] = cached
        return cached[2], cached[3]


def sorted_partitions(table: Any) -> SortedPartitions:
    found = table.__dict__.get("_sorted_partitions")
    if found is None:
        found = table.__dict__["_sorted_partitions"] = SortedPartitions()
    return found  # type: ignore[no-any-return]


def structure_changed(table: Any) -> None:
    """An item was added to or removed from the table (moto's writes, or a transaction's undo)."""
    found = table.__dict__.get("_sorted_partitions")
    if found is not None:
        found.changed()


def narrowed_items(table: Any) -> list[Any] | None:
    """The items a query handed moto's own loop in place of the whole table, if one is running on this table."""
    narrowed = getattr(_NARROWED, "items", None)
    return narrowed[1] if narrowed is not None and narrowed[0] is table else None


@contextmanager
def narrowing(table: Any, items: list[Any]) -> Iterator[None]:
    """For the block, `table.all_items()` in this thread is `items` (a query's candidates, already in order)."""
    _NARROWED.items = (table, items)
    try:
        yield
    finally:
        _NARROWED.items = None


def _all_items(original: Callable[..., Any]) -> Callable[..., Any]:
    def all_items(self: Any) -> list[Any]:
        window = narrowed_items(self)
        return list(window) if window is not None else original(self)

    return all_items


@dataclass(frozen=True)
class _QueryShape:
    comparison: str | None
    bounds: list[Any]
    limit: Any
    start_key: dict[str, Any] | None
    forward: bool

    def matches(self, key: Any) -> bool:
        return self.comparison is None or bool(key.compare(self.comparison, self.bounds))


def _window(table: Any, hash_key: Any, query: _QueryShape) -> list[Any] | None:
    """The items moto's loop would look at, in the order it sorts them; None where moto's own path must run."""
    partition = dict.get(table.items, hash_key)
    if not partition:
        return []
    key_type = next(iter(partition)).type
    if key_type not in _ORDERED_TYPES or any(bound.type != key_type for bound in query.bounds):
        return None
    values, keys = sorted_partitions(table).ordered(partition, hash_key)
    span = _span(table, hash_key, key_type, values, query)
    if span is None:
        return None
    low, high = span
    if isinstance(query.limit, int) and query.limit >= 1:
        # Limit + 1 items: moto stops on the one after the last it returns, to give LastEvaluatedKey
        size = query.limit + 1
        window = keys[low : min(high, low + size)] if query.forward else keys[max(low, high - size) : high]
        if len(window) == size and all(query.matches(key) for key in window):
            return [partition[key] for key in window]
    elif query.limit is not None:
        return None
    return [partition[key] for key in keys[low:high]]  # empty where low >= high


def _span(table: Any, hash_key: Any, key_type: str, values: list[Any], query: _QueryShape) -> tuple[int, int] | None:
    """Where in the sorted range keys moto's loop can first append: after the start key, from the lower bound."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    low, high = 0, len(values)
    if query.start_key is not None:
        start_hash = query.start_key.get(table.hash_key_attr)
        start_range = query.start_key.get(table.range_key_attr)
        if not isinstance(start_hash, dict) or not isinstance(start_range, dict):
            return None
        start = DynamoType(start_range)
        if DynamoType(start_hash) != hash_key or start.type != key_type:
            return None
        # moto skips the items at or before the start key in the query's direction
        if query.forward:
            low = bisect_right(values, start.cast_value)
        else:
            high = bisect_left(values, start.cast_value)
    comparison = query.comparison
    if comparison is not None:
        if comparison not in _LOWER_BOUND | _NO_LOWER_BOUND or (comparison == "BEGINS_WITH" and key_type != "S"):
            return None
        if query.forward and comparison in _LOWER_BOUND:
            low = max(low, bisect_left(values, query.bounds[0].cast_value))
    return low, high


def _tracking_structure(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto's Table.put_item / delete_item, then the table's sorted partitions are dropped."""

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        finally:
            structure_changed(self)

    return write


def _query(original: Callable[..., Any]) -> Callable[..., Any]:
    def query(
        self: Any,
        hash_key: Any,
        range_comparison: Any,
        range_objs: Any,
        limit: Any,
        exclusive_start_key: Any,
        scan_index_forward: Any,
        projection_expressions: Any,
        index_name: Any = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: Any = None,
        range_key_conditions: Any = None,
        **filter_kwargs: Any,
    ) -> Any:
        arguments = (
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            projection_expressions,
            index_name,
            consistent_read,
            filter_expression,
        )
        keywords = dict(
            hash_key_conditions=hash_key_conditions, range_key_conditions=range_key_conditions, **filter_kwargs
        )
        simple = (
            index_name is None
            and not filter_kwargs
            and hash_key is not None
            and self.range_key_attr is not None
            and len(range_key_conditions or []) <= 1
            and all(name == self.range_key_attr for name, *_ in range_key_conditions or [])
            and scan_index_forward in (True, False)
        )
        window = None
        if simple:
            shape = _QueryShape(
                range_comparison, list(range_objs or []), limit, exclusive_start_key, scan_index_forward
            )
            window = _window(self, hash_key, shape)
        if window is None:
            return original(self, *arguments, **keywords)
        with narrowing(self, window):
            # moto's own loop over the window, which starts after the start key: it sorts it (already in order),
            # pages, filters and projects
            return original(self, *arguments[:4], None, *arguments[5:], **keywords)

    return query


# ------------------------------------------------------------------------------------------- 4. serializer
_ATTRIBUTE_VALUE_MEMBERS = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")
_UNSAFE_TRANSFORM_ENDINGS = frozenset(member[i:] for member in _ATTRIBUTE_VALUE_MEMBERS for i in range(len(member))) | {
    ""
}


class _Generic(Exception):
    """Something the fast path does not mirror exactly: the generic serializer takes the whole value."""


def _text(value: Any) -> str:
    if type(value) is not str:
        raise _Generic
    return value


def _blob(value: Any) -> str:
    if type(value) is str:
        value = value.encode("utf-8")
    elif type(value) is not bytes:
        raise _Generic
    return base64.b64encode(value).strip().decode("utf-8")


def attribute_value(value: Any) -> dict[str, Any]:
    """The JSON serializer's output for one DynamoDB AttributeValue given as moto's plain dict."""
    if type(value) is not dict or not value.keys() <= _MEMBER_SET:
        raise _Generic
    out: dict[str, Any] = {}
    for member in _ATTRIBUTE_VALUE_MEMBERS:
        if member not in value:
            continue
        inner = value[member]
        if inner is None:
            continue
        if member in ("S", "N"):
            out[member] = _text(inner)
        elif member == "B":
            out[member] = _blob(inner)
        elif member in ("SS", "NS"):
            out[member] = [_text(each) for each in _list(inner)]
        elif member == "BS":
            out[member] = [_blob(each) for each in _list(inner)]
        elif member == "M":
            out[member] = attribute_map(inner)
        elif member == "L":
            out[member] = [attribute_value(each) for each in _list(inner)]
        else:  # NULL, BOOL: booleans, written as given
            out[member] = inner
    return out


_MEMBER_SET = frozenset(_ATTRIBUTE_VALUE_MEMBERS)


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise _Generic
    return value


def attribute_map(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Generic
    out: dict[str, Any] = {}
    for key, each in value.items():
        if type(key) is not str or key == "" or each is None:
            raise _Generic
        out[key] = attribute_value(each)
    return out


def _is_attribute_value(shape: Any) -> bool:
    return (
        shape is not None
        and shape.name == "AttributeValue"
        and shape.type_name == "structure"
        and tuple(shape.members) == _ATTRIBUTE_VALUE_MEMBERS
    )


def _mirrorable(serializer: Any) -> bool:
    if type(serializer.MAP_TYPE()) is not dict:
        return False
    transformers = getattr(serializer._value_picker, "response_transformers", None)
    if transformers is None:
        return False
    return not any(path.rsplit(".", 1)[-1] in _UNSAFE_TRANSFORM_ENDINGS for path in transformers)


def _direct(
    original: Callable[..., Any], applies: Callable[[Any, Any, str], bool], convert: Callable[[Any], Any]
) -> Callable[..., Any]:
    """moto's serializer method, except that where `applies(shape, value, key)` the value is written as `convert`
    makes it, unless `convert` meets something it does not mirror."""

    def serialize(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if applies(shape, value, key) and _mirrorable(self):
            try:
                fast = convert(value)
            except _Generic:
                pass
            else:
                serialized[self.get_serialized_name(shape, key)] = fast
                return
        original(self, serialized, value, shape, key)

    return serialize


def _serialize_type_structure(original: Callable[..., Any]) -> Callable[..., Any]:
    return _direct(
        original,
        lambda shape, value, key: bool(key) and value is not None and _is_attribute_value(shape),
        attribute_value,
    )


def _serialize_type_map(original: Callable[..., Any]) -> Callable[..., Any]:
    return _direct(original, lambda shape, value, key: _is_attribute_value(shape.value), attribute_map)


# ------------------------------------------------------------------------------------------- 5. the server
def _list_of_moto_modules(original: Callable[..., Any]) -> Callable[..., Any]:
    """The installed moto's service packages do not change while it runs: listed once, not on every request."""
    modules: list[str] = []

    def list_of_moto_modules() -> Any:
        if not modules:
            modules.extend(original())
        return iter(modules)

    return list_of_moto_modules


# ----------------------------------------------------------------------------------- 6. instances kept forever
_UNTRACKED = {
    "moto.dynamodb.models.dynamo_type": {"Item"},  # every item ever made: stored, copied for a stream, a query
    "moto.dynamodb.models.table": {"StreamRecord"},
    "moto.dynamodbstreams.models": {"ShardIterator"},  # a new one for every poll
    "moto.sqs.models": {"Message"},
}


def _base_model_new(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto's BaseModel appends every instance of every model to its class's `instances_tracked`, for ever (only
    the /moto-api dashboard and S3's reset read them): every DynamoDB item, each copy moto takes of one, every stream
    record and iterator, every SQS message. Those four are made as before, without the list."""
    from moto.core.common_models import BaseModel

    def new(cls: Any, *args: Any, **kwargs: Any) -> Any:
        if cls.__name__ in _UNTRACKED.get(cls.__module__, ()):
            return super(BaseModel, cls).__new__(cls)
        return original(cls, *args, **kwargs)

    return new


# ------------------------------------------------------------------------------------- 7. ClientRequestToken
TOKEN_WINDOW_SECONDS = 600.0  # DynamoDB: a token is valid for 10 minutes after the first request that used it
token_clock: Callable[[], float] = time.monotonic  # the window's clock (a test moves it)


@dataclass(frozen=True)
class _Answered:
    parameters: bytes  # a digest of every parameter of the request but its token
    at: float
    result: Any  # moto's answer, given again to a repeat


class RequestTokens:
    """Per DynamoDB backend: the tokens of the transactions it applied in the last 10 minutes, oldest first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answered: OrderedDict[str, _Answered] = OrderedDict()

    def expire(self, now: float) -> None:
        while self.answered:
            oldest = next(iter(self.answered.values()))
            if now - oldest.at < TOKEN_WINDOW_SECONDS:
                return
            self.answered.popitem(last=False)


def request_tokens(backend: Any) -> RequestTokens:
    found = backend.__dict__.get("_request_tokens")
    if found is None:
        found = backend.__dict__["_request_tokens"] = RequestTokens()
    return found  # type: ignore[no-any-return]


def _request_parameters(body: Any) -> bytes:
    parameters = {key: value for key, value in dict(body).items() if key != "ClientRequestToken"}
    text = json.dumps(parameters, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).digest()


def _json_default(value: Any) -> str:
    return value.hex() if isinstance(value, bytes | bytearray) else repr(value)


def _transact_write_items(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.dynamodb.exceptions import DynamodbException

    class IdempotentParameterMismatch(DynamodbException):
        error_type = "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException"

        def __init__(self) -> None:
            super().__init__(
                self.error_type,
                message="The request uses the same client token as a previous, but non-identical request.",
            )

    def transact_write_items(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        if not isinstance(token, str) or not token:
            return original(self)
        tokens = request_tokens(self.dynamodb_backend)
        parameters = _request_parameters(self.body)
        with tokens.lock:
            tokens.expire(token_clock())
            seen = tokens.answered.get(token)
        if seen is not None:
            if seen.parameters != parameters:
                raise IdempotentParameterMismatch()
            return seen.result  # applied once already: the same answer, nothing written
        result = original(self)  # raises when cancelled or refused: the token is not held then
        with tokens.lock:
            tokens.answered[token] = _Answered(parameters, token_clock(), result)
            tokens.answered.move_to_end(token)
        return result

    return transact_write_items


def patches() -> list[Patch]:
    from moto import backends
    from moto.core.common_models import BaseModel
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator
    from moto.dynamodb.responses import DynamoHandler

    return [
        Patch(UpdateExpressionParser, "make", "2c00ed96d6e1", _make),
        Patch(UpdateExpressionValidator, "get_ast_processors", "918400bbecd6", _get_ast_processors),
        Patch(Table, "query", "002b4d00be6d", _query),
        Patch(Table, "all_items", "c80d2ee3c896", _all_items, always=True),
        Patch(Table, "put_item", "de23933013ef", _tracking_structure, always=True),
        Patch(Table, "delete_item", "1594f7b07616", _tracking_structure, always=True),
        Patch(BaseJSONSerializer, "_serialize_type_structure", "36873909cd0a", _serialize_type_structure),
        Patch(BaseJSONSerializer, "_serialize_type_map", "faa32d1fa9a8", _serialize_type_map),
        Patch(backends, "list_of_moto_modules", "4f741a10b065", _list_of_moto_modules),
        Patch(BaseModel, "__new__", "08cf0ef20e88", _base_model_new),
        Patch(DynamoHandler, "transact_write_items", "61c163fff213", _transact_write_items),
    ]


def install() -> None:
    """Apply every patch whose moto function is the one it was written for (idempotent, process-wide)."""
    if applied or skipped:
        return
    for patch in patches():
        (applied if patch.install() else skipped).append(patch.name)
