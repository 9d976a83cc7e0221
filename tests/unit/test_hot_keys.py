"""The hot-key benchmark's pricing on hand-computed examples (benchmarks/hot_keys.py): DynamoDB's write units for
transactions, updates, failed conditions and global secondary indexes; shared and per-person keys at the peak;
cancelled transactions; stream shards; the key cache's hit rate of the all-in cost (benchmarks/cost.py). And the
recorder itself, on moto in this process."""

from __future__ import annotations

import math

import pytest

from benchmarks.cost import key_cache_hit_rate, warm_containers
from benchmarks.hot_keys import (
    Charge,
    IndexSchema,
    Recorder,
    TableSchema,
    Write,
    cancelled_share,
    counters_by_batch_fill,
    hot_keys,
    index_writes,
    normalise_key,
    per_batch_and_per_record,
    price,
    price_all,
    schemas_from_template,
    shards_needed,
    units_by_table,
)

STATE = IndexSchema("StateIndex", "state_key", "subject_id", "INCLUDE", ("status",))
RECLASSIFY = IndexSchema("ReclassifyIndex", "day", "subject_id", "KEYS_ONLY")
PROFILES = TableSchema("ProfileTable", "pk", "sk", (STATE, RECLASSIFY))
PLAIN = TableSchema("Plain", "pk", "sk")


def item(pk: str = "A", sk: str = "B", padding: int = 0, **attributes: str) -> dict:
    """pk and sk of one byte each: 2 + 1 + 2 + 1 = 6 bytes, plus `d` (1 byte of name) holding `padding` bytes."""
    made = {"pk": {"S": pk}, "sk": {"S": sk}, **{name: {"S": value} for name, value in attributes.items()}}
    if padding:
        made["d"] = {"S": "x" * padding}
    return made


def write(before=None, after=None, **kwargs) -> Write:
    key = {"pk": (after or before or item())["pk"], "sk": (after or before or item())["sk"]}
    return Write(kwargs.pop("table", "Plain"), kwargs.pop("action", "Put"), key, before, after, **kwargs)


def test_a_transactional_write_costs_twice_a_plain_one():
    # Given an item of 6 + 1 + 1,497 = 1,504 bytes: two started KB
    new = item(padding=1497)
    # Then put alone it costs 2 WCU, in a transaction 4
    assert [c.units for c in price(write(after=new), PLAIN)] == [2]
    assert [c.units for c in price(write(after=new, transactional=True), PLAIN)] == [4]


def test_an_update_is_priced_on_the_larger_of_the_item_before_and_after():
    # Given an item of 6 + 1 + 2,993 = 3,000 bytes updated down to 6 + 1 + 493 = 500 bytes
    before, after = item(padding=2993), item(padding=493)
    # Then the update costs 3 WCU (3,000 bytes), not 1 (500 bytes); growing it back costs 3 too
    assert [c.units for c in price(write(before, after, action="Update"), PLAIN)] == [3]
    assert [c.units for c in price(write(after, before, action="Update"), PLAIN)] == [3]
    # And a delete costs the item deleted; deleting nothing still 1 WCU
    assert [c.units for c in price(write(before, None, action="Delete"), PLAIN)] == [3]
    assert [c.units for c in price(write(None, None, action="Delete"), PLAIN)] == [1]


def test_a_failed_conditional_write_consumes_units_priced_on_the_existing_item_and_writes_no_index():
    # Given a profile of 6 + 9 + 1 + 1 + 2,084 = 2,101 bytes in the StateIndex, and a smaller put whose condition fails
    existing = item(padding=2084, state_key="S")  # state_key (9) + "S" (1)
    attempted = item(state_key="T")
    charges = price(write(existing, existing, table="ProfileTable", succeeded=False), PROFILES)
    # Then it costs 3 WCU (the 2,101 bytes there), counted as wasted, on the table alone
    assert [(c.target, c.units, c.wasted) for c in charges] == [("ProfileTable", 3, True)]
    # And in a cancelled transaction, twice that; an item that was not there, the minimum of 1 KB (2 WCU)
    cancelled = write(existing, existing, table="ProfileTable", succeeded=False, transactional=True)
    assert [c.units for c in price(cancelled, PROFILES)] == [6]
    missing = Write("ProfileTable", "Put", attempted, None, None, transactional=True, succeeded=False)
    assert [c.units for c in price(missing, PROFILES)] == [2]


def test_a_condition_check_costs_a_transactional_write_of_the_item_checked_and_no_index():
    checked = item(padding=1100, state_key="S")  # 6 + 10 + 1,101 = 1,117 bytes: 2 KB, x2
    charges = price(
        write(checked, checked, table="ProfileTable", action="ConditionCheck", transactional=True), PROFILES
    )
    assert [(c.target, c.units) for c in charges] == [("ProfileTable", 4)]


def test_an_index_is_written_when_an_item_enters_leaves_or_changes_what_it_projects():
    # Given a profile entering the StateIndex: its entry is pk, sk, state_key, subject_id and status (not `d`)
    entering = item(padding=2000, state_key="S#1", subject_id="A", status="active")
    charges = price(write(None, entering, table="ProfileTable"), PROFILES)
    # Then the table is charged its 41 + 2,001 = 2,042 bytes (2 WCU) and the index 1 WCU on the key S#1 (2 + 1 +
    # 2 + 1 + 9 + 3 + 10 + 1 + 6 + 6 = 41 bytes); the KEYS_ONLY ReclassifyIndex is not written (no `day`)
    assert [(c.target, c.key, c.units) for c in charges] == [
        ("ProfileTable", "A", 2),
        ("ProfileTable/StateIndex", "S#1", 1),
    ]
    # When only an attribute no index projects changes: no index write
    assert index_writes(PROFILES, STATE, entering, {**entering, "d": {"S": "y"}}) == []
    # When the projected status changes: one write on the same key
    paused = {**entering, "status": {"S": "paused"}}
    assert [(c.key, c.units) for c in index_writes(PROFILES, STATE, entering, paused)] == [("S#1", 1)]
    # When the index key changes: two (the old entry deleted, the new one put), each on its own key
    moved = {**entering, "state_key": {"S": "T#2"}}
    assert [(c.key, c.units) for c in index_writes(PROFILES, STATE, entering, moved)] == [("S#1", 1), ("T#2", 1)]
    # When the key attribute goes: one (delete); a KEYS_ONLY index ignores non-key changes
    left = {k: v for k, v in entering.items() if k != "state_key"}
    assert [c.key for c in index_writes(PROFILES, STATE, entering, left)] == ["S#1"]
    dated = {**entering, "day": {"S": "2026-12-01#3"}}
    assert index_writes(PROFILES, RECLASSIFY, dated, {**dated, "status": {"S": "paused"}}) == []


def test_an_index_entry_is_priced_on_its_projected_size():
    # A projected entry over 1 KB: status of 1,100 bytes makes a 2 WCU index write (not doubled in a transaction)
    big = item(state_key="S", subject_id="A", status="s" * 1100)
    charges = price(write(None, big, table="ProfileTable", transactional=True), PROFILES)
    assert [(c.target, c.units) for c in charges] == [("ProfileTable", 4), ("ProfileTable/StateIndex", 2)]


@pytest.mark.parametrize(
    ("key", "normalised", "per_person"),
    [
        ("QUALITY#3", "QUALITY#3", False),
        ("IDENTITY#2026-12-07", "IDENTITY#<day>", False),
        ("2026-12-07#3", "<day>#3", False),
        ("active#contact-center#2", "active#contact-center#2", False),
        ("CHECKPOINT", "CHECKPOINT", False),
        ("SUBJECT#sub_4f9c2a1b7d3e4f5a6b7c8d9e0f1a2b3c", "SUBJECT#<id>", True),
        ("TOKEN#Zx8_k2PqLmN4vW7yT1sR3uA", "TOKEN#<id>", True),
        ("LEFT#9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "LEFT#<id>", True),
    ],
)
def test_ids_are_normalised_and_shared_keys_kept(key, normalised, per_person):
    assert normalise_key(key) == (normalised, per_person)


def test_a_shared_key_scales_with_the_peak_and_a_persons_key_with_their_own_burst():
    # Given 1,000 touchpoints: a counter shard written 200 WCU in all, two people's keys
    charges = [Charge("Counters", "QUALITY#3", 1, "ClassifierFunction", 0) for _ in range(200)]
    # person 1: 3 touchpoint requests (2 WCU each) and the classifier's 6 WCU: 12 WCU over 3 touchpoints
    charges += [Charge("Profiles", "SUBJECT#sub_aaaa1111", 2, "WebChannelFunction", r) for r in (1, 2, 3)]
    charges += [Charge("Profiles", "SUBJECT#sub_aaaa1111", 6, "ClassifierFunction", 99)]
    # person 2: one touchpoint of 5 WCU (fewer units in the run: not the row's instance)
    charges += [Charge("Profiles", "SUBJECT#sub_bbbb2222", 5, "StoreChannelFunction", 4)]
    result = hot_keys(charges, touchpoints=1000, peak=3000, person_burst=25)
    rows = {(r["table"], r["key"]): r for r in result["rows"]}
    shard = rows[("Counters", "QUALITY#3")]
    # Then the shard takes 0.2 WCU per touchpoint: 600 WCU/s at 3,000 touchpoints/s, over the 500 target
    assert shard["wcu_per_touchpoint"] == pytest.approx(0.2)
    assert shard["wcu_per_s"] == pytest.approx(600) and shard["over_target"] and not shard["per_person"]
    # And the hottest person (the most units) takes 4 WCU per touchpoint of theirs: 100 WCU/s at 25 a second
    person = rows[("Profiles", "SUBJECT#<id>")]
    assert person["per_person"] and person["distinct_keys"] == 2 and person["wcu_in_run"] == 12
    assert person["wcu_per_s"] == pytest.approx(100) and not person["over_target"]
    assert result["hottest_wcu_per_s"] == pytest.approx(600) and not result["met"]
    assert result["keys_over_target"] == ["Counters QUALITY#3"]


def test_units_by_table_and_the_cancelled_share():
    charges = [
        Charge("ProfileTable", "k", 4, "Web", 1),
        Charge("ProfileTable/StateIndex", "s", 1, "Classifier", 2),
        Charge("StateCounterTable", "c", 2, "Classifier", 3, wasted=True),
    ]
    units = units_by_table(charges, touchpoints=2)
    assert units["total_wcu_per_touchpoint"] == pytest.approx(3.5) and units["met"]
    assert units["wasted_wcu_per_touchpoint"] == pytest.approx(1.0)
    assert units["tables"]["ProfileTable"]["wcu_per_touchpoint"] == pytest.approx(2.0)
    # 1 of 4 transactions cancelled: 25%, over the 2% target; all of them the classifier's
    share = cancelled_share([("Web", False), ("Web", False), ("Classifier", True), ("Classifier", False)])
    assert share["share"] == pytest.approx(0.25) and not share["met"]
    assert share["by_function"]["Classifier"]["share"] == pytest.approx(0.5)


def test_stream_shards_needed():
    # 5,400 records/s at 10 ms a record: 100 records/s per invocation, 4 at a time per shard: 13.5, so 14 shards
    assert shards_needed(5400, 10.0, 4) == 14
    assert shards_needed(5400, 10.0, 10) == 6
    assert shards_needed(10, 10.0, 1) == 1


def test_the_key_cache_hit_rate_and_the_containers_kept_warm():
    # 100 touchpoints/s over 20M people: r x 15 min = 100 / 2e7 x 900 = 0.0045 (1 - e^-0.0045 = 0.00449);
    # a fifth of them follow the person's previous touchpoint on the function; 10 containers
    hit = key_cache_hit_rate(people=20_000_000, touchpoints_per_s=100, containers=10, same_function_share=0.2)
    assert hit == pytest.approx((0.2 + 0.8 * (1 - math.exp(-0.0045))) / 10)
    assert hit == pytest.approx(0.020359, abs=1e-6)
    # 100 invocations/s of 50 ms: 5 busy at once, 10 kept warm
    assert warm_containers(100, 50) == 10
    assert warm_containers(0.1, 50) == 1


def test_the_templates_tables_and_indexes():
    from local_runner.emulator import template as cfn

    schemas = schemas_from_template(cfn.load())
    profiles = schemas["ProfileTable"]
    assert (profiles.hash_key, profiles.range_key) == ("pk", "sk")
    state = next(i for i in profiles.indexes if i.name == "StateIndex")
    assert state.hash_key == "state_key" and state.projection == "INCLUDE" and "status" in state.non_key
    assert schemas["KeyVaultTable"].range_key is None


def test_the_recorder_prices_what_a_function_writes_at_the_api():
    """On moto in this process: a put, a failed conditional put, an update and a cancelled transaction, each
    recorded with the item before and after, and attributed to the function named in the User-Agent."""
    import boto3
    from botocore.config import Config
    from moto import mock_aws

    with mock_aws():
        client = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(user_agent_appid="WebChannelFunction"),
        )
        client.create_table(
            TableName="physical-profiles",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "state_key", "subject_id")
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "StateIndex",
                    "KeySchema": [
                        {"AttributeName": "state_key", "KeyType": "HASH"},
                        {"AttributeName": "subject_id", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]},
                }
            ],
        )
        recorder = Recorder({"physical-profiles": "ProfileTable"})
        big = item(padding=1497)  # 1,504 bytes
        with recorder.installed():
            client.put_item(TableName="physical-profiles", Item=big)
            with pytest.raises(client.exceptions.ConditionalCheckFailedException):
                client.put_item(
                    TableName="physical-profiles", Item=item(), ConditionExpression="attribute_not_exists(pk)"
                )
            client.update_item(
                TableName="physical-profiles",
                Key={"pk": {"S": "A"}, "sk": {"S": "B"}},
                UpdateExpression="SET state_key = :s, subject_id = :a REMOVE d",
                ExpressionAttributeValues={":s": {"S": "S#1"}, ":a": {"S": "A"}},
            )
            with pytest.raises(client.exceptions.TransactionCanceledException):
                client.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": "physical-profiles", "Item": item("C")}},
                        {
                            "Update": {
                                "TableName": "physical-profiles",
                                "Key": {"pk": {"S": "A"}, "sk": {"S": "B"}},
                                "UpdateExpression": "SET #s = :x",
                                "ExpressionAttributeNames": {"#s": "status"},
                                "ConditionExpression": "attribute_not_exists(pk)",
                                "ExpressionAttributeValues": {":x": {"S": "paused"}},
                            }
                        },
                    ]
                )
        schemas = {"ProfileTable": PROFILES}
        # Then each write is recorded once, from the function, with the item before and after
        assert [(w.action, w.succeeded, w.function) for w in recorder.writes] == [
            ("Put", True, "WebChannelFunction"),
            ("Put", False, "WebChannelFunction"),
            ("Update", True, "WebChannelFunction"),
            ("Put", False, "WebChannelFunction"),
            ("Update", False, "WebChannelFunction"),
        ]
        units = [(c.target, c.units, c.wasted) for c in price_all(recorder.writes, schemas)]
        assert units == [
            ("ProfileTable", 2, False),  # 1,504 bytes
            ("ProfileTable", 2, True),  # the failed put: the 1,504 bytes there
            ("ProfileTable", 2, False),  # the update: the larger image (1,504 bytes before)
            ("ProfileTable/StateIndex", 1, False),  # ... which put the item in the index
            ("ProfileTable", 2, True),  # the cancelled transaction: no item C (1 KB minimum), x2
            ("ProfileTable", 2, True),  # and the profile as it is (29 bytes), x2
        ]
        assert recorder.transactions == [("WebChannelFunction", True)]


def test_the_all_in_cost_of_a_month_splits_units_by_who_spends_them():
    from benchmarks.cost import all_in

    # Given a mix where each touchpoint costs the web function 4 WRU on profiles, 1 on counters and 8 RRU, the
    # classifier 2 WRU; one web invocation of 50 ms (512 MB) each; a KMS call on every 10th touchpoint here
    mix = {
        "touchpoints": 100,
        "write_units_by_function_and_table": {
            "WebChannelFunction": {"ProfileTable": 4.0, "StateCounterTable": 1.0},
            "ClassifierFunction": {"ProfileTable": 2.0},
        },
        "read_units_by_function_and_table": {"WebChannelFunction": {"ProfileTable": 8.0}},
        "invocations": {
            "WebChannelFunction": {"invocations_per_touchpoint": 1.0, "aws_ms_per_invocation": 50.0, "memory_mb": 512}
        },
        "requests_per_touchpoint": {"WebChannelFunction": {"TrentService.Decrypt": 0.1}},
        "good_touchpoints_by_function": {"WebChannelFunction": 100},
        "same_function_share": {"WebChannelFunction": 0.0},
        "stream_side": {"measured": False},
        "api_requests_per_touchpoint": 1.0,
    }
    # When a month at 1 touchpoint/s (2,592,000 touchpoints) is priced
    cost = all_in(mix, {"Resources": {}}, rate=1.0, people=20_000_000)
    month = cost["dollars_per_month"]
    # Then DynamoDB: ingestion (4 x $0.625 + 8 x $0.125)/1e6, counters 1 x $0.625/1e6, classifier 2 x $0.625/1e6
    assert month["DynamoDB: ingestion"]["one_per_request"] == pytest.approx(3.5e-6 * 2_592_000)
    assert month["DynamoDB: counters"]["one_per_request"] == pytest.approx(0.625e-6 * 2_592_000)
    assert month["DynamoDB: classifier"]["one_per_request"] == pytest.approx(1.25e-6 * 2_592_000)
    # API Gateway: a request each, or a 25th of one batched
    assert month["API Gateway (REST)"]["one_per_request"] == pytest.approx(3.5e-6 * 2_592_000)
    assert month["API Gateway (REST)"]["batched_25"] == pytest.approx(3.5e-6 / 25 * 2_592_000)
    # Lambda: $0.20/1e6 a request (a 25th batched) + 0.05 s x 0.5 GB x $0.0000166667
    compute = 0.05 * 0.5 * 0.0000166667
    assert month["Lambda: channel functions"]["one_per_request"] == pytest.approx((0.2e-6 + compute) * 2_592_000)
    assert month["Lambda: channel functions"]["batched_25"] == pytest.approx((0.2e-6 / 25 + compute) * 2_592_000)
    # KMS: one container (1/s x 50 ms x 2, rounded up) unwraps its branch key once per 600 s, whoever comes: 1/600
    # of a call per touchpoint at 1 touchpoint/s; a person's key is a hit only if they came in the last 15 minutes,
    # and a miss is unwrapped in the container (the mix's own KMS count, one per container start, is not priced)
    hit = 1 - math.exp(-1 / 20_000_000 * 900)
    assert cost["kms"]["WebChannelFunction"]["warm_containers"] == 1
    assert cost["kms"]["WebChannelFunction"]["local_unwraps_per_touchpoint"] == pytest.approx(1 - hit)
    assert cost["kms_per_touchpoint"] == pytest.approx(1 / 600)
    assert cost["total_per_million_touchpoints"]["one_per_request"] == pytest.approx(
        cost["total_per_month"]["one_per_request"] / 2.592
    )


def test_each_recorded_runner_starts_on_an_empty_aws():
    """`make bench` measures two mixes in one process, where moto's backends live: the second must not find the
    tables, and the people, the first left (provisioning keeps a table that exists)."""
    from benchmarks.hot_keys import recorded_runner

    with recorded_runner() as (runner, _, _, _):
        dynamodb, table = runner.aws.client("dynamodb"), runner.provisioned.tables["ProfileTable"]
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "SUBJECT#left-behind"}, "sk": {"S": "PROFILE"}})
        assert dynamodb.scan(TableName=table, Select="COUNT")["Count"] == 1
    with recorded_runner() as (runner, _, _, _):
        dynamodb, table = runner.aws.client("dynamodb"), runner.provisioned.tables["ProfileTable"]
        assert dynamodb.scan(TableName=table, Select="COUNT")["Count"] == 0


def test_a_batchs_counter_units_split_into_a_part_per_batch_and_a_part_per_record():
    # 6 units a batch whatever it holds, 0.5 a record: batches of 1 to 40 records
    batches = [(n, round(6 + 0.5 * n)) for n in (1, 2, 4, 10, 20, 40)]
    per_batch, per_record = per_batch_and_per_record(batches)
    assert per_batch == pytest.approx(6, abs=0.3) and per_record == pytest.approx(0.5, abs=0.02)
    assert per_batch_and_per_record([(5, 9)]) is None  # one batch: nothing to split
    assert per_batch_and_per_record([(5, 9), (5, 11)]) is None  # one size: neither


def test_counters_cost_a_touchpoint_more_the_emptier_the_batches():
    batches = [(n, 6 + n // 2) for n in (2, 4, 10, 20, 40)]
    counters = counters_by_batch_fill(batches, records_per_touchpoint=1.2)
    at = counters["wcu_per_touchpoint_at_fill"]
    assert counters["measured"] and counters["records_per_batch_here"] == {"min": 2, "max": 40, "mean": 15.2}
    assert at["1"] > at["5"] > at["20"] > at["100"] > 0
    # a batch of one record pays the whole per-batch part: 1.2 records a touchpoint x (6 + 0.5)
    assert at["1"] == pytest.approx(1.2 * (counters["wcu_per_batch"] + counters["wcu_per_record"]))
    assert counters_by_batch_fill([], 1.2) == {"measured": False}


def test_the_counters_are_priced_at_the_batches_the_stream_shards_and_window_would_fill():
    from benchmarks.cost import all_in, classifier_batch_fill

    # Given the classifier's batches spending 10 WCU each and 0.5 a record on counters, 1 record a touchpoint,
    # and 0.9 WCU a touchpoint measured on counters (the runner's full batches)
    stream = {
        "measured": True,
        "records_per_touchpoint": 1.0,
        "aws_ms_per_record": 10.0,
        "parallelization_factor": 4,
        "batch_size": 100,
        "counters_by_batch_fill": {"measured": True, "wcu_per_batch": 10.0, "wcu_per_record": 0.5},
    }
    mix = {
        "touchpoints": 100,
        "write_units_by_function_and_table": {"ClassifierFunction": {"StateCounterTable": 0.9}},
        "read_units_by_function_and_table": {},
        "invocations": {
            "ClassifierFunction": {"invocations_per_touchpoint": 0.05, "aws_ms_per_invocation": 200.0, "memory_mb": 512}
        },
        "requests_per_touchpoint": {},
        "good_touchpoints_by_function": {},
        "same_function_share": {},
        "stream_side": stream,
        "api_requests_per_touchpoint": 1.0,
    }
    # When 300 touchpoints/s run over 500 shards: 300 / (500 x 4) = 0.15 records a poller a second
    assert classifier_batch_fill(stream, 300.0, stream_shards=500) == 1.0  # at least the record that came
    assert classifier_batch_fill(stream, 300.0, stream_shards=500, window_s=100) == pytest.approx(15.0)
    assert classifier_batch_fill(stream, 300.0, stream_shards=1, window_s=300) == 100.0  # at most BatchSize
    as_measured = all_in(mix, {"Resources": {}}, rate=300.0)
    one_a_batch = all_in(mix, {"Resources": {}}, rate=300.0, stream_shards=500)
    fuller = all_in(mix, {"Resources": {}}, rate=300.0, stream_shards=500, window_s=100)
    month = 300 * 2_592_000

    def counters(cost):
        return cost["dollars_per_month"]["DynamoDB: counters"]["one_per_request"]

    # Then the counters cost what was measured, 10.5 WCU a touchpoint at a record a batch, 1.17 at 15
    assert counters(as_measured) == pytest.approx(0.9 * 0.625e-6 * month)
    assert counters(one_a_batch) == pytest.approx(10.5 * 0.625e-6 * month)
    assert counters(fuller) == pytest.approx((10 / 15 + 0.5) * 0.625e-6 * month)
    assert one_a_batch["classifier_batch_fill"] == 1.0 and one_a_batch["stream_shards"] == 500
    # and the classifier is invoked once a batch: 300 invocations a second at a record each
    assert (
        one_a_batch["dollars_per_month"]["Lambda: classifier"]["one_per_request"]
        > fuller["dollars_per_month"]["Lambda: classifier"]["one_per_request"]
    )
