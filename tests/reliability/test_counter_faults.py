"""The classifier's counters under faults (issue 23): conflicts, throttling and failed conditions injected on the
counter writes and on the profile writes, stream batches delivered twice and bisected, as Lambda's event source
does with the template's settings. Whatever happens, every profile is classified and the reports count each
classification exactly once: the distribution and the field ages equal the profiles counted by hand, the funnel
and the touchpoints equal a run of the same journeys without faults.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_runner.emulator.moto_fixes import hold_api_keys
from local_runner.emulator.provision import LOCAL_ACCOUNT, LOCAL_REGION, provision
from tests import factories, streams
from tests.conftest import FUNCTIONS, TEMPLATE, Lambdas, LocalAws
from tests.factories import api_event
from tests.integration.test_data_quality import ages_in_profiles
from tests.integration.test_funnel_counters import counted_in_profiles, nonzero
from tests.people import person
from tests.reliability import aws_hooks, tally
from touchpoints.adapters import aws, keys
from touchpoints.adapters.classification_store import DynamoClassificationStore
from touchpoints.classification.counts import StateCell, Tally, TallyKind, Token
from touchpoints.classification.service import Outcome
from touchpoints.errors import StorageUnavailable
from touchpoints.items import counter as counter_item
from touchpoints.wiring import container

CLASSIFIER = "ClassifierFunction"
REPORT = "ProfileStateReportFunction"
SOURCE = FUNCTIONS[CLASSIFIER].streams[0]
ANALYST = "arn:aws:sts::123456789012:assumed-role/BusinessAnalyst/analyst"
COUNTER_ITEM = re.compile(r"^(STATES|FUNNEL|QUALITY|FIELD_AGE)#")
WRITES = ("UpdateItem", "PutItem", "DeleteItem", "TransactWriteItems")
# The code a single write answers, and the cancellation reason a transaction gives for the item that failed
CODES = {
    "TransactionConflict": ("TransactionConflictException", "TransactionConflict"),
    "ProvisionedThroughputExceeded": ("ProvisionedThroughputExceededException", "ProvisionedThroughputExceeded"),
    "ConditionalCheckFailed": ("ConditionalCheckFailedException", "ConditionalCheckFailed"),
}


Target = Callable[[str, dict[str, Any]], bool]  # (table name, item key) -> the fault applies to writes of this item


@dataclass
class WriteFaults:
    """Makes DynamoDB refuse a share of the writes that touch the targeted items, with one code, at the HTTP
    boundary (before moto sees the request), so the SDK's own retries run as against AWS."""

    target: Target
    code: str
    rate: float
    seed: int = 23
    injected: int = 0
    armed: bool = False  # only while the classifier runs: the channels' writes are not under test
    _random: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def __call__(self, request: Any, event_name: str, **_: Any) -> Any:
        operation = event_name.rsplit(".", 1)[-1]
        if not self.armed or operation not in WRITES:
            return None
        body = json.loads(request.body or b"{}")
        if operation == "TransactWriteItems":
            hits = [self._hits(next(iter(entry.values()))) for entry in body.get("TransactItems", [])]
        else:
            hits = [self._hits(body)]
        if not any(hits):
            return None
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            self.injected += 1
        single, reason = CODES[self.code]
        if operation == "TransactWriteItems":
            fault = aws_hooks.Fault(
                "dynamodb",
                operation,
                "TransactionCanceledException",
                reasons=[reason if hit else "None" for hit in hits],
            )
        else:
            fault = aws_hooks.Fault("dynamodb", operation, single)
        tally.add("faults_injected")
        response = fault.response(request)
        request.url = "https://fault-injected.invalid/"  # moto's copy of the request goes nowhere
        return response

    def _hits(self, request: dict[str, Any]) -> bool:
        key = request.get("Key") or {k: v for k, v in (request.get("Item") or {}).items() if k in ("pk", "sk")}
        return self.target(str(request.get("TableName", "")), key)


@contextmanager
def faults(injector: WriteFaults | None) -> Iterator[WriteFaults | None]:
    """Armed for every client built while inside (the functions' clients are built again on entry and exit)."""
    if injector is None:
        yield None
        return
    events = aws.session().events
    events.register("before-send.dynamodb", injector)
    container.reset()
    try:
        yield injector
    finally:
        events.unregister("before-send.dynamodb", injector)
        container.reset()


def counter_items(stack: LocalAws) -> Target:
    counters = stack.table("StateCounterTable")
    return lambda table, key: table == counters and bool(COUNTER_ITEM.match(key.get("pk", {}).get("S", "")))


def counter_table(stack: LocalAws) -> Target:
    counters = stack.table("StateCounterTable")
    return lambda table, _: table == counters


def profiles(stack: LocalAws) -> Target:
    table_name = stack.table("ProfileTable")
    return lambda table, key: table == table_name and key.get("sk", {}).get("S") == keys.PROFILE_SK


class LambdaStream:
    """The profile table's stream delivered to the classifier as Lambda's event source mapping does with the
    template's settings: BatchSize, partial batch responses (retry from the first failed record), a function error
    bisects the batch, MaximumRetryAttempts per batch; records that exhaust them go to `dead_letters`.

    `replay`: every batch, once handled, is delivered again; `bisect`: it is delivered again in halves (what a
    function error after some writes would cause)."""

    def __init__(
        self, lambdas: Lambdas, replay: bool = False, bisect: bool = False, injector: WriteFaults | None = None
    ) -> None:
        self.lambdas = lambdas
        self.stream = streams.TableStream(lambdas.aws.table("ProfileTable"))
        self.replay, self.bisect, self.injector = replay, bisect, injector
        self.delivered: list[dict[str, Any]] = []
        self.dead_letters: list[dict[str, Any]] = []
        self.invocations = 0
        self.retries = 0  # deliveries of records that Lambda would not have made without a failure

    def pump(self) -> None:
        while batch := streams.passing(SOURCE.filters, self.stream.read()):
            self.delivered += batch
            for start in range(0, len(batch), SOURCE.batch_size):
                records = batch[start : start + SOURCE.batch_size]
                self._process(records)
                if self.replay:
                    self._process(records)
                if self.bisect and len(records) > 1:
                    half = len(records) // 2
                    self._process(records[:half])
                    self._process(records[half:])

    def _process(self, batch: list[dict[str, Any]], attempt: int = 0) -> None:
        while batch:
            self.invocations += 1
            ids = [r["dynamodb"]["SequenceNumber"] for r in batch]
            try:
                answer = self._invoke(batch)
            except Exception:  # a function error: Lambda bisects the batch, each half with the retries left
                if len(batch) > 1 and attempt < SOURCE.maximum_retry_attempts:
                    half = len(batch) // 2
                    self.retries += len(batch)
                    self._process(batch[:half], attempt + 1)
                    self._process(batch[half:], attempt + 1)
                    return
                failed = ids
            else:
                reported = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
                failed = [i for i in ids if i in reported]
            if not failed:
                return
            batch = batch[ids.index(failed[0]) :]
            attempt += 1
            if attempt > SOURCE.maximum_retry_attempts:
                self.dead_letters += batch
                return
            self.retries += len(batch)

    def _invoke(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        if self.injector is not None:
            self.injector.armed = True
        try:
            return self.lambdas.invoke(CLASSIFIER, streams.event(batch))
        finally:
            if self.injector is not None:
                self.injector.armed = False

    def settle(self) -> None:
        """A later delivery without faults (here a duplicate of a record already handled): what the counters
        refused before is applied by then."""
        answer = self.lambdas.invoke(CLASSIFIER, streams.event(self.delivered[:1]))
        assert answer["batchItemFailures"] == []


@contextmanager
def fresh_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lambdas]:
    """An embedded AWS built from template.yaml, like the local_aws fixture: this module builds two in one test."""
    for key in {k for spec in FUNCTIONS.values() for k in spec.environment}:
        monkeypatch.setenv(key, os.environ.get(key, ""))
    with mock_aws():
        container.reset()
        provisioned = provision(TEMPLATE, boto3.client)
        hold_api_keys(provisioned.api_keys.values(), LOCAL_ACCOUNT, LOCAL_REGION)
        yield Lambdas(LocalAws(provisioned))
    container.reset()


def post(lambdas: Lambdas, channel: str, body: dict[str, Any]) -> str:
    status, answer = lambdas.post(channel, body)
    assert status == 200, answer
    return str(answer["results"][0].get("profile_id") or lambdas.aws.subject_of_event(channel, body["event_id"]))


def journeys(lambdas: Lambdas, stream: LambdaStream, between: Callable[[], None] = lambda: None) -> None:
    """Cash buyers registering their tickets, app users withdrawing consent, sign-ups, a contact-center call, an
    erasure, a merge and a deletion: state moves, data-quality touchpoints and departures, several records of a
    profile in one batch and batches of many profiles. `between` runs after each step's delivery."""
    buyers = [post(lambdas, "store", factories.store(None, folio=f"F-23{n:02d}")) for n in range(4)]
    apps = [post(lambdas, "app", factories.app(person(2300 + n))) for n in range(4)]
    signed = [post(lambdas, "web", factories.web(person(2310 + n))) for n in range(3)]
    stream.pump()
    between()
    for n, _ in enumerate(buyers[:3]):
        p = person(2320 + n)
        registration = factories.web(
            p,
            action="ticket_registration",
            ticket={"store_id": "TDA-042", "folio": f"F-23{n:02d}"},
            customer={"given_name": p.given_name, "family_name": p.family_name, "email": p.email},
        )
        post(lambdas, "web", registration)
    for n in range(2):
        post(
            lambdas, "email", factories.email(person(2300 + n), event="unsubscribe", occurred_at=factories.occurred(10))
        )
        post(lambdas, "push", factories.push(person(2300 + n), event="opt_out", occurred_at=factories.occurred(11)))
    post(lambdas, "contact-center", factories.contact_center(person(2310), occurred_at=factories.occurred(12)))
    stream.pump()
    between()
    table = lambdas.aws.table("ProfileTable")
    lambdas.aws.dynamodb.update_item(  # what the eraser's first step does (adapters/erasure_store.py freeze)
        TableName=table,
        Key=keys.profile_key(signed[1]),
        UpdateExpression="SET #st = :e, changed_by = :w ADD #v :one",
        ExpressionAttributeNames={"#st": "status", "#v": "version"},
        ExpressionAttributeValues={":e": {"S": "erasing"}, ":w": {"S": "compliance"}, ":one": {"N": "1"}},
    )
    lambdas.aws.dynamodb.update_item(  # what the merge does to the absorbed profile
        TableName=table,
        Key=keys.profile_key(apps[3]),
        UpdateExpression="SET merged_into = :s, changed_by = :w",
        ExpressionAttributeValues={":s": {"S": signed[0]}, ":w": {"S": "merge"}},
    )
    lambdas.aws.dynamodb.delete_item(TableName=table, Key=keys.profile_key(buyers[3]))
    post(lambdas, "store", factories.store(person(2312), folio="F-2399"))
    stream.pump()
    between()


def report(lambdas: Lambdas, route: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    event = api_event("GET", f"/v1/reports/{route}", user_arn=ANALYST)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    answer = lambdas.invoke(REPORT, event)
    assert answer["statusCode"] == 200, answer["body"]
    return dict(json.loads(answer["body"]))


@dataclass(frozen=True)
class Counts:
    by_origin: dict[str, dict[str, int]]
    funnel: list[dict[str, Any]]
    touchpoints: list[dict[str, Any]]
    field_age: dict[str, Any]


def counts(lambdas: Lambdas) -> Counts:
    today = datetime.now(UTC).date().isoformat()
    quality = report(lambdas, "data-quality", {"from": today, "to": today})
    funnel = report(lambdas, "funnel", {"from": today, "to": today})
    return Counts(
        nonzero(report(lambdas, "profile-states")["by_origin"]),
        funnel["totals"],
        [{k: v for k, v in row.items() if k != "generated_at"} for row in quality["touchpoints"]],
        quality["field_age"],
    )


_TRUTH: list[Counts] = []


def truth(monkeypatch: pytest.MonkeyPatch) -> Counts:
    """The journeys' counts without a fault, a replay or a bisection (built once per test session)."""
    if not _TRUTH:
        with fresh_stack(monkeypatch) as lambdas:
            stream = LambdaStream(lambdas)
            journeys(lambdas, stream)
            assert stream.dead_letters == [] and stream.retries == 0
            _TRUTH.append(counts(lambdas))
    return _TRUTH[0]


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item of strings and numbers: names, plus each string, plus ~1 byte per 2 digits."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        size += len(value["S"].encode()) if "S" in value else len(value["N"].lstrip("-")) // 2 + 2
    return size


def assert_everything_classified_and_counted_once(lambdas: Lambdas, stream: LambdaStream, expected: Counts) -> None:
    # Nothing a retry would have saved was left failed
    assert stream.dead_letters == []
    # Every active profile is classified at its latest revision
    unclassified = [
        item["subject_id"]["S"]
        for item in lambdas.aws.scan("ProfileTable")
        if item["sk"]["S"] == keys.PROFILE_SK
        and item["status"]["S"] == "active"
        and "merged_into" not in item
        and item.get("classified_version", {}).get("N") != item["version"]["N"]
    ]
    assert unclassified == []
    # Counter items stay small (markers whose removal failed included: the next tally applied there removes them)
    for item in lambdas.aws.scan("StateCounterTable"):
        if COUNTER_ITEM.match(item["pk"]["S"]):
            assert item_size(item) < 1024, item["pk"]
    # The reports count each classification once: as the profiles counted by hand, as the run without faults
    found = counts(lambdas)
    assert found.by_origin == nonzero(counted_in_profiles(lambdas))  # type: ignore[arg-type]
    assert found.field_age["by_field"] == ages_in_profiles(lambdas)  # type: ignore[arg-type]
    assert found == expected


def test_without_faults_the_counts_are_the_profiles_counted_by_hand(monkeypatch):
    expected = truth(monkeypatch)
    with fresh_stack(monkeypatch) as lambdas:
        stream = LambdaStream(lambdas)
        journeys(lambdas, stream)
        assert_everything_classified_and_counted_once(lambdas, stream, expected)
    assert {(t["from"], t["to"], t["channel"], t["action"]) for t in expected.funnel} >= {
        ("none", "G", "store", "purchase"),
        ("G", "A", "web", "ticket_registration"),
        ("D", "G", "push", "consent_update"),
        ("A", "gone", "compliance", "erasure"),
        ("D", "gone", "identity", "merge"),
        ("G", "gone", "profile", "deleted"),
    }


def test_replayed_and_bisected_batches_count_nothing_twice(monkeypatch):
    expected = truth(monkeypatch)
    with fresh_stack(monkeypatch) as lambdas:
        stream = LambdaStream(lambdas, replay=True, bisect=True)
        journeys(lambdas, stream)
        assert_everything_classified_and_counted_once(lambdas, stream, expected)


def test_counter_items_refusing_every_write_neither_fail_nor_delay_a_classification(monkeypatch):
    """The hot counter items conflict or throttle for a while: each profile is classified on the first delivery
    (no batch fails, nothing waits), and the counts arrive once the counters accept writes again."""
    expected = truth(monkeypatch)
    with fresh_stack(monkeypatch) as lambdas:
        injector = WriteFaults(counter_items(lambdas.aws), "TransactionConflict", rate=1.0)
        stream = LambdaStream(lambdas, injector=injector)
        with faults(injector):
            journeys(lambdas, stream)
        assert injector.injected > 0
        assert (stream.retries, stream.dead_letters) == (0, [])
        # The counters accept writes again: a later delivery applies what they refused
        stream.settle()
        assert_everything_classified_and_counted_once(lambdas, stream, expected)


@pytest.mark.parametrize("code", sorted(CODES))
def test_faults_on_the_counter_writes_with_replays_and_bisection_count_everything_once(monkeypatch, code):
    expected = truth(monkeypatch)
    with fresh_stack(monkeypatch) as lambdas:
        injector = WriteFaults(counter_table(lambdas.aws), code, rate=0.3)
        stream = LambdaStream(lambdas, replay=True, bisect=True, injector=injector)
        with faults(injector):
            journeys(lambdas, stream)
        assert injector.injected > 0
        stream.settle()
        assert_everything_classified_and_counted_once(lambdas, stream, expected)


@pytest.mark.parametrize(
    ("code", "replayed"), [(code, True) for code in sorted(CODES)] + [("ConditionalCheckFailed", False)]
)
def test_faults_on_the_profile_writes_with_replays_and_bisection_count_everything_once(monkeypatch, code, replayed):
    """A refused condition the profile did not really fail (the injected ConditionalCheckFailed) must not pass for
    "someone else classified it": delivered once, without the replays' second chances, it would stay unclassified."""
    expected = truth(monkeypatch)
    with fresh_stack(monkeypatch) as lambdas:
        injector = WriteFaults(profiles(lambdas.aws), code, rate=0.3)
        stream = LambdaStream(lambdas, replay=replayed, bisect=replayed, injector=injector)
        with faults(injector):
            journeys(lambdas, stream)
        assert injector.injected > 0
        stream.settle()
        assert_everything_classified_and_counted_once(lambdas, stream, expected)


def test_an_invocation_that_dies_after_the_profile_writes_loses_no_count(monkeypatch):
    """The function dies (a crash, a timeout) on its first write to the counter table, after the profile writes:
    Lambda delivers the batch again, and the retry counts what the dead invocation classified."""
    expected = truth(monkeypatch)
    with fresh_stack(monkeypatch) as lambdas:
        stream = LambdaStream(lambdas)
        counters = lambdas.aws.table("StateCounterTable")
        dying = [True]
        deaths = [0]

        def die(request: Any, event_name: str, **_: Any) -> None:
            body = json.loads(request.body or b"{}")
            tables = {body.get("TableName")} | {
                next(iter(entry.values())).get("TableName") for entry in body.get("TransactItems", [])
            }
            if dying[0] and counters in tables and event_name.rsplit(".", 1)[-1] in WRITES:
                dying[0] = False
                deaths[0] += 1
                raise RuntimeError("the invocation died")  # no SDK error: nothing in the function handles it

        def next_step() -> None:
            dying[0] = True

        events = aws.session().events
        events.register("before-send.dynamodb", die)
        container.reset()
        try:
            journeys(lambdas, stream, between=next_step)
        finally:
            events.unregister("before-send.dynamodb", die)
            container.reset()
        assert deaths[0] == 3 and stream.retries > 0
        assert_everything_classified_and_counted_once(lambdas, stream, expected)


def test_a_marker_left_behind_goes_with_the_next_tally_applied_to_its_item(local_aws):
    """A marker whose removal failed (a throttle, a crash) is not left to grow the item: once its tally's work is
    known to be done, the next tally that applies counts there removes it with its own."""
    counters = local_aws.table("StateCounterTable")
    store = DynamoClassificationStore(local_aws.dynamodb, local_aws.table("ProfileTable"), counters, shard=lambda: 0)
    now = datetime.now(UTC)
    done = Token.new(TallyKind.STREAM, now - timedelta(hours=1))
    key = {"pk": {"S": "STATES#0"}, "sk": {"S": "STATES"}}
    local_aws.dynamodb.update_item(
        TableName=counters,
        Key=key,
        UpdateExpression="SET #m = :m ADD #c :one",
        ExpressionAttributeNames={"#m": f"applied#{done.value}", "#c": "A|web"},
        ExpressionAttributeValues={":m": {"S": "committed"}, ":one": {"N": "1"}},
    )
    assert store.settle(now + timedelta(minutes=1)) == 0  # nothing to settle; it learns which tallies have work

    tally = Tally.open(TallyKind.STREAM, now + timedelta(minutes=1))
    tally.add({StateCell("A", "web"): 1})
    store.commit(tally)

    item = local_aws.dynamodb.get_item(TableName=counters, Key=key, ConsistentRead=True)["Item"]
    assert item["A|web"] == {"N": "2"}
    assert [name for name in item if name.startswith("applied#")] == []


def test_counts_a_sweep_parked_are_dropped_once_it_committed_and_taken_over_once_it_died(
    lambdas, local_aws, monkeypatch
):
    """A sweep has no retry to find its writes again: each parks its counts on the profile until its tally commits.
    The profile's next classification drops them (committed) or, when the sweep died before committing, takes them
    over: the reports end as the profiles counted by hand, the time moves counted once."""
    from tests.integration.test_classifier_stream import Pipeline
    from tests.integration.test_reclassification_sweep import age, signed_up
    from touchpoints.wiring import classifier as classifier_wiring

    pipeline = Pipeline(lambdas, local_aws)
    first_due, second_due = signed_up(pipeline, 2330), signed_up(pipeline, 2331)
    for subject_id in (first_due, second_due):
        age(pipeline, subject_id, 400)  # due: the contact data is stale, the visit aged out
    for key, value in local_aws.provisioned.environment(FUNCTIONS["ReclassifierFunction"], overrides={}).items():
        monkeypatch.setenv(key, value)
    container.reset()
    one_group = iter([True, False])
    done = classifier_wiring.classifier().sweep(366, lambda: next(one_group, False), 1)
    assert done.outcomes[Outcome.CHANGED] == 1
    committed, died = (first_due, second_due) if pipeline.state(first_due) == "B" else (second_due, first_due)
    # The next group's sweep dies: its profile is written, its tally never commits (and its deadline is long past)
    injector = WriteFaults(counter_table(local_aws), "ProvisionedThroughputExceeded", rate=1.0, armed=True)
    with faults(injector), pytest.raises(StorageUnavailable):
        classifier_wiring.classifier().sweep(366, lambda: True, 1, datetime.now(UTC) - timedelta(hours=1))
    parked = pipeline.profile(died)["counts_pending"]["S"]
    assert pipeline.state(died) == "B" and "counts_pending" in pipeline.profile(committed)
    pipeline.stream.read()  # the sweeps' own writes: filtered out by the event source

    # When both profiles are classified again (an email click each)
    for n in (2330, 2331):
        pipeline.post("email", factories.email(person(n), occurred_at=factories.occurred(20)))
    pipeline.pump()

    # Then the committed sweep's counts were dropped, the dead one's taken over, and each time move counted once
    assert "counts_pending" not in pipeline.profile(committed)
    assert pipeline.profile(died).get("counts_pending", {}).get("S") != parked
    today = datetime.now(UTC).date().isoformat()
    funnel = report(lambdas, "funnel", {"from": today, "to": today})["totals"]
    moves = {(t["from"], t["to"], t["channel"], t["action"]): t["profiles"] for t in funnel}
    assert moves[("A", "B", "time", "reclassification")] == 2
    assert nonzero(report(lambdas, "profile-states")["by_origin"]) == nonzero(counted_in_profiles(pipeline))
    # (the field ages are not compared: `age` moved the profiles' times behind the counters' back)


def test_a_tallys_work_sits_in_its_tokens_shard_and_work_left_unsharded_is_still_settled(local_aws):
    """Work items are spread over a few partitions by token (two writes a tally: no key takes them all); one left
    where they all sat before (its writer died, or its counters refused) is still found, applied once and cleared."""
    counters = local_aws.table("StateCounterTable")
    store = DynamoClassificationStore(local_aws.dynamodb, local_aws.table("ProfileTable"), counters, shard=lambda: 0)
    now = datetime.now(UTC)
    left = Tally.open(TallyKind.STREAM, now - timedelta(hours=1))  # its writer is long gone
    left.add({StateCell("A", "web"): 3})
    with aws_hooks.armed() as armed:  # the work item and the fate are written, then the counter item refuses
        armed.fail("dynamodb", "UpdateItem", "TransactionConflictException", skip=2)
        store.commit(left)
    (work,) = [i for i in local_aws.scan("StateCounterTable") if i.get("entity", {}).get("S") == "tally_work"]
    assert work["pk"]["S"] == counter_item.tally_work_pk(left.token.value) != counter_item.TALLY_WORK_PK
    assert {counter_item.tally_work_pk(Token.new(TallyKind.STREAM, now).value) for _ in range(40)} == set(
        counter_item.tally_work_pks()[1:]
    )
    local_aws.dynamodb.delete_item(TableName=counters, Key={"pk": work["pk"], "sk": work["sk"]})
    local_aws.dynamodb.put_item(TableName=counters, Item={**work, "pk": {"S": counter_item.TALLY_WORK_PK}})

    later = datetime.now(UTC) + timedelta(minutes=1)
    assert store.settle(later) == 1
    assert store.settle(later) == 0

    states = local_aws.dynamodb.get_item(
        TableName=counters, Key={"pk": {"S": "STATES#0"}, "sk": {"S": "STATES"}}, ConsistentRead=True
    )["Item"]
    assert states["A|web"] == {"N": "3"} and not [n for n in states if n.startswith("applied#")]
    assert not [i for i in local_aws.scan("StateCounterTable") if i.get("entity", {}).get("S") == "tally_work"]
