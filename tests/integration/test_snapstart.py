"""Given a channel function's container snapshotted as SnapStart does (its before-snapshot hooks run,
then copies restored from it by fork, each running the after-restore hooks), no restored copy holds
a data key, the tokenization secret, an SDK client or the random state of the snapshot, and each
still serves a known person's touchpoint by fetching its own."""

from __future__ import annotations

import gc
import os
import random
import sys
import types
from collections import Counter
from typing import Any

import snapshot_restore_py

from local_runner.emulator import snapstart
from tests import factories
from tests.conftest import LEAK_SINK, Lambdas
from tests.people import Person, person
from touchpoints.adapters import aws
from touchpoints.privacy.cipher import SubjectCipher
from touchpoints.privacy.tokenizer import Tokenizer
from touchpoints.wiring import container


def _secret_holders() -> list[str]:
    """Objects holding an unwrapped data key or the tokenization secret that the function's own modules reach
    (the layer's caches and globals): what a snapshot of its memory would carry. The tests' own tokenizers (a
    session's runner, a module's constant) are not in a Lambda container, so they are not counted."""
    gc.collect()
    modules = list(sys.modules.items())
    pending: list[Any] = [m for name, m in modules if name.startswith(_FUNCTION_MODULES)]
    # Other modules' globals (a test's constants, reached through a test function a fixture registered) are not
    # walked: a Lambda container has no tests
    seen: set[int] = {id(vars(m)) for name, m in modules if m is not None and not name.startswith(_FUNCTION_MODULES)}
    found: list[str] = []
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, SubjectCipher | Tokenizer):
            found.append(type(obj).__name__)
        elif not (isinstance(obj, types.ModuleType) and not obj.__name__.startswith(_FUNCTION_MODULES)):
            pending.extend(gc.get_referents(obj))
    return found


_FUNCTION_MODULES = ("touchpoints", "functions")


def _calls(*services: str) -> Counter[str]:
    """Counts the calls of the clients the function will build (aws.client caches one per service)."""
    counted: Counter[str] = Counter()
    for service in services:
        client = aws.client(service, None, os.environ["AWS_REGION"])
        client.meta.events.register(f"before-call.{service}", lambda model, **_: counted.update([model.name]))
    return counted


def _restored_copy(lambdas: Lambdas, p: Person, local_aws: Any) -> dict[str, Any]:
    start = LEAK_SINK.tell()
    carried = _secret_holders()
    clients_carried = aws.client.cache_info().currsize
    calls = _calls("kms", "secretsmanager")
    # A logged-in session (the back end vouches for the email): a public channel's touchpoint reaches the profile
    # (signed with the test's own tokenizer, made after the copy's state was taken)
    payload = factories.vouched(factories.web(p, "page_view"), "web", local_aws.tokenizer(), email=p.email)
    status, _ = lambdas.post("web", payload)
    return {
        "carried": carried,
        "clients_carried": clients_carried,
        "random": random.random(),
        "status": status,
        "stored_on": local_aws.subject_of_event("web", payload["event_id"]),  # the copy's moto is its own
        "calls": dict(calls),
        "output": LEAK_SINK.getvalue()[start:],  # scanned for personal data by the parent's leak check
    }


def test_restored_copies_share_no_key_secret_client_or_random_state_and_still_serve(lambdas, local_aws):
    p = person(41)
    # Given a warm web container that served a person: their data key unwrapped, the secret read, clients built
    status, body = lambdas.post("web", factories.web(p, "sign_up"))
    assert status == 200, body
    profile_id = local_aws.subject_of("email", p.email)  # the web is a public channel: its answers do not say
    assert _secret_holders(), "the warm container should hold the person's cipher and the tokenizer"

    # When Lambda snapshots it and restores two execution environments from the snapshot
    snapstart.take_snapshot()
    assert _secret_holders() == []
    assert aws.client.cache_info().currsize == 0
    copies = snapstart.restore(lambda: _restored_copy(lambdas, p, local_aws), copies=2)

    for copy in copies:
        LEAK_SINK.write(copy.pop("output"))
    # Then no copy starts with a key, the secret or a client of the snapshot's...
    assert [c["carried"] for c in copies] == [[], []]
    assert [c["clients_carried"] for c in copies] == [0, 0]
    # ...each fetches its own (one secret read, one unwrap of the person's key) and still finds the person...
    assert [c["status"] for c in copies] == [200] * 2
    assert [c["stored_on"] for c in copies] == [profile_id] * 2
    assert [c["calls"] for c in copies] == [{"GetSecretValue": 1, "Decrypt": 1}] * 2
    # ...and the copies draw different random numbers (retry jitter does not move in lockstep)
    assert copies[0]["random"] != copies[1]["random"]


def test_the_simulation_runs_the_hooks_in_lambdas_order():
    ran: list[str] = []
    before = snapshot_restore_py.get_before_snapshot()
    after = snapshot_restore_py.get_after_restore()
    added_before = [(ran.append, ("before-first-registered",), {}), (ran.append, ("before-last-registered",), {})]
    added_after = [(ran.append, ("after-first-registered",), {}), (ran.append, ("after-last-registered",), {})]
    before.extend(added_before)
    after.extend(added_after)
    try:
        snapstart.take_snapshot()
        assert ran[:2] == ["before-last-registered", "before-first-registered"]
        assert snapstart.restore(lambda: ran[2:], copies=1) == [["after-first-registered", "after-last-registered"]]
    finally:
        for entry in added_before:
            before.remove(entry)
        for entry in added_after:
            after.remove(entry)
    container.reset()
