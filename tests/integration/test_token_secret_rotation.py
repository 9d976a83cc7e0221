"""Rotation of the tokenization secret through the stack's own handlers (moto): one person stays one profile,
an erased phone stays refused on SMS and WhatsApp before, during and after, and a crashed move resumes."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests import factories
from tests.conftest import FUNCTIONS
from tests.integration.compliance_helpers import call, drain, erase, lean_transaction_backups
from tests.people import person
from touchpoints.adapters import aws
from touchpoints.adapters.secrets import SecretsManagerTokenSecret
from touchpoints.adapters.token_rotation_store import DynamoTokenRotationStore
from touchpoints.errors import StorageUnavailable
from touchpoints.privacy.token_rotation import RotationRefused, TokenSecretRotation
from touchpoints.privacy.tokenizer import Phase, token_version
from touchpoints.wiring import container

CASE = {"regulation": "lfpdppp", "case_reference": "CASE-2026-0424"}


@pytest.fixture(autouse=True)
def _lean_backups(monkeypatch):
    lean_transaction_backups(monkeypatch)


def rotation(lambdas: Any, page_size: int = 1000, metrics: Any = None) -> TokenSecretRotation:
    provisioned = lambdas.aws.provisioned
    secret_id = provisioned.environment(FUNCTIONS["SmsChannelFunction"], overrides={})["TOKENIZATION_SECRET_ID"]
    session = aws.session()  # the stack's own session: fault hooks reach the job's calls too
    once = Config(retries={"mode": "standard", "max_attempts": 1})  # an injected fault is not retried away
    return TokenSecretRotation(
        SecretsManagerTokenSecret(session.client("secretsmanager"), secret_id),
        DynamoTokenRotationStore(
            session.client("dynamodb", config=once),
            provisioned.tables["IdentityIndexTable"],
            provisioned.tables["ProfileTable"],
            page_size,
        ),
        metrics=metrics,
    )


def caught_up() -> None:
    """The propagation wait, in a test: every container reads the secret again."""
    container.reset()


def versions_left(lambdas: Any, version: str) -> int:
    index = lambdas.aws.scan("IdentityIndexTable")
    listed = lambdas.aws.scan("ProfileTable")
    keys = [i["pk"]["S"].removeprefix("TOKEN#") for i in (*index, *listed) if i["pk"]["S"].startswith("TOKEN#")]
    keys += [i["sk"]["S"].removeprefix("LINK#") for i in index if i["sk"]["S"].startswith("LINK#")]
    return sum(token_version(k) == version for k in keys)


def profiles(lambdas: Any) -> int:
    return sum(i["sk"]["S"] == "PROFILE" for i in lambdas.aws.scan("ProfileTable"))


def web_subject(lambdas: Any, p: Any, action: str = "page_view") -> str:
    body = factories.web(p, action)
    code, answer = lambdas.post("web", {"touchpoints": [body]})
    assert code == 200, answer
    subject = lambdas.aws.subject_of_event("web", body["event_id"])
    assert subject
    return subject


def test_a_person_met_before_during_and_after_a_rotation_stays_one_profile(lambdas):
    p, q = person(2401), person(2402)
    first = web_subject(lambdas, p, "sign_up")
    job = rotation(lambdas, page_size=3)
    job.start(propagation=timedelta(0), segments=2)
    caught_up()
    assert web_subject(lambdas, p) == first  # dual: written in t1, found in t1
    newcomer = web_subject(lambdas, q, "sign_up")  # a new person during dual: claimed in t1, guarded in t2

    job.advance()
    caught_up()
    assert web_subject(lambdas, p) == first  # migrating, not moved yet: written in t2, found by its t1 token
    pages = iter(range(2))
    job.run(should_stop=lambda: next(pages, None) is None)  # part of the move
    assert web_subject(lambdas, p) == first
    assert web_subject(lambdas, q) == newcomer
    done = job.run()
    assert done.last_pass_moved == 0 and done.counts.get("conflicts", 0) == 0
    job.finish()
    caught_up()

    assert job.state().phase is Phase.STABLE and job.state().current == "t2"
    assert versions_left(lambdas, "t1") == 0 and versions_left(lambdas, "t2") > 0
    assert web_subject(lambdas, p) == first and web_subject(lambdas, q) == newcomer
    assert profiles(lambdas) == 2


def refused_everywhere(lambdas: Any, p: Any) -> None:
    for channel, body in (("sms", factories.sms(p)), ("contact-center", factories.contact_center(p, "whatsapp"))):
        if channel == "contact-center":
            body["caller"] = {"whatsapp": p.phone}  # the WhatsApp number alone: the same value as the erased phone
        code, answer = lambdas.post(channel, body)
        assert code == 409 and answer["error"]["code"] == "subject_erased", (channel, answer)


def test_an_erased_phone_is_refused_before_during_and_after_a_rotation_and_a_lift_still_works(lambdas):
    p = person(2403)
    assert lambdas.post("sms", factories.sms(p))[0] == 200
    assert erase(lambdas, {"phone": p.phone})[0] == 202
    drain(lambdas)
    refused_everywhere(lambdas, p)  # before

    job = rotation(lambdas, page_size=2)
    job.start(propagation=timedelta(0))
    caught_up()
    refused_everywhere(lambdas, p)  # dual
    job.advance()
    caught_up()
    refused_everywhere(lambdas, p)  # migrating, markers still in t1
    pages = iter(range(3))
    job.run(should_stop=lambda: next(pages, None) is None)
    refused_everywhere(lambdas, p)  # part moved
    job.run()
    job.finish()
    caught_up()
    refused_everywhere(lambdas, p)  # after: markers in t2 only
    assert versions_left(lambdas, "t1") == 0

    code, lifted = call(lambdas, "POST", "suppression-lifts", {"subject": {"phone": p.phone}, **CASE})
    assert code == 200 and lifted["counts"]["suppressions_lifted"] == 1, lifted
    assert lambdas.post("sms", factories.sms(p))[0] == 200  # back: a new profile


def test_an_erasure_recorded_before_a_rotation_and_run_after_it_suppresses_the_new_version(lambdas):
    p = person(2404)
    assert lambdas.post("sms", factories.sms(p))[0] == 200
    assert erase(lambdas, {"phone": p.phone})[0] == 202  # recorded with t1 tokens, not run yet
    job = rotation(lambdas)
    job.start(propagation=timedelta(0))
    job.advance()
    job.run()
    job.finish()
    caught_up()
    drain(lambdas)  # the worker erases with the request's t1 tokens, after the rotation
    refused_everywhere(lambdas, p)
    assert versions_left(lambdas, "t1") == 0


def test_a_crash_mid_rotation_resumes_from_its_cursor(lambdas, faults):
    people = [person(2410 + n) for n in range(12)]
    subjects = [web_subject(lambdas, p, "sign_up") for p in people]
    job = rotation(lambdas, page_size=4)
    job.start(propagation=timedelta(0), segments=2)
    job.advance()
    pages = iter(range(2))
    job.run(should_stop=lambda: next(pages, None) is None)
    with pytest.raises(RotationRefused):
        job.finish()  # no full pass yet
    faults.fail("dynamodb", "TransactWriteItems", "InternalServerError", status=500)
    with pytest.raises(StorageUnavailable):
        rotation(lambdas, page_size=4).run()  # dies mid-page: nothing of the page is recorded as done
    faults.clear()

    resumed = rotation(lambdas, page_size=4)  # a new process: everything it knows is in the table and the secret
    done = resumed.run()
    assert done.last_pass_moved == 0 and done.counts.get("conflicts", 0) == 0
    resumed.finish()
    caught_up()
    assert versions_left(lambdas, "t1") == 0
    assert [web_subject(lambdas, p) for p in people] == subjects
    assert profiles(lambdas) == len(people)


def test_only_one_rotation_at_a_time_and_no_move_before_the_wait(lambdas):
    job = rotation(lambdas)
    job.start(propagation=timedelta(hours=1))
    with pytest.raises(RotationRefused):
        job.start()
    with pytest.raises(RotationRefused):
        job.run()  # containers may still write t1 without guarding t2
    assert boto3.client("secretsmanager")  # the stack's secret stayed readable


def test_the_operator_commands_start_run_progress_and_finish(lambdas, capsys):
    from keys_cli.cli import main as keys_main

    # Given a person under the first version, and the stack's names as an operator gives them
    p = person(2450)
    first = web_subject(lambdas, p, "sign_up")
    provisioned = lambdas.aws.provisioned
    secret_id = provisioned.environment(FUNCTIONS["SmsChannelFunction"], overrides={})["TOKENIZATION_SECRET_ID"]
    where = [
        "--identity-index",
        provisioned.tables["IdentityIndexTable"],
        "--profile-table",
        provisioned.tables["ProfileTable"],
        "--secret-id",
        secret_id,
    ]

    def keys(*step: str) -> dict[str, Any]:
        capsys.readouterr()  # the functions' own output (their metrics) is not the tool's
        assert keys_main(["token-secret", *where, *step]) == 0
        return dict(json.loads(capsys.readouterr().out))

    # When the operator starts a rotation (no propagation wait on this test stack), runs it, and finishes it
    started = keys("start", "--propagation-seconds", "0", "--segments", "2")
    assert (started["from"], started["to"], started["phase"]) == ("t1", "t2", "dual")
    caught_up()
    capsys.readouterr()
    assert keys_main(["token-secret", *where, "run"]) == 0
    ran = capsys.readouterr()
    moved = json.loads(ran.out)
    assert moved["phase"] == "migrating" and moved["last_pass_moved"] == 0 and moved["moved"] > 0
    # the progress bar, on stderr: two segments of each scan (the identity index, the suppression list)
    assert "moving tokens, pass" in ran.err and "4/4 segments" in ran.err
    shown = keys("progress")
    assert shown["last_pass_moved"] == 0 and shown["passes"] == moved["passes"] and shown["stalled"] is False
    finished = keys("finish")
    assert finished["phase"] == "stable" and finished["finished_at"]
    caught_up()

    # Then the person is still one profile, found under the new version only; nothing printed names a token
    assert web_subject(lambdas, p) == first and versions_left(lambdas, "t1") == 0
    assert "t1." not in json.dumps([started, moved, shown, finished]) and "t2." not in json.dumps(finished)
    # and a back end's new vouching key is printed for the channel, a second finish is refused in words
    capsys.readouterr()
    assert keys_main(["token-secret", *where, "vouching-key", "--channel", "web"]) == 0
    assert len(base64.b64decode(capsys.readouterr().out.strip())) == 32
    assert keys_main(["token-secret", *where, "finish"]) == 1
    assert "keys token-secret:" in capsys.readouterr().err
