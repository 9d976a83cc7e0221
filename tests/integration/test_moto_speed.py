"""Differential tests of local_runner.emulator.moto_speed: the same randomized operations against patched and unpatched
moto, answers compared exactly (raw response bodies: items, order, LastEvaluatedKey, Count, ScannedCount,
errors and their messages). Two regions of one mock_aws are two independent backends; the unpatched one is
driven inside `moto_speed.unpatched()`. A patch whose test fails is dropped, not loosened.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from local_runner.emulator import moto_fixes, moto_speed

moto_fixes.install()
PATCHED, UNPATCHED = "us-east-1", "eu-west-1"
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_patch_is_applied_on_the_pinned_moto() -> None:
    """The guards match moto 5.2.5 (requirements-dev.txt): a patch silently skipped would test nothing."""
    assert moto_speed.skipped == []
    assert len(moto_speed.applied) == len(moto_speed.patches())


class Twin:
    """One client per backend; every call goes to both and returns both raw answers."""

    def __init__(self, service: str) -> None:
        self.clients = {region: boto3.client(service, region_name=region) for region in (PATCHED, UNPATCHED)}
        self.bodies: dict[str, bytes] = {}
        for region, client in self.clients.items():
            client.meta.events.register("after-call", self._recorder(region))

    def _recorder(self, region: str) -> Any:
        def record(http_response: Any, **_: Any) -> None:
            self.bodies[region] = http_response.content

        return record

    def call(self, operation: str, **kwargs: Any) -> tuple[Any, Any]:
        answers = []
        for region, client in self.clients.items():
            self.bodies.pop(region, None)
            with moto_speed.unpatched() if region == UNPATCHED else nullcontext():
                try:
                    parsed = getattr(client, operation)(**kwargs)
                    parsed.pop("ResponseMetadata", None)
                    answers.append(("ok", _regional(parsed), _raw(self.bodies.get(region))))
                except ClientError as error:
                    answers.append(("error", error.response["Error"], None))
                except Exception as error:  # moto's own failures too (an empty map key breaks its serializer)
                    answers.append(("raised", type(error).__name__, str(error)))
        return answers[0], answers[1]

    def same(self, operation: str, **kwargs: Any) -> Any:
        patched, unpatched = self.call(operation, **kwargs)
        assert patched == unpatched, f"{operation} {json.dumps(kwargs, default=str)[:600]}"
        return patched


_TIMED = ("ApproximateCreationDateTime", "SizeBytes")  # a stream record's time, and its size counted with it


def _regional(value: Any) -> Any:
    """ARNs and stream labels name the region; nothing else in an answer may differ."""
    text = json.dumps(value, default=str, sort_keys=True).replace(UNPATCHED, PATCHED)
    return json.loads(text)


def _raw(body: bytes | None) -> Any:
    if not body:
        return None
    return _regional(json.loads(body))


@contextmanager
def fresh() -> Iterator[Twin]:
    """Both backends with the same empty tables (a new pair for every example)."""
    with mock_aws():
        twin = Twin("dynamodb")
        for client in twin.clients.values():
            client.create_table(
                TableName="tbl",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                    {"AttributeName": "g", "AttributeType": "S"},
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": "by-g",
                        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )
            client.create_table(
                TableName="num",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "N"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        yield twin


def _hash_only_table(name: str, **extra: Any) -> Any:
    """A client of the patched backend, with a table keyed by `pk` alone."""
    client = boto3.client("dynamodb", region_name=PATCHED)
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    return client


# ----------------------------------------------------------------------------------------------- strategies
PARTITIONS = st.sampled_from(["p1", "p2", "p3"])
# Few letters: range keys collide, prefix one another and sort around each other's bounds
RANGE_KEYS = st.text(alphabet="abAB#0", min_size=1, max_size=4)
NUMBERS = st.sampled_from(["0", "1", "-1", "1.5", "10", "2", "100", "007", "1e3"])
SCALARS = st.one_of(
    st.text(max_size=8).map(lambda s: {"S": s}),
    NUMBERS.map(lambda n: {"N": n}),
    st.binary(max_size=6).map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.sets(st.text(min_size=1, max_size=4), min_size=1, max_size=3).map(lambda s: {"SS": sorted(s)}),
    st.sets(st.sampled_from(["1", "2", "3.5"]), min_size=1, max_size=3).map(lambda s: {"NS": sorted(s)}),
    st.sets(st.binary(min_size=1, max_size=3), min_size=1, max_size=2).map(lambda s: {"BS": sorted(s)}),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda values: {"L": values}),
        st.dictionaries(st.text(alphabet="xyz", max_size=2), inner, max_size=3).map(lambda m: {"M": m}),
    ),
    max_leaves=6,
)
ATTRIBUTE_NAMES = st.sampled_from(["a", "b", "c", "g"])


@st.composite
def items(draw: Any, big: bool = False) -> dict[str, Any]:
    item = {"pk": {"S": draw(PARTITIONS)}, "sk": {"S": draw(RANGE_KEYS)}}
    for name in draw(st.lists(ATTRIBUTE_NAMES, max_size=3, unique=True)):
        item[name] = {"S": draw(st.sampled_from(["x", "y"]))} if name == "g" else draw(VALUES)
    if big and draw(st.booleans()):
        item["blob"] = {"S": "z" * draw(st.sampled_from([90_000, 200_000, 390_000]))}
    return item


@st.composite
def update_expressions(draw: Any) -> tuple[str, dict[str, str], dict[str, Any]]:
    """SET / REMOVE / ADD clauses, sometimes repeated, with paths that may duplicate or overlap each other."""
    paths = st.sampled_from(["a", "b", "c", "#n", "a.x", "#n.y", "c[0]", "a.x.y"])
    clauses = []
    values: dict[str, Any] = {}
    for index, kind in enumerate(draw(st.lists(st.sampled_from(["SET", "REMOVE", "ADD"]), min_size=1, max_size=4))):
        actions = []
        for number, path in enumerate(draw(st.lists(paths, min_size=1, max_size=5))):
            placeholder = f":v{index}_{number}"
            if kind == "SET":
                values[placeholder] = draw(SCALARS)
                actions.append(f"{path} = {placeholder}")
            elif kind == "ADD":
                values[placeholder] = {"N": draw(NUMBERS)}
                actions.append(f"{path} {placeholder}")
            else:
                actions.append(path)
        clauses.append(f"{kind} {', '.join(actions)}")
    expression = " ".join(clauses)
    names = {"#n": "b"} if "#n" in expression else {}
    return expression, names, values


def key_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"pk": item["pk"], "sk": item["sk"]}


# ------------------------------------------------------------------------------------------------- the tests
@SETTINGS
@given(st.lists(items(), min_size=1, max_size=12), st.data())
def test_update_item_answers_and_errors_are_moto_s_own(stored: list[Any], data: Any) -> None:
    with fresh() as dynamodb:
        for item in stored:
            dynamodb.same("put_item", TableName="tbl", Item=item)
        for _ in range(6):
            expression, names, values = data.draw(update_expressions())
            key = key_of(data.draw(st.sampled_from(stored)))
            arguments: dict[str, Any] = {"TableName": "tbl", "Key": key, "UpdateExpression": expression}
            if names:
                arguments["ExpressionAttributeNames"] = names
            if values:
                arguments["ExpressionAttributeValues"] = values
            dynamodb.same(
                "update_item", ReturnValues=data.draw(st.sampled_from(["ALL_NEW", "UPDATED_OLD"])), **arguments
            )
            dynamodb.same("transact_write_items", TransactItems=[{"Update": arguments}])
        dynamodb.same("scan", TableName="tbl")


@SETTINGS
@given(st.lists(items(big=True), min_size=0, max_size=25), st.data())
def test_query_pages_are_moto_s_own(stored: list[Any], data: Any) -> None:
    with fresh() as dynamodb:
        for item in stored:
            dynamodb.same("put_item", TableName="tbl", Item=item)
        deleted = data.draw(st.lists(st.sampled_from(stored), max_size=3)) if stored else []
        for item in deleted:
            dynamodb.same("delete_item", TableName="tbl", Key=key_of(item))
        for _ in range(8):
            query: dict[str, Any] = {
                "TableName": "tbl",
                "ExpressionAttributeValues": {":p": {"S": data.draw(PARTITIONS)}},
            }
            condition = data.draw(st.sampled_from(["", "=", "<", "<=", ">", ">=", "BETWEEN", "begins_with"]))
            if condition == "":
                query["KeyConditionExpression"] = "pk = :p"
            elif condition == "BETWEEN":
                query["KeyConditionExpression"] = "pk = :p AND sk BETWEEN :a AND :b"
                query["ExpressionAttributeValues"] |= {
                    ":a": {"S": data.draw(RANGE_KEYS)},
                    ":b": {"S": data.draw(RANGE_KEYS)},
                }
            elif condition == "begins_with":
                query["KeyConditionExpression"] = "pk = :p AND begins_with(sk, :a)"
                query["ExpressionAttributeValues"][":a"] = {"S": data.draw(RANGE_KEYS)}
            else:
                query["KeyConditionExpression"] = f"pk = :p AND sk {condition} :a"
                query["ExpressionAttributeValues"][":a"] = {"S": data.draw(RANGE_KEYS)}
            if data.draw(st.booleans()):
                query["Limit"] = data.draw(st.integers(min_value=1, max_value=6))
            query["ScanIndexForward"] = data.draw(st.booleans())
            if data.draw(st.booleans()):
                query["FilterExpression"] = "attribute_exists(a)"
            if data.draw(st.booleans()):
                query["ProjectionExpression"] = "pk, sk, a"
            if data.draw(st.booleans()):
                query["ExclusiveStartKey"] = {
                    "pk": query["ExpressionAttributeValues"][":p"],
                    "sk": {"S": data.draw(RANGE_KEYS)},
                }
            pages = 0
            while pages < 30:  # every page to the end, each start key the one the last page gave
                outcome, answer, _ = dynamodb.same("query", **query)
                pages += 1
                if outcome != "ok" or "LastEvaluatedKey" not in answer:
                    break
                query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
            index_query = {
                "TableName": "tbl",
                "IndexName": "by-g",
                "KeyConditionExpression": "g = :g",
                "ExpressionAttributeValues": {":g": {"S": data.draw(st.sampled_from(["x", "y"]))}},
            }
            dynamodb.same("query", **index_query)


@SETTINGS
@given(st.lists(st.tuples(PARTITIONS, NUMBERS), max_size=15, unique=True), st.data())
def test_numeric_range_keys_query_as_moto_does(keys: list[Any], data: Any) -> None:
    with fresh() as dynamodb:
        for pk, sk in keys:
            dynamodb.same("put_item", TableName="num", Item={"pk": {"S": pk}, "sk": {"N": sk}, "v": {"S": pk + sk}})
        for _ in range(6):
            query: dict[str, Any] = {
                "TableName": "num",
                "KeyConditionExpression": f"pk = :p AND sk {data.draw(st.sampled_from(['>', '>=', '<', '=']))} :a",
                "ExpressionAttributeValues": {":p": {"S": data.draw(PARTITIONS)}, ":a": {"N": data.draw(NUMBERS)}},
                "ScanIndexForward": data.draw(st.booleans()),
                "Limit": data.draw(st.integers(min_value=1, max_value=4)),
            }
            while True:
                outcome, answer, _ = dynamodb.same("query", **query)
                if outcome != "ok" or "LastEvaluatedKey" not in answer:
                    break
                query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


@SETTINGS
@given(st.lists(items(), min_size=1, max_size=10))
def test_item_returning_answers_are_serialized_as_moto_does(stored: list[Any]) -> None:
    """GetItem, BatchGetItem, Scan, TransactGetItems and stream GetRecords, over every attribute type."""
    with fresh() as dynamodb:
        for item in stored:
            dynamodb.same("put_item", TableName="tbl", Item=item, ReturnValues="ALL_OLD")
        keys = [key_of(item) for item in stored]
        for key in keys:
            dynamodb.same("get_item", TableName="tbl", Key=key, ConsistentRead=True)
        unique = list({json.dumps(key, sort_keys=True): key for key in keys}.values())
        dynamodb.same("batch_get_item", RequestItems={"tbl": {"Keys": unique}})
        dynamodb.same("transact_get_items", TransactItems=[{"Get": {"TableName": "tbl", "Key": key}} for key in unique])
        dynamodb.same("scan", TableName="tbl", Limit=4)
        dynamodb.same("delete_item", TableName="tbl", Key=keys[0], ReturnValues="ALL_OLD")

        streams = Twin("dynamodbstreams")
        records = {}
        for region, client in streams.clients.items():
            with moto_speed.unpatched() if region == UNPATCHED else nullcontext():
                arn = client.list_streams(TableName="tbl")["Streams"][0]["StreamArn"]
                shard = client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
                iterator = client.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
                try:
                    client.get_records(ShardIterator=iterator["ShardIterator"])
                except Exception as error:  # moto's own failures (an empty map key) must be the same too
                    records[region] = [type(error).__name__]
                    continue
                body = json.loads(streams.bodies[region])
                records[region] = [
                    {
                        k: v
                        for k, v in record["dynamodb"].items()
                        if k not in ("ApproximateCreationDateTime", "SizeBytes")
                    }  # times differ
                    | {"eventName": record["eventName"]}
                    for record in body["Records"]
                ]
        assert records[PATCHED] == records[UNPATCHED]


def test_the_server_lists_the_same_service_modules_as_moto_does() -> None:
    from moto import backends

    listed = list(backends.list_of_moto_modules())
    with moto_speed.unpatched():
        assert listed == list(backends.list_of_moto_modules())
    assert list(backends.list_of_moto_modules()) == listed  # listed once, the same every time
    assert "dynamodb" in listed


def test_items_stream_records_and_iterators_are_not_kept_for_ever() -> None:
    """moto tracks every model instance it makes; the patched moto makes these four untracked, answers unchanged
    (the differential tests above compare the answers)."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord
    from moto.dynamodbstreams.models import ShardIterator

    tracked = (Item, StreamRecord, ShardIterator)
    with fresh() as dynamodb:
        before = [len(model.instances_tracked) for model in tracked]  # type: ignore[attr-defined]
        for n in range(30):
            dynamodb.same("put_item", TableName="tbl", Item={"pk": {"S": "p1"}, "sk": {"S": str(n)}})
            dynamodb.same(
                "query",
                TableName="tbl",
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "p1"}},
                Limit=5,
            )
        after = [len(model.instances_tracked) for model in tracked]  # type: ignore[attr-defined]
    # Only the unpatched twin's instances were tracked: 30 items stored, their query copies and stream records
    assert after[0] - before[0] >= 30 and after[1] - before[1] == 30
    with mock_aws():
        client = _hash_only_table(
            "only-patched", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        )
        start = [len(model.instances_tracked) for model in tracked]  # type: ignore[attr-defined]
        for n in range(30):
            client.put_item(TableName="only-patched", Item={"pk": {"S": str(n)}})
        assert len(client.scan(TableName="only-patched")["Items"]) == 30
        assert [len(model.instances_tracked) for model in tracked] == start  # type: ignore[attr-defined]


def test_a_twenty_action_set_runs_the_validators_at_the_root_only() -> None:
    """The quadratic walk is gone: moto's own traversal runs only when the root check fails."""
    from moto.dynamodb.parsing import validators

    calls = {"own": 0}
    own = validators.ActionCountValidator.traverse

    def counting(self: Any, node: Any) -> Any:
        calls["own"] += 1
        return own(self, node)

    with mock_aws():
        client = _hash_only_table("tbl")
        validators.ActionCountValidator.traverse = counting  # type: ignore[method-assign]
        try:
            names = list(string.ascii_lowercase[:20])
            client.update_item(
                TableName="tbl",
                Key={"pk": {"S": "k"}},
                UpdateExpression="SET " + ", ".join(f"{n} = :{n}" for n in names),
                ExpressionAttributeValues={f":{n}": {"S": n} for n in names},
            )
            assert calls["own"] == 0
            with pytest.raises(ClientError, match="Two document paths overlap"):
                client.update_item(
                    TableName="tbl",
                    Key={"pk": {"S": "k"}},
                    UpdateExpression="SET a = :a, a.b = :a",
                    ExpressionAttributeValues={":a": {"S": "a"}},
                )
            with pytest.raises(ClientError, match='The "SET" section can only be used once'):
                client.update_item(
                    TableName="tbl",
                    Key={"pk": {"S": "k"}},
                    UpdateExpression="SET a = :a SET b = :a",
                    ExpressionAttributeValues={":a": {"S": "a"}},
                )
            assert calls["own"] == 1  # only for the failing SET SET: its exact error is moto's own
        finally:
            validators.ActionCountValidator.traverse = own  # type: ignore[method-assign]
