"""What a page of a program's audience (GET /v1/reports/audiences) costs at two audience sizes, read from the
AudienceIndex the classifier keeps, against scanning the profile table for the same people (no index)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from benchmarks.calls import item_size, read_units
from benchmarks.funnel import ANALYST, CLASSIFIER, REPORT, _deliver, _Meter, _profile, _record, _timed, _warm
from benchmarks.harness import quiet_stdout
from benchmarks.stack import Stack

PROGRAM, CHANNEL, PURPOSE = "ticket_registration", "email", "marketing"
PAGE = 64  # ids per page asked: 8 per shard, a page both audiences fill


def _reachable(n: int) -> dict[str, Any]:
    """A traced profile with an email and marketing consent: D, recommended ticket_registration, reachable on email."""
    item = _profile(n)
    now = datetime.now(UTC).isoformat()
    item["fields"] = {"M": {"email": {"M": {"v": {"B": b"\x00" * 48}, "at": {"S": now}, "ch": {"S": "app"}}}}}
    granted = {"granted": {"BOOL": True}, "at": {"S": now}, "source": {"S": "app"}, "policy_version": {"S": "1"}}
    item["consents"] = {"M": {"marketing:all": {"M": granted}}}
    return item


def _classify(stack: Stack, first: int, count: int) -> None:
    db, records = stack.raw_client("dynamodb"), []
    for n in range(first, first + count):
        item = _reachable(n)
        db.put_item(TableName=stack.profile_table, Item=item)
        records.append(_record(item, n))
    _deliver(_warm(stack, CLASSIFIER, {"Records": [_record(_profile(10**9), 0)]}), records)


def _event() -> dict[str, Any]:
    from tests.factories import api_event  # the one place that builds API Gateway events

    event = api_event("GET", "/v1/reports/audiences", user_arn=ANALYST)
    query = {"program": PROGRAM, "channel": CHANNEL, "purpose": PURPOSE, "limit": str(PAGE)}
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def _page_cost(stack: Stack, repeats: int) -> dict[str, Any]:
    report = _warm(stack, REPORT, _event())
    answer = report(_event())
    assert answer["statusCode"] == 200, answer
    seconds = _timed(lambda: report(_event()), repeats)
    cost = _Meter(stack).measure(lambda: report(_event()))
    return {**cost, "seconds": seconds}


def _scan_cost(stack: Stack) -> dict[str, Any]:
    """The same audience without the index: every profile read (a Scan is charged on what it reads, whatever a
    filter keeps), those recommended the program and contactable on the channel kept."""
    db = stack.raw_client("dynamodb")
    request: dict[str, Any] = {"TableName": stack.profile_table}
    requests, units, found = 0, 0.0, 0
    while True:
        page = db.scan(**request)
        requests += 1
        units += read_units(sum(item_size(i) for i in page["Items"]), consistent=False)
        found += sum(
            1
            for i in page["Items"]
            if {"S": PROGRAM} in i.get("recommendations", {}).get("L", [])
            and {"S": CHANNEL} in i.get("contact_channels", {}).get("L", [])
        )
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {"requests": requests, "capacity_units": round(units, 2), "audience": found}


def measure(stack: Stack, *, small: int, large: int, repeats: int) -> dict[str, Any]:
    stack.activate()
    with quiet_stdout():
        _classify(stack, 1, small)
        at_small = {"page": _page_cost(stack, repeats), "scan": _scan_cost(stack)}
        _classify(stack, small + 1, large - small)
        at_large = {"page": _page_cost(stack, repeats), "scan": _scan_cost(stack)}

    def ratio(where: str, what: str) -> float:
        return round(at_large[where][what] / max(at_small[where][what], 1e-9), 2)

    ratios = {
        "page_requests": ratio("page", "requests"),
        "page_capacity_units": ratio("page", "capacity_units"),
        "page_seconds": ratio("page", "seconds"),
        "scan_capacity_units": ratio("scan", "capacity_units"),
    }
    return {
        "profiles": {"small": small, "large": large},
        "page_size": PAGE,
        "at_small": at_small,
        "at_large": at_large,
        "large_over_small": ratios,
        "target": "an audience page's requests and read units do not grow with the audience (ratio 1.0)",
        "met": ratios["page_requests"] == 1.0 and ratios["page_capacity_units"] <= 1.05,
    }


def rows(f: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    small, large, ratios = f["profiles"]["small"], f["profiles"]["large"], f["large_over_small"]
    s, g = f["at_small"]["page"], f["at_large"]["page"]
    old_s, old_g = f["at_small"]["scan"], f["at_large"]["scan"]
    return [
        (
            f"audience page ({f['page_size']} ids), {large} vs {small} members",
            f"{g['requests']} req, {g['capacity_units']} CU, {g['seconds'] * 1e3:.1f} ms",
            f"{s['requests']} req, {s['capacity_units']} CU, {s['seconds'] * 1e3:.1f} ms",
            f"{ratios['page_requests']}x req, {ratios['page_capacity_units']}x CU",
            "1.0x req and CU",
            "yes" if f["met"] else "NO",
        ),
        (
            "  without the index: Scan the profiles",
            f"{old_g['requests']} req, {old_g['capacity_units']} CU",
            f"{old_s['requests']} req, {old_s['capacity_units']} CU",
            f"{ratios['scan_capacity_units']}x CU",
            "",
            "",
        ),
    ]
