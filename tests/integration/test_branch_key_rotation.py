"""The key hierarchy on the local stack: branch keys wrap the data keys (a KMS call per container, not per person),
a rotation moves every vault item to a new version (resumable, never undoing an erasure), the migration of
KMS-wrapped items is the same job, and an erasure still makes a person's copies unreadable."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import wait
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from keys_cli.cli import main as keys_main
from tests import factories
from tests.integration.compliance_helpers import drain, erase
from tests.people import person
from tests.reliability import aws_hooks
from tests.template_metrics import emitted_metrics
from touchpoints.adapters.branch_key_admin import BranchKeyAdmin
from touchpoints.adapters.kms import KmsKeyWrapper
from touchpoints.adapters.vault_items import DynamoVaultItems
from touchpoints.items import branch_key as branch_item
from touchpoints.privacy import rotation as rotation_module
from touchpoints.privacy.branch_keys import LEGACY_KMS, BranchKeyCache, version_of
from touchpoints.privacy.cipher import DecryptionFailed, SubjectCipher
from touchpoints.privacy.rotation import BranchKeyRotation, RotationRecord, RotationRefused
from touchpoints.wiring import container

LOCAL_TARGET = ["--vault-table", "KeyVaultTable", "--branch-key-table", "BranchKeyTable", "--kms-key", "alias/DataKey"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def admin() -> BranchKeyAdmin:
    return BranchKeyAdmin(boto3.client("dynamodb"), boto3.client("kms"), "BranchKeyTable", "alias/DataKey")


class CountedVault(DynamoVaultItems):
    """The vault, with every successful re-wrap recorded by subject."""

    def __init__(self) -> None:
        super().__init__(boto3.client("dynamodb"), "KeyVaultTable")
        self.rewrapped: Counter[str] = Counter()

    def rewrap(self, subject_id: str, old: bytes, new: bytes, now: datetime) -> bool:
        done = super().rewrap(subject_id, old, new, now)
        self.rewrapped[subject_id] += done
        return done


def rotation(clock: Clock, vault: DynamoVaultItems | None = None, **kwargs: Any) -> BranchKeyRotation:
    keys = admin()
    options = {"settle": timedelta(minutes=26), "segments": 3, "page_size": 4, "kms_per_second": 0, **kwargs}
    return BranchKeyRotation(
        keys,
        vault or DynamoVaultItems(boto3.client("dynamodb"), "KeyVaultTable"),
        BranchKeyCache(keys),
        KmsKeyWrapper(boto3.client("kms"), "alias/DataKey"),
        clock=clock,
        **options,
    )


def vault_versions(aws: Any) -> Counter[str]:
    return Counter(version_of(bytes(i["wrapped_key"]["B"])) or LEGACY_KMS for i in aws.scan("KeyVaultTable"))


def kms_calls(calls: list[aws_hooks.Call]) -> Counter[str]:
    return Counter(c.operation for c in calls if c.service == "kms")


def without_branch_keys(aws: Any) -> None:
    """The stack as deployed before the key hierarchy, or before its operator's first `start`."""
    for found in aws.scan("BranchKeyTable"):
        aws.dynamodb.delete_item(TableName=aws.table("BranchKeyTable"), Key={"pk": found["pk"], "sk": found["sk"]})
    container.reset()


def sign_up(lambdas: Any, first: int, count: int) -> list[Any]:
    people = [person(first + n) for n in range(count)]
    for p in people:
        assert lambdas.post("web", factories.web(p))[0] == 200
    return people


def readable(lambdas: Any, p: Any) -> bool:
    """The person's stored email opens with the key the vault holds for them, as the functions unwrap it."""
    subject_id = lambdas.aws.subject_of("email", p.email)
    cipher = factories.subject_cipher(boto3.client("dynamodb"), boto3.client("kms"), "KeyVaultTable", subject_id)
    item = lambdas.aws.dynamodb.get_item(
        TableName=lambdas.aws.table("ProfileTable"),
        Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
    )["Item"]
    return cipher.decrypt("email", bytes(item["fields"]["M"]["email"]["M"]["v"]["B"])) == p.email.lower()


def test_the_local_stack_starts_with_one_active_branch_key_and_new_people_are_wrapped_under_it(lambdas):
    # Given the local stack as provisioned (the operator's first `start`, done at once)
    keys = admin()
    (version,) = keys.versions()
    assert keys.active_version() == version
    # When people sign up
    sign_up(lambdas, 3000, 3)
    # Then each vault item is wrapped under that version, recorded on the item too, and no KMS data key was made
    items = lambdas.aws.scan("KeyVaultTable")
    assert {version_of(bytes(i["wrapped_key"]["B"])) for i in items} == {version}
    assert {i["branch_version"]["S"] for i in items} == {version}


def test_kms_is_called_once_per_container_not_once_per_person(lambdas):
    # Given 40 people known to the stack
    people = sign_up(lambdas, 3100, 40)
    # When a new container receives a touchpoint of each, and then of 40 new people
    container.reset()
    with aws_hooks.recording() as known:
        for p in people:
            assert lambdas.post("web", factories.web(p, "page_view"))[0] == 200
    container.reset()
    with aws_hooks.recording() as new:
        sign_up(lambdas, 3200, 40)
    # Then each container unwrapped one branch key, once
    assert kms_calls(known) == {"Decrypt": 1}
    assert kms_calls(new) == {"Decrypt": 1}
    branch_reads = [c for c in known if c.operation == "GetItem" and c.params["TableName"] == "BranchKeyTable"]
    assert len(branch_reads) == 1


def test_a_retried_write_reuses_the_key_the_container_unwrapped(lambdas):
    # Given a known person, and a new container of the email function
    (p,) = sign_up(lambdas, 3300, 1)
    assert lambdas.post("email", factories.email(p))[0] == 200
    container.reset()
    # When the click's first two write attempts find the profile changed (another write got there first)
    with aws_hooks.armed() as faults, aws_hooks.recording() as calls:
        faults.fail(
            "dynamodb",
            "TransactWriteItems",
            "TransactionCanceledException",
            reasons=["None", "ConditionalCheckFailed"],
            times=2,
        )
        assert lambdas.post("email", factories.email(p))[0] == 200
        assert faults.attempts("dynamodb", "TransactWriteItems") == 3
    # Then the person is read again for each attempt, but their key is unwrapped once: one KMS call in all
    # (before the hierarchy: three Decrypts, one per attempt)
    assert kms_calls(calls) == {"Decrypt": 1}
    # and a second touchpoint in the same container unwraps nothing
    with aws_hooks.recording() as again:
        assert lambdas.post("email", factories.email(p, "open"))[0] == 200
    assert not kms_calls(again)


def test_the_first_start_migrates_the_kms_wrapped_vault(lambdas):
    # Given a stack deployed before the key hierarchy: its people's data keys are wrapped by KMS
    without_branch_keys(lambdas.aws)
    people = sign_up(lambdas, 3400, 9)
    assert vault_versions(lambdas.aws) == {LEGACY_KMS: 9}
    clock = Clock()
    # When the operator starts the first rotation and its job runs
    job = rotation(clock)
    record = job.start()
    record = job.run(record)
    # Then every item is wrapped under the first branch key version, and each person's data still opens
    assert record.pass_done
    assert record.counts["moved"] == 9
    assert vault_versions(lambdas.aws) == {record.target: 9}
    container.reset()
    assert all(readable(lambdas, p) for p in people)
    # and a new container reads them with one KMS call in all
    container.reset()
    with aws_hooks.recording() as calls:
        for p in people:
            assert lambdas.post("web", factories.web(p, "page_view"))[0] == 200
    assert kms_calls(calls) == {"Decrypt": 1}
    # and finish (after the settling time) finds nothing left under KMS and no other version to retire
    clock.now += timedelta(minutes=27)
    done = job.finish()
    assert done.state == "finished" and done.retired == ()


def test_a_rewrap_job_interrupted_and_resumed_moves_every_item_once(lambdas, monkeypatch):
    # Given 30 people under the stack's first version
    people = sign_up(lambdas, 3500, 30)
    first = admin().active_version()
    clock = Clock()
    vault = CountedVault()
    job = rotation(clock, vault)
    record = job.start()
    target = record.target
    assert admin().active_version() == target  # new data keys are wrapped under it from now on

    # When the job dies after three pages (a crash: the process ends mid-pass)
    pages: list[RotationRecord] = []

    def crash_after_three(current: RotationRecord) -> None:
        pages.append(current)
        if len(pages) == 3:
            raise RuntimeError("the operator's laptop went to sleep")

    def slow_to_wake(futures: Any, return_when: str) -> Any:
        time.sleep(1.0)  # a loaded machine: the main thread runs late, the segments must stop by themselves
        return wait(futures, return_when=return_when)

    monkeypatch.setattr(rotation_module, "wait", slow_to_wake)
    with pytest.raises(RuntimeError):
        job.run(record, on_page=crash_after_three)
    assert len(pages) <= 3 + 2  # the two other segments each finish at most the page they were reading
    stored = admin().rotation()
    assert stored is not None and not stored.pass_done
    moved_before = stored.counts["moved"]
    assert 0 < moved_before < 30
    # and meanwhile people keep signing up (a warm container still wraps under the first version: its branch key
    # cache has not expired) and one person is erased
    newcomers = sign_up(lambdas, 3600, 2)
    erased = people[0]
    erased_subject = lambdas.aws.subject_of("email", erased.email)
    erase(lambdas, {"email": erased.email})
    drain(lambdas)

    # Then a second process (another runner) may not take over while the first one's heartbeat is fresh
    monkeypatch.setattr(rotation_module, "_RUNNER", "another-process")
    with pytest.raises(RotationRefused, match="running"):
        rotation(clock).start()
    # but resumes from the stored cursors once it is silent
    clock.now += timedelta(minutes=3)
    resumed = rotation(clock, vault)
    record = resumed.start()
    assert record.target == target and record.counts["moved"] == moved_before
    record = resumed.run(record)
    assert record.pass_done
    # every item is moved once: the pages done before the crash are not read again
    assert set(vault.rewrapped.values()) == {1}
    assert record.counts["moved"] == sum(vault.rewrapped.values())
    # (a newcomer wrapped under the first version behind a segment's cursor waits for finish's sweep)
    assert set(vault_versions(lambdas.aws)) <= {target, first} and sum(vault_versions(lambdas.aws).values()) == 31
    # the erased person's vault item was not written again, and nothing of theirs opens with any key held
    assert not lambdas.aws.dynamodb.get_item(
        TableName=lambdas.aws.table("KeyVaultTable"), Key={"pk": {"S": f"SUBJECT#{erased_subject}"}}
    ).get("Item")
    container.reset()
    assert all(readable(lambdas, p) for p in [*people[1:], *newcomers])

    # When finish is asked before the settling time, it is refused; after it, the first version is retired
    with pytest.raises(RotationRefused, match="containers may still wrap"):
        resumed.finish()
    clock.now += timedelta(minutes=30)
    done = resumed.finish()
    assert done.retired == (first,)
    assert admin().versions() == [target]
    assert vault_versions(lambdas.aws) == {target: 31}
    # and every person's data still opens (their data keys never changed)
    container.reset()
    assert all(readable(lambdas, p) for p in [*people[1:], *newcomers])


def test_finish_sweeps_keys_written_under_an_old_version_during_the_pass(lambdas):
    # Given a rotation whose pass is done
    sign_up(lambdas, 3700, 4)
    old = admin().active_version()
    clock = Clock()
    job = rotation(clock)
    record = job.run(job.start())
    assert record.pass_done
    # and a container that still held the old active version wrapped a newcomer's key under it after the pass
    keys = admin()
    old_key = BranchKeyCache(keys).version(str(old))
    straggler = person(3710)
    assert lambdas.post("web", factories.web(straggler))[0] == 200
    subject_id = lambdas.aws.subject_of("email", straggler.email)
    vault_key = {"pk": {"S": f"SUBJECT#{subject_id}"}}
    stored = lambdas.aws.dynamodb.get_item(TableName="KeyVaultTable", Key=vault_key)["Item"]
    data_key = factories.unwrapped_key(subject_id, stored["wrapped_key"]["B"])
    lambdas.aws.dynamodb.put_item(
        TableName="KeyVaultTable",
        Item={**stored, "wrapped_key": {"B": old_key.wrap(subject_id, data_key)}, "branch_version": {"S": str(old)}},
    )
    assert vault_versions(lambdas.aws)[str(old)] == 1
    # When finish runs after the settling time
    clock.now += timedelta(minutes=27)
    done = job.finish()
    # Then the straggler was moved before the old version was retired, and opens
    assert done.retired == (old,)
    assert vault_versions(lambdas.aws) == {done.target: 5}
    container.reset()
    assert readable(lambdas, straggler)


def test_finish_refuses_to_retire_a_version_an_unreadable_item_still_needs(lambdas):
    # Given a pass done, and a vault item whose wrapped key was damaged (it cannot be moved)
    (p,) = sign_up(lambdas, 3800, 1)
    clock = Clock()
    job = rotation(clock)
    subject_id = lambdas.aws.subject_of("email", p.email)
    vault_key = {"pk": {"S": f"SUBJECT#{subject_id}"}}
    stored = lambdas.aws.dynamodb.get_item(TableName="KeyVaultTable", Key=vault_key)["Item"]
    damaged = bytearray(bytes(stored["wrapped_key"]["B"]))
    damaged[-1] ^= 1
    lambdas.aws.dynamodb.put_item(TableName="KeyVaultTable", Item={**stored, "wrapped_key": {"B": bytes(damaged)}})
    record = job.run(job.start())
    assert record.counts["unreadable"] == 1
    # When finish runs, Then nothing is retired
    clock.now += timedelta(minutes=27)
    with pytest.raises(RotationRefused, match="nothing was retired"):
        job.finish()
    assert len(admin().versions()) == 2


def test_the_operator_commands_start_progress_and_finish(lambdas, capsys, monkeypatch):
    # Given people under the first version
    people = sign_up(lambdas, 3900, 6)
    # When the operator starts a rotation (no settling time on this test stack)
    assert keys_main(["branch-keys", *LOCAL_TARGET, "start", "--settle-seconds", "0", "--page-size", "2"]) == 0
    started = capsys.readouterr().out
    assert "branch key rotation to" in started and "re-wrapping the key vault" in started
    assert "pass done: 6 read, 6 moved" in started
    # Then progress says where it stands
    assert keys_main(["branch-keys", *LOCAL_TARGET, "progress"]) == 0
    shown = capsys.readouterr().out
    assert "rewrapping" in shown and "8/8 segments done" in shown and "finish retires" in shown
    # and finish (another process: the pass is done, nothing runs it) retires the first version
    monkeypatch.setattr(rotation_module, "_RUNNER", "another-process")
    assert keys_main(["branch-keys", *LOCAL_TARGET, "finish"]) == 0
    assert "finished: every vault item is under it; retired:" in capsys.readouterr().out
    assert len(admin().versions()) == 1
    container.reset()
    assert all(readable(lambdas, p) for p in people)
    # and a second finish is refused with a reason, not a traceback
    assert keys_main(["branch-keys", *LOCAL_TARGET, "finish"]) == 1
    assert "refused: no rotation is open" in capsys.readouterr().out


def stalled_metric(lambdas: Any, capsys: Any) -> float:
    """The hourly check's BranchKeyRotationStalled, as CloudWatch gets it (EMF)."""
    capsys.readouterr()
    lambdas.invoke("ErasureDeadlineCheckFunction", factories.load_event("erasure-deadline-check-hourly.json"))
    printed = capsys.readouterr().out
    found = [json.loads(line) for line in printed.splitlines() if '"BranchKeyRotationStalled"' in line]
    assert len(found) == 1 and (
        "CustomerTouchpoints",
        "BranchKeyRotationStalled",
        (("service", "touchpoint-ingestion"),),
    ) in emitted_metrics(printed)
    return float(found[0]["BranchKeyRotationStalled"][0])


def test_the_hourly_check_reports_a_stalled_rotation(lambdas, capsys):
    # Given no rotation: nothing stalled
    assert stalled_metric(lambdas, capsys) == 0
    # Given a rotation whose job stopped writing 31 minutes ago, its pass not done
    sign_up(lambdas, 4000, 2)
    clock = Clock()
    job = rotation(clock)
    record = job.start()
    admin().save_rotation(replace(record, heartbeat_at=datetime.now(UTC) - timedelta(minutes=31)), runner=record.runner)
    # When the hourly check runs, Then it reports the rotation stalled: the metric its alarm watches
    assert stalled_metric(lambdas, capsys) == 1
    # and once the job has run again, no more
    job.run(job.start())
    assert stalled_metric(lambdas, capsys) == 0


def test_after_a_rotation_an_erasure_still_leaves_nothing_readable(lambdas):
    # Given two people, a finished rotation, and copies of the erased person's items taken before (a backup)
    erased, kept = sign_up(lambdas, 4100, 2)
    erased_subject = lambdas.aws.subject_of("email", erased.email)
    backup = [i for i in lambdas.aws.scan("ProfileTable") if i["pk"]["S"] == f"SUBJECT#{erased_subject}"]
    clock = Clock()
    job = rotation(clock)
    job.run(job.start())
    clock.now += timedelta(minutes=27)
    job.finish()
    # When the person is erased
    erase(lambdas, {"email": erased.email})
    drain(lambdas)
    # Then no key the stack holds (every vault item, every branch key version) opens their copied fields
    held = {
        i["pk"]["S"].removeprefix("SUBJECT#"): factories.unwrapped_key(
            i["pk"]["S"].removeprefix("SUBJECT#"), i["wrapped_key"]["B"]
        )
        for i in lambdas.aws.scan("KeyVaultTable")
    }
    assert erased_subject not in held
    fields = [
        (name, bytes(value["M"]["v"]["B"]))
        for item in backup
        for name, value in item.get("fields", {}).get("M", {}).items()
    ]
    assert fields
    for key in held.values():
        for name, blob in fields:
            with pytest.raises(DecryptionFailed):
                SubjectCipher(erased_subject, key).decrypt(name, blob)
    # and the other person's data still opens
    container.reset()
    assert readable(lambdas, kept)
    assert [i["sk"]["S"] for i in lambdas.aws.scan("BranchKeyTable") if i["sk"]["S"] != branch_item.ROTATION_SK]
