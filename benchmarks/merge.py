"""Merging profiles: a merge of a profile with 1k and 10k traces (time, KMS calls, DynamoDB requests and capacity
units), and what identity resolution costs a touchpoint that merges nothing (a ratio in the same run)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import boto3

from benchmarks.calls import item_size, read_units, write_units
from benchmarks.harness import CallCounter, lambda_context, quiet_stdout, web_event, web_signup
from benchmarks.stack import Stack

WORKER = "MergeWorkerFunction"


def _post(stack: Stack, payload: dict[str, Any]) -> dict[str, Any]:
    answer = stack.handler()(web_event(payload, stack.api_key_id), lambda_context())
    assert answer["statusCode"] == 200, answer["body"]
    return dict(json.loads(answer["body"])["results"][0])


def _as_worker(stack: Stack) -> None:
    """Switch the process to the merge worker's environment, as a new container of it."""
    from local_runner.emulator import template as cfn
    from touchpoints.wiring import container

    spec = next(s for s in cfn.functions(cfn.load()) if s.logical_id == WORKER)
    os.environ.update(stack.provisioned.environment(spec, overrides={}))
    container.reset()
    stack._current = WORKER


def _merge_once(stack: Stack, n: int, traces: int) -> dict[str, Any]:
    from local_runner.commands.demo_data import stack_secret
    from tests.factories import seed_subject_events, sqs_event, subject_cipher, subject_of, vouched
    from touchpoints.privacy.tokenizer import Tokenizer

    stack.activate()
    raw = stack.raw_client("dynamodb")
    tokenizer = Tokenizer(stack_secret(stack.raw_client("secretsmanager")).encode())
    # The web is a public channel: its answers do not say which profile; the token index does.
    signup = web_signup(n)
    _post(stack, signup)
    email = signup["customer"]["email"]
    known = subject_of(raw, stack.identity_index, tokenizer, "email", email)
    anonymous_id = f"bench-anon-{n}"
    visit = {k: v for k, v in web_signup(n).items() if k not in ("customer", "consent")}
    visit |= {
        "action": "page_view",
        "anonymous_id": anonymous_id,
        "consent": [{"purpose": "analytics", "granted": True}],
    }
    _post(stack, visit)
    absorbed = subject_of(raw, stack.identity_index, tokenizer, "anonymous_id", anonymous_id)
    assert known and absorbed and known != absorbed
    cipher = subject_cipher(raw, stack.raw_client("kms"), stack.key_vault_table, absorbed)
    seed_subject_events(raw, stack.profile_table, absorbed, traces, cipher)

    login = {**web_signup(n), "action": "login", "anonymous_id": anonymous_id, "customer": {"email": email}}
    start = time.perf_counter()
    _post(stack, vouched(login, "web", tokenizer, email=email))  # the web's back end vouches for the login
    claimed = time.perf_counter() - start
    tombstone = raw.get_item(
        TableName=stack.profile_table, Key={"pk": {"S": f"SUBJECT#{absorbed}"}, "sk": {"S": "PROFILE"}}
    )
    assert tombstone["Item"]["status"]["S"] == "merging", tombstone

    _as_worker(stack)
    kms = CallCounter().attach(stack.client("kms"))
    dynamodb = CallCounter().attach(stack.client("dynamodb"))
    meter = _CapacityMeter().attach(stack.client("dynamodb"))
    sqs = boto3.client("sqs")
    url = stack.provisioned.queues["MergeQueue"]
    arn = str(stack.provisioned.intrinsics.attributes[("MergeQueue", "Arn")])
    handler = stack_handler(stack)
    sqs.send_message(
        QueueUrl=url, MessageBody=json.dumps({"absorbed": absorbed})
    )  # what the claim's stream record does
    invocations = 0
    merge_start = time.perf_counter()
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]).get(
        "Messages", []
    ):
        answer = handler(sqs_event(messages, arn), lambda_context(WORKER))
        assert answer == {"batchItemFailures": []}, answer
        sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        invocations += 1
    merged = time.perf_counter() - merge_start
    events = _count_events(raw, stack.profile_table, known)
    assert events >= traces, (events, traces)
    return {
        "traces": traces,
        "claim_seconds": claimed,
        "merge_seconds": merged,
        "ms_per_trace": merged / traces * 1e3,
        "worker_invocations": invocations,
        "kms_calls": kms.total(),
        "kms_calls_by_operation": dict(kms.calls),
        "dynamodb_requests": dynamodb.total(),
        "dynamodb_requests_by_operation": dict(dynamodb.calls),
        "write_capacity_units_priced": meter.write_units,
        "read_capacity_units_priced": meter.read_units,
    }


def _count_events(raw: Any, table: str, subject_id: str) -> int:
    """All of a subject's event items (a query page stops at 1 MB: 10k events take several)."""
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :e)",
        "ExpressionAttributeValues": {":pk": {"S": f"SUBJECT#{subject_id}"}, ":e": {"S": "EVENT#"}},
        "Select": "COUNT",
        "ConsistentRead": True,
    }
    counted = 0
    while True:
        page = raw.query(**query)
        counted += page["Count"]
        if "LastEvaluatedKey" not in page:
            return counted
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class _CapacityMeter:
    """Prices the worker's requests from their parameters alone (no extra reads, so 10k traces stay measurable).

    Transactions: 2 WCU per started KB of each item put; deletes, updates and condition checks are of items
    under 1 KB here (events, links, tokens, the profile's counters), 2 WCU each. Single writes: 1 WCU each.
    Strongly consistent reads: 1 RCU per item a batch get names or a query returns (all under 4 KB).
    """

    def __init__(self) -> None:
        self.write_units = 0.0
        self.read_units = 0.0

    def attach(self, client: Any) -> _CapacityMeter:
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)
        return self

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "TransactWriteItems":
            for entry in params["TransactItems"]:
                ((kind, op),) = entry.items()
                size = item_size(op["Item"]) if kind == "Put" else 1
                self.write_units += write_units(size, transactional=True)
        elif model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            self.write_units += 1
        elif model.name == "BatchWriteItem":
            self.write_units += sum(len(v) for v in params["RequestItems"].values())
        elif model.name == "BatchGetItem":
            self.read_units += sum(len(v["Keys"]) for v in params["RequestItems"].values())
        elif model.name == "GetItem":
            self.read_units += read_units(1, consistent=True)

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.name == "Query":
            self.read_units += max(1, len(parsed.get("Items", [])))


def stack_handler(stack: Stack) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    import importlib

    from local_runner.emulator import template as cfn

    spec = next(s for s in cfn.functions(cfn.load()) if s.logical_id == WORKER)
    return getattr(importlib.import_module(spec.module), spec.attribute)  # type: ignore[no-any-return]


def no_merge_overhead(stack: Stack, touchpoints: int, repeats: int) -> dict[str, Any]:
    """Seconds per touchpoint of a known person (nothing to merge) with identity resolution, and with its
    decision replaced by "single" (the pipeline as it was before merges), alternated in one run."""
    from touchpoints.identity import placement
    from touchpoints.identity.resolution import IdentityDecision, IdentityOutcome

    real = placement.decide

    def before_merges(touchpoint: Any, survivor: Any, *_: Any, **__: Any) -> IdentityDecision:
        return IdentityDecision(IdentityOutcome.SINGLE, survivor.subject_id)

    stack.activate()
    handler, context = stack.handler(), lambda_context()
    with quiet_stdout():
        for payload in (web_signup(9_500 + i) for i in range(20)):  # every person known and cached: the steady state
            handler(web_event(payload, stack.api_key_id), context)
    best: dict[str, float] = {}
    requests: dict[str, float] = {}
    counter = CallCounter().attach(stack.client("dynamodb"))
    variants = [("with_identity_resolution", real), ("before_merges", before_merges)]
    for repeat in range(repeats):
        for name, decide in variants if repeat % 2 == 0 else variants[::-1]:
            placement.decide = decide  # type: ignore[assignment]
            # Each person's next touchpoint: a new event, later than their last (web_signup's clock moves on)
            fresh = [web_signup(9_500 + i % 20) for i in range(touchpoints)]
            counter.reset()
            start = time.perf_counter()
            with quiet_stdout():
                for payload in fresh:
                    answer = handler(web_event(payload, stack.api_key_id), context)
                    assert answer["statusCode"] == 200, answer["body"]
            seconds = (time.perf_counter() - start) / touchpoints
            best[name] = min(best.get(name, seconds), seconds)
            requests[name] = counter.total() / touchpoints
    placement.decide = real
    ratio = best["with_identity_resolution"] / best["before_merges"]
    return {
        "touchpoints": touchpoints,
        "seconds_per_touchpoint": best,
        "dynamodb_requests_per_touchpoint": requests,
        "ratio": ratio,
        "target": "a touchpoint that merges nothing costs no more than before: the same requests, time ratio <= 1.05",
        "met": requests["with_identity_resolution"] == requests["before_merges"] and ratio <= 1.05,
    }


MERGE_SCALING_TARGET = 12.0  # time of a merge 10x the size, over the smaller's


def measure(stack: Stack, sizes: tuple[int, ...], *, touchpoints: int, repeats: int) -> dict[str, Any]:
    with quiet_stdout():
        runs = {str(size): _merge_once(stack, 8_200 + index, size) for index, size in enumerate(sizes)}
    small, large = sizes[0], sizes[-1]
    growth = runs[str(large)]["merge_seconds"] / runs[str(small)]["merge_seconds"]
    target = MERGE_SCALING_TARGET * large / small / 10
    return {
        "runs": runs,
        # issue 21: a merge of 10x the traces takes at most 12x the time (linear, not moto's partition walk)
        "scaling": {
            "sizes": [small, large],
            "time_ratio": growth,
            "target_ratio": target,
            "met": growth <= target,
        },
        "no_merge_touchpoint": no_merge_overhead(stack, touchpoints, repeats),
        "note": "moto in-process. The absorbed profile's traces are seeded straight into its partition, encrypted "
        "under its key; the login that finds both profiles claims the merge (claim_seconds), then the merge worker "
        "moves the traces in pages of policies/identity.yaml's page_size, re-encrypting each under the survivor's "
        "key (merge_seconds). KMS: the branch key both subject keys are wrapped under, unwrapped once (two "
        "Decrypts, one per subject key, before issue 24). Capacity units are priced from the "
        "requests' parameters (see _CapacityMeter): moto reports none for transactions.",
    }
