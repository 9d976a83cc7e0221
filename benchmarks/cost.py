"""Dollars per million touchpoints, from the units this run measured and AWS's public on-demand prices.

    DynamoDB  = 10^6 x (write units x WRU price + read units x RRU price)        units as measured (transactional
                                                                               writes already count 2 per KB)
    Lambda    = 10^6 / batch x request price
              + 10^6 x (cpu ms x 1769 / memory MB + round trips x AWS latency ms) / 1000 x memory GB x GB-s price
    API GW    = 10^6 / batch x REST request price
    KMS       = 10^6 x KMS calls per touchpoint x request price                 (GenerateDataKey for a new person)

`cpu ms` is our handler's time outside moto on this machine; a Lambda function gets one full vCPU at 1,769 MB
and a proportional share below it, so the same work takes 1769/memory times as long there (a model, not a
measurement). `round trips` are the function's sequential AWS calls (measured); `AWS latency ms` is an
assumption (below), since no AWS endpoint can be measured here. A batch of up to 25 touchpoints is one API
request and one invocation; its DynamoDB and KMS calls are per touchpoint, as ingestion writes them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.hot_keys import COUNTER_TABLE
from touchpoints.adapters.secrets import REFRESH_SECONDS
from touchpoints.settings import PrivacySettings

# us-east-1, on-demand, read 2026-11-30; free tiers left out. Sources:
#   DynamoDB  https://aws.amazon.com/dynamodb/pricing/on-demand/  ($0.625 per million WRU, $0.125 per million RRU
#             since the 1 November 2024 price cut, half the former $1.25 / $0.25; a transactional write is 2 WRU
#             per KB, a strongly consistent read 1 RRU per 4 KB. Streams: $0.02 per 100,000 read request units,
#             but GetRecords calls made by Lambda for a trigger are free)
#   Lambda    https://aws.amazon.com/lambda/pricing/  ($0.20 per million requests, $0.0000166667 per GB-s x86;
#             SnapStart: $0.0001397998 per GB restored, $0.0000015046 per GB-s of snapshot cached)
#   API GW    https://aws.amazon.com/api-gateway/pricing/  (REST: $3.50 per million, first 333 million a month)
#   KMS       https://aws.amazon.com/kms/pricing/  ($0.03 per 10,000 symmetric requests; $1 a month per key)
#   SQS       https://aws.amazon.com/sqs/pricing/  ($0.40 per million standard requests, each 64 KB chunk one)
#   Secrets   https://aws.amazon.com/secrets-manager/pricing/  ($0.40 per secret a month, $0.05 per 10,000 calls)
PRICES: dict[str, float] = {
    "dynamodb_write_request_unit": 0.625 / 1e6,
    "dynamodb_read_request_unit": 0.125 / 1e6,
    "dynamodb_stream_read_request_unit": 0.02 / 1e5,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,
    "snapstart_restore_gb": 0.0001397998,
    "snapstart_cache_gb_second": 0.0000015046,
    "api_gateway_rest_request": 3.50 / 1e6,
    "kms_request": 0.03 / 1e4,
    "kms_key_month": 1.00,
    "sqs_request": 0.40 / 1e6,
    "secrets_manager_secret_month": 0.40,
    "secrets_manager_call": 0.05 / 1e4,
}
PRICE_SOURCES = {
    "dynamodb": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "lambda": "https://aws.amazon.com/lambda/pricing/",
    "api_gateway": "https://aws.amazon.com/api-gateway/pricing/",
    "kms": "https://aws.amazon.com/kms/pricing/",
    "sqs": "https://aws.amazon.com/sqs/pricing/",
    "secrets_manager": "https://aws.amazon.com/secrets-manager/pricing/",
}
FULL_VCPU_MB = 1769  # https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html
ASSUMED_AWS_LATENCY_MS = 8.0  # per sequential call from Lambda to DynamoDB or KMS in-region: an assumption
BATCH = 25  # TouchpointBatch's largest batch


@dataclass(frozen=True)
class Units:
    """What one touchpoint costs, as measured."""

    write_units: float
    read_units: float
    kms_calls: float
    round_trips: float
    cpu_ms: float


def per_million(
    units: Units, *, memory_mb: int, batch: int, latency_ms: float = ASSUMED_AWS_LATENCY_MS
) -> dict[str, float]:
    """Dollars per million touchpoints, by service, for touchpoints sent `batch` to a request."""
    million = 1e6
    invocations = million / batch
    seconds_per_touchpoint = (units.cpu_ms * FULL_VCPU_MB / memory_mb + units.round_trips * latency_ms) / 1000
    dollars = {
        "dynamodb": million
        * (
            units.write_units * PRICES["dynamodb_write_request_unit"]
            + units.read_units * PRICES["dynamodb_read_request_unit"]
        ),
        "lambda": invocations * PRICES["lambda_request"]
        + million * seconds_per_touchpoint * memory_mb / 1024 * PRICES["lambda_gb_second"],
        "api_gateway": invocations * PRICES["api_gateway_rest_request"],
        "kms": million * units.kms_calls * PRICES["kms_request"],
    }
    dollars["total"] = sum(dollars.values())
    return dollars


def snapstart_fixed(memory_mb: int, functions: int) -> dict[str, float]:
    """SnapStart's own prices: a month of one cached snapshot per channel function, and one restore."""
    gb = memory_mb / 1024
    return {
        "cache_per_month_all_functions": functions * gb * 30 * 86_400 * PRICES["snapstart_cache_gb_second"],
        "per_restored_environment": gb * PRICES["snapstart_restore_gb"],
    }


def _units_of(calls: list[dict[str, Any]]) -> tuple[float, float]:
    writes = sum(c["computed_capacity_units"] for c in calls if c["operation"] in ("TransactWriteItems", "PutItem"))
    reads = sum(c["computed_capacity_units"] for c in calls if c["operation"] in ("BatchGetItem", "GetItem", "Query"))
    return writes, reads


def model(metrics: dict[str, Any], memory_mb: int, channel_functions: int) -> dict[str, Any]:
    """The cost model on this run's measurements: known person (warm) and new person, alone and batched."""
    scenarios = metrics["dynamodb"]["scenarios"]
    moto = metrics["throughput"]["moto"]
    cpu = {
        "known_person_warm": moto["known_person"]["ours_client_ms_per_event"],
        "new_person": moto["new_person"]["ours_client_ms_per_event"],
    }
    kms = {"known_person_warm": 0.0, "new_person": 0.0}  # keys made and wrapped in the container (key hierarchy)
    result: dict[str, Any] = {}
    for name in ("known_person_warm", "new_person"):
        writes, reads = _units_of(scenarios[name]["calls"])
        units = Units(writes, reads, kms[name], scenarios[name]["requests"] + kms[name], cpu[name])
        result[name] = {
            "units": asdict(units),
            "one_per_request": per_million(units, memory_mb=memory_mb, batch=1),
            f"batched_{BATCH}": per_million(units, memory_mb=memory_mb, batch=BATCH),
        }
    return {
        "dollars_per_million_touchpoints": result,
        "snapstart": snapstart_fixed(memory_mb, channel_functions),
        "memory_mb": memory_mb,
        "assumed_aws_latency_ms": ASSUMED_AWS_LATENCY_MS,
        "prices": PRICES,
        "sources": PRICE_SOURCES,
        "note": "cpu_ms is the handler's time outside moto on this machine, scaled to the function's vCPU share; "
        "AWS round-trip latency is assumed. The classifier on the stream and CloudWatch are not included.",
    }


# -- All in: a month at a steady rate, from the units the mix measured (benchmarks.hot_keys)
#
#   touchpoints a month   T = rate x 30 x 86,400
#   DynamoDB, by line     T x (WRU per touchpoint x $/WRU + RRU per touchpoint x $/RRU), the mix's units split by
#                         who spends them: ingestion (channel functions), classifier, counters (StateCounterTable,
#                         whoever writes it), merges (merge worker), compliance and the rest
#   Streams               T x stream records per touchpoint x ... = $0: GetRecords by a Lambda trigger is free
#   Lambda, by function   invocations x ($/request + ms/1000 x memory GB x $/GB-s), ms modelled per invocation
#                         (its container's CPU ms x 1769 / memory MB + 8 ms per AWS call); channel functions
#                         one per touchpoint, or a 25th when batched; the classifier's batches as they fill at
#                         this rate (records/s over shards x ParallelizationFactor, at most BatchSize)
#   API Gateway           T x (1, or 1/25 batched, + the mix's other API requests per touchpoint) x $/request
#   KMS                   per channel function, its warm containers x one branch-key unwrap (Decrypt) per
#                         branch-key TTL (the key hierarchy, issue 24: people's keys are wrapped and unwrapped in
#                         the container) + the workers' measured calls, x $/request; + $1 a key a month
#   SQS                   messages x 3 requests (send, receive, delete) + each Lambda-polled queue's idle long
#                         polls (5 pollers x 3 a minute)
#   Secrets Manager       $0.40 a secret + warm containers x one read an hour (the tokenizer's cache)
#
# The person-key cache's hit rate (now a local AES-GCM unwrap saved, not a KMS call) on a channel function with C warm
# containers, for a person at the population's average
# rate r = rate x (that function's share) / people touchpoints per second, a key held 15 minutes (T15 = 900 s) from
# its unwrap:
#
#   hit = (s + (1 - s) x (1 - exp(-r x T15))) / C
#
# where s is the share of the function's touchpoints that follow the same person's previous touchpoint on the same
# function (a session, assumed within 15 minutes; measured on the mix's journeys), and 1/C the chance the previous
# one landed on this container (Lambda routes with no affinity). C follows from Little's law:
# C = ceil(invocations/s x modelled seconds each x 2), Lambda keeping warm about twice the containers busy on average.

RATE = 300.0  # touchpoints/s, every day (issue 23)
POPULATION = 20_000_000
MONTH_SECONDS = 30 * 86_400
KEY_CACHE_SECONDS = float(PrivacySettings.model_fields["data_key_cache_seconds"].default)
BRANCH_KEY_SECONDS = float(PrivacySettings.model_fields["branch_key_cache_seconds"].default)
CONTAINER_HEADROOM = 2.0
SECRET_REFRESH_SECONDS = REFRESH_SECONDS  # the tokenizer's secret is read again after this
SQS_REQUESTS_PER_MESSAGE = 3  # SendMessage, then Lambda's ReceiveMessage and DeleteMessage (not batched)
SQS_IDLE_REQUESTS_PER_QUEUE_MONTH = 5 * 3 * 60 * 24 * 30  # Lambda's 5 pollers, a 20 s long poll each: assumed
CLASSIFIER = "ClassifierFunction"
MERGE_WORKER = "MergeWorkerFunction"


def warm_containers(invocations_per_s: float, ms_per_invocation: float, headroom: float = CONTAINER_HEADROOM) -> int:
    """Containers a function keeps warm: busy at once on average (Little's law) times `headroom`."""
    return max(1, math.ceil(invocations_per_s * ms_per_invocation / 1000 * headroom))


def key_cache_hit_rate(
    *,
    people: int,
    touchpoints_per_s: float,
    containers: int,
    same_function_share: float,
    cache_seconds: float = KEY_CACHE_SECONDS,
) -> float:
    """The chance a touchpoint finds its person's key in the container it lands on (formula above)."""
    background = 1 - math.exp(-touchpoints_per_s / people * cache_seconds)
    recent = same_function_share + (1 - same_function_share) * background
    return recent / containers


def _is_channel(function: str) -> bool:
    return function.endswith("ChannelFunction")


def _dynamodb_lines(mix: dict[str, Any]) -> dict[str, float]:
    """Dollars per touchpoint of DynamoDB, by line."""
    lines = {"ingestion": 0.0, "classifier": 0.0, "counters": 0.0, "merges": 0.0, "compliance and other": 0.0}
    for kind, price in (("write", "dynamodb_write_request_unit"), ("read", "dynamodb_read_request_unit")):
        for function, tables in mix[f"{kind}_units_by_function_and_table"].items():
            for table, units in tables.items():
                if table == COUNTER_TABLE:
                    line = "counters"
                elif _is_channel(function):
                    line = "ingestion"
                elif function == CLASSIFIER:
                    line = "classifier"
                elif function == MERGE_WORKER:
                    line = "merges"
                else:
                    line = "compliance and other"
                lines[line] += units * PRICES[price]
    return lines


def _lambda_per_invocation(figures: dict[str, Any]) -> float:
    gb = figures["memory_mb"] / 1024
    return float(PRICES["lambda_request"] + figures["aws_ms_per_invocation"] / 1000 * gb * PRICES["lambda_gb_second"])


def _kms(mix: dict[str, Any], rate: float, people: int) -> tuple[float, dict[str, Any]]:
    """KMS requests per touchpoint: channel functions modelled (a branch-key unwrap per warm container per TTL; the
    run's own count is one per container start), workers as measured."""
    requests = mix["requests_per_touchpoint"]
    total, detail = 0.0, {}
    for function, figures in mix["invocations"].items():
        calls = requests.get(function, {})
        measured = sum(n for operation, n in calls.items() if operation.startswith("TrentService."))
        if not _is_channel(function):
            total += measured
            if measured:
                detail[function] = {"kms_per_touchpoint": measured, "as": "measured"}
            continue
        containers = warm_containers(rate * figures["invocations_per_touchpoint"], figures["aws_ms_per_invocation"])
        good = mix["good_touchpoints_by_function"].get(function, 0) / mix["touchpoints"]
        hit = key_cache_hit_rate(
            people=people,
            touchpoints_per_s=rate * good,
            containers=containers,
            same_function_share=mix["same_function_share"].get(function, 0.0),
        )
        branch_unwraps = containers / BRANCH_KEY_SECONDS / rate
        total += branch_unwraps
        detail[function] = {
            "warm_containers": containers,
            "person_key_hit_rate": hit,
            "local_unwraps_per_touchpoint": good * (1 - hit),
            "kms_per_touchpoint": branch_unwraps,
            "measured_here_per_touchpoint": measured,
        }
    return total, detail


def classifier_batch_fill(
    stream: dict[str, Any], rate: float, *, stream_shards: int | None = None, window_s: float = 1.0
) -> float:
    """Records a stream batch holds at `rate`: each shard's records over its ParallelizationFactor pollers, gathered
    for the batching window, at least 1 and at most BatchSize. The shards are `stream_shards` (a table's stream has
    about one a partition) or, when not given, as many as the classifier's processing time needs."""
    from benchmarks.hot_keys import shards_needed

    records = rate * stream["records_per_touchpoint"]
    factor = stream["parallelization_factor"]
    shards = stream_shards or shards_needed(records, stream["aws_ms_per_record"], factor)
    return float(max(1.0, min(stream["batch_size"], records / (shards * factor) * window_s)))


def _counters_at_fill(mix: dict[str, Any], fill: float) -> float | None:
    """Dollars a touchpoint the classifier's counter writes would cost at `fill` records a batch, instead of as
    measured (the run's own fill: the batches the fit was taken from); None when the run's batches could not be
    split into a part per batch and a part per record."""
    counters = mix["stream_side"].get("counters_by_batch_fill", {})
    if not counters.get("measured"):
        return None
    per_record = counters["wcu_per_batch"] / fill + counters["wcu_per_record"]
    modelled = mix["stream_side"]["records_per_touchpoint"] * per_record
    measured = mix["write_units_by_function_and_table"].get(CLASSIFIER, {}).get(COUNTER_TABLE, 0.0)
    return (modelled - measured) * PRICES["dynamodb_write_request_unit"]


def all_in(
    mix: dict[str, Any],
    template: dict[str, Any],
    *,
    rate: float = RATE,
    people: int = POPULATION,
    batch: int = BATCH,
    stream_shards: int | None = None,
    window_s: float = 1.0,
) -> dict[str, Any]:
    """Dollars a month at `rate` touchpoints/s for `people`, by line, sent one per request and `batch` per request.
    With `stream_shards`, the classifier's batches fill as that many shards and the batching window `window_s` let
    them, and the counters (written once a batch) are priced at that fill; else as measured."""
    month = rate * MONTH_SECONDS
    invocations = mix["invocations"]
    lines: dict[str, dict[str, float]] = {}

    def both(name: str, per_touchpoint: float, batched: float | None = None) -> None:
        """A line's dollars a month from its dollars per touchpoint, alone and batched (the same if not given)."""
        lines[name] = {
            "one_per_request": per_touchpoint * month,
            f"batched_{batch}": (per_touchpoint if batched is None else batched) * month,
        }

    stream = mix["stream_side"]
    fill = (
        classifier_batch_fill(stream, rate, stream_shards=stream_shards, window_s=window_s)
        if stream.get("measured")
        else None
    )
    dynamodb = _dynamodb_lines(mix)
    if stream_shards and fill is not None and (extra := _counters_at_fill(mix, fill)) is not None:
        dynamodb["counters"] += extra
    for line, dollars in dynamodb.items():
        both(f"DynamoDB: {line}", dollars)
    both("DynamoDB Streams reads (Lambda triggers: free)", 0.0)
    channel_requests = channel_compute = 0.0
    workers = 0.0
    for function, figures in invocations.items():
        gb_s = figures["aws_ms_per_invocation"] / 1000 * figures["memory_mb"] / 1024 * PRICES["lambda_gb_second"]
        if _is_channel(function):
            channel_requests += figures["invocations_per_touchpoint"] * PRICES["lambda_request"]
            channel_compute += figures["invocations_per_touchpoint"] * gb_s
        elif function != CLASSIFIER:
            workers += figures["invocations_per_touchpoint"] * _lambda_per_invocation(figures)
    both("Lambda: channel functions", channel_requests + channel_compute, channel_requests / batch + channel_compute)
    if fill is not None:
        figures = invocations[CLASSIFIER]
        per_s = rate * stream["records_per_touchpoint"] / fill
        gb_s_per_record = stream["aws_ms_per_record"] / 1000 * figures["memory_mb"] / 1024
        requests = per_s / rate * PRICES["lambda_request"]
        classifier = requests + stream["records_per_touchpoint"] * gb_s_per_record * PRICES["lambda_gb_second"]
        both("Lambda: classifier", classifier)
    both("Lambda: merge, erasure and other workers", workers)
    other_api = max(0.0, mix["api_requests_per_touchpoint"] - 1)
    api = PRICES["api_gateway_rest_request"]
    both("API Gateway (REST)", (1 + other_api) * api, (1 / batch + other_api) * api)
    kms_per_touchpoint, kms_detail = _kms(mix, rate, people)
    keys = sum(1 for r in template["Resources"].values() if r.get("Type") == "AWS::KMS::Key")
    both("KMS", kms_per_touchpoint * PRICES["kms_request"] + keys * PRICES["kms_key_month"] / month)
    sends = sum(
        n
        for calls in mix["requests_per_touchpoint"].values()
        for operation, n in calls.items()
        if operation in ("AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch")
    )
    polled = sum(
        1
        for resource in template["Resources"].values()
        if resource.get("Type") == "AWS::Serverless::Function"
        for event in resource.get("Properties", {}).get("Events", {}).values()
        if event.get("Type") == "SQS"
    )
    both(
        "SQS",
        sends * SQS_REQUESTS_PER_MESSAGE * PRICES["sqs_request"]
        + polled * SQS_IDLE_REQUESTS_PER_QUEUE_MONTH * PRICES["sqs_request"] / month,
    )
    secrets = sum(1 for r in template["Resources"].values() if r.get("Type") == "AWS::SecretsManager::Secret")
    containers = sum(d.get("warm_containers", 0) for d in kms_detail.values())
    reads = containers * MONTH_SECONDS / SECRET_REFRESH_SECONDS
    both(
        "Secrets Manager",
        (secrets * PRICES["secrets_manager_secret_month"] + reads * PRICES["secrets_manager_call"]) / month,
    )
    totals = {
        column: sum(line[column] for line in lines.values()) for column in ("one_per_request", f"batched_{batch}")
    }
    millions = month / 1e6
    return {
        "rate_touchpoints_per_s": rate,
        "people": people,
        "touchpoints_per_month": month,
        "touchpoints_per_person_per_day": rate * 86_400 / people,
        "classifier_batch_fill": fill,
        "stream_shards": stream_shards,
        "batching_window_s": window_s,
        "dollars_per_month": lines,
        "total_per_month": totals,
        "total_per_million_touchpoints": {column: dollars / millions for column, dollars in totals.items()},
        "kms": kms_detail,
        "kms_per_touchpoint": kms_per_touchpoint,
        "queues_polled_by_lambda": polled,
        "prices": PRICES,
        "sources": PRICE_SOURCES,
        "not_included": "free tiers, storage and backups (PITR), CloudWatch logs and metrics, X-Ray, data transfer, "
        "the reclassifier's daily sweep and the reports",
    }


def all_in_rows(result: dict[str, Any], batch: int = BATCH) -> list[tuple[str, str, str, str, str, str]]:
    """The benchmark table's rows: a line each, dollars a month alone and batched, and per million touchpoints."""
    millions = result["touchpoints_per_month"] / 1e6
    batched = f"batched_{batch}"
    shards = result.get("stream_shards")
    fill = result.get("classifier_batch_fill")
    title = (
        f"$ a month at {result['rate_touchpoints_per_s']:,.0f} tp/s, {result['people'] / 1e6:,.0f}M people "
        f"(one per request / {batch} per request)"
        + (f", {shards} stream shards, {result['batching_window_s']:g} s window" if shards else "")
        + (f": {fill:.1f} records a batch" if fill else "")
    )
    out = [(title, "alone", f"{batch} per request", "$/M tp alone", f"$/M tp x{batch}", "")]
    for name, dollars in [*result["dollars_per_month"].items(), ("total", result["total_per_month"])]:
        out.append(
            (
                f"  {name}",
                f"${dollars['one_per_request']:,.0f}",
                f"${dollars[batched]:,.0f}",
                f"${dollars['one_per_request'] / millions:,.2f}",
                f"${dollars[batched] / millions:,.2f}",
                "",
            )
        )
    return out
