"""What the programs report (GET /v1/reports/programs, issue 25) costs at two table sizes: read from counters (the
funnel's items split by program, the moves after a contact, the contacts sent, the audience pulled), so its requests
and read units must not grow with the profiles; and the classifier's read of a person's contact history, one per
move to a more complete state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.funnel import CLASSIFIER, REPORT, _deliver, _Meter, _profile, _record, _report_event, _timed, _warm
from benchmarks.harness import quiet_stdout
from benchmarks.stack import Stack

PATH = "/v1/reports/programs"
PROGRAMS = ("ticket_registration", "digital_draw", "loyalty")


def _attributed(n: int) -> dict[str, Any]:
    """A traced-only profile whose touchpoint named a program and campaign (none -> G: a move credited to them)."""
    item = _profile(n)
    item["last_program"] = {"S": PROGRAMS[n % len(PROGRAMS)]}
    item["last_campaign"] = {"S": f"camp-{n % 4}"}
    return item


def _stored(stack: Stack, first: int, count: int) -> list[dict[str, Any]]:
    db = stack.raw_client("dynamodb")
    records = []
    for n in range(first, first + count):
        item = _attributed(n)
        db.put_item(TableName=stack.profile_table, Item=item)
        records.append(_record(item, n))
    return records


def _classifier(stack: Stack) -> Callable[[dict[str, Any]], Any]:
    return _warm(stack, CLASSIFIER, {"Records": [_record(_attributed(10**9), 0)]})  # not stored: a no-op


def _report(stack: Stack, repeats: int) -> dict[str, Any]:
    report = _warm(stack, REPORT, _report_event(PATH))
    answer = report(_report_event(PATH))
    assert answer["statusCode"] == 200, answer
    seconds = _timed(lambda: report(_report_event(PATH)), repeats)
    return {**_Meter(stack).measure(lambda: report(_report_event(PATH))), "seconds": seconds}


def measure(stack: Stack, *, small: int, large: int, records: int, repeats: int) -> dict[str, Any]:
    stack.activate()
    with quiet_stdout():
        _deliver(_classifier(stack), _stored(stack, 1, small))
        at_small = _report(stack, repeats)
        _deliver(_classifier(stack), _stored(stack, small + 1, large - small))
        at_large = _report(stack, repeats)
        # The classifier on new profiles (none -> G, each a move to a more complete state): its GetItems are the
        # contact history reads, one per move.
        classifier = _classifier(stack)
        batch = _stored(stack, large + 1, records)
        meter = _Meter(stack)
        _deliver(classifier, batch)
        gets = sum(1 for name, _ in meter.requests if name == "GetItem")
        meter.detach()

    def ratio(what: str) -> float:
        return round(at_large[what] / max(at_small[what], 1e-9), 2)

    return {
        "profiles": {"small": small, "large": large},
        "at_small": at_small,
        "at_large": at_large,
        "large_over_small": {w: ratio(w) for w in ("requests", "capacity_units", "seconds")},
        "classifier_contact_reads_per_move": round(gets / max(records, 1), 2),
        "target": "the report's requests and read units do not grow with the profiles (ratio 1.0); one contact "
        "history read (GetItem, 0.5 RCU) per move to a more complete state",
        "met": ratio("requests") == 1.0 and ratio("capacity_units") <= 1.0,
    }


def rows(f: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    small, large, ratios = f["profiles"]["small"], f["profiles"]["large"], f["large_over_small"]
    s, g = f["at_small"], f["at_large"]
    return [
        (
            f"report programs_30_days, {large} vs {small} profiles",
            f"{g['requests']} req, {g['capacity_units']} CU, {g['seconds'] * 1e3:.1f} ms",
            f"{s['requests']} req, {s['capacity_units']} CU, {s['seconds'] * 1e3:.1f} ms",
            f"{ratios['capacity_units']}x CU, {ratios['seconds']}x time",
            "1.0x req and CU",
            "yes" if f["met"] else "NO",
        ),
        (
            "  classifier contact reads per move up",
            str(f["classifier_contact_reads_per_move"]),
            "",
            "",
            "1 GetItem",
            "",
        ),
    ]


if __name__ == "__main__":  # python -m benchmarks.programs [--quick]: this metric alone
    import json
    import sys

    from benchmarks.harness import lambda_like_environment
    from benchmarks.stack import moto_stack

    lambda_like_environment()
    quick = "--quick" in sys.argv
    with moto_stack() as stack:
        result = measure(
            stack, small=5 if quick else 100, large=20 if quick else 2_000, records=10, repeats=1 if quick else 3
        )
    print(json.dumps(result, indent=2))
