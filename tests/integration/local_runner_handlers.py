"""Tiny Lambda handlers for the local runner's container tests (imported inside the containers)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

_INVOCATIONS = 0  # module state survives between invocations of a warm container


def describe(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _INVOCATIONS
    _INVOCATIONS += 1
    return {
        "pid": os.getpid(),
        "invocations": _INVOCATIONS,
        "marker": os.environ.get("MARKER"),
        "function": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "event": event,
    }


def sleep(event: dict[str, Any], context: Any) -> None:
    time.sleep(float(event["seconds"]))


def fail(event: dict[str, Any], context: Any) -> None:
    raise LookupError("this message is not logged")


def http_sleep(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An API Gateway proxy handler that sleeps as long as the body says."""
    seconds = json.loads(event["body"])["seconds"]
    time.sleep(float(seconds))
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps({"slept": seconds})}
