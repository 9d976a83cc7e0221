"""Events per second through the web channel handler vs a bare handler that writes the raw payload with one PutItem."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from benchmarks.harness import interleaved, lambda_context, quiet_stdout, web_event, web_signup
from benchmarks.stack import MOTO_NOTE, BackendClock, Stack

TARGET_RATIO = 1.3
OUTSIDE_MOTO_TARGET_RATIO = 2.0  # issue 14: the handler, moto's time set apart, at most 2x the bare one


def bare_handler(client: Any, table: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The floor: no validation, no consent, no tokens, no encryption; one PutItem of the body as it came."""

    def handle(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        body = event["body"]
        event_id = json.loads(body)["event_id"]
        client.put_item(
            TableName=table, Item={"pk": {"S": f"RAW#{event_id}"}, "sk": {"S": "RAW"}, "payload": {"S": body}}
        )
        return {"statusCode": 200, "body": json.dumps({"event_id": event_id, "status": "stored"})}

    return handle


class _Runner:
    """Feeds prepared events to a handler; notes how much of its time the backend took."""

    def __init__(self, handler: Callable[..., dict[str, Any]], events: list[dict[str, Any]]) -> None:
        self._handler, self._events, self._context = handler, iter(events), lambda_context()
        self.ops, self.backend_s, self.total_s = 0, 0.0, 0.0

    def __call__(self, ops: int) -> None:
        before, start = BackendClock.seconds, time.perf_counter()
        for _ in range(ops):
            answer = self._handler(next(self._events), self._context)
            if answer["statusCode"] != 200 or not ('"stored"' in answer["body"] or '"accepted"' in answer["body"]):
                raise RuntimeError(f"handler answered {answer['statusCode']}: {answer['body'][:300]}")
        self.ops += ops
        self.backend_s += BackendClock.seconds - before
        self.total_s += time.perf_counter() - start

    @property
    def backend_share(self) -> float:
        """Of all this handler's time (every run, warm-up included), the part moto spent answering."""
        return self.backend_s / self.total_s if self.total_s else 0.0


def measure(stack: Stack, *, people: int, ops: int, repeats: int) -> dict[str, Any]:
    stack.activate()
    ours = stack.handler()
    bare = bare_handler(stack.client("dynamodb"), stack.profile_table)
    needed = ops * repeats + max(1, ops // 10)
    with quiet_stdout():
        # Known people on a warm container: the steady state of a channel function.
        _Runner(ours, [web_event(web_signup(n), stack.api_key_id) for n in range(people)])(people)
        known = [web_event(web_signup(i % people), stack.api_key_id) for i in range(needed)]
        runners = {"ours": _Runner(ours, known), "bare": _Runner(bare, known)}
        steady = interleaved(dict(runners), ops, repeats)
        # First touch of a person: KMS data key, identity lookup and a larger transaction.
        new_ops = max(1, ops // 4)
        fresh = [web_event(web_signup(people + i), stack.api_key_id) for i in range(new_ops * repeats + new_ops)]
        first_runners = {"ours": _Runner(ours, fresh), "bare": _Runner(bare, fresh)}
        first = interleaved(dict(first_runners), new_ops, repeats)
    ratio = steady["ours"].median / steady["bare"].median
    in_process = stack.endpoint_url is None
    known_person: dict[str, Any] = {
        "ours_events_per_s": steady["ours"].per_second,
        "bare_events_per_s": steady["bare"].per_second,
        "ours_ms_per_event": steady["ours"].median * 1e3,
        "bare_ms_per_event": steady["bare"].median * 1e3,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO,
    }
    if in_process:
        # Of each event's time, how much moto spent answering (parsing expressions, applying them).
        share = {name: r.backend_share for name, r in runners.items()}
        known_person.update(
            ours_backend_share=share["ours"],
            bare_backend_share=share["bare"],
            ours_client_ms_per_event=known_person["ours_ms_per_event"] * (1 - share["ours"]),
            bare_client_ms_per_event=known_person["bare_ms_per_event"] * (1 - share["bare"]),
        )
        outside = known_person["ours_client_ms_per_event"] / known_person["bare_client_ms_per_event"]
        known_person.update(
            outside_moto_ratio=outside,
            outside_moto_target_ratio=OUTSIDE_MOTO_TARGET_RATIO,
            outside_moto_met=outside <= OUTSIDE_MOTO_TARGET_RATIO,
        )
    new_person: dict[str, Any] = {
        "ours_events_per_s": first["ours"].per_second,
        "bare_events_per_s": first["bare"].per_second,
        "ratio": first["ours"].median / first["bare"].median,
    }
    if in_process:
        new_person.update(
            ours_client_ms_per_event=first["ours"].median * 1e3 * (1 - first_runners["ours"].backend_share),
            bare_client_ms_per_event=first["bare"].median * 1e3 * (1 - first_runners["bare"].backend_share),
        )
    return {
        "backend": stack.backend,
        "backend_note": MOTO_NOTE if in_process else "out of process: times include HTTP to the endpoint",
        "people": people,
        "events_per_repeat": ops,
        "repeats": repeats,
        "known_person": known_person,
        "new_person": new_person,
    }
