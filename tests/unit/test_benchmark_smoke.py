"""The benchmark's quick mode runs and reports every metric (no timing thresholds: timings are not tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
        timeout=600,  # a shared 2-core machine; the quick run takes ~2-4 min alone
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
    assert m["kms"]["warm_container"]["calls_for_new_people"] == m["kms"]["distinct_people"]
    assert m["dynamodb"]["scenarios"]["known_person_warm"]["requests"] == 1
    assert m["dynamodb"]["scenarios"]["known_person_warm"]["capacity_units"] >= 2
    assert m["sdk_batch"]["ratio"] > 0 and m["sdk_batch"]["api_requests_per_1000_events"]["sdk_batch"] == 10
    assert m["datamasking"]["ours_us_per_event"] > 0 and m["datamasking"]["speedup_vs_faster_datamasking"] > 1
    assert m["cold_start"]["boto3_import_ms"] > 0
    assert {"WebChannelFunction", "StoreChannelFunction"} <= m["cold_start"]["handlers"].keys()
    assert all(run["seconds"] > 0 for run in m["erasure"]["runs"].values())
