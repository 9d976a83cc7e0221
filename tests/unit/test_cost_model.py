"""The cost model's arithmetic on given units (never on timings): each service's dollars per million touchpoints."""

from __future__ import annotations

import pytest

from benchmarks.cost import PRICES, Units, per_million, snapstart_fixed


def test_a_known_person_alone_costs_its_write_units_one_invocation_and_one_api_request():
    # Given 6 WCU, no read, no KMS call, 2 ms of our code (1769 MB machine-equivalent) and one 8 ms round trip
    units = Units(write_units=6, read_units=0, kms_calls=0, round_trips=1, cpu_ms=2.0)
    # When priced at 1,769 MB (one full vCPU: the CPU time is not stretched), one touchpoint per request
    dollars = per_million(units, memory_mb=1769, batch=1, latency_ms=8.0)
    # Then DynamoDB is 6 million WRU, API Gateway and Lambda one million requests, Lambda 10 ms at 1769/1024 GB
    assert dollars["dynamodb"] == pytest.approx(6 * 0.625)
    assert dollars["api_gateway"] == pytest.approx(3.50)
    assert dollars["lambda"] == pytest.approx(0.20 + 1e6 * 0.010 * 1769 / 1024 * 0.0000166667)
    assert dollars["kms"] == 0
    assert dollars["total"] == pytest.approx(sum(v for k, v in dollars.items() if k != "total"))


def test_batching_divides_requests_not_units_and_a_smaller_function_stretches_cpu_time():
    units = Units(write_units=20, read_units=3, kms_calls=1, round_trips=3, cpu_ms=1.0)
    alone = per_million(units, memory_mb=512, batch=1, latency_ms=0.0)
    batched = per_million(units, memory_mb=512, batch=25, latency_ms=0.0)
    assert batched["api_gateway"] == pytest.approx(alone["api_gateway"] / 25)
    assert batched["dynamodb"] == alone["dynamodb"] == pytest.approx(20 * 0.625 + 3 * 0.125)
    assert batched["kms"] == alone["kms"] == pytest.approx(3.0)  # $0.03 per 10,000: $3 per million new people
    # 1 ms at a full vCPU is 1769/512 ms at 512 MB, billed at 0.5 GB
    assert alone["lambda"] - 0.20 == pytest.approx(1e6 * (1769 / 512) / 1000 * 0.5 * PRICES["lambda_gb_second"])


def test_snapstart_charges_a_cached_snapshot_per_function_and_each_restore():
    fixed = snapstart_fixed(memory_mb=512, functions=7)
    assert fixed["per_restored_environment"] == pytest.approx(0.5 * 0.0001397998)
    assert fixed["cache_per_month_all_functions"] == pytest.approx(7 * 0.5 * 2_592_000 * 0.0000015046)
