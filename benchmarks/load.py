"""The local runner under load, as the last `make load` measured it (benchmarks/results/load.json).

`make load` (python -m local_runner load) takes minutes, so the benchmark reports its last run
instead of running it again; the targets are issue 15's, for 10,000 touchpoints from 8 clients.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LOAD_RESULTS = Path(__file__).resolve().parent / "results" / "load.json"
TARGETS = {
    "touchpoints_per_second": 30.0,  # at least, sustained
    "latency_growth_last_vs_first_1000": 1.5,  # at most: the last 1,000's median vs the first 1,000's
    "runner_peak_memory_mb": 1536,  # under 1.5 GB, runner and its containers
}


def figures(path: Path = LOAD_RESULTS) -> dict[str, Any]:
    """The last load run's figures and whether each target was met; `{"measured": False}` if none."""
    if not path.exists():
        return {"measured": False, "how": "make load (writes benchmarks/results/load.json)"}
    run = json.loads(path.read_text())
    server_errors = sum(n for status, n in run["statuses"].items() if int(status) >= 500 or int(status) == 0)
    met = {
        "touchpoints_per_second": run["touchpoints_per_second"] >= TARGETS["touchpoints_per_second"],
        "latency_growth_last_vs_first_1000": (run["latency_growth_last_vs_first_1000"] or 0)
        <= TARGETS["latency_growth_last_vs_first_1000"],
        "runner_peak_memory_mb": run["runner_peak_memory_mb"] is not None
        and run["runner_peak_memory_mb"] < TARGETS["runner_peak_memory_mb"],
        "no_5xx": server_errors == 0,
        "nothing_lost_or_doubled": not run["violations"],
    }
    return {"measured": True, "run": run, "server_errors": server_errors, "targets": TARGETS, "met": met}


def rows(load: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    if not load["measured"]:
        return [("runner under load", "not measured", "", "", load["how"], "")]
    run, met = load["run"], load["met"]

    def yes(flag: bool) -> str:
        return "yes" if flag else "NO"

    latency = run["latency_ms"]
    label = f"load: {run['touchpoints']:,} touchpoints, {run['clients']} clients"
    return [
        (label, f"{run['touchpoints_per_second']} tp/s", "", "", ">= 30 tp/s", yes(met["touchpoints_per_second"])),
        (
            "  median latency, last vs first 1,000",
            f"{latency['median_last_1000']} ms",
            f"{latency['median_first_1000']} ms",
            f"{run['latency_growth_last_vs_first_1000']}x",
            "<= 1.5x",
            yes(met["latency_growth_last_vs_first_1000"]),
        ),
        ("  latency p50 / p90 / p99", f"{latency['p50']} / {latency['p90']} / {latency['p99']} ms", "", "", "", ""),
        (
            "  runner peak memory (PSS)",
            f"{run['runner_peak_memory_mb']} MB",
            f"RSS sum {run['runner_peak_rss_mb']} MB",
            "",
            "< 1,536 MB",
            yes(met["runner_peak_memory_mb"]),
        ),
        (
            "  5xx / violations",
            f"{load['server_errors']} / {len(run['violations'])}",
            "",
            "",
            "0 / 0",
            yes(met["no_5xx"] and met["nothing_lost_or_doubled"]),
        ),
    ]
