"""The OpenAPI document says what the native routes accept. Schemathesis generates bodies from openapi.json for
each channel's touchpoints, consents, contacts and contact decisions; sent over HTTP through the local runner with
the channel's own key, at least 90% of them per route family are accepted (2xx), and none gets a 5xx.

The document's formats (phone, mx-rfc, mx-curp, time-zone, profile-id) and its time bounds (`x-not-after`,
relative to the request's time, which JSON Schema cannot say) are generated as tests/document_formats.py
describes. On a public channel (web, app) a `verified` identifier needs the proof the company's back end signs
with the channel's vouching key (trust.yaml): the test signs, as that back end would, what the document
generated. A consent submission's vouching rule is stated in words (its schema cannot fold it): generated bodies
are filtered to it."""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local_runner.commands.openapi import build
from tests import factories
from tests.document_formats import within_time_bounds
from tests.e2e.conftest import Runner
from tests.factories import CHANNEL_API_KEYS
from tests.reliability import tally
from touchpoints.channels import PAYLOAD_MODELS, ConsentSubmission
from touchpoints.contact.policy import SENDING_CHANNELS
from touchpoints.model import Channel
from touchpoints.privacy.tokenizer import Tokenizer, vouch_proof
from touchpoints.trust import load_trust_policy

pytestmark = pytest.mark.e2e

SENDING = sorted(channel.value for channel in SENDING_CHANNELS)
# Bodies per route: a family's channels share its schema, so the smaller families need fewer each.
FAMILIES: dict[str, tuple[int, list[str]]] = {
    "touchpoints": (6, sorted(CHANNEL_API_KEYS)),
    "consents": (4, sorted(CHANNEL_API_KEYS)),
    "contacts": (5, SENDING),
    "contact-decisions": (5, SENDING),
}


# `profile-id`: one this API returned (the private channels answer each touchpoint with its profile's id).
ISSUED_PROFILES: list[str] = []
schemathesis.openapi.format(
    "profile-id",
    st.integers(0, 2**16).map(
        lambda i: ISSUED_PROFILES[i % len(ISSUED_PROFILES)] if ISSUED_PROFILES else "sub_" + "0" * 32
    ),
)


@pytest.fixture(scope="module")
def issued_profiles(runner: Runner) -> list[str]:
    """At least one profile id, whichever family runs first."""
    answer = runner.post("store", factories.store(None))
    assert answer.status_code == 200, answer.text
    ISSUED_PROFILES.append(answer.json()["results"][0]["profile_id"])
    return ISSUED_PROFILES


@cache
def _schema() -> Any:
    return schemathesis.openapi.from_dict(within_time_bounds(build()))


def _refusal(answer: Any) -> str:
    """The error's code and, for a validation error, its first problem's: what the document did not say."""
    error = answer.json().get("error", {})
    problems = [problem.get("code", "") for problem in error.get("details", [])]
    return ":".join([str(error.get("code", "")), *problems[:1]])


def _signed_by_the_back_end(tokenizer: Tokenizer, channel: Channel, resource: str, body: Any) -> None:
    """Give each vouched identifier of a public channel's touchpoints the proof its back end would sign."""
    items = body.get("touchpoints", [body]) if isinstance(body, dict) else []
    model = ConsentSubmission if resource == "consents" else PAYLOAD_MODELS[channel]
    for item in items:
        if not item.get("verified"):
            continue
        parsed = model.model_validate({**item, "verified": None})
        identifiers = parsed.to_touchpoint(channel).identifiers
        key = tokenizer.vouching_key(channel.value)
        for vouch in item["verified"]:
            value = identifiers[vouch["kind"]]
            vouch["proof"] = vouch_proof(key, channel.value, item["event_id"].strip(), vouch["kind"], value)


def _vouches_as_described(channel: Channel, body: Any) -> bool:
    """A consent submission's rule that its schema states in words only: each vouched kind is one of the subject's,
    and one the channel may vouch for (trust.yaml). Generated bodies outside it are not valid by the document."""
    subject = body.get("subject") or {}
    return all(
        subject.get(vouch["kind"]) is not None and load_trust_policy().may_vouch(channel, vouch["kind"])
        for vouch in body.get("verified") or ()
    )


def _answers(runner: Runner, channel: str, resource: str, examples: int) -> list[tuple[int, str]]:
    """(status, refusal or "") for each body generated valid by the document for one route."""
    operation = _schema()[f"/v1/{channel}/{resource}"]["POST"]
    key = {"x-api-key": runner.health["api_keys"][CHANNEL_API_KEYS[channel]]}
    tokenizer = runner.tokenizer()
    vouched_by_back_end = load_trust_policy().is_public(channel)
    answers: list[tuple[int, str]] = []
    strategy = operation.as_strategy()
    if resource == "consents":
        strategy = strategy.filter(lambda case: _vouches_as_described(Channel(channel), case.body))

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    @given(case=strategy)
    def send(case: Any) -> None:
        case.headers = {**(case.headers or {}), **key}
        if vouched_by_back_end:
            _signed_by_the_back_end(tokenizer, Channel(channel), resource, case.body)
        answer = case.call(base_url=runner.url, timeout=60)
        answers.append((answer.status_code, _refusal(answer) if answer.status_code >= 400 else ""))
        if answer.status_code == 200:
            ISSUED_PROFILES.extend(r["profile_id"] for r in answer.json().get("results", []) if "profile_id" in r)

    send()
    return answers


@pytest.mark.parametrize("family", FAMILIES)
def test_bodies_valid_by_the_openapi_document_are_accepted_by_the_native_routes(
    family: str, runner: Runner, issued_profiles: list[str]
) -> None:
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
