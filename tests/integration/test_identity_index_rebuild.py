"""The identity index has no backups; if it is lost, IdentityIndexRebuildFunction rebuilds it from the profile
table and the key vault. The same people resolve again by every identifier whose value their profile keeps, an
erased person's identifiers stay suppressed (from the backed-up suppression list), and nothing comes back of them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_runner.emulator.provision import _create_table
from tests import factories
from tests.cloudformation import sam_template
from tests.integration.compliance_helpers import drain, erase, lean_transaction_backups
from tests.people import person
from touchpoints.identity.rebuild import REBUILDABLE_KINDS, TOKEN_ONLY_KINDS
from touchpoints.model import IdentifierKind

INDEX = "IdentityIndexTable"


@pytest.fixture(autouse=True)
def _lean_backups(monkeypatch):
    lean_transaction_backups(monkeypatch)


def lose_the_index(aws: Any) -> None:
    """The index table dropped and created again, empty, from template.yaml (as a stack update would after a loss)."""
    name = aws.table(INDEX)
    aws.dynamodb.delete_table(TableName=name)
    props = {**sam_template()["Resources"][INDEX]["Properties"], "TableName": name}
    _create_table(aws.dynamodb, INDEX, props, aws.provisioned.intrinsics)
    assert aws.scan(INDEX) == []


def rebuild(lambdas: Any, total_segments: int = 1) -> tuple[dict[str, int], int]:
    """Every segment invoked again from its cursor until done, as an operator would; the counts and invocations."""
    counts: dict[str, int] = {}
    invocations = 0
    for segment in range(total_segments):
        run: dict[str, Any] = {"segment": segment, "total_segments": total_segments, "cursor": None}
        while True:
            answer = lambdas.invoke("IdentityIndexRebuildFunction", run)
            invocations += 1
            for name, n in answer["counts"].items():
                counts[name] = counts.get(name, 0) + n
            if answer["done"]:
                break
            run = {**run, "cursor": answer["cursor"]}
    return counts, invocations


def profile(aws: Any, subject_id: str) -> dict[str, Any]:
    key = {"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}}
    item: dict[str, Any] = aws.dynamodb.get_item(TableName=aws.table("ProfileTable"), Key=key)["Item"]
    return item


def link_counts(item: dict[str, Any]) -> dict[str, int]:
    return {k: int(v["N"]) for k, v in item.items() if k.startswith("links_")}


def test_a_lost_index_is_rebuilt_the_same_people_resolve_and_an_erased_person_stays_gone(
    lambdas, local_aws, monkeypatch
):
    # Given people known by a store purchase (email, phone, RFC, a ticket) and the app (user id, push token)
    kept = [person(1750 + n) for n in range(4)]
    erased = person(1760)
    for p in [*kept, erased]:
        assert lambdas.post("app", factories.app(p, "sign_up"))[0] == 200
        customer = {"rfc": p.rfc, "email": p.email, "phone": p.phone, "given_name": p.given_name}
        code, body = lambdas.post("store", factories.store(p, folio=f"R-{p.rfc[-4:]}", customer=customer))
        assert code == 200, body
    ids = {p.rfc: local_aws.subject_of("rfc", p.rfc) for p in kept}
    assert None not in ids.values() and len(set(ids.values())) == len(kept)
    gone = local_aws.subject_of("email", erased.email)
    links_before = {p.rfc: link_counts(profile(local_aws, ids[p.rfc])) for p in kept}
    assert all(c["links_app_user_id"] == 1 and c["links_ticket"] == 1 for c in links_before.values())
    # and one of them erased, with suppression
    code, accepted = erase(lambdas, {"email": erased.email})
    assert code == 202, accepted
    assert drain(lambdas) == 1

    # When the index is lost and rebuilt, in two parallel segments, a few items per page and (the invocation's time
    # reserve being more than it has) one page per invocation, each resumed from the cursor the last one answered
    lose_the_index(local_aws)
    monkeypatch.setenv("REBUILD_PAGE_SIZE", "3")
    monkeypatch.setenv("REBUILD_TIME_RESERVE_MS", "100000000")
    counts, invocations = rebuild(lambdas, total_segments=2)

    # Then every kept person resolves to the same profile by each identifier their profile keeps the value of
    assert invocations > 2 and counts["subjects"] == len(kept)
    for p in kept:
        assert local_aws.subject_of("email", p.email) == ids[p.rfc]
        assert local_aws.subject_of("phone", p.phone) == ids[p.rfc]
        assert local_aws.subject_of("rfc", p.rfc) == ids[p.rfc]
        # but not by what is kept only as a token: no profile holds an app user id's or a ticket's value
        assert local_aws.subject_of("app_user_id", p.app_user_id) is None
        # and their link counters count what they hold again, so the policy's limits apply to what is linked
        rebuilt = link_counts(profile(local_aws, ids[p.rfc]))
        assert "links_app_user_id" not in rebuilt and "links_ticket" not in rebuilt
        assert rebuilt["links_email"] == rebuilt["links_phone"] == rebuilt["links_rfc"] == 1
    # and a private channel's touchpoint lands on the same profile as before
    code, body = lambdas.post("sms", factories.sms(kept[0]))
    assert code == 200 and body["results"][0]["profile_id"] == ids[kept[0].rfc]

    # and the erased person does not come back: their identifiers are suppression markers, naming nobody
    for kind, value in (("email", erased.email), ("phone", erased.phone), ("rfc", erased.rfc)):
        assert local_aws.subject_of(kind, value) is None
    assert not [i for i in local_aws.scan(INDEX) if gone in json.dumps(i)]
    markers = [i for i in local_aws.scan(INDEX) if i.get("suppressed", {}).get("BOOL")]
    assert counts["suppressions_restored"] == len(markers) >= 3
    code, body = lambdas.post("store", factories.store(erased, folio="R-again"))
    assert code == 409 and body["error"]["code"] == "subject_erased", body

    # And running it again changes nothing
    def holders() -> set[tuple[str, ...]]:
        return {
            (i["pk"]["S"], i["sk"]["S"], i.get("subject_id", {}).get("S", ""), str(i.get("suppressed", {})))
            for i in local_aws.scan(INDEX)
        }

    index = holders()
    again, _ = rebuild(lambdas)
    assert again["suppressions_restored"] == 0 and again["tokens_linked"] == counts["tokens_linked"]
    assert holders() == index


def test_the_kinds_a_rebuild_can_and_cannot_bring_back_are_the_readmes():
    assert {k.value for k in REBUILDABLE_KINDS} == {
        "rfc",
        "curp",
        "email",
        "phone",
        "whatsapp",
        "messenger_id",
        "social_handle",
        "push_token",
    }
    assert {
        IdentifierKind.LOYALTY_ID,
        IdentifierKind.APP_USER_ID,
        IdentifierKind.TICKET,
        IdentifierKind.ANONYMOUS_ID,
    } == TOKEN_ONLY_KINDS
