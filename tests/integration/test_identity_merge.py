"""Identity resolution in-process: the journeys of issue 12, merges under encryption, conflicts, erasure after a merge.

Touchpoints go through the channel handlers; the merge worker gets what the profile stream's filter
passes and what the merge queue holds, until both are settled; the classifier's stream is pumped
where a state matters.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests import factories
from tests.conftest import find_pii
from tests.integration.compliance_helpers import call, drain, erase, lean_transaction_backups, status
from tests.integration.identity_helpers import Merges, as_json, identity_log, profile
from tests.integration.test_compliance_erasure import ciphertexts, subject_items, vault_ciphers
from tests.people import person
from touchpoints.privacy.cipher import DecryptionFailed, SubjectCipher

# An anonymous visitor's yes to analytics: the basis on which their anonymous id may link their visits.
ANALYTICS = [{"purpose": "analytics", "granted": True}]


@pytest.fixture(autouse=True)
def _lean_backups(monkeypatch):
    lean_transaction_backups(monkeypatch)


def stored(lambdas: Any, channel: str, body: dict[str, Any], **vouch: str) -> dict[str, Any]:
    """Post and answer the result; `vouch`: the channel's back end vouches for these identifiers (a login)."""
    code, answer = lambdas.post(channel, body, vouch=vouch or None)
    assert code == 200, answer
    return dict(answer["results"][0])


def web_events(aws: Any, subject_id: str) -> list[dict[str, Any]]:
    """The subject's web events, their sealed metadata opened with its key."""
    return [i for i in factories.opened_items(aws, "event", subject_id) if i["channel"] == "web"]


def cash_purchase(folio: str) -> dict[str, Any]:
    return factories.store(None, folio=folio, payment_method="cash")


def ticket_registration(p: Any, folio: str) -> dict[str, Any]:
    return factories.web(
        p,
        "ticket_registration",
        anonymous_id=None,
        customer={"email": p.email},
        ticket={"store_id": "TDA-042", "folio": folio},
    )


def test_cash_then_ticket_registration_merges_the_purchase_into_the_known_customer(lambdas):
    # Given a customer known from a web sign-up, and a cash purchase nobody can tell is theirs
    p = person(1201)
    stored(lambdas, "web", factories.web(p))
    known = lambdas.aws.subject_of("email", p.email)
    cash = stored(lambdas, "store", cash_purchase("F-77001"))
    assert cash["new_profile"] and cash["profile_id"] != known
    traced = cash["profile_id"]
    before = subject_items(lambdas.aws, traced)  # what a backup taken now holds of the traced-only profile
    secrets_before = ciphertexts(before, dict(vault_ciphers(lambdas.aws)))
    merges = Merges(lambdas)

    # When the customer registers the ticket online with the same email, confirmed by the web's back end
    result = stored(lambdas, "web", ticket_registration(p, "F-77001"), email=p.email)
    # Then the (public) web channel hears only that it was accepted
    assert result == {"event_id": result["event_id"], "status": "accepted", "dropped_fields": []}
    merges.settle()

    # and the known profile holds the store purchase, its details readable under its own key only
    purchases = [i for i in factories.opened_items(lambdas.aws, "event", known) if i["channel"] == "store"]
    assert len(purchases) == 1
    ciphers = dict(vault_ciphers(lambdas.aws))
    details = json.loads(ciphers[known].decrypt(*ciphertexts(purchases, ciphers)[-1]))
    assert details["payment_method"] == "cash"
    survivor = profile(lambdas.aws, known)
    assert survivor is not None and int(survivor["trace_transactional"]["N"]) == 2
    assert set(survivor["channels"]["SS"]) == {"web", "store"}
    # and the traced-only profile is a tombstone: no data, no key, pointing at the survivor
    tombstone = profile(lambdas.aws, traced)
    assert tombstone is not None and tombstone["status"]["S"] == "merged"
    assert tombstone["merged_into"]["S"] == known
    assert not {"fields", "consents", "state", "state_key", "trace_transactional"} & set(tombstone)
    assert [i["sk"]["S"] for i in subject_items(lambdas.aws, traced)] == ["PROFILE"]
    assert traced not in ciphers
    # and nothing copied before the merge decrypts under any key still held
    for _, cipher in [*ciphers.items(), (traced, SubjectCipher(traced, b"\0" * 32))]:
        for field, blob in secrets_before:
            with pytest.raises(DecryptionFailed):
                cipher.decrypt(field, blob)
    # and the ticket now finds the known customer: a late purchase with it lands there
    late = stored(lambdas, "store", cash_purchase("F-77001"))
    assert late["profile_id"] == known and late["identity"] == "single"
    # and the merge is in the identity log, completed, without personal data
    (line,) = [i for i in identity_log(lambdas.aws) if i["kind"]["S"] == "MERGE"]
    assert line["state"]["S"] == "completed" and line["survivor"]["S"] == known
    assert [s["S"] for s in line["subjects"]["L"]] == [traced]
    assert [k["S"] for k in line["kinds"]["L"]] == ["ticket"]
    assert line["rule"]["S"] == "survivor:strongest_identifier"
    assert int(line["counts"]["M"]["events_moved"]["N"]) == 1
    assert int(line["counts"]["M"]["keys_destroyed"]["N"]) == 1
    assert not find_pii(as_json(identity_log(lambdas.aws)))


def test_anonymous_visits_then_login_join_the_known_profile(lambdas):
    # Given someone browsing anonymously, and the same person known from the app
    p = person(1202)
    visits = [
        factories.web(p, "page_view", customer=None, consent=ANALYTICS, anonymous_id="anon-1202-x") for _ in range(3)
    ]
    for visit in visits:
        stored(lambdas, "web", visit)
    anonymous = lambdas.aws.subject_of("anonymous_id", "anon-1202-x")
    stored(lambdas, "app", factories.app(p, "sign_up"))
    known = lambdas.aws.subject_of("email", p.email)
    assert anonymous and known and anonymous != known
    merges = Merges(lambdas)

    # When they log in on the web with the app's email (the web's back end vouches for it)
    login = factories.web(p, "login", anonymous_id="anon-1202-x", customer={"email": p.email})
    stored(lambdas, "web", login, email=p.email)
    merges.settle()

    # Then the visits are the known customer's
    assert profile(lambdas.aws, anonymous)["merged_into"]["S"] == known  # type: ignore[index]
    survivor = profile(lambdas.aws, known)
    assert survivor is not None and int(survivor["trace_visit"]["N"]) >= 4
    assert len(web_events(lambdas.aws, known)) == 4
    # and a later anonymous visit with that id is theirs too
    stored(lambdas, "web", visits[0] | {"event_id": factories.event_id("web")})
    assert len(web_events(lambdas.aws, known)) == 5
    assert lambdas.aws.subject_of("anonymous_id", "anon-1202-x") == known


def test_an_unverified_login_from_a_public_channel_never_merges_into_an_identified_profile(lambdas):
    # Given an anonymous visitor and a known app user
    p = person(1208)
    visit = factories.web(p, "page_view", customer=None, consent=ANALYTICS, anonymous_id="anon-1208")
    stored(lambdas, "web", visit)
    stored(lambdas, "app", factories.app(p, "sign_up"))
    anonymous, known = lambdas.aws.subject_of("anonymous_id", "anon-1208"), lambdas.aws.subject_of("email", p.email)
    merges = Merges(lambdas)

    # When a web touchpoint names the anonymous id and the known email, with nothing vouching for it
    stored(lambdas, "web", factories.web(p, "login", anonymous_id="anon-1208", customer={"email": p.email}))
    merges.settle()

    # Then nothing is merged: both profiles stay as they were, and no merge is logged
    assert profile(lambdas.aws, anonymous)["status"]["S"] == "active"  # type: ignore[index]
    assert profile(lambdas.aws, known)["status"]["S"] == "active"  # type: ignore[index]
    assert not [i for i in identity_log(lambdas.aws) if i["kind"]["S"] == "MERGE"]


def test_the_app_alias_links_the_previous_anonymous_id_to_the_user(lambdas):
    # Given app sessions before login (a device id only), and the user known by their app user id
    p = person(1203)
    before = factories.app(p, customer=None, consent=ANALYTICS, app_user_id=None, push_token=None, device_id="dev-1203")
    stored(lambdas, "app", before)
    stored(lambdas, "app", factories.app(p, "sign_up"))
    anonymous = lambdas.aws.subject_of("anonymous_id", "dev-1203")
    known = lambdas.aws.subject_of("app_user_id", p.app_user_id)
    assert anonymous and known and anonymous != known
    merges = Merges(lambdas)

    # When the app logs in (its back end vouching for the user id), naming the anonymous id it used before
    alias = factories.app(p, "login", previous_anonymous_id="dev-1203", customer=None, push_token=None)
    stored(lambdas, "app", alias, app_user_id=p.app_user_id)
    merges.settle()

    # Then both are one profile
    assert lambdas.aws.subject_of("anonymous_id", "dev-1203") == known
    assert profile(lambdas.aws, anonymous)["merged_into"]["S"] == known  # type: ignore[index]
    # and an alias outside a login is refused, with the reason
    code, refused = lambdas.post("app", factories.app(p, previous_anonymous_id="dev-1203"))
    assert code == 422 and refused["error"]["details"][0]["code"] == "alias_needs_login"


def test_conflicting_rfcs_never_merge_and_never_copy_the_other_persons_email(lambdas):
    # Given Q and R, each with their own RFC, Q also with an email
    q, r = person(1204), person(1205)
    q_id = stored(lambdas, "store", factories.store(q, folio="F-1204"))["profile_id"]
    r_id = stored(lambdas, "store", factories.store(r, folio="F-1205") | {"customer": {"rfc": r.rfc}})["profile_id"]
    r_before = profile(lambdas.aws, r_id)
    assert r_before is not None and "email" not in r_before["fields"]["M"]
    merges = Merges(lambdas)

    # When a touchpoint carries Q's email and R's RFC
    mixed = factories.store(None, folio="F-1206") | {
        "customer": {"rfc": r.rfc, "email": q.email},
        "consent": [{"purpose": "personalization", "granted": True}],
    }
    result = stored(lambdas, "store", mixed)
    merges.settle()

    # Then it is stored on R (the RFC is the strongest match), as a conflict, and nothing is merged
    assert result["identity"] == "conflict" and result["profile_id"] == r_id
    assert profile(lambdas.aws, q_id)["status"]["S"] == "active"  # type: ignore[index]
    r_after = profile(lambdas.aws, r_id)
    assert r_after is not None and r_after["status"]["S"] == "active"
    # and R's profile did not take Q's email
    assert "email" not in r_after["fields"]["M"]
    # and the conflict is listed for review, without personal data
    code, listed = call(lambdas, "GET", "identity-log")  # kind=conflict is the default
    assert code == 200, listed
    (entry,) = [e for e in listed["entries"] if e["event_id"] == mixed["event_id"]]
    assert entry["survivor"] == r_id and entry["subjects"] == [q_id]
    assert entry["conflicting_kinds"] == ["rfc"] and entry["rule"] == "conflict:unique_kind"
    assert not find_pii(json.dumps(listed))


def test_what_wins_newest_field_and_a_no_never_overridden_by_an_older_yes(lambdas):
    # Given an anonymous web visitor who said no to marketing today, and a known app user who said yes last week
    p = person(1206)
    visitor = factories.web(
        p,
        "page_view",
        anonymous_id="anon-1206",
        customer={"given_name": "Ximena"},
        consent=[
            {"purpose": "personalization", "channel": "all", "granted": True},
            {"purpose": "marketing", "channel": "all", "granted": False},
        ],
        occurred_at=factories.occurred(10),
    )
    stored(lambdas, "web", visitor)
    known_tp = factories.app(
        p,
        "sign_up",
        customer={"email": p.email, "given_name": p.given_name},
        consent=[
            {"purpose": "personalization", "channel": "all", "granted": True},
            {"purpose": "marketing", "channel": "all", "granted": True},
        ],
        occurred_at=factories.occurred(-60 * 24 * 7),
    )
    stored(lambdas, "app", known_tp)
    known = lambdas.aws.subject_of("email", p.email)
    merges = Merges(lambdas)

    # When a login joins them
    login = factories.web(p, "login", anonymous_id="anon-1206", customer={"email": p.email})
    stored(lambdas, "web", login, email=p.email)
    merges.settle()

    # Then the newer given name and the newer "no" win
    survivor = profile(lambdas.aws, known)
    assert survivor is not None
    assert survivor["consents"]["M"]["marketing:all"]["M"]["granted"]["BOOL"] is False
    ciphers = dict(vault_ciphers(lambdas.aws))
    name = survivor["fields"]["M"]["given_name"]["M"]
    assert ciphers[known].decrypt("given_name", bytes(name["v"]["B"])) == "Ximena"
    assert name["ch"]["S"] == "web"


def test_after_a_merge_erasing_by_an_absorbed_identifier_erases_both_people_everywhere(lambdas):
    # Given a merge of an anonymous web visitor into a known app user, and copies of both taken before it
    p = person(1207)
    visitor = factories.web(p, "page_view", customer=None, consent=ANALYTICS, anonymous_id="anon-1207")
    stored(lambdas, "web", visitor)
    stored(lambdas, "app", factories.app(p, "sign_up"))
    anonymous, known = lambdas.aws.subject_of("anonymous_id", "anon-1207"), lambdas.aws.subject_of("email", p.email)
    assert anonymous and known
    copies = subject_items(lambdas.aws, anonymous) + subject_items(lambdas.aws, known)
    secrets = ciphertexts(copies, dict(vault_ciphers(lambdas.aws)))
    assert secrets
    merges = Merges(lambdas)
    login = factories.web(p, "login", anonymous_id="anon-1207", customer={"email": p.email})
    stored(lambdas, "web", login, email=p.email)
    merges.settle()

    # When compliance erases the person by the anonymous id only (the absorbed profile's identifier)
    code, accepted = erase(lambdas, {"anonymous_id": "anon-1207"})
    assert code == 202, accepted
    assert accepted["subject_id"] == known
    drain(lambdas)
    assert status(lambdas, accepted["request_id"])["state"] == "completed"

    # Then no key opens anything copied before the merge, of either profile
    remaining = vault_ciphers(lambdas.aws)
    assert not {known, anonymous} & set(dict(remaining))
    for _, cipher in remaining:
        for field, blob in secrets:
            with pytest.raises(DecryptionFailed):
                cipher.decrypt(field, blob)
    # and no item of the survivor is left; the anonymous id is suppressed
    assert not subject_items(lambdas.aws, known)
    before = len(lambdas.aws.scan("ProfileTable"))
    assert stored(lambdas, "web", visitor | {"event_id": factories.event_id("web")})["status"] == "accepted"
    assert len(lambdas.aws.scan("ProfileTable")) == before  # answered like any other, and not stored


def test_events_and_consent_history_written_before_issue_17_merge_sealed_under_the_survivor_key(lambdas):
    # Given an anonymous visitor holding an event and a consent answer in the clear shape written before issue 17
    p = person(1209)
    stored(lambdas, "web", factories.web(p, "page_view", customer=None, consent=ANALYTICS, anonymous_id="anon-1209"))
    stored(lambdas, "app", factories.app(p, "sign_up"))
    anonymous, known = lambdas.aws.subject_of("anonymous_id", "anon-1209"), lambdas.aws.subject_of("email", p.email)
    assert anonymous and known
    source = dict(vault_ciphers(lambdas.aws))[anonymous]
    at = "2026-10-01T12:30:00+00:00"
    legacy = factories.legacy_history(anonymous, source, "legacy-9", at)
    for item in legacy:
        lambdas.aws.dynamodb.put_item(TableName=lambdas.aws.table("ProfileTable"), Item=item)

    # When a vouched login merges the visitor into the known customer
    login = factories.web(p, "login", anonymous_id="anon-1209", customer={"email": p.email})
    stored(lambdas, "web", login, email=p.email)
    Merges(lambdas).settle()

    # Then the survivor holds both, sealed under its own key, with no clear attribute left
    ciphers = dict(vault_ciphers(lambdas.aws))
    (event,) = [e for e in factories.opened_items(lambdas.aws, "event", known) if e["event_id"] == "legacy-9"]
    assert (event["channel"], event["trace"], event["action"]) == ("store", "transactional", "purchase")
    assert "sealed" in event and not event["sk"]["S"].endswith("legacy-9")
    assert json.loads(ciphers[known].decrypt("trace:store:legacy-9", bytes(event["details"]["B"]))) == {
        "total": "10.00"
    }
    history = [c for c in factories.opened_items(lambdas.aws, "consent", known) if c["key"] == "marketing:store"]
    assert [(c["granted"], c["at"], c["reference"]) for c in history] == [(True, at, "legacy-9")]
    assert not [i for i in subject_items(lambdas.aws, known) if "channel" in i or "consent" in i]
    assert [i["sk"]["S"] for i in subject_items(lambdas.aws, anonymous)] == ["PROFILE"]


def test_a_touchpoints_answers_held_in_one_history_item_move_together_sealed_under_the_survivor_key(lambdas):
    # Given an anonymous visitor whose one visit answered two purposes (one history item holding both)
    p = person(1210)
    answers = [*ANALYTICS, {"purpose": "personalization", "granted": True}]
    visit = factories.web(p, "page_view", customer=None, consent=answers, anonymous_id="anon-1210")
    stored(lambdas, "web", visit)
    stored(lambdas, "app", factories.app(p, "sign_up"))
    anonymous, known = lambdas.aws.subject_of("anonymous_id", "anon-1210"), lambdas.aws.subject_of("email", p.email)
    (item,) = {a["sk"]["S"] for a in factories.opened_items(lambdas.aws, "consent", anonymous)}

    # When a vouched login merges the visitor into the known customer
    login = factories.web(p, "login", anonymous_id="anon-1210", customer={"email": p.email})
    stored(lambdas, "web", login, email=p.email)
    Merges(lambdas).settle()

    # Then the survivor holds the visit's answers together, opened by the survivor's own key, under a sort key only
    # that key computes; the visitor's partition keeps none of it
    moved = [c for c in factories.opened_items(lambdas.aws, "consent", known) if c["reference"] == visit["event_id"]]
    assert sorted(c["key"] for c in moved) == ["analytics:all", "personalization:all"]
    assert len({c["sk"]["S"] for c in moved}) == 1 and moved[0]["sk"]["S"] != item
    assert [i["sk"]["S"] for i in subject_items(lambdas.aws, anonymous)] == ["PROFILE"]
