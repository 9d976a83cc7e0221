"""What every benchmark shares: a Lambda-like environment, timing, call counting, sample payloads."""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# The same defaults the tests use, set before any handler module (and its Powertools singletons) is imported.
LAMBDA_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "touchpoint-ingestion",
    "POWERTOOLS_METRICS_NAMESPACE": "CustomerTouchpoints",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


def lambda_like_environment() -> None:
    os.environ.update(LAMBDA_DEFAULTS)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "ENDPOINT_URL"):
        os.environ.pop(name, None)


@dataclass(frozen=True)
class Timing:
    """Seconds per operation: the median of the repeats, and every repeat for the record."""

    median: float
    repeats: tuple[float, ...]
    cpu_median: float = 0.0  # this process's CPU seconds per operation: steadier than wall time on a busy machine

    @property
    def per_second(self) -> float:
        return 1.0 / self.median if self.median else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {"median_s": self.median, "repeats_s": list(self.repeats)}


def time_per_op(run: Callable[[int], None], ops: int, repeats: int, warmup: int = 1) -> Timing:
    """`run(ops)` does `ops` operations; the time of each repeat is divided by `ops`."""
    for _ in range(warmup):
        run(max(1, ops // 10))
    samples, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run(ops)
        samples.append((time.perf_counter() - start) / ops)
        cpu.append((time.process_time() - start_cpu) / ops)
    return Timing(statistics.median(samples), tuple(samples), statistics.median(cpu))


def interleaved(runs: dict[str, Callable[[int], None]], ops: int, repeats: int, warmup: int = 1) -> dict[str, Timing]:
    """Time several candidates in turns (a, b, a, b...) so drift of the machine or the backend hits all alike."""
    for run in runs.values():
        for _ in range(warmup):
            run(max(1, ops // 10))
    samples: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run(ops)
            samples[name].append((time.perf_counter() - start) / ops)
            cpu[name].append((time.process_time() - start_cpu) / ops)
    return {name: Timing(statistics.median(s), tuple(s), statistics.median(cpu[name])) for name, s in samples.items()}


@dataclass
class CallCounter:
    """Counts SDK calls by operation through botocore's event hooks, without touching the code under test."""

    calls: Counter[str] = field(default_factory=Counter)

    def attach(self, client: Any) -> CallCounter:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-call.{service}", self._count)
        return self

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Powertools flushes EMF metrics to stdout on every invocation; keep them out of the report."""
    original = sys.stdout
    sys.stdout = _Discard()  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout = original


PII_FIELDS = ("given_name", "family_name", "email", "phone", "birth_date")
_OCCURRED = datetime.now(UTC) - timedelta(days=1)
_SIGNUPS = itertools.count()


def web_signup(n: int) -> dict[str, Any]:
    """The typical touchpoint: a web sign-up with five personal fields and the consent block."""
    from tests.people import person

    p = person(n % 10_000)
    return {
        "event_id": f"web-{uuid.uuid4().hex[:20]}",
        # A millisecond apart, in the order sent: a person's later touchpoint is later, as it is in production
        "occurred_at": (_OCCURRED + timedelta(milliseconds=next(_SIGNUPS))).isoformat(),
        "action": "sign_up",
        "page_path": "/registro",
        "customer": {
            "given_name": p.given_name,
            "family_name": p.family_name,
            "email": p.email,
            "phone": p.phone,
            "birth_date": p.birth_date.isoformat(),
        },
        "consent": [
            {"purpose": "personalization", "granted": True},
            {"purpose": "analytics", "granted": True},
            {"purpose": "marketing", "channel": "all", "granted": True},
        ],
    }


def web_event(payload: dict[str, Any], api_key_id: str) -> dict[str, Any]:
    from tests.factories import api_event

    return api_event("POST", "/v1/web/touchpoints", payload, api_key_id=api_key_id)


def lambda_context(name: str = "WebChannelFunction") -> Any:
    from tests.factories import lambda_context as context

    return context(name)


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def fmt(value: float | None, unit: str = "") -> str:
    """A figure for the benchmark's table: two decimals below 100, none above."""
    if value is None:
        return "-"
    return f"{value:,.2f}{unit}" if abs(value) < 100 else f"{value:,.0f}{unit}"
