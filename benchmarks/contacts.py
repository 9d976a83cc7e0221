"""What a contact decision costs: a 1,000-person audience in one invocation (requests, capacity units, time per
1,000 with moto's share apart), a recorded contact, and whether counters make a touchpoint cost more."""

from __future__ import annotations

import importlib
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from benchmarks.calls import _DynamoMeter
from benchmarks.harness import fmt, lambda_context, quiet_stdout, web_event, web_signup
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

    return api_event("POST", f"/v1/email/{resource}", body, api_key_id=stack.email_key_id)


def _answer(handler: Any, event: dict[str, Any], name: str) -> dict[str, Any]:
    with quiet_stdout():
        answer = handler(event, lambda_context(name))
    assert answer["statusCode"] == 200, answer["body"][:300]
    return json.loads(answer["body"])  # type: ignore[no-any-return]


def _email_handler(stack: Stack) -> Any:
    """The email function in its own environment, as a fresh container (the template read once, here)."""
    body = {"purpose": "service", "campaign_id": "warm-up", "recipients": [{"profile_id": f"sub_{'0' * 32}"}]}
    with quiet_stdout():
        assert stack.invoke(EMAIL_FUNCTION, _email_event(stack, "contact-decisions", body))["statusCode"] == 200
    return importlib.import_module("functions.channel_email.app").lambda_handler


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
    from local_runner.emulator import template as cfn

    email_spec = next(s for s in cfn.functions(cfn.load()) if s.logical_id == EMAIL_FUNCTION)
    stack.email_key_id = stack.provisioned.environment(email_spec, overrides={})["CHANNEL_API_KEY_ID"]  # type: ignore[attr-defined]
    # Given `audience` people met on the web, every one with marketing consent and an email
    stack.activate()
    web = stack.handler()
    from local_runner.commands.demo_data import stack_secret
    from tests.factories import subject_of
    from tests.people import person
    from touchpoints.privacy.tokenizer import Tokenizer

    tokenizer = Tokenizer(stack_secret(stack.raw_client("secretsmanager")).encode())
    raw = stack.raw_client("dynamodb")
    for n in range(audience):
        _answer(web, web_event(web_signup(n), stack.api_key_id), WEB_FUNCTION)
    # The web is a public channel: its answers do not say which profile; the token index does.
    found = [subject_of(raw, stack.identity_index, tokenizer, "email", person(n).email) for n in range(audience)]
    subjects = [subject for subject in found if subject is not None]
    assert len(subjects) == audience, "every person met on the web has a profile"
    known = subjects[0]

    def touchpoint_cost() -> dict[str, Any]:
        stack.activate()
        handler = stack.handler()
        _answer(handler, web_event(web_signup(0), stack.api_key_id), WEB_FUNCTION)  # this container knows person 0
        meter = _Meter(stack)
        _answer(handler, web_event(web_signup(0), stack.api_key_id), WEB_FUNCTION)
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
        answer = _answer(email, event, EMAIL_FUNCTION)
        return answer, time.perf_counter() - started, BackendClock.seconds - moto_before

    email = _email_handler(stack)
    decide("warm-up", reserve=False)  # the email function's container, warm
    _, dry_s, dry_moto_s = decide("dry-run", reserve=False)
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
    _answer(email, _email_event(stack, "contacts", {"contacts": [contact]}), EMAIL_FUNCTION)
    recorded = _summary(meter.requests)

    after_counters = touchpoint_cost()
    per_1000 = 1000 / audience
    return {
        "audience": audience,
        "decision_dry_run": {
            "seconds_per_1000": dry_s * per_1000,
            "moto_seconds_per_1000": dry_moto_s * per_1000,
        },
        "decision_with_reservations": {
            "seconds_per_1000": reserve_s * per_1000,
            "moto_seconds_per_1000": reserve_moto_s * per_1000,
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
        "note": "wall times on moto, in-process; `moto_seconds` is the time moto spent answering, summed over the "
        "decision's threads (reads 8, reservation writes 16 at a time), so it can exceed the wall time: moto "
        "serves one request at a time. Capacity computed from item sizes (the meter's reads are not timed).",
    }


def rows(m: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:

    r, d = m["decision_with_reservations"], m["decision_dry_run"]
    met = "yes" if m["met"] else "NO"
    ops = ", ".join(f"{n} {op}" for op, n in sorted(r["requests_by_operation"].items()))
    return [
        (
            f"contact decision, {m['audience']} people, reserve",
            f"{fmt(r['seconds_per_1000'])} s/1000",
            f"moto {fmt(r['moto_seconds_per_1000'])} s (summed)",
            "",
            "1 invocation",
            met,
        ),
        (
            f"  requests: {ops}",
            f"{fmt(r['requests_per_person'])} req/person",
            f"{fmt(r['capacity_units_per_person'])} CU/person",
            "",
            "",
            "",
        ),
        (
            f"contact decision, {m['audience']} people, dry run",
            f"{fmt(d['seconds_per_1000'])} s/1000",
            f"moto {fmt(d['moto_seconds_per_1000'])} s (summed)",
            "",
            "",
            "",
        ),
        (
            "recorded contact (with reservation)",
            f"{m['recorded_contact']['requests']} req",
            f"{fmt(m['recorded_contact']['capacity_units'])} CU",
            "",
            "",
            "",
        ),
        (
            "touchpoint cost after counters / before",
            f"{fmt(m['touchpoint_after_counters']['capacity_units'])} CU",
            f"{fmt(m['touchpoint_before_counters']['capacity_units'])} CU",
            f"{fmt(m['touchpoint_cost_ratio'])}x",
            "1.0x",
            met,
        ),
    ]
