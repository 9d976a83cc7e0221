"""The suite-wide PII leak check (tests/conftest.py, autouse) sees everything the service emits:
log records, EMF metrics on stdout and every handler answer. Here it is shown to catch a leak
planted in each of them; the summary at the end of a run counts the scans and leaks of the suite.
"""

from __future__ import annotations

import io
import json

import pytest

from tests.conftest import LEAK_SINK, find_pii
from tests.people import person
from touchpoints.observability import MetricUnit, logger, metrics


@pytest.fixture
def planted_leaks():
    """What a test writes into the sink here is removed afterwards, so the guard stays green."""
    start = LEAK_SINK.tell()
    yield lambda: (LEAK_SINK.seek(start), LEAK_SINK.read())[1]
    LEAK_SINK.seek(start)
    LEAK_SINK.truncate()
    LEAK_SINK.seek(0, io.SEEK_END)


def test_a_planted_value_is_found_in_logs_metrics_and_answers(planted_leaks):
    p = person(990)
    logger.info("deliberate leak for the guard's own test", extra={"who": p.email})
    metrics.add_metric(name="DeliberateLeak", unit=MetricUnit.Count, value=1)
    metrics.add_metadata(key="who", value=p.phone_e164)
    metrics.flush_metrics()
    LEAK_SINK.write(json.dumps({"statusCode": 422, "body": json.dumps({"echo": p.rfc})}))  # as Lambdas.invoke does

    found = find_pii(planted_leaks())

    assert {p.email, p.phone_e164, p.rfc} <= found


def test_normalized_and_differently_cased_forms_are_found_too(planted_leaks):
    p = person(991)
    logger.warning("deliberate", extra={"a": p.email.upper(), "b": p.phone_e164.lstrip("+"), "c": p.curp.lower()})
    assert {p.email, p.phone_e164.lstrip("+"), p.curp} <= find_pii(planted_leaks())


def test_nothing_registered_is_found_in_clean_output(planted_leaks):
    logger.info("a clean record", extra={"subject_id": "sub_0123", "token": "t1.email.abc", "error_code": "x"})
    assert find_pii(planted_leaks()) == set()
