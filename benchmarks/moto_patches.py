"""What each moto_speed patch gains: the same calls against a patched and an unpatched backend, in one run.

The upstream reports in docs/contributors.md quote these figures: a 20-action SET, a 25-item Query page at the end of a
large partition, and a 250-item Query answer (serialization), each as ms per call and the unpatched/patched ratio.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import boto3
from moto import mock_aws

from benchmarks.harness import fmt
from local_runner.emulator import moto_fixes, moto_speed


@contextmanager
def _table(partition_size: int) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(partition_size):
            client.put_item(
                TableName="bench",
                Item={"pk": {"S": "p"}, "sk": {"S": f"TRACE#{n:06d}"}, "v": {"S": "x" * 40}, "n": {"N": str(n)}},
            )
        yield client


def _ms_per_call(call: Callable[[], Any], repeats: int, patched: bool) -> float:
    times = []
    with nullcontext() if patched else moto_speed.unpatched():
        call()  # warm: caches, imports
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def _compare(call: Callable[[], Any], repeats: int) -> dict[str, float]:
    unpatched = _ms_per_call(call, repeats, patched=False)
    patched = _ms_per_call(call, repeats, patched=True)
    return {"unpatched_ms": unpatched, "patched_ms": patched, "speedup": unpatched / patched if patched else 0.0}


def measure(*, partition_size: int, repeats: int) -> dict[str, Any]:
    moto_fixes.install()
    names = [f"a{n}" for n in range(20)]
    with _table(partition_size) as client:
        update = _compare(
            lambda: client.update_item(
                TableName="bench",
                Key={"pk": {"S": "p"}, "sk": {"S": "TRACE#000000"}},
                UpdateExpression="SET " + ", ".join(f"{n} = :{n}" for n in names),
                ExpressionAttributeValues={f":{n}": {"S": n} for n in names},
            ),
            repeats,
        )
        last_page = {"pk": {"S": "p"}, "sk": {"S": f"TRACE#{partition_size - 30:06d}"}}
        page = _compare(
            lambda: client.query(
                TableName="bench",
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "p"}},
                Limit=25,
                ExclusiveStartKey=last_page,
            ),
            repeats,
        )
        answer = _compare(
            lambda: client.query(
                TableName="bench",
                KeyConditionExpression="pk = :p AND begins_with(sk, :t)",
                ExpressionAttributeValues={":p": {"S": "p"}, ":t": {"S": "TRACE#"}},
                Limit=250,
            ),
            repeats,
        )
    return {
        "partition_size": partition_size,
        "update_20_actions": update,
        "query_last_page_25": page,
        "query_answer_250": answer,
        "applied": list(moto_speed.applied),
        "skipped": list(moto_speed.skipped),
        "note": "in-process moto, boto3 client; median ms per call, unpatched (moto_speed.unpatched) then patched, "
        "same table, same run. The serializer patch is in every row; the page row is mostly the Query patch.",
    }


def rows(m: dict[str, Any]) -> list[tuple[str, ...]]:
    labels = {
        "update_20_actions": "moto: UpdateItem, 20-action SET",
        "query_last_page_25": f"moto: Query, 25-item page at the end of {m['partition_size']:,} items",
        "query_answer_250": "moto: Query answer of 250 items",
    }
    return [
        (
            label,
            fmt(m[key]["patched_ms"], " ms"),
            f"unpatched {fmt(m[key]['unpatched_ms'], ' ms')}",
            f"{fmt(m[key]['speedup'])}x faster",
            "",
            "",
        )
        for key, label in labels.items()
    ]
