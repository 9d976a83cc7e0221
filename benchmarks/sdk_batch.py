"""An SDK's /v1/batch of 100 messages against the same 100 touchpoints on the native route (4 requests of 25).

Same people, same five personal fields and consent, same warm container and backend (moto, in process), timed
in turns. Also what API Gateway bills: requests per 1,000 events on each route (the authorizer's answer is
cached per write key for 300 s, so it adds one invocation per key and 5 minutes, not per request).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from benchmarks.harness import interleaved, lambda_context, quiet_stdout, web_event, web_signup
from benchmarks.stack import Stack

BATCH = 100
NATIVE_BATCH = 25  # the native route's maximum per request


def _message(n: int) -> dict[str, Any]:
    signup = web_signup(n)
    customer = signup["customer"]
    return {
        "type": "identify",
        "messageId": f"sdk-{uuid.uuid4().hex[:20]}",
        "userId": f"bench-user-{n}",
        "traits": {
            "firstName": customer["given_name"],
            "lastName": customer["family_name"],
            "email": customer["email"],
            "phone": customer["phone"],
            "birthday": customer["birth_date"],
        },
        "context": {"consent": {"categoryPreferences": {"Personalization": True, "Analytics": True}}},
        "timestamp": signup["occurred_at"],
    }


def sdk_event(messages: list[dict[str, Any]], api_key_id: str) -> dict[str, Any]:
    from tests.factories import api_event

    body = {"batch": messages, "sentAt": datetime.now(UTC).isoformat()}
    event = api_event("POST", "/sdk/web/v1/batch", body, api_key_id=api_key_id, path_parameters={"call": "batch"})
    event["resource"] = event["requestContext"]["resourcePath"] = "/sdk/web/v1/{call}"
    event["requestContext"]["requestTimeEpoch"] = int(time.time() * 1000)
    return event


class _Requests:
    """Sends prepared requests of `BATCH` events each; ops counts events."""

    def __init__(self, handler: Callable[..., dict[str, Any]], requests: list[list[dict[str, Any]]]) -> None:
        self._handler, self._requests, self._context = handler, iter(requests), lambda_context()

    def __call__(self, ops: int) -> None:
        for _ in range(max(1, ops // BATCH)):
            for event in next(self._requests):
                answer = self._handler(event, self._context)
                if answer["statusCode"] != 200:
                    raise RuntimeError(f"answered {answer['statusCode']}: {answer['body'][:300]}")


def measure(stack: Stack, *, people: int, repeats: int) -> dict[str, Any]:
    stack.activate()
    handler = stack.handler()
    key = stack.api_key_id
    units = repeats + 2  # the warm-up and the repeats, 100 events each

    def native_unit() -> list[dict[str, Any]]:
        payloads = [web_signup(n % people) for n in range(BATCH)]
        return [web_event({"touchpoints": payloads[i : i + NATIVE_BATCH]}, key) for i in range(0, BATCH, NATIVE_BATCH)]

    def sdk_unit() -> list[dict[str, Any]]:
        return [sdk_event([_message(n % people) for n in range(BATCH)], key)]

    with quiet_stdout():
        _Requests(handler, [native_unit()])(BATCH)  # the people exist and the container is warm
        _Requests(handler, [sdk_unit()])(BATCH)
        timings = interleaved(
            {
                "sdk_batch": _Requests(handler, [sdk_unit() for _ in range(units)]),
                "native": _Requests(handler, [native_unit() for _ in range(units)]),
            },
            BATCH,
            repeats,
        )
    sdk_ms, native_ms = timings["sdk_batch"].median * 1e3, timings["native"].median * 1e3
    return {
        "events_per_request": {"sdk_batch": BATCH, "native": NATIVE_BATCH},
        "sdk_ms_per_event": sdk_ms,
        "native_ms_per_event": native_ms,
        "ratio": sdk_ms / native_ms,
        "api_requests_per_1000_events": {"sdk_batch": 1000 / BATCH, "native": 1000 / NATIVE_BATCH},
        "note": "moto in process; the authorizer (cached 300 s per write key) is not in the timed path",
        "repeats_s_per_event": {name: list(t.repeats) for name, t in timings.items()},
        "payload_bytes": {"sdk_batch": len(json.dumps(sdk_unit()[0]["body"]))},
    }
