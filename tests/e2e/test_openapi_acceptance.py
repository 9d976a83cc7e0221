"""The OpenAPI document says what the native routes accept. Schemathesis generates bodies from openapi.json for
each channel's touchpoints, consents, contacts and contact decisions; sent over HTTP through the local runner with
the channel's own key, at least 90% of them per route family are accepted (2xx), and none gets a 5xx.

The document's formats (phone, mx-rfc, mx-curp, time-zone) and its time bounds (`x-not-after`, relative to the
request's time, which JSON Schema cannot say) are generated as tests/document_formats.py describes."""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from local_runner.openapi import build
from tests.document_formats import within_time_bounds
from tests.e2e.conftest import Runner
from tests.factories import CHANNEL_API_KEYS
from tests.reliability import tally
from touchpoints.contact.policy import SENDING_CHANNELS

pytestmark = pytest.mark.e2e

SENDING = sorted(channel.value for channel in SENDING_CHANNELS)
# Bodies per route: a family's channels share its schema, so the smaller families need fewer each.
FAMILIES: dict[str, tuple[int, list[str]]] = {
    "touchpoints": (24, sorted(CHANNEL_API_KEYS)),
    "consents": (10, sorted(CHANNEL_API_KEYS)),
    "contacts": (12, SENDING),
    "contact-decisions": (12, SENDING),
}


@cache
def _schema() -> Any:
    return schemathesis.openapi.from_dict(within_time_bounds(build()))


def _refusal(answer: Any) -> str:
    """The error's code and, for a validation error, its first problem's: what the document did not say."""
    error = answer.json().get("error", {})
    problems = [problem.get("code", "") for problem in error.get("details", [])]
    return ":".join([str(error.get("code", "")), *problems[:1]])


def _answers(runner: Runner, channel: str, resource: str, examples: int) -> list[tuple[int, str]]:
    """(status, refusal or "") for each body generated valid by the document for one route."""
    operation = _schema()[f"/v1/{channel}/{resource}"]["POST"]
    key = {"x-api-key": runner.health["api_keys"][CHANNEL_API_KEYS[channel]]}
    answers: list[tuple[int, str]] = []

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    @given(case=operation.as_strategy())
    def send(case: Any) -> None:
        case.headers = {**(case.headers or {}), **key}
        answer = case.call(base_url=runner.url, timeout=60)
        answers.append((answer.status_code, _refusal(answer) if answer.status_code >= 400 else ""))

    send()
    return answers


@pytest.mark.parametrize("family", FAMILIES)
def test_bodies_valid_by_the_openapi_document_are_accepted_by_the_native_routes(family: str, runner: Runner) -> None:
    examples, channels = FAMILIES[family]
    by_route = {channel: _answers(runner, channel, family, examples) for channel in channels}
    answers = [answer for route in by_route.values() for answer in route]
    accepted = sum(1 for status, _ in answers if status < 300)
    tally.add(f"native_{family}_document_valid_bodies", len(answers))
    tally.add(f"native_{family}_document_valid_accepted", accepted)
    summary = "; ".join(
        f"{channel} {sum(1 for s, _ in route if s < 300)}/{len(route)} {dict(Counter(a for a in route if a[0] >= 300))}"
        for channel, route in by_route.items()
    )
    assert all(status < 500 for status, _ in answers), summary
    assert len(answers) >= len(channels) * examples // 2, summary
    assert accepted / len(answers) >= 0.9, summary
