"""What the state report and the funnel cost at two table sizes, read from the counters, against counting every
profile's StateIndex entry (the report before the counters); and what the counters add to the classifier."""

from __future__ import annotations

import base64
import importlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from benchmarks.calls import item_size, read_units, write_units
from benchmarks.harness import lambda_context, quiet_stdout
from benchmarks.stack import Stack
from local_runner.emulator import template as cfn

CLASSIFIER = "ClassifierFunction"
REPORT = "ProfileStateReportFunction"
RECLASSIFIER = "ReclassifierFunction"
ANALYST = "arn:aws:sts::123456789012:assumed-role/BusinessAnalyst/analyst"
STATES, ORIGINS, INDEX_SHARDS = "ABCDEFGU", ("web", "app", "email", "sms", "push", "contact-center", "store"), 4


class _Meter:
    """The function's DynamoDB requests and their capacity units, computed from item sizes per DynamoDB's rules
    (moto reports none for transactions, batch reads or queries)."""

    def __init__(self, stack: Stack) -> None:
        self._raw = stack.raw_client("dynamodb")
        self.requests: list[tuple[str, float]] = []
        self._before: dict[int, int] = {}
        self._params: dict[str, Any] = {}
        self._client = stack.client("dynamodb")
        self._client.meta.events.register("before-parameter-build.dynamodb", self._sizes_before)
        self._client.meta.events.register("after-call.dynamodb", self._record)

    def detach(self) -> None:
        self._client.meta.events.unregister("before-parameter-build.dynamodb", self._sizes_before)
        self._client.meta.events.unregister("after-call.dynamodb", self._record)

    def _get(self, table: str, key: dict[str, Any]) -> dict[str, Any]:
        return dict(self._raw.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", {}))

    def _sizes_before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self._params = params
        entries = params.get("TransactItems") or ([{"Update": params}] if model.name == "UpdateItem" else [])
        self._before = {
            i: item_size(self._get(op["TableName"], op["Key"])) for i, e in enumerate(entries) for op in e.values()
        }

    def _record(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        params, self._params = self._params, {}
        units = 0.0
        if model.name in ("TransactWriteItems", "UpdateItem"):
            entries = params.get("TransactItems") or [{"Update": params}]
            for i, entry in enumerate(entries):
                for op in entry.values():
                    size = max(self._before.get(i, 0), item_size(self._get(op["TableName"], op["Key"])))
                    units += write_units(size, transactional=model.name == "TransactWriteItems")
        elif model.name == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                consistent = bool(request.get("ConsistentRead"))
                units += sum(
                    read_units(item_size(self._get(table, key)), consistent=consistent) for key in request["Keys"]
                )
        elif model.name == "Query":
            size = sum(item_size(item) for item in parsed.get("Items", []))
            units = read_units(size, consistent=bool(params.get("ConsistentRead")))
        self.requests.append((model.name, units))

    def take(self) -> dict[str, Any]:
        taken, self.requests = self.requests, []
        return {"requests": len(taken), "capacity_units": round(sum(u for _, u in taken), 2)}

    def measure(self, run: Callable[[], Any]) -> dict[str, Any]:
        """The requests and capacity of one run, then unhooked (pricing reads the table: not to be timed)."""
        self.requests = []
        run()
        self.detach()
        return self.take()


def _lambda_json(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _lambda_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lambda_json(v) for v in value]
    return value


def _record(item: dict[str, Any], sequence: int) -> dict[str, Any]:
    keys = {"pk": item["pk"], "sk": item["sk"]}
    change = {
        "Keys": keys,
        "NewImage": _lambda_json(item),
        "SequenceNumber": str(sequence),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    return {"eventID": str(sequence), "eventName": "MODIFY", "eventSource": "aws:dynamodb", "dynamodb": change}


def _profile(n: int) -> dict[str, Any]:
    """A traced-only profile as ingestion writes it (no personal field): the classifier makes it G."""
    now = datetime.now(UTC).isoformat()
    sid = f"sub_{n:032x}"
    return {
        "pk": {"S": f"SUBJECT#{sid}"},
        "sk": {"S": "PROFILE"},
        "entity": {"S": "profile"},
        "subject_id": {"S": sid},
        "status": {"S": "active"},
        "origin_channel": {"S": ORIGINS[n % len(ORIGINS)]},
        "fields": {"M": {}},
        "consents": {"M": {}},
        "consent_version": {"N": "0"},
        "version": {"N": "1"},
        "trace_transactional": {"N": "1"},
        "trace_visit": {"N": "0"},
        "last_trace_at": {"S": now},
        "changed_by": {"S": "ingest"},
        "last_channel": {"S": "store"},
        "last_action": {"S": "purchase"},
    }


def _warm(stack: Stack, logical_id: str, event: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    """The function's handler on a warm container (Stack.invoke parses the template on every call: not timed)."""
    stack.invoke(logical_id, event)
    spec = next(s for s in cfn.functions(cfn.load()) if s.logical_id == logical_id)
    handler = getattr(importlib.import_module(spec.module), spec.attribute)
    context = lambda_context(logical_id)
    return lambda e: handler(e, context)


def _report_event(path: str) -> dict[str, Any]:
    from tests.factories import api_event  # the one place that builds API Gateway events

    return api_event("GET", path, user_arn=ANALYST)


def _timed(run: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def _stored(stack: Stack, first: int, count: int, version: int = 1) -> list[dict[str, Any]]:
    """`count` profiles written as ingestion would (at `version`), and their stream records."""
    table, db = stack.profile_table, stack.raw_client("dynamodb")
    records = []
    for n in range(first, first + count):
        item = _profile(n)
        if version > 1:
            item = db.get_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True)["Item"]
            item.update(version={"N": str(version)}, changed_by={"S": "ingest"})
        db.put_item(TableName=table, Item=item)
        records.append(_record(item, n))
    return records


def _deliver(classifier: Callable[[dict[str, Any]], Any], records: list[dict[str, Any]]) -> float:
    """The records to the classifier in batches of 100, as the stream would; its seconds per record."""
    started = time.perf_counter()
    for start in range(0, len(records), 100):
        answer = classifier({"Records": records[start : start + 100]})
        assert answer == {"batchItemFailures": []}, answer
    return (time.perf_counter() - started) / max(len(records), 1)


def _classify(stack: Stack, first: int, count: int) -> None:
    _deliver(_warm(stack, CLASSIFIER, {"Records": [_record(_profile(10**9), 0)]}), _stored(stack, first, count))


def _old_report_cost(stack: Stack) -> dict[str, Any]:
    """Counting every StateIndex entry, as the report did before the counters: 8 states x 7 origins x 4 shards."""
    db = stack.raw_client("dynamodb")
    requests, units, started = 0, 0.0, time.perf_counter()
    for state in STATES:
        for origin in ORIGINS:
            for shard in range(INDEX_SHARDS):
                query: dict[str, Any] = {
                    "TableName": stack.profile_table,
                    "IndexName": "StateIndex",
                    "KeyConditionExpression": "state_key = :k",
                    "ExpressionAttributeValues": {":k": {"S": f"{state}#{origin}#{shard}"}},
                }
                while True:
                    page = db.query(**query)
                    requests += 1
                    units += read_units(sum(item_size(i) for i in page["Items"]), consistent=False)
                    if "LastEvaluatedKey" not in page:
                        break
                    query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {"requests": requests, "capacity_units": round(units, 2), "seconds": time.perf_counter() - started}


def _report_cost(stack: Stack, repeats: int) -> dict[str, Any]:
    costs: dict[str, Any] = {}
    for name, path in (("distribution", "/v1/reports/profile-states"), ("funnel_30_days", "/v1/reports/funnel")):
        report = _warm(stack, REPORT, _report_event(path))
        assert report(_report_event(path))["statusCode"] == 200
        seconds = _timed(lambda p=path, r=report: r(_report_event(p)), repeats)
        cost = _Meter(stack).measure(lambda p=path, r=report: r(_report_event(p)))
        costs[name] = {**cost, "seconds": seconds}
    return costs


def measure(stack: Stack, *, small: int, large: int, records: int, repeats: int) -> dict[str, Any]:
    """The reports at `small` and at `large` classified profiles, and the classifier's write with and without
    a state change (a state change writes the counters in the classification's transaction)."""
    stack.activate()
    with quiet_stdout():
        _classify(stack, 1, small)
        at_small = {"new": _report_cost(stack, repeats), "old_index_count": _old_report_cost(stack)}
        _classify(stack, small + 1, large - small)
        at_large = {"new": _report_cost(stack, repeats), "old_index_count": _old_report_cost(stack)}

        # The classifier, per record: new profiles (none -> G: the profile, the distribution and the funnel in one
        # transaction) against the same profiles' next revision, same state (the profile and the data-quality
        # touchpoint counter in one transaction).
        first = large + 1
        classifier = _warm(stack, CLASSIFIER, {"Records": [_record(_profile(10**9), 0)]})  # not stored: a no-op
        seconds_changed = _deliver(classifier, _stored(stack, first, records))
        seconds_same = _deliver(classifier, _stored(stack, first, records, version=2))
        one_new = _stored(stack, first + records, 1)
        state_change = _Meter(stack).measure(lambda: _deliver(classifier, one_new))
        one_again = _stored(stack, first + records, 1, version=2)
        same_state = _Meter(stack).measure(lambda: _deliver(classifier, one_again))
        state_change["ms_per_record"] = round(seconds_changed * 1e3, 2)
        same_state["ms_per_record"] = round(seconds_same * 1e3, 2)

    def ratio(key: str, what: str) -> float:
        return round(at_large["new"][key][what] / max(at_small["new"][key][what], 1e-9), 2)

    return {
        "profiles": {"small": small, "large": large},
        "at_small": at_small,
        "at_large": at_large,
        "large_over_small": {
            "distribution_requests": ratio("distribution", "requests"),
            "distribution_capacity_units": ratio("distribution", "capacity_units"),
            "distribution_seconds": ratio("distribution", "seconds"),
            "funnel_requests": ratio("funnel_30_days", "requests"),
            "funnel_capacity_units": ratio("funnel_30_days", "capacity_units"),
            "funnel_seconds": ratio("funnel_30_days", "seconds"),
            "old_index_count_capacity_units": round(
                at_large["old_index_count"]["capacity_units"]
                / max(at_small["old_index_count"]["capacity_units"], 1e-9),
                2,
            ),
        },
        "classifier_write": {
            "state_change_with_counters": state_change,
            "same_state_no_counters": same_state,
            "note": "a state change writes the profile and two counter items in one transaction (2 WCU per KB of "
            "each); a touchpoint's record that changes no state is a transaction too since the data-quality "
            "counters (the profile and the day's touchpoint counter); a sweep's or new rules' record that changes "
            "no state and no field's day is the one UpdateItem it was",
        },
        "target": "the reports' requests and capacity units do not grow with the profiles (ratio 1.0)",
        "met": ratio("distribution", "requests") == 1.0
        and ratio("funnel_30_days", "requests") == 1.0
        and ratio("distribution", "capacity_units") <= 1.0
        and ratio("funnel_30_days", "capacity_units") <= 1.0,
    }


def rows(f: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """The benchmark table's rows: each report at the large table against the small one, then the classifier."""
    small, large, ratios = f["profiles"]["small"], f["profiles"]["large"], f["large_over_small"]
    out = []
    for name in ("distribution", "funnel_30_days"):
        s, g = f["at_small"]["new"][name], f["at_large"]["new"][name]
        kind = name.split("_")[0]
        out.append(
            (
                f"report {name}, {large} vs {small} profiles",
                f"{g['requests']} req, {g['capacity_units']} CU, {g['seconds'] * 1e3:.1f} ms",
                f"{s['requests']} req, {s['capacity_units']} CU, {s['seconds'] * 1e3:.1f} ms",
                f"{ratios[kind + '_capacity_units']}x CU, {ratios[kind + '_seconds']}x time",
                "1.0x req and CU",
                "yes" if f["met"] else "NO",
            )
        )
    old_s, old_g = f["at_small"]["old_index_count"], f["at_large"]["old_index_count"]
    out.append(
        (
            "  before: count StateIndex",
            f"{old_g['requests']} req, {old_g['capacity_units']} CU",
            f"{old_s['requests']} req, {old_s['capacity_units']} CU",
            f"{ratios['old_index_count_capacity_units']}x CU",
            "",
            "",
        )
    )
    w = f["classifier_write"]
    change, same = w["state_change_with_counters"], w["same_state_no_counters"]
    slower = change["ms_per_record"] / max(same["ms_per_record"], 1e-9)
    out.append(
        (
            "classifier write, state changes",
            f"{change['requests']} req, {change['capacity_units']} CU, {change['ms_per_record']} ms",
            f"same state {same['requests']} req, {same['capacity_units']} CU, {same['ms_per_record']} ms",
            f"+{change['capacity_units'] - same['capacity_units']:.0f} CU, {slower:.2f}x time",
            "",
            "",
        )
    )
    return out
