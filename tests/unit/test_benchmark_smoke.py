"""The benchmark's quick mode runs and reports every metric (no timing thresholds: timings are not tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from touchpoints.items import counter as counter_item

REPO = Path(__file__).resolve().parents[2]


def test_quick_benchmark_reports_every_metric(tmp_path):
    # Given the benchmark in quick mode, in its own interpreter (it sets up its own embedded AWS)
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{REPO / 'shared'}"
    # When it runs
    answer = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-endpoint", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # minutes on a 2-core machine shared with other test runs
        check=False,
    )
    # Then it succeeds, prints the table and writes every metric with sane values
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert "metric" in answer.stdout and "JSON:" in answer.stdout
    m = json.loads(out.read_text())["metrics"]
    known = m["throughput"]["moto"]["known_person"]
    assert known["ours_events_per_s"] > 0 and known["bare_events_per_s"] > 0 and known["ratio"] > 0
    assert 0 < m["compute"]["known_person_us_per_event"] < 1e6
    assert m["kms"]["warm_container"]["calls_for_people_already_seen"] == 0
    # new people's data keys are made in the container and wrapped under the branch key it unwrapped once
    assert m["kms"]["warm_container"]["calls_for_new_people"] == 1
    hierarchy = m["kms_calls"]
    assert hierarchy["met"] and hierarchy["migration"]["finished"]
    assert sum(hierarchy["before_hierarchy"]["known_people"].values()) == hierarchy["people"]
    assert m["dynamodb"]["scenarios"]["known_person_warm"]["requests"] == 1
    assert m["dynamodb"]["scenarios"]["known_person_warm"]["capacity_units"] >= 2
    merge = m["merge"]
    # both subject keys are under the one branch key version: the merge worker unwraps that, once
    assert {run["kms_calls"] for run in merge["runs"].values()} == {1}
    assert all(run["merge_seconds"] > 0 and run["write_capacity_units_priced"] > 0 for run in merge["runs"].values())
    no_merge = merge["no_merge_touchpoint"]["dynamodb_requests_per_touchpoint"]
    assert no_merge["with_identity_resolution"] == no_merge["before_merges"] == 1
    assert m["sdk_batch"]["ratio"] > 0 and m["sdk_batch"]["api_requests_per_1000_events"]["sdk_batch"] == 10
    assert m["datamasking"]["ours_us_per_event"] > 0 and m["datamasking"]["speedup_vs_faster_datamasking"] > 1
    assert m["cold_start"]["boto3_import_ms"] > 0
    assert {"WebChannelFunction", "StoreChannelFunction"} <= m["cold_start"]["handlers"].keys()
    assert all(run["seconds"] > 0 for run in m["erasure"]["runs"].values())
    assert m["funnel"]["large_over_small"]["distribution_requests"] == 1.0
    # A batch of one new profile: the read of where the batch's profiles stand, its one profile write, then the
    # batch's tally (classification/counts.py): the work item, the fate, an update and a marker removal per counter
    # item (distribution, funnel, quality), the work item's deletion and a query of each partition work left by
    # others may sit in. A batch of 100 shares all but the profile writes (and reads its profiles in one request).
    work_partitions = len(counter_item.tally_work_pks())
    assert m["funnel"]["classifier_write"]["state_change_with_counters"]["requests"] == 1 + 1 + 2 + 2 * 3 + 1 + (
        work_partitions
    )
    contacts = m["contacts"]
    assert contacts["touchpoint_cost_ratio"] == 1.0 and contacts["met"]
    assert contacts["decision_with_reservations"]["requests_by_operation"]["BatchGetItem"] == 1
    assert {"known_person_warm", "new_person", "known_person_new_container"} <= m["dynamodb"]["targets"].keys()
    dollars = m["cost"]["dollars_per_million_touchpoints"]
    known, new = dollars["known_person_warm"], dollars["new_person"]
    # The key hierarchy: a new person's key is made and wrapped in the container, a known one's unwrapped there
    assert new["one_per_request"]["kms"] == 0 == known["one_per_request"]["kms"]
    assert known["batched_25"]["total"] < known["one_per_request"]["total"]
    patches = m["moto_patches"]
    assert patches["skipped"] == [] and len(patches["applied"]) >= 5
    assert all(
        patches[row]["patched_ms"] > 0 for row in ("update_20_actions", "query_last_page_25", "query_answer_250")
    )
    assert merge["scaling"]["time_ratio"] > 0
    assert m["layer"]["total_mb"] > 0 and "cryptography" in " ".join(m["layer"]["mb"])
    # The steady state: the same mix with people coming back, so fewer first touches, all priced and costed
    first, steady = m["hot_keys"], m["hot_keys_steady"]
    assert steady["returns_per_person"] == 10 and first["returns_per_person"] == 0
    assert steady["kinds"]["new"] / steady["touchpoints"] < first["kinds"]["new"] / first["touchpoints"]
    assert steady["write_units"]["total_wcu_per_touchpoint"] > 0 and m["cost_all_in_steady"]["total_per_month"]
    assert "steady state:" in answer.stdout
