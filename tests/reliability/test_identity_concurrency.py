"""Merges under concurrency and failure: 50 touchpoints linking the same people at once, a merge racing an
erasure of the survivor, a merge that crashes part-way and resumes. Each ends with one consistent profile,
nothing lost, and nothing decryptable after an erasure."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories
from tests.integration.compliance_helpers import drain, erase, status
from tests.integration.identity_helpers import Merges, identity_log, profile
from tests.integration.test_compliance_erasure import ciphertexts, subject_items, vault_ciphers
from tests.people import person
from tests.reliability.conftest import ContainerFactory, touchpoint
from tests.reliability.test_idempotency import counter, race
from touchpoints.adapters.merge_store import DynamoMergeStore
from touchpoints.errors import StorageUnavailable
from touchpoints.identity.resolution import IdentityOutcome
from touchpoints.privacy.cipher import DecryptionFailed

CONCURRENCY = 50
# An anonymous visitor's yes to analytics: the basis on which their anonymous id may link their visits.
ANALYTICS = [{"purpose": "analytics", "granted": True}]


def events_of(aws: Any, subject_id: str) -> list[dict[str, Any]]:
    return [i for i in subject_items(aws, subject_id) if i["sk"]["S"].startswith("EVENT#")]


def split_person(lambdas: Any, n: int, visits: int = 3) -> tuple[Any, str, str, str]:
    """A person seen anonymously on the web (`visits` page views) and known from the app: two profiles."""
    p = person(n)
    anonymous_id = f"anon-{n}-split"
    page_view = factories.web(p, "page_view", customer=None, consent=ANALYTICS, anonymous_id=anonymous_id)
    visit = {"touchpoints": [page_view]}
    for _ in range(visits):
        visit["touchpoints"][0]["event_id"] = factories.event_id("web")
        code, body = lambdas.post("web", visit)
        assert code == 200, body
    code, body = lambdas.post("app", factories.app(p, "sign_up"))
    assert code == 200, body
    anonymous, known = lambdas.aws.subject_of("anonymous_id", anonymous_id), lambdas.aws.subject_of("email", p.email)
    assert anonymous and known and anonymous != known
    return p, anonymous_id, anonymous, known


def login(lambdas: Any, p: Any, anonymous_id: str) -> dict[str, Any]:
    """A web login naming the anonymous id, the web's back end vouching for the email."""
    body = factories.web(p, "login", anonymous_id=anonymous_id, customer={"email": p.email})
    return factories.vouched(body, "web", lambdas.aws.tokenizer(), email=p.email)


@pytest.mark.usefixtures("atomic_aws_calls")
def test_fifty_concurrent_logins_linking_the_same_two_profiles_merge_them_once(
    lambdas, local_aws, new_container: ContainerFactory
):

    # Given one person split in two profiles
    p, anonymous_id, anonymous, known = split_person(lambdas, 1240)
    touchpoints = [touchpoint("web", login(lambdas, p, anonymous_id)) for _ in range(CONCURRENCY)]
    containers = [new_container() for _ in range(CONCURRENCY)]

    # When 50 logins naming both arrive at once in 50 containers
    outcomes = race(containers, touchpoints, channel_retries=3)
    Merges(lambdas).settle()

    # Then every one is stored, on the known profile, none refused and none a 5xx
    assert [o.failure for o in outcomes] == [None] * CONCURRENCY
    results = [o.results[0] for o in outcomes]
    assert {r.profile_id for r in results} == {known}
    # and exactly one of them merged: the others found the anonymous profile already claimed
    assert [r.identity for r in results].count(IdentityOutcome.MERGED) == 1
    assert {r.identity for r in results} <= {IdentityOutcome.MERGED, IdentityOutcome.SINGLE}
    merges = [i for i in identity_log(local_aws) if i["kind"]["S"] == "MERGE"]
    assert len(merges) == 1 and merges[0]["state"]["S"] == "completed"
    # and nothing is lost: 3 visits, the sign-up and the 50 logins, each once, on one active profile
    assert len(events_of(local_aws, known)) == 3 + 1 + CONCURRENCY
    after = profile(local_aws, known)
    assert after is not None and counter(after, "trace_visit") == 3 + 1 + CONCURRENCY
    active = [i for i in local_aws.scan("ProfileTable") if i["sk"]["S"] == "PROFILE" and i["status"]["S"] == "active"]
    assert [i["subject_id"]["S"] for i in active] == [known]
    assert profile(local_aws, anonymous)["status"]["S"] == "merged"  # type: ignore[index]


def test_a_merge_that_crashes_part_way_resumes_and_moves_everything_once(lambdas, local_aws, monkeypatch):
    # Given an anonymous profile with 60 visits (three pages of the merge, after its links' page) claimed by a login
    p, anonymous_id, anonymous, known = split_person(lambdas, 1241, visits=60)
    merges = Merges(lambdas)
    code, body = lambdas.post("web", login(lambdas, p, anonymous_id))
    assert code == 200, body
    assert merges.claims() == 1

    # When the worker crashes after its links and a first page of visits (DynamoDB gone), and the message comes back
    message, real_move = _worker_crashing_after(local_aws, monkeypatch, moves=2)
    failed = merges.deliver([message], receive_count=1)
    assert failed["batchItemFailures"], failed
    assert 0 < len(events_of(local_aws, known)) - 2 < 60  # part-way: some moved, some not
    monkeypatch.setattr(DynamoMergeStore, "move", real_move)
    merges.deliver([message], receive_count=2)
    merges.settle()

    # Then every visit is on the known profile exactly once, and its counter says so
    assert len(events_of(local_aws, known)) == 60 + 2
    after = profile(local_aws, known)
    assert after is not None and counter(after, "trace_visit") == 60 + 2
    assert [i["sk"]["S"] for i in subject_items(local_aws, anonymous)] == ["PROFILE"]
    (line,) = [i for i in identity_log(local_aws) if i["kind"]["S"] == "MERGE"]
    assert line["state"]["S"] == "completed" and int(line["counts"]["M"]["events_moved"]["N"]) == 60


def test_a_merge_racing_an_erasure_of_the_survivor_leaves_nothing_of_either_person(lambdas, local_aws, monkeypatch):
    # Given a merge claimed and part-moved (the worker crashed after a page), and copies of both profiles
    p, anonymous_id, anonymous, known = split_person(lambdas, 1242, visits=49)
    copies = subject_items(local_aws, anonymous) + subject_items(local_aws, known)
    secrets = ciphertexts(copies, dict(vault_ciphers(local_aws)))
    merges = Merges(lambdas)
    assert lambdas.post("web", login(lambdas, p, anonymous_id))[0] == 200
    assert merges.claims() == 1
    message, real_move = _worker_crashing_after(local_aws, monkeypatch, moves=1)
    assert merges.deliver([message], receive_count=1)["batchItemFailures"]
    monkeypatch.setattr(DynamoMergeStore, "move", real_move)

    # When compliance erases the person (by the survivor's email) before the merge resumes
    code, accepted = erase(lambdas, {"email": p.email})
    assert code == 202 and accepted["subject_id"] == known
    drain(lambdas)
    assert status(lambdas, accepted["request_id"])["state"] == "completed"
    merges.deliver([message], receive_count=2)
    merges.settle()

    # Then no item of either profile is left, no key of either, and nothing copied before decrypts
    assert subject_items(local_aws, known) == [] and subject_items(local_aws, anonymous) == []
    remaining = vault_ciphers(local_aws)
    assert not {known, anonymous} & set(dict(remaining))
    for _, cipher in remaining:
        for field, blob in secrets:
            with pytest.raises(DecryptionFailed):
                cipher.decrypt(field, blob)
    # and the anonymous id stays suppressed: the person is not re-created from it
    visit = factories.web(p, "page_view", customer=None, consent=ANALYTICS, anonymous_id=anonymous_id)
    before = len(local_aws.scan("ProfileTable"))
    assert lambdas.post("web", visit)[0] == 200
    assert len(local_aws.scan("ProfileTable")) == before
    (line,) = [i for i in identity_log(local_aws) if i["kind"]["S"] == "MERGE"]
    assert line["state"]["S"] == "abandoned"


def _worker_crashing_after(local_aws: Any, monkeypatch: Any, *, moves: int) -> tuple[dict[str, Any], Any]:
    """The merge's queued message, with the worker's store failing (DynamoDB gone) after `moves` pages (the links
    are the first); and the real `move`, to put back when DynamoDB returns."""
    from tests.integration.compliance_helpers import receive

    real_move = DynamoMergeStore.move
    calls = {"n": 0}

    def crash_after_one_page(self: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > moves:
            raise StorageUnavailable("the profile store is unavailable; the merge will resume")
        return real_move(self, *args)

    monkeypatch.setattr(DynamoMergeStore, "move", crash_after_one_page)
    (message,) = receive(local_aws, "MergeQueue")
    return message, real_move


def test_a_small_merge_moves_in_one_transaction_and_resumes_from_its_moves_after_a_crash(
    lambdas, local_aws, monkeypatch
):
    # Given an anonymous profile with 3 visits (its link and its visits: one page) claimed by a login
    p, anonymous_id, anonymous, known = split_person(lambdas, 1243)
    merges = Merges(lambdas)
    assert lambdas.post("web", login(lambdas, p, anonymous_id))[0] == 200
    assert merges.claims() == 1
    transactions: list[int] = []
    saves: list[str] = []
    real_transact, real_save, real_finish = (
        DynamoMergeStore._transact,
        DynamoMergeStore.save,
        DynamoMergeStore.finish_profile,
    )

    def counted_transact(self: Any, ops: list[dict[str, Any]]) -> list[str]:
        transactions.append(len(ops))
        return real_transact(self, ops)

    def counted_save(self: Any, state: Any) -> None:
        saves.append(state.step.value)
        real_save(self, state)

    def gone(self: Any, *args: Any) -> Any:
        raise StorageUnavailable("the profile store is unavailable; the merge will resume")

    monkeypatch.setattr(DynamoMergeStore, "_transact", counted_transact)
    monkeypatch.setattr(DynamoMergeStore, "save", counted_save)
    monkeypatch.setattr(DynamoMergeStore, "finish_profile", gone)
    from tests.integration.compliance_helpers import receive

    # When the worker moves everything, DynamoDB fails on the profile step, and the message comes back
    (message,) = receive(local_aws, "MergeQueue")
    assert merges.deliver([message], receive_count=1)["batchItemFailures"]
    moved = profile(local_aws, anonymous)
    assert moved is not None and moved["merge_step"]["S"] == "move"  # no write only to say the moves are done
    assert [i["sk"]["S"] for i in subject_items(local_aws, anonymous)] == ["PROFILE"]
    assert len(transactions) == 1  # the link and the three visits in one transaction
    monkeypatch.setattr(DynamoMergeStore, "finish_profile", real_finish)
    merges.deliver([message], receive_count=2)
    merges.settle()

    # Then the merge resumed from its moves: no page left to move, the profile step, the shred, each once
    assert len(transactions) == 2
    assert saves == ["done"]  # the tombstone's write recorded the shred step itself
    assert len(events_of(local_aws, known)) == 3 + 2
    after = profile(local_aws, known)
    assert after is not None and counter(after, "trace_visit") == 3 + 2
    tombstone = profile(local_aws, anonymous)
    assert tombstone is not None and tombstone["status"]["S"] == "merged" and tombstone["merge_step"]["S"] == "done"
    (line,) = [i for i in identity_log(local_aws) if i["kind"]["S"] == "MERGE"]
    assert line["state"]["S"] == "completed" and int(line["counts"]["M"]["events_moved"]["N"]) == 3
