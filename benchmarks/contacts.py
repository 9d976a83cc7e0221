"""What a contact decision costs: a 1,000-person audience in one invocation (requests, capacity units, time per
1,000 with moto's share apart), a recorded contact, and whether counters make a touchpoint cost more."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from benchmarks.calls import _DynamoMeter
from benchmarks.harness import quiet_stdout, web_event, web_signup
from benchmarks.stack import BackendClock, Stack

EMAIL_FUNCTION = "EmailChannelFunction"


class _Meter(_DynamoMeter):
    """The touchpoint meter, safe for the decision's threads: each call's state stays on the thread making it."""

    def __init__(self, stack: Stack) -> None:
        self._local = threading.local()
        super().__init__(stack)

    @property  # type: ignore[override]
    def _pending(self) -> dict[str, Any]:
        return getattr(self._local, "pending", {})  # type: ignore[no-any-return]

    @_pending.setter
    def _pending(self, value: dict[str, Any]) -> None:
        self._local.pending = value
WEB_FUNCTION = "WebChannelFunction"


def _daytime_zone() -> str:
    offset = (13 - datetime.now(UTC).hour + 12) % 24 - 12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def _email_event(stack: Stack, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    from tests.factories import api_event

    spec_env = stack.provisioned.environment(
        next(s for s in _functions() if s.logical_id == EMAIL_FUNCTION), overrides={}
    )
    return api_event("POST", f"/v1/email/{resource}", body, api_key_id=spec_env["CHANNEL_API_KEY_ID"])


def _functions() -> list[Any]:
    from local_runner import template as cfn

    return cfn.functions(cfn.load())


def _call(stack: Stack, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
    with quiet_stdout():
        answer = stack.invoke(logical_id, event)
    assert answer["statusCode"] == 200, answer["body"][:300]
    return json.loads(answer["body"])  # type: ignore[no-any-return]


def _summary(requests: list[dict[str, Any]]) -> dict[str, Any]:
    by_operation: dict[str, int] = {}
    for r in requests:
        by_operation[r["operation"]] = by_operation.get(r["operation"], 0) + 1
    return {
        "requests": len(requests),
        "requests_by_operation": by_operation,
        "capacity_units": sum(r["computed_capacity_units"] for r in requests),
    }


def measure(stack: Stack, *, audience: int) -> dict[str, Any]:
    # Given `audience` people met on the web, every one with marketing consent and an email
    subjects: list[str] = []
    for n in range(audience):
        body = _call(stack, WEB_FUNCTION, web_event(web_signup(n), stack.api_key_id))
        subjects.append(body["results"][0]["profile_id"])
    known = subjects[0]

    def touchpoint_cost() -> dict[str, Any]:
        _call(stack, WEB_FUNCTION, web_event(web_signup(0), stack.api_key_id))  # warm this container for person 0
        meter = _Meter(stack)
        _call(stack, WEB_FUNCTION, web_event(web_signup(0), stack.api_key_id))
        return _summary(meter.requests)

    before_counters = touchpoint_cost()

    zone = _daytime_zone()
    recipients = [{"profile_id": s, "time_zone": zone} for s in subjects]

    def decide(campaign: str, reserve: bool) -> tuple[dict[str, Any], float, float]:
        event = _email_event(
            stack,
            "contact-decisions",
            {"purpose": "marketing", "campaign_id": campaign, "reserve": reserve, "recipients": recipients},
        )
        moto_before, started = BackendClock.seconds, time.perf_counter()
        answer = _call(stack, EMAIL_FUNCTION, event)
        return answer, time.perf_counter() - started, BackendClock.seconds - moto_before

    decide("warm-up", reserve=False)  # the email function's container, warm
    dry, dry_s, dry_moto_s = decide("dry-run", reserve=False)
    reserved, reserve_s, reserve_moto_s = decide("first", reserve=True)
    assert all(d["allowed"] for d in reserved["decisions"]), "every seeded person may get this campaign"
    meter = _Meter(stack)
    decide("second", reserve=True)  # counters exist now: read with the profiles
    metered = _summary(meter.requests)

    # A contact recorded with its reservation: one transaction (event, counter, the profile's status checked)
    first = reserved["decisions"][0]
    contact = {
        "event_id": f"snt-{uuid.uuid4().hex[:12]}",
        "occurred_at": datetime.now(UTC).isoformat(),
        "subject": {"profile_id": known},
        "kind": "email",
        "purpose": "marketing",
        "campaign_id": "first",
        "reservation_id": first["reservation_id"],
    }
    meter = _Meter(stack)
    _call(stack, EMAIL_FUNCTION, _email_event(stack, "contacts", {"contacts": [contact]}))
    recorded = _summary(meter.requests)

    after_counters = touchpoint_cost()
    per_1000 = 1000 / audience
    return {
        "audience": audience,
        "decision_dry_run": {
            "seconds_per_1000": dry_s * per_1000,
            "moto_seconds_per_1000": dry_moto_s * per_1000,
            "ours_seconds_per_1000": (dry_s - dry_moto_s) * per_1000,
        },
        "decision_with_reservations": {
            "seconds_per_1000": reserve_s * per_1000,
            "moto_seconds_per_1000": reserve_moto_s * per_1000,
            "ours_seconds_per_1000": (reserve_s - reserve_moto_s) * per_1000,
            **metered,
            "requests_per_person": metered["requests"] / audience,
            "capacity_units_per_person": metered["capacity_units"] / audience,
        },
        "recorded_contact": recorded,
        "touchpoint_before_counters": before_counters,
        "touchpoint_after_counters": after_counters,
        "touchpoint_cost_ratio": after_counters["capacity_units"] / before_counters["capacity_units"],
        "target": "1 invocation per 1,000; reads batched (<= 1 BatchGetItem per 50 people); a touchpoint's cost "
        "unchanged by the counters (ratio 1.0)",
        "met": metered["requests_by_operation"].get("BatchGetItem", 0) <= -(-audience // 50)
        and after_counters["requests"] == before_counters["requests"]
        and after_counters["capacity_units"] == before_counters["capacity_units"],
        "note": "times on moto, in-process: `moto_seconds` is moto answering; `ours_seconds` the rest (the "
        "handler, botocore, 1,000 reservation writes on 16 threads). Capacity computed from item sizes.",
    }


def rows(m: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    from benchmarks.__main__ import _fmt

    r, d = m["decision_with_reservations"], m["decision_dry_run"]
    met = "yes" if m["met"] else "NO"
    ops = ", ".join(f"{n} {op}" for op, n in sorted(r["requests_by_operation"].items()))
    return [
        (
            f"contact decision, {m['audience']} people, reserve",
            f"{_fmt(r['seconds_per_1000'])} s/1000",
            f"moto {_fmt(r['moto_seconds_per_1000'])} s",
            f"ours {_fmt(r['ours_seconds_per_1000'])} s",
            "1 invocation",
            met,
        ),
        (f"  requests: {ops}", f"{_fmt(r['requests_per_person'])} req/person", f"{_fmt(r['capacity_units_per_person'])} CU/person", "", "", ""),
        (
            f"contact decision, {m['audience']} people, dry run",
            f"{_fmt(d['seconds_per_1000'])} s/1000",
            f"moto {_fmt(d['moto_seconds_per_1000'])} s",
            f"ours {_fmt(d['ours_seconds_per_1000'])} s",
            "",
            "",
        ),
        (
            "recorded contact (with reservation)",
            f"{m['recorded_contact']['requests']} req",
            f"{_fmt(m['recorded_contact']['capacity_units'])} CU",
            "",
            "",
            "",
        ),
        (
            "touchpoint cost after counters / before",
            f"{_fmt(m['touchpoint_after_counters']['capacity_units'])} CU",
            f"{_fmt(m['touchpoint_before_counters']['capacity_units'])} CU",
            f"{_fmt(m['touchpoint_cost_ratio'])}x",
            "1.0x",
            met,
        ),
    ]
