"""Cold start: import time of each handler module (python -X importtime) vs `import boto3` alone."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from local_runner.emulator import template as cfn

TARGET_RATIO = 1.3  # issue 14: a channel function imports in at most 1.3x `import boto3`
REPO = Path(__file__).resolve().parent.parent
FLOOR_MODULE = "benchmarks.framework_floor"
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)")


def _environment(spec: cfn.FunctionSpec) -> dict[str, str]:
    """Like Lambda: the template's plain variables, placeholders for references, and Lambda's own variables
    (with them Powertools' tracer and the X-Ray SDK take their in-Lambda paths)."""
    template = cfn.load()
    refs = defaultdict(
        lambda: "bench", {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
    )
    intrinsics = cfn.Intrinsics(refs, defaultdict(lambda: "bench"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))}
    env.update({name: str(intrinsics.resolve(value)) for name, value in spec.environment.items()})
    env.update(
        PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'shared'}",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_LAMBDA_FUNCTION_NAME=spec.logical_id,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(spec.memory_size),
        LAMBDA_TASK_ROOT=str(REPO / spec.code_uri),
        ENDPOINT_URL="",
    )
    return env


def _python(arguments: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter, as a new Lambda container starts one."""
    answer = subprocess.run(
        [sys.executable, *arguments], env=env, cwd=REPO, capture_output=True, text=True, check=False
    )
    if answer.returncode:
        raise RuntimeError(f"python {' '.join(arguments)!r} failed: {answer.stderr[-500:]}")
    return answer


def _import_us(statement: str, env: dict[str, str], startup: set[str]) -> int:
    """Cumulative microseconds of the top-level imports the statement triggers (interpreter start-up excluded)."""
    total = 0
    for line in _python(["-X", "importtime", "-c", statement], env).stderr.splitlines():
        match = _LINE.match(line)
        if match and len(match[3]) == 1 and match[4] not in startup:
            total += int(match[2])
    return total


def _startup(env: dict[str, str]) -> set[str]:
    answer = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"], env=env, capture_output=True, text=True, check=True
    )
    return {m[4] for m in map(_LINE.match, answer.stderr.splitlines()) if m}


def _first_request(kind: str, repeats: int) -> dict[str, float]:
    samples: list[dict[str, float]] = []
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'shared'}"}
    for _ in range(repeats):
        answer = _python(["-m", "benchmarks.first_request", kind], env)
        samples.append(json.loads(answer.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def measure(*, repeats: int, only: tuple[str, ...] = ()) -> dict[str, Any]:
    specs = [s for s in cfn.functions(cfn.load()) if not only or s.logical_id in only]
    web = next(s for s in specs if s.logical_id == "WebChannelFunction") if not only else specs[0]
    base_env = _environment(web)
    startup = _startup(base_env)
    # Each handler import is paired with a boto3 import made just before it, so load on the machine hits both.
    boto3_samples: list[int] = []
    handlers = {}
    for spec in specs:
        env = _environment(spec)
        pairs = []
        for _ in range(repeats):
            baseline = _import_us("import boto3", base_env, startup)
            pairs.append((baseline, _import_us(f"import {spec.module}", env, startup)))
        boto3_samples.extend(b for b, _ in pairs)
        handlers[spec.logical_id] = {
            "module": spec.module,
            "import_ms": statistics.median(h for _, h in pairs) / 1e3,
            "paired_boto3_ms": statistics.median(b for b, _ in pairs) / 1e3,
            "ratio_vs_boto3": statistics.median(h / b for b, h in pairs),
        }
    boto3_us = statistics.median(boto3_samples)
    floor_pairs = [
        (_import_us("import boto3", base_env, startup), _import_us(f"import {FLOOR_MODULE}", base_env, startup))
        for _ in range(repeats)
    ]
    floor_ms = statistics.median(f for _, f in floor_pairs) / 1e3
    floor_ratio = statistics.median(f / b for b, f in floor_pairs)
    for values in handlers.values():
        # Both ratios are to an import of boto3 made just before, so drift of the machine's speed cancels out.
        values["ratio_vs_framework_floor"] = values["ratio_vs_boto3"] / floor_ratio
    first = {kind: _first_request(kind, repeats) for kind in ("web", "bare")}
    for values in first.values():
        values["cold_total_s"] = values["import_s"] + values["first_request_s"]
    channel = {k: v for k, v in handlers.items() if k.endswith("ChannelFunction")}
    worst = max(v["ratio_vs_boto3"] for v in (channel or handlers).values())
    return {
        "boto3_import_ms": boto3_us / 1e3,
        "handlers": handlers,
        "worst_channel_ratio": worst,
        "framework_floor": {
            "module": FLOOR_MODULE,
            "import_ms": floor_ms,
            "ratio_vs_boto3": floor_ratio,
            "note": "boto3 + Powertools REST resolver with validation + one pydantic model + Logger/Metrics/Tracer, "
            "none of our code: the part of every handler's import that the mandated stack costs by itself",
        },
        "target_ratio": TARGET_RATIO,
        "met": worst <= TARGET_RATIO,
        "repeats": repeats,
        "to_first_response": {
            **first,
            "ratio_web_vs_bare": first["web"]["cold_total_s"] / first["bare"]["cold_total_s"],
            "note": "import + first request + second request in a fresh interpreter, moto backend; shows what "
            "import-time savings moved to the first request (client creation, lazily imported validators, "
            "deferred schema builds). The bare handler imports boto3 and makes its client in its first request.",
        },
        "note": "median of fresh interpreters; Lambda-like environment (LAMBDA_TASK_ROOT set, tracing on as in the "
        "template). A handler's import includes boto3's, which it needs.",
    }
