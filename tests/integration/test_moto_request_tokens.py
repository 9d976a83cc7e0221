"""local_runner.emulator.moto_speed patch 7: the embedded moto honours TransactWriteItems' ClientRequestToken as
DynamoDB documents it (API reference, TransactWriteItems, ClientRequestToken):

- multiple identical calls under one token have the effect of one; a repeat answers as the first did;
- a token is valid for 10 minutes after the first request that used it completed; later, it is a new request;
- the same token with other parameters within the 10 minutes: IdempotentParameterMismatchException;
- a transaction that failed is not held under its token: the same request again is applied.

As in test_moto_speed, two regions of one mock_aws are two backends; the unpatched one runs moto's own function
(`moto_speed.unpatched()`), which applies every repeat again.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from local_runner.emulator import moto_fixes, moto_speed

moto_fixes.install()
PATCHED, UNPATCHED = "us-east-1", "eu-west-1"
TABLE = "tokens"
CAP = 4  # a counter's transaction is cancelled once the counter reached it


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(moto_speed, "token_clock", moved)
    return moved


class Region:
    def __init__(self, region: str, table: str = TABLE, client: Any = None) -> None:
        self.region, self.table = region, table
        self.client = client or boto3.client("dynamodb", region_name=region)
        self.bodies: list[bytes] = []
        if client is None:
            self.client.meta.events.register("after-call.dynamodb.TransactWriteItems", self._record)
        self.client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    def _record(self, http_response: Any, **_: Any) -> None:
        self.bodies.append(http_response.content)

    def _moto(self) -> Any:
        return nullcontext() if self.region == PATCHED else moto_speed.unpatched()

    def add(self, token: str, key: str = "a", by: int = 1) -> str:
        """ADD `by` to the key's counter under `token` (not idempotent by itself): ok, or the error's code."""
        with self._moto():
            try:
                self.client.transact_write_items(TransactItems=[_add(self.table, key, by)], ClientRequestToken=token)
            except ClientError as error:
                return str(error.response["Error"]["Code"])
        return "ok"

    def counter(self, key: str = "a") -> int:
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return int(item["n"]["N"]) if item else 0


def _add(table: str, key: str, by: int) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": key}},
            "UpdateExpression": "ADD #n :by",
            "ConditionExpression": "attribute_not_exists(#n) OR #n < :cap",
            "ExpressionAttributeNames": {"#n": "n"},
            "ExpressionAttributeValues": {":by": {"N": str(by)}, ":cap": {"N": str(CAP)}},
        }
    }


@pytest.fixture
def regions() -> Iterator[tuple[Region, Region]]:
    with mock_aws():
        yield Region(PATCHED), Region(UNPATCHED)


def test_the_patch_is_applied_on_the_pinned_moto() -> None:
    assert "moto.dynamodb.responses.DynamoHandler.transact_write_items" in moto_speed.applied


def test_a_repeat_under_the_same_token_is_answered_as_the_first_and_applied_once(regions, clock) -> None:
    patched, unpatched = regions
    assert [patched.add("t-1") for _ in range(3)] == ["ok"] * 3
    assert patched.counter() == 1
    assert patched.bodies[1] == patched.bodies[0] == patched.bodies[2]
    # moto's own applies every repeat
    assert [unpatched.add("t-1") for _ in range(3)] == ["ok"] * 3
    assert unpatched.counter() == 3


def test_the_same_token_with_other_parameters_is_a_mismatch(regions, clock) -> None:
    patched, unpatched = regions
    assert patched.add("t-1", by=1) == "ok"
    assert patched.add("t-1", by=2) == "IdempotentParameterMismatchException"
    assert patched.add("t-1", key="b") == "IdempotentParameterMismatchException"
    assert (patched.counter("a"), patched.counter("b")) == (1, 0)
    assert patched.add("t-1", by=1) == "ok"  # the identical request is still answered
    assert unpatched.add("t-1", by=1) == unpatched.add("t-1", by=2) == "ok"
    assert unpatched.counter() == 3


def test_a_token_is_held_for_ten_minutes_after_the_request_completed(regions, clock) -> None:
    patched, _ = regions
    assert patched.add("t-1") == "ok"
    clock.now += moto_speed.TOKEN_WINDOW_SECONDS - 1
    assert patched.add("t-1") == "ok" and patched.counter() == 1
    assert patched.add("t-1", by=2) == "IdempotentParameterMismatchException"
    clock.now += 1  # ten minutes after the first: a new request, with any parameters
    assert patched.add("t-1", by=2) == "ok" and patched.counter() == 3
    assert patched.add("t-1", by=2) == "ok" and patched.counter() == 3  # held again, from its own completion


def test_a_failed_transaction_holds_no_token(regions, clock) -> None:
    patched, _ = regions
    patched.client.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "n": {"N": str(CAP)}})
    assert patched.add("t-1") == "TransactionCanceledException"
    assert patched.add("t-1", by=2) == "TransactionCanceledException"  # not a mismatch: nothing held
    patched.client.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "n": {"N": "0"}})
    assert patched.add("t-1") == "ok" and patched.counter() == 1  # the same request again is applied
    assert patched.add("t-1") == "ok" and patched.counter() == 1


def test_tokens_not_parameters_name_a_request(regions, clock) -> None:
    patched, unpatched = regions
    assert [patched.add(f"t-{n}") for n in range(3)] == ["ok"] * 3
    assert patched.counter() == 3 == sum(unpatched.add(f"t-{n}") == "ok" for n in range(3))


def test_botocore_keeps_its_own_token_across_retries_only(regions, clock) -> None:
    """Without a token given, botocore makes one per call: two calls are two requests, both applied."""
    patched, _ = regions
    for _ in range(2):
        patched.client.transact_write_items(TransactItems=[_add(TABLE, "a", 1)])
    assert patched.counter() == 2


# DynamoDB's documented behaviour as a model: each request is (token, key, by, minutes waited before it).
REQUESTS = st.lists(
    st.tuples(st.sampled_from(["t-1", "t-2", "t-3"]), st.sampled_from("ab"), st.integers(1, 2), st.integers(0, 6)),
    min_size=1,
    max_size=12,
)


def test_the_patched_moto_answers_as_dynamodb_documents(clock) -> None:
    with mock_aws():
        runs = itertools.count()
        client = boto3.client("dynamodb", region_name=PATCHED)

        @given(requests=REQUESTS)
        @settings(max_examples=40, deadline=None)
        def check(requests: list[tuple[str, str, int, int]]) -> None:
            run = next(runs)  # a table and tokens of its own: the backend holds every earlier run's tokens
            patched = Region(PATCHED, f"{TABLE}-{run}", client)
            held: dict[str, tuple[tuple[str, int], float]] = {}  # token -> parameters, completed at
            counters = {"a": 0, "b": 0}
            for name, key, by, minutes in requests:
                token = f"{run}-{name}"
                clock.now += minutes * 60
                seen = held.get(token)
                if seen is not None and clock.now - seen[1] < moto_speed.TOKEN_WINDOW_SECONDS:
                    expected = "ok" if seen[0] == (key, by) else "IdempotentParameterMismatchException"
                elif counters[key] >= CAP:
                    expected = "TransactionCanceledException"
                else:
                    expected = "ok"
                    counters[key] += by
                    held[token] = ((key, by), clock.now)
                assert patched.add(token, key, by) == expected
            assert {key: patched.counter(key) for key in counters} == counters

        check()
