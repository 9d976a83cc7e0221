"""Counts what the reliability and security tests tried, for the closing summary of a test run.

Registered as a pytest plugin by tests/conftest.py. Under pytest-xdist each worker sends its
counts to the controller, which prints the totals once (and writes them with --reliability-report).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from threading import Lock
from typing import Any

import pytest

# What the summary shows, in this order; anything else counted is listed after.
LABELS = {
    "hostile_cases": "hostile-input cases sent (in-process)",
    "schemathesis_cases": "schemathesis cases sent over HTTP",
    "concurrent_requests": "concurrent requests (threads as Lambda containers)",
    "faults_injected": "AWS faults injected (each failed SDK attempt)",
    "server_errors": "5xx seen on hostile input (must be 0)",
    "unexpected_500": "500 internal_error on any request (must be 0)",
    "leak_scans": "leak scans (one per test + runner output)",
    "bytes_scanned": "bytes of logs, metrics and responses scanned for PII",
    "pii_leaks": "PII leaks found (must be 0)",
    "sdk_document_valid_bodies": "SDK-route bodies generated valid by openapi.json",
    "sdk_document_valid_accepted": "of them accepted (2xx; must be >= 90%)",
    "sdk_document_valid_messages": "messages they carried",
    "sdk_document_valid_messages_failed": "of them refused as failed events (must be <= 10%)",
    **{
        f"native_{family}_document_valid_{count}": f"{label} ({family} routes)"
        for family in ("touchpoints", "consents", "contacts", "contact-decisions")
        for count, label in (
            ("bodies", "native-route bodies generated valid by openapi.json"),
            ("accepted", "of them accepted (2xx; must be >= 90%)"),
        )
    },
}

_counts: Counter[str] = Counter()
_lock = Lock()


def add(name: str, amount: int = 1) -> None:
    """Count something; safe from threads."""
    with _lock:
        _counts[name] += amount


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--reliability-report", default=None, help="write the reliability counts to this JSON file")


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the counts to the controller
        workeroutput["reliability"] = snapshot()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    for name, amount in (getattr(node, "workeroutput", {}) or {}).get("reliability", {}).items():
        add(name, amount)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if getattr(config, "workeroutput", None) is not None:
        return
    counts = snapshot()
    if not counts:
        return
    terminalreporter.section("reliability and security")
    for name in [*LABELS, *sorted(set(counts) - set(LABELS))]:
        terminalreporter.write_line(f"{counts.get(name, 0):>10}  {LABELS.get(name, name)}")
    path = config.getoption("--reliability-report")
    if path:
        Path(path).write_text(json.dumps(counts, indent=2, sort_keys=True))
