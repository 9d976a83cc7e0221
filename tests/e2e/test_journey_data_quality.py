"""Journey of the data update program reading its dashboard, over HTTP through the local runner.

A caller to the contact centre, a known buyer at a store and a cash buyer each leave a touchpoint; each is
classified by the stream's classifier before the next step. The data-quality report, read with a developer's
IAM identity as a business user would, shows per channel and action which touchpoints confirmed identity and
contact fields, and how old each field is across profiles; an erasure takes the person's fields out of it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests import factories
from tests.e2e.conftest import Runner, assert_no_pii, wait_for
from tests.people import person

pytestmark = pytest.mark.e2e

OPERATOR = "ComplianceOperatorRole"


def quality(runner: Runner) -> dict[str, Any]:
    response = runner.signed("developer", "GET", "/v1/reports/data-quality")
    assert response.status_code == 200, response.text
    assert_no_pii(response.text, "the data-quality report")
    return dict(response.json())


def touchpoints(body: dict[str, Any]) -> Counter[tuple[str, str, str]]:
    """(channel, action, measure) -> touchpoints, for the deltas between two reads."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for row in body["touchpoints"]:
        for measure in ("touchpoints", "confirmed_identity", "confirmed_contact"):
            counts[(row["channel"], row["action"], measure)] = row[measure]
    return counts


def aged(body: dict[str, Any], field: str, bucket: str = "0-30") -> int:
    return int(body["field_age"]["by_field"][field][bucket])


def test_each_touchpoint_shows_what_it_confirmed_and_the_fields_age_across_profiles(runner: Runner) -> None:
    caller, buyer = person(4600), person(4601)
    before = quality(runner)

    # Given a call to the contact centre (phone, WhatsApp, Messenger id, email: contact fields only), classified
    call = factories.contact_center(caller)
    called = runner.stored_on("contact-center", runner.post("contact-center", call), call)
    runner.classified(called)
    # ... a known buyer at a store (RFC, given name: identity; email: contact), classified
    purchase = factories.store(buyer, folio="F-4601")
    bought = runner.stored_on("store", runner.post("store", purchase), purchase)
    runner.classified(bought)
    # ... and a cash buyer, who leaves no personal field, classified
    cash = factories.store(None, folio="F-4602")
    runner.classified(runner.stored_on("store", runner.post("store", cash), cash))

    # When the data update program reads its dashboard
    after = quality(runner)

    # Then each channel's action counts its touchpoints and those that confirmed identity or contact fields
    moved = touchpoints(after)
    moved.subtract(touchpoints(before))
    assert +moved == {
        ("contact-center", "complaint", "touchpoints"): 1,
        ("contact-center", "complaint", "confirmed_contact"): 1,
        ("store", "purchase", "touchpoints"): 2,
        ("store", "purchase", "confirmed_identity"): 1,
        ("store", "purchase", "confirmed_contact"): 1,
    }
    store = next(row for row in after["touchpoints"] if (row["channel"], row["action"]) == ("store", "purchase"))
    assert 0 < store["identity_share"] < 1
    # ... and the fields both people confirmed today are fresh across profiles, the rest never held by the new ones
    assert aged(after, "email") - aged(before, "email") == 2
    assert aged(after, "rfc") - aged(before, "rfc") == 1
    assert aged(after, "whatsapp") - aged(before, "whatsapp") == 1
    assert after["field_age"]["profiles"] - before["field_age"]["profiles"] == 3
    assert aged(after, "rfc", "never") - aged(before, "rfc", "never") == 2

    # When the buyer asks to be erased and the worker carries it out
    request = {"subject": {"email": buyer.email}, "regulation": "gdpr", "case_reference": "CASE-QUALITY-4601"}
    accepted = runner.signed(OPERATOR, "POST", "/v1/compliance/erasures", request)
    assert accepted.status_code == 202, accepted.text
    runner.completed(OPERATOR, accepted.headers["Location"])

    # Then the buyer's fields leave the ages once the classifier has seen the departure; the touchpoint still counts
    def departed() -> dict[str, Any] | None:
        body = quality(runner)
        return body if aged(body, "rfc") == aged(before, "rfc") else None

    erased = wait_for(departed, 45, "the erased buyer's fields to leave the field ages")
    assert aged(erased, "email") - aged(before, "email") == 1
    assert (
        touchpoints(erased)[("store", "purchase", "confirmed_identity")]
        == touchpoints(after)[("store", "purchase", "confirmed_identity")]
    )
