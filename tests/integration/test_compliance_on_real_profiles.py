"""Every compliance route on profiles as they really are, in-process (moto).

A profile is first brought to a state it reaches in production: classified by the stream
classifier, reclassified by the daily sweep or after a rules deploy, with consents merged from
two channels, rectified, objected to, or re-created after a suppression lift. Then each route
runs on it, in the order a compliance officer would: export, rectification, objection, status,
erasure (carried out by the worker), suppression lift. Each answers 2xx or a documented 4xx,
never 500, and what they wrote holds no personal value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests import factories
from tests.conftest import find_pii
from tests.integration.compliance_helpers import call, drain, erase, status
from tests.integration.test_classifier_stream import Pipeline
from tests.integration.test_reclassification_sweep import age, new_rules_without_name_or_rfc_identity, sweep
from tests.people import Person, person
from touchpoints.items import profile as profile_item
from touchpoints.wiring import container

CASE = {"regulation": "gdpr", "case_reference": "CASE-2026-1100"}


@pytest.fixture
def pipeline(lambdas, local_aws, monkeypatch) -> Pipeline:
    monkeypatch.setenv("RECLASSIFY_LOOKBACK_DAYS", "366")
    monkeypatch.setenv("RECLASSIFY_CONCURRENCY", "1")
    return Pipeline(lambdas, local_aws)


def seen_across_channels(pipeline: Pipeline, p: Person, folio: str = "F-1100") -> str:
    """A person who signs up on the web, buys at a store and calls the contact center, classified by the stream."""
    subject_id = pipeline.post("web", factories.web(p, "purchase"))
    pipeline.post("store", factories.store(p, folio=folio))
    pipeline.post("contact-center", factories.contact_center(p))
    pipeline.pump()
    assert pipeline.state(subject_id) == "A"
    return subject_id


def carried_by(p: Person) -> dict[str, str]:
    """Every identifier seen_across_channels() carries but the store ticket: a ticket is not a way to name a person
    (the erased ticket stays suppressed; the person's next purchase has a new one)."""
    return {
        "email": p.email,
        "phone": p.phone,
        "rfc": p.rfc,
        "whatsapp": p.phone,
        "messenger_id": p.messenger_id,
        "anonymous_id": f"anon-{p.app_user_id}",
    }


def classified(pipeline: Pipeline, p: Person, _: Any) -> str:
    return seen_across_channels(pipeline, p)


def reclassified_by_the_daily_sweep(pipeline: Pipeline, p: Person, _: Any) -> str:
    subject_id = seen_across_channels(pipeline, p)
    classified_at = pipeline.profile(subject_id)["classified_at"]
    age(pipeline, subject_id, 400)
    outcomes = sweep(pipeline)
    assert outcomes["refreshed"] + outcomes["changed"] == 1, outcomes
    profile = pipeline.profile(subject_id)
    assert profile["classified_at"] != classified_at and profile["stale_fields"]["L"]
    return subject_id


def reclassified_after_new_rules(pipeline: Pipeline, p: Person, monkeypatch: pytest.MonkeyPatch) -> str:
    from touchpoints.wiring import classifier as classifier_wiring

    subject_id = seen_across_channels(pipeline, p)
    monkeypatch.setattr(classifier_wiring, "load_rules", new_rules_without_name_or_rfc_identity)
    container.reset()
    answer = pipeline.lambdas.invoke("ReclassifierFunction", {"reclassify": "outdated_rules"})
    assert answer["complete"] and answer["outcomes"]["changed"] == 1
    assert pipeline.profile(subject_id)["rules_version"]["S"] == "2026-12-01"
    return subject_id


def consents_merged_from_two_channels(pipeline: Pipeline, p: Person, _: Any) -> str:
    subject_id = seen_across_channels(pipeline, p)
    pipeline.post("email", factories.email(p, "unsubscribe"))
    pipeline.post("sms", factories.sms(p, "opt_out"))
    pipeline.pump()
    consents = pipeline.profile(subject_id)["consents"]["M"]
    assert consents["marketing:email"]["M"]["granted"]["BOOL"] is False
    assert consents["marketing:sms"]["M"]["granted"]["BOOL"] is False
    return subject_id


def rectified(pipeline: Pipeline, p: Person, _: Any) -> str:
    subject_id = seen_across_channels(pipeline, p)
    body = {"subject": {"subject_id": subject_id}, "corrections": {"family_name": person(1199).family_name}, **CASE}
    code, answer = call(pipeline.lambdas, "POST", "rectifications", body)
    assert code == 200, answer
    pipeline.pump()
    return subject_id


def objected(pipeline: Pipeline, p: Person, _: Any) -> str:
    subject_id = seen_across_channels(pipeline, p)
    body = {"subject": {"subject_id": subject_id}, "objections": [{"purpose": "marketing"}], **CASE}
    code, answer = call(pipeline.lambdas, "POST", "objections", body)
    assert code == 200, answer
    pipeline.pump()
    return subject_id


def back_after_a_suppression_lift(pipeline: Pipeline, p: Person, _: Any) -> str:
    first = seen_across_channels(pipeline, p)
    code, accepted = erase(pipeline.lambdas, {"subject_id": first})
    assert code == 202, accepted
    drain(pipeline.lambdas)
    code, lifted = call(pipeline.lambdas, "POST", "suppression-lifts", {"subject": carried_by(p), **CASE})
    assert code == 200 and lifted["counts"] == {"suppressions_lifted": 6, "not_suppressed": 0}, lifted
    pipeline.stream.read()  # the erasure's deletes are nothing for the classifier
    subject_id = seen_across_channels(pipeline, p, folio="F-1101")
    assert subject_id != first
    return subject_id


PROFILES: list[Callable[[Pipeline, Person, Any], str]] = [
    classified,
    reclassified_by_the_daily_sweep,
    reclassified_after_new_rules,
    consents_merged_from_two_channels,
    rectified,
    objected,
    back_after_a_suppression_lift,
]


@pytest.mark.parametrize("prepare", PROFILES, ids=lambda f: f.__name__)
def test_every_compliance_route_answers_on_a_real_profile(pipeline, monkeypatch, prepare):
    # Given a person whose profile reached this state as it would in production
    p = person(1100 + PROFILES.index(prepare))
    subject_id = prepare(pipeline, p, monkeypatch)
    # whose every attribute, whoever wrote it, is one the profile item's schema declares
    assert set(pipeline.profile(subject_id)) <= profile_item.ATTRIBUTES
    by_email = {"email": p.email}

    # When compliance exports it, Then the document is the person's, every interaction included
    code, document = call(pipeline.lambdas, "POST", "exports", {"subject": by_email, **CASE}, personal_answer=True)
    assert code == 200, document
    assert document["subject"]["subject_id"] == subject_id
    assert len(document["interactions"]) >= 3

    # When compliance corrects the family name, Then it is corrected
    corrections = {"family_name": person(1198).family_name}
    code, answer = call(
        pipeline.lambdas, "POST", "rectifications", {"subject": by_email, "corrections": corrections, **CASE}
    )
    assert code == 200, answer
    assert answer["fields_corrected"] == ["family_name"]
    pipeline.pump()

    # When compliance records an objection to analytics, Then it is withdrawn everywhere
    objections = [{"purpose": "analytics"}]
    code, answer = call(pipeline.lambdas, "POST", "objections", {"subject": by_email, "objections": objections, **CASE})
    assert code == 200, answer
    assert "analytics:all" in answer["withdrawn"]
    pipeline.pump()

    # And the status of that request is readable
    assert status(pipeline.lambdas, answer["request_id"])["state"] == "completed"

    # When compliance erases the person, Then the worker completes it and nothing of the profile is left
    code, accepted = erase(pipeline.lambdas, by_email)
    assert code == 202, accepted
    drain(pipeline.lambdas)
    assert status(pipeline.lambdas, accepted["request_id"])["state"] == "completed"
    assert not [i for i in pipeline.aws.scan("ProfileTable") if i["pk"]["S"] == f"SUBJECT#{subject_id}"]

    # When compliance lifts the suppression, Then the email may be used again
    code, lifted = call(pipeline.lambdas, "POST", "suppression-lifts", {"subject": by_email, **CASE})
    assert code == 200 and lifted["counts"]["suppressions_lifted"] == 1, lifted

    # And no table the compliance routes wrote holds a personal value
    written = {name: pipeline.aws.scan(name) for name in ("ComplianceTable", "AuditTable", "ProfileTable")}
    assert not find_pii(json.dumps(written, default=str))
