"""`python -m benchmarks [--quick] [--out PATH] [--endpoint URL]`: every metric, a table on stdout, JSON on disk."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import timeit
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.harness import dumps, fmt, lambda_like_environment

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts, one repeat: a smoke run, not a measurement")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write the JSON (default {RESULTS})")
    parser.add_argument(
        "--endpoint", help="also measure throughput against this running emulator (moto server, LocalStack)"
    )
    parser.add_argument("--no-endpoint", action="store_true", help="do not look for a running local emulator")
    parser.add_argument(
        "--peak", type=float, default=3000.0, help="touchpoints/s the hot keys are extrapolated to (default 3,000)"
    )
    parser.add_argument(
        "--rate", type=float, default=300.0, help="touchpoints/s the all-in cost is a month of (default 300)"
    )
    parser.add_argument("--population", type=int, default=20_000_000, help="people, for the cost (default 20M)")
    parser.add_argument(
        "--stream-shards",
        type=int,
        default=None,
        help="the profile stream's shards, for the cost (about one a table partition; default: as many as the "
        "classifier's processing needs): its batches fill as the shards and --batching-window let them, and the "
        "counters, written once a batch, are priced at that fill",
    )
    parser.add_argument(
        "--batching-window", type=float, default=1.0, help="ClassifierBatchingWindowSeconds, for the cost (default 1)"
    )
    parser.add_argument(
        "--returns",
        type=int,
        default=10,
        help="the hot keys' second mix, the steady state: each person comes back this many times after their "
        "journey (default 10); the first mix has none",
    )
    parser.add_argument(
        "--only",
        choices=("hot_keys", "audiences", "kms_calls", "token_rotation"),
        help="hot_keys: only the hot keys and the all-in cost (a realistic mix through the local runner); "
        "token_rotation: the tokenization secret's rotation over --items identity-index items (not in the full run: "
        "about 20 minutes at 100,000 on moto)",
    )
    parser.add_argument(
        "--items", type=int, default=100_000, help="identity-index items of --only token_rotation (default 100,000)"
    )
    return parser.parse_args(argv)


def _meta(quick: bool) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "machine_speed_us": machine_speed_us(),
        "machine_speed_note": "best of 5 timings of sum(range(1000)) in µs: absolute figures (the pure-compute "
        "target is one) move with it; ratios measured in the same run do not",
    }


def _cost_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "rate": args.rate,
        "people": args.population,
        "stream_shards": args.stream_shards,
        "window_s": args.batching_window,
    }


def hot_keys_and_cost(args: argparse.Namespace) -> dict[str, Any]:
    """The realistic mix through the local runner, every write recorded: hot keys at the peak, and the all-in
    cost of a month at the daily rate."""
    from benchmarks import cost, hot_keys
    from local_runner.emulator import template as cfn

    mix = hot_keys.measure(touchpoints=150 if args.quick else 1000, peak=args.peak)
    steady = hot_keys.measure(touchpoints=150 if args.quick else 1000, peak=args.peak, returns=args.returns)
    template = cfn.load()
    return {
        "hot_keys": mix,
        "cost_all_in": cost.all_in(mix, template, **_cost_options(args)),
        "hot_keys_steady": steady,
        "cost_all_in_steady": cost.all_in(steady, template, **_cost_options(args)),
    }


def audience_pages(quick: bool) -> dict[str, Any]:
    """An audience page at 100 and 2,000 members (80 and 400 quick: each more than a page) and a Scan for them."""
    from benchmarks import audiences
    from benchmarks.stack import moto_stack

    with moto_stack() as stack:
        return audiences.measure(
            stack, small=80 if quick else 100, large=400 if quick else 2_000, repeats=1 if quick else 5
        )


def kms_call_counts(quick: bool) -> dict[str, Any]:
    """KMS calls of 1,000 known and 1,000 new people on new containers (50 quick), before and with the key hierarchy."""
    from benchmarks import kms_calls
    from benchmarks.stack import moto_stack

    with moto_stack() as stack:
        return kms_calls.measure(stack, people=50 if quick else 1_000)


def run(args: argparse.Namespace) -> dict[str, Any]:
    lambda_like_environment()
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    if args.only == "hot_keys":
        return {"meta": _meta(args.quick), "metrics": hot_keys_and_cost(args)}
    if args.only == "audiences":
        return {"meta": _meta(args.quick), "metrics": {"audiences": audience_pages(args.quick)}}
    if args.only == "kms_calls":
        return {"meta": _meta(args.quick), "metrics": {"kms_calls": kms_call_counts(args.quick)}}
    if args.only == "token_rotation":
        from benchmarks import token_rotation

        items = 2_000 if args.quick else args.items
        return {"meta": _meta(args.quick), "metrics": {"token_rotation": token_rotation.measure(items)}}
    from moto import mock_aws

    from benchmarks import (
        calls,
        coldstart,
        compute,
        contact_pressure,
        contacts,
        cost,
        datamasking,
        erasure,
        funnel,
        layer,
        load,
        merge,
        moto_patches,
        programs,
        sdk_batch,
        throughput,
    )
    from benchmarks.stack import endpoint_stack, moto_stack, running_endpoint
    from local_runner.emulator import template as cfn

    quick = args.quick
    repeats = 1 if quick else 5
    metrics: dict[str, Any] = {}
    with moto_stack() as stack:
        metrics["throughput"] = {
            "moto": throughput.measure(stack, people=10 if quick else 100, ops=10 if quick else 500, repeats=repeats)
        }
    endpoint = None if args.no_endpoint else running_endpoint(args.endpoint)
    if endpoint:
        with endpoint_stack(endpoint) as stack:
            metrics["throughput"]["endpoint"] = throughput.measure(
                stack, people=10 if quick else 100, ops=10 if quick else 200, repeats=repeats
            )
    with moto_stack() as stack:
        metrics["sdk_batch"] = sdk_batch.measure(stack, people=10 if quick else 100, repeats=1 if quick else 3)
    metrics["compute"] = compute.measure(people=10 if quick else 100, ops=20 if quick else 2_000, repeats=repeats)
    with moto_stack() as stack:
        metrics["kms"] = calls.kms_calls(stack, people=10 if quick else 100, events=30 if quick else 1_000)
    with moto_stack() as stack:
        metrics["dynamodb"] = calls.dynamodb_requests(stack)
    with mock_aws():
        metrics["datamasking"] = datamasking.measure(ops=40 if quick else 2_000, repeats=repeats)
    metrics["cold_start"] = coldstart.measure(repeats=1 if quick else 7)
    metrics["moto_patches"] = moto_patches.measure(partition_size=200 if quick else 10_000, repeats=3 if quick else 20)
    with moto_stack() as stack:
        metrics["erasure"] = erasure.measure(stack, (20, 100) if quick else (1_000, 10_000))
    metrics["contact_pressure"] = contact_pressure.measure(small=20 if quick else 100, large=100 if quick else 2_000)
    with moto_stack() as stack:
        metrics["merge"] = merge.measure(
            stack, (20, 100) if quick else (1_000, 10_000), touchpoints=20 if quick else 200, repeats=repeats
        )
    with moto_stack() as stack:
        metrics["funnel"] = funnel.measure(
            stack,
            small=5 if quick else 100,
            large=20 if quick else 2_000,
            records=10 if quick else 100,
            repeats=repeats,
        )
    with moto_stack() as stack:
        metrics["programs"] = programs.measure(
            stack, small=5 if quick else 100, large=20 if quick else 2_000, records=10, repeats=repeats
        )
    with moto_stack() as stack:
        metrics["contacts"] = contacts.measure(stack, audience=10 if quick else 1_000)
    metrics["audiences"] = audience_pages(quick)
    metrics["kms_calls"] = kms_call_counts(quick)
    metrics["load"] = load.figures()
    web = next(s for s in cfn.functions(cfn.load()) if s.logical_id == "WebChannelFunction")
    channels = sum(1 for s in cfn.functions(cfn.load()) if s.logical_id.endswith("ChannelFunction"))
    metrics["cost"] = cost.model(metrics, web.memory_size, channels)
    metrics["layer"] = layer.measure()
    # Last, outside any mock_aws: the local runner's embedded moto in this process
    metrics.update(hot_keys_and_cost(args))
    return {"meta": _meta(quick), "metrics": metrics}


def machine_speed_us() -> float:
    return min(timeit.repeat("sum(range(1000))", number=10_000, repeat=5)) / 10_000 * 1e6


def _aligned(rows: list[tuple[str, str, str, str, str, str]]) -> str:
    header = ("metric", "ours", "baseline", "ratio", "target", "met")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(6)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def hot_keys_rows(m: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    from benchmarks import cost, hot_keys

    steady = hot_keys.steady_rows(m["hot_keys_steady"], m["cost_all_in_steady"]) if "hot_keys_steady" in m else []
    return [*hot_keys.rows(m["hot_keys"]), *cost.all_in_rows(m["cost_all_in"]), *steady]


def table(results: dict[str, Any]) -> str:
    m = results["metrics"]
    if "throughput" not in m:  # --only hot_keys, --only audiences, --only kms_calls
        from benchmarks import audiences, kms_calls

        if "kms_calls" in m:
            return _aligned(kms_calls.rows(m["kms_calls"]))
        if "token_rotation" in m:
            from benchmarks import token_rotation

            return _aligned(token_rotation.rows(m["token_rotation"]))
        return _aligned(audiences.rows(m["audiences"]) if "audiences" in m else hot_keys_rows(m))
    rows: list[tuple[str, str, str, str, str, str]] = []

    def met(flag: bool) -> str:
        return "yes" if flag else "NO"

    for name, t in m["throughput"].items():
        k = t["known_person"]
        rows.append(
            (
                f"throughput, known person ({name})",
                f"{fmt(k['ours_events_per_s'])} ev/s",
                f"bare PutItem {fmt(k['bare_events_per_s'])} ev/s",
                f"{fmt(k['ratio'])}x slower",
                f"<= {t['known_person']['target_ratio']}x",
                met(k["met"]),
            )
        )
        if "ours_backend_share" in k:
            rows.append(
                (
                    "  moto's share of its time",
                    f"{fmt(k['ours_backend_share'] * 100)}%",
                    f"bare {fmt(k['bare_backend_share'] * 100)}%",
                    "",
                    "<= 50%",
                    met(k["ours_backend_share"] <= 0.5),
                )
            )
        if "ours_client_ms_per_event" in k:
            rows.append(
                (
                    "  of which outside moto (ms/event)",
                    fmt(k["ours_client_ms_per_event"]),
                    fmt(k["bare_client_ms_per_event"]),
                    f"{fmt(k['outside_moto_ratio'])}x",
                    f"<= {k['outside_moto_target_ratio']}x",
                    met(k["outside_moto_met"]),
                )
            )
        n = t["new_person"]
        rows.append(
            (
                f"throughput, new person ({name})",
                f"{fmt(n['ours_events_per_s'])} ev/s",
                f"{fmt(n['bare_events_per_s'])} ev/s",
                f"{fmt(n['ratio'])}x slower",
                "",
                "",
            )
        )
    c = m["compute"]
    rows.append(
        (
            "pure compute, known person (5 PII)",
            fmt(c["known_person_us_per_event"], " us"),
            "",
            "",
            f"< {c['target_us']:.0f} us",
            met(c["met"]),
        )
    )
    rows.append(("pure compute, new person", fmt(c["new_person_us_per_event"], " us"), "", "", "", ""))
    rows.append(("whole handler, store stubbed", fmt(c["whole_handler_us_per_event"], " us"), "", "", "", ""))
    k = m["kms"]
    rows.append(
        (
            f"KMS calls / {k['events']} ev, {k['distinct_people']} people, warm",
            str(k["warm_container"]["calls_for_new_people"] + k["warm_container"]["calls_for_people_already_seen"]),
            f"new people {k['distinct_people']}",
            f"seen: {k['warm_container']['calls_for_people_already_seen']}",
            "<= new, 0 seen",
            met(k["met"]),
        )
    )
    rows.append(
        (
            "KMS calls, same people, new container",
            str(sum(k["new_container_known_people"]["calls_by_operation"].values())),
            "",
            "",
            "",
            "",
        )
    )
    d = m["datamasking"]
    rows.append(
        (
            "encrypt 5 fields vs DataMasking",
            fmt(d["ours_us_per_event"], " us"),
            fmt(min(d["datamasking_one_blob_us_per_event"], d["datamasking_per_field_us_per_event"]), " us"),
            f"{fmt(d['speedup_vs_faster_datamasking'])}x faster",
            f">= {d['target_speedup']:.0f}x",
            met(d["met"]),
        )
    )
    targets = m["dynamodb"].get("targets", {})
    for name, s in m["dynamodb"]["scenarios"].items():
        t = targets.get(name)
        rows.append(
            (
                f"DynamoDB per touchpoint: {name}",
                f"{s['requests']} req ({s['write_requests']}W/{s['read_requests']}R)",
                f"{fmt(s['capacity_units'])} CU ({fmt(s['write_units'])} WCU)",
                f"{fmt(t['missed_by'])}x target" if t else "",
                t["target"] if t else "",
                met(t["met"]) if t else "",
            )
        )
        for call in s["calls"]:
            for item in call.get("transaction_items") or []:
                rows.append(
                    (
                        f"  {item['action']} {item['item']}",
                        f"{item['bytes']} B",
                        f"{item['write_units']} WCU",
                        "",
                        "",
                        "",
                    )
                )
    cs = m["cold_start"]
    for name, h in cs["handlers"].items():
        is_channel = name.endswith("ChannelFunction")
        rows.append(
            (
                f"import {name}",
                fmt(h["import_ms"], " ms"),
                f"boto3 {fmt(h['paired_boto3_ms'], ' ms')}",
                f"{fmt(h['ratio_vs_boto3'])}x",
                f"<= {cs['target_ratio']}x" if is_channel else "",
                met(h["ratio_vs_boto3"] <= cs["target_ratio"]) if is_channel else "",
            )
        )
    floor = cs["framework_floor"]
    rows.append(
        (
            "import, framework floor (no code of ours)",
            fmt(floor["import_ms"], " ms"),
            "boto3",
            f"{fmt(floor['ratio_vs_boto3'])}x",
            "",
            "",
        )
    )
    worst = max(h["ratio_vs_framework_floor"] for h in cs["handlers"].values())
    rows.append(("  handlers vs that floor (worst)", "", "", f"{fmt(worst)}x", "", ""))
    fr = cs["to_first_response"]
    rows.append(
        (
            "cold: import + 1st request (web)",
            fmt(fr["web"]["cold_total_s"] * 1e3, " ms"),
            f"bare {fmt(fr['bare']['cold_total_s'] * 1e3, ' ms')}",
            f"{fmt(fr['ratio_web_vs_bare'])}x",
            "",
            "",
        )
    )
    sdk = m["sdk_batch"]
    rows.append(
        (
            "SDK /v1/batch of 100 vs 100 native touchpoints (4 x 25)",
            f"{fmt(sdk['sdk_ms_per_event'])} ms/event",
            f"native {fmt(sdk['native_ms_per_event'])} ms/event",
            f"{fmt(sdk['ratio'])}x",
            "",
            "",
        )
    )
    per_1000 = sdk["api_requests_per_1000_events"]
    rows.append(
        (
            "  API Gateway requests per 1,000 events",
            fmt(per_1000["sdk_batch"]),
            f"native {fmt(per_1000['native'])}",
            f"{fmt(per_1000['sdk_batch'] / per_1000['native'])}x",
            "",
            "",
        )
    )
    for size, e in m["erasure"]["runs"].items():
        rows.append(
            (
                f"erase a person with {size} events",
                fmt(e["seconds"], " s"),
                f"{fmt(e['ms_per_event'])} ms/event",
                "",
                "",
                "",
            )
        )
    for size, g in m["merge"]["runs"].items():
        rows.append(
            (
                f"merge a profile with {size} traces",
                fmt(g["merge_seconds"], " s"),
                f"{fmt(g['ms_per_trace'])} ms/trace",
                f"{g['kms_calls']} KMS calls",
                f"{fmt(g['write_capacity_units_priced'])} WCU",
                "",
            )
        )
    scaling = m["merge"]["scaling"]
    rows.append(
        (
            f"merge time, {scaling['sizes'][1]:,} traces vs {scaling['sizes'][0]:,}",
            f"{fmt(scaling['time_ratio'])}x",
            "",
            "",
            f"<= {fmt(scaling['target_ratio'])}x",
            met(scaling["met"]),
        )
    )
    n = m["merge"]["no_merge_touchpoint"]
    rows.append(
        (
            "touchpoint merging nothing vs before merges",
            fmt(n["seconds_per_touchpoint"]["with_identity_resolution"] * 1e3, " ms"),
            fmt(n["seconds_per_touchpoint"]["before_merges"] * 1e3, " ms"),
            f"{fmt(n['ratio'])}x",
            "<= 1.05x, same requests",
            met(n["met"]),
        )
    )
    from benchmarks import contact_pressure, contacts, funnel, load, moto_patches, programs

    rows.extend(funnel.rows(m["funnel"]))
    rows.extend(programs.rows(m["programs"]))
    rows.extend(contacts.rows(m["contacts"]))
    rows.extend(contact_pressure.rows(m["contact_pressure"]))
    from benchmarks import audiences

    rows.extend(audiences.rows(m["audiences"]))
    rows.extend(load.rows(m["load"]))
    rows.extend(moto_patches.rows(m["moto_patches"]))
    from benchmarks import kms_calls

    rows.extend(kms_calls.rows(m["kms_calls"]))
    costs = m["cost"]["dollars_per_million_touchpoints"]
    for name, figures in costs.items():
        for batching, dollars in figures.items():
            if batching == "units":
                continue
            parts = " + ".join(
                f"{service} {dollars[service]:.2f}" for service in ("dynamodb", "lambda", "api_gateway", "kms")
            )
            rows.append((f"$ per 1M touchpoints: {name}, {batching}", f"${dollars['total']:.2f}", parts, "", "", ""))
    biggest = ", ".join(f"{name} {mb:.1f}" for name, mb in list(m["layer"]["mb"].items())[:4])
    rows.append(("layer, unzipped (MB)", f"{m['layer']['total_mb']:.1f} MB", biggest, "", "", ""))
    rows.extend(hot_keys_rows(m))
    return _aligned(rows)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    results = run(args)
    if args.only and args.out == RESULTS:  # a part of the metrics: not over the whole run's file
        args.out = RESULTS.with_name(f"{args.only}.json")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dumps(results) + "\n")
    meta = results["meta"]
    kind = "quick smoke run" if meta["quick"] else "full"
    print(
        f"\nbenchmarks ({kind}) {meta['date']} on {meta['cpus']} CPUs, Python {meta['python']}, "
        f"machine speed {meta['machine_speed_us']:.1f} us per sum(range(1000))"
    )
    print(table(results))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
