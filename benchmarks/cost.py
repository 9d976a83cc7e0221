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

from dataclasses import asdict, dataclass
from typing import Any

# us-east-1, on-demand, read 2026-11-30. Sources:
#   DynamoDB  https://aws.amazon.com/dynamodb/pricing/on-demand/  ($0.625 per million WRU, $0.125 per million RRU;
#             a transactional write is 2 WRU per KB, a strongly consistent read 1 RRU per 4 KB)
#   Lambda    https://aws.amazon.com/lambda/pricing/  ($0.20 per million requests, $0.0000166667 per GB-s x86;
#             SnapStart: $0.0001397998 per GB restored, $0.0000015046 per GB-s of snapshot cached)
#   API GW    https://aws.amazon.com/api-gateway/pricing/  (REST: $3.50 per million, first 333 million a month)
#   KMS       https://aws.amazon.com/kms/pricing/  ($0.03 per 10,000 symmetric requests)
PRICES: dict[str, float] = {
    "dynamodb_write_request_unit": 0.625 / 1e6,
    "dynamodb_read_request_unit": 0.125 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,
    "snapstart_restore_gb": 0.0001397998,
    "snapstart_cache_gb_second": 0.0000015046,
    "api_gateway_rest_request": 3.50 / 1e6,
    "kms_request": 0.03 / 1e4,
}
PRICE_SOURCES = {
    "dynamodb": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "lambda": "https://aws.amazon.com/lambda/pricing/",
    "api_gateway": "https://aws.amazon.com/api-gateway/pricing/",
    "kms": "https://aws.amazon.com/kms/pricing/",
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
    kms = {"known_person_warm": 0.0, "new_person": 1.0}  # GenerateDataKey once per new person; 0 when cached
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
