"""Journey of the compliance team, over HTTP through the local runner, on a profile as it really is.

A person meets the company on several channels (the classifier has run, consents merged from two
channels), time passes (the daily reclassifier has run); then a compliance officer, signing with the
operator role, exports, rectifies, records an objection, erases, follows the status, files the
certificate, reads the queue, and, the person having come back and asked, lifts the suppression: the
person signs up again and gets a new profile. Every asynchronous part (stream, erasure queue) is
settled before the next step; each step asserts what the officer or the person sees.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests import factories
from tests.e2e.conftest import Runner, assert_no_pii
from tests.integration.test_reclassification_sweep import _shift
from tests.people import person

pytestmark = pytest.mark.e2e

OPERATOR = "ComplianceOperatorRole"
CASE = {"regulation": "gdpr", "case_reference": "CASE-JOURNEY-4400"}


def stored(runner: Runner, channel: str, body: dict[str, Any]) -> str:
    return runner.stored_on(channel, runner.post(channel, body), body)


def compliance(runner: Runner, method: str, path: str, body: Any = None) -> Any:
    return runner.signed(OPERATOR, method, f"/v1/compliance/{path}", body)


def age(runner: Runner, subject_id: str, days: int) -> None:
    """The profile as it will be `days` from now: every time it holds, `days` earlier (as the sweep tests do)."""
    db = runner.dynamodb()
    item = runner.profile(subject_id)
    db.put_item(TableName=runner.health["tables"]["ProfileTable"], Item=_shift(item, days))


def test_a_compliance_officer_handles_a_real_persons_requests_from_export_to_return(runner: Runner) -> None:
    p, corrected = person(4400), person(4401)
    by_email = {"email": p.email}

    # Given a person seen on the web, at a store, at the contact center and in the app, classified A
    subject_id = stored(runner, "web", factories.web(p, "purchase"))
    stored(runner, "store", factories.store(p, folio="F-4400"))
    stored(runner, "contact-center", factories.contact_center(p))
    assert runner.classified(subject_id)["state"]["S"] == "A"
    # who unsubscribed from email and opted out of SMS (consents merged from two channels)
    stored(runner, "email", factories.email(p, "unsubscribe"))
    stored(runner, "sms", factories.sms(p, "opt_out"))
    consents = runner.classified(subject_id)["consents"]["M"]
    assert not consents["marketing:email"]["M"]["granted"]["BOOL"]
    assert not consents["marketing:sms"]["M"]["granted"]["BOOL"]
    # and whose contact data went stale a year later: the daily reclassifier ran (as a developer invokes it)
    classified_at = runner.profile(subject_id)["classified_at"]["S"]
    age(runner, subject_id, 366)
    swept = runner.invoke("ReclassifierFunction", "events/reclassifier-daily.json")
    assert swept["complete"] and swept["outcomes"]["refreshed"] + swept["outcomes"]["changed"] >= 1
    profile = runner.profile(subject_id)
    assert profile["classified_at"]["S"] != classified_at and profile["stale_fields"]["L"]

    # When the officer exports what is held about the person
    export = compliance(runner, "POST", "exports", {"subject": by_email, **CASE})
    # Then the document holds the person's values, every interaction and the consent history
    assert export.status_code == 200, export.text
    assert export.headers["Cache-Control"] == "no-store"
    document = export.json()
    assert document["subject"]["subject_id"] == subject_id
    assert document["personal_data"]["email"]["value"] == p.email.lower()
    assert len(document["interactions"]) == 5 and document["consent_history"]

    # When the officer corrects the family name and the email
    corrections = {"family_name": corrected.family_name, "email": corrected.email}
    fixed = compliance(runner, "POST", "rectifications", {"subject": by_email, "corrections": corrections, **CASE})
    # Then both are corrected, the email's token moved, and the classifier has taken the new revision in
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["counts"] == {"fields_corrected": 2, "tokens_released": 1, "tokens_claimed": 1}
    runner.classified(subject_id)
    by_email = {"email": corrected.email}

    # When the officer records the person's objection to personalization
    objection = {"subject": by_email, "objections": [{"purpose": "personalization"}], **CASE}
    objected = compliance(runner, "POST", "objections", objection)
    # Then it is withdrawn everywhere and the profile is classified under the new consents
    assert objected.status_code == 200, objected.text
    assert "personalization:all" in objected.json()["withdrawn"]
    assert not runner.classified(subject_id)["consents"]["M"]["personalization:all"]["M"]["granted"]["BOOL"]

    # When the officer asks for the erasure of the person
    accepted = compliance(runner, "POST", "erasures", {"subject": by_email, **CASE})
    assert accepted.status_code == 202, accepted.text
    request_path = accepted.headers["Location"]
    request_id = accepted.json()["request_id"]
    # Then the worker carries it out; the status says completed and nothing of the profile is left
    status = runner.completed(OPERATOR, request_path)
    assert status["counts"]["keys_destroyed"] == 1 and status["counts"]["items_deleted"] >= 8
    assert runner.profile(subject_id) is None

    # When the officer files the certificate
    certificate = compliance(runner, "GET", f"requests/{request_id}/certificate")
    assert certificate.status_code == 200, certificate.text
    filed = certificate.json()
    assert (filed["deadline_met"], filed["key_destroyed"], filed["suppressed"]) == (True, True, True)
    assert [s["step"] for s in filed["steps"]] == ["freeze", "suppress", "shred", "purge"]
    text = compliance(runner, "GET", f"requests/{request_id}/certificate?format=text")
    assert text.status_code == 200 and text.headers["Content-Type"].startswith("text/plain")
    assert request_id in text.text and "met: yes" in text.text
    assert_no_pii(certificate.text + text.text, "the certificate")

    # And the queue lists every request of the case by deadline, each with its days left, without personal data
    done = compliance(runner, "GET", "requests?state=completed&regulation=gdpr&limit=100")
    assert done.status_code == 200, done.text
    listed = {r["request_id"]: r for r in done.json()["requests"]}
    assert request_id in listed and listed[request_id]["kind"] == "erasure"
    assert {r["kind"] for r in listed.values()} >= {"export", "rectification", "objection", "erasure"}
    today = datetime.now(UTC).date()
    assert all(r["days_left"] == (date.fromisoformat(r["deadline"]) - today).days for r in listed.values())
    assert_no_pii(done.text, "the request queue")
    still_open = compliance(runner, "GET", "requests?state=open")
    assert still_open.status_code == 200 and request_id not in {r["request_id"] for r in still_open.json()["requests"]}

    # When the person comes back: the sign-up is refused while the identifiers are suppressed
    comeback = factories.web(p, "sign_up", customer={**p.customer(with_address=True), "email": corrected.email})
    refused = runner.post("store", factories.store(p, customer={"rfc": p.rfc, "email": corrected.email}))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "subject_erased"
    assert runner.post("web", comeback).json()["results"][0]["status"] == "accepted"  # the web is not told
    assert runner.subject_of("email", corrected.email) is None
    # and once the officer lifts the suppression of what the sign-up carries
    carried = {"email": corrected.email, "phone": p.phone, "rfc": p.rfc, "anonymous_id": f"anon-{p.app_user_id}"}
    lifted = compliance(runner, "POST", "suppression-lifts", {"subject": carried, **CASE})
    assert lifted.status_code == 200, lifted.text
    # Then the person signs up again and gets a new profile, classified like anyone's
    again = runner.post("web", comeback)
    assert again.status_code == 200, again.text
    new_id = runner.stored_on("web", again, comeback)
    assert new_id != subject_id
    assert runner.classified(new_id)["state"]["S"] == "A"
    # and an export now finds that new profile only
    export = compliance(runner, "POST", "exports", {"subject": {"email": corrected.email}, **CASE})
    assert export.status_code == 200, export.text
    assert export.json()["subject"]["subject_id"] == new_id and len(export.json()["interactions"]) == 1

    # And no compliance table holds a personal value
    db = runner.dynamodb()
    for table in ("ComplianceTable", "AuditTable"):
        items = db.scan(TableName=runner.health["tables"][table])["Items"]
        assert_no_pii(json.dumps(items, default=str), f"the {table}")
