"""The compliance operator's tool (`python -m compliance_cli`) against the local runner, over HTTP.

The runner is served with every export sent through the export bucket (EXPORT_INLINE_MAX_BYTES=0), so the
tool follows real presigned links to moto's S3. Whatever the tool prints, on stdout or stderr, is scanned
for personal data; the export file is the only place the person's data may land.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from compliance_cli.cli import main
from compliance_cli.errors import Exit
from local_runner.emulator.harness import RunnerFailed, clean_environment, served
from local_runner.emulator.provision import load_env_json
from tests import factories
from tests.e2e.conftest import Runner, assert_no_pii
from tests.people import Person, person

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
CASE = ("--regulation", "gdpr", "--case", "CASE-E2E-TOOL")


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    folder = tmp_path_factory.mktemp("tool-runner")
    env_vars = load_env_json()
    env_vars.setdefault("ComplianceApiFunction", {})["EXPORT_INLINE_MAX_BYTES"] = "0"
    (folder / "env.json").write_text(json.dumps(env_vars))
    try:
        with served(["--env-vars", str(folder / "env.json")], log=folder / "serve.log") as api:
            yield Runner(api)
    except RunnerFailed as failure:
        pytest.fail(str(failure))
    assert_no_pii((folder / "serve.log").read_text(), "the runner's output (access log and function logs)")


class Tool:
    """Runs the tool in-process as `python -m compliance_cli --url <runner> ...` would, keeping its output."""

    def __init__(self, runner: Runner, capsys: pytest.CaptureFixture[str]) -> None:
        self.runner, self._capsys = runner, capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self._capsys.readouterr()
        code = main(["--url", self.runner.url, *args])
        out, err = self._capsys.readouterr()
        assert_no_pii(out, "the tool's standard output")
        assert_no_pii(err, "the tool's standard error")
        return code, out, err


@pytest.fixture
def tool(runner: Runner, capsys: pytest.CaptureFixture[str]) -> Tool:
    return Tool(runner, capsys)


def signed_up(runner: Runner, someone: Person) -> str:
    purchase = factories.web(someone, "purchase")
    subject_id = runner.stored_on("web", runner.post("web", purchase), purchase)
    assert runner.post("store", factories.store(someone, folio="F-2001")).status_code == 200
    runner.settled()
    return subject_id


def s3(runner: Runner) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=runner.health["aws_endpoint"],
        region_name=runner.health["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def erased(tool: Tool, n: int) -> tuple[str, str, str]:
    """A person signed up, classified, then erased with --wait: (subject id, request id, what the tool printed)."""
    someone = person(n)
    subject_id = signed_up(tool.runner, someone)
    code, out, err = tool("erase", "--email", someone.email, *CASE, "--wait", "--interval", "0.2")
    assert code == Exit.OK, err
    return subject_id, out.split()[0], out


def test_erase_with_wait_shows_the_steps_and_pages_until_done(tool: Tool) -> None:
    # Given a person whose profile the classifier has processed
    # When the operator erases them and waits
    subject_id, request_id, out = erased(tool, 4301)

    # Then the tool showed the steps as they progressed, down to the purge's pages, until done
    assert request_id.startswith("dsr_")
    assert f"subject   {subject_id}" in out
    lines = [line.split() for line in out.splitlines()]
    done = [line[0] for line in lines if line[1:2] == ["done"]]
    assert done == ["freeze", "suppress", "shred", "purge"]
    assert "keys destroyed 1" in out and "purge      done  items deleted" in out
    assert out.splitlines()[-1].startswith("completed at") and out.splitlines()[-1].endswith("met")
    assert tool.runner.profile(subject_id) is None

    # and the request's status says completed
    code, out, _ = tool("status", request_id)
    assert code == Exit.OK and "state     completed" in out


def test_certificate_of_a_completed_erasure_as_text_and_json(tool: Tool) -> None:
    # Given a completed erasure
    _, request_id, _ = erased(tool, 4308)

    # When the operator asks for its certificate
    code, text, _ = tool("certificate", request_id)

    # Then it reads as the team files it, and as JSON
    assert code == Exit.OK
    assert text.startswith("ERASURE CERTIFICATE") and request_id in text and "CASE-E2E-TOOL" in text
    assert "Key destroyed:    yes" in text and "Suppressed:       yes" in text and "(met: yes)" in text
    code, out, _ = tool("certificate", request_id, "--format", "json")
    certificate = json.loads(out)
    assert certificate["key_destroyed"] is True and certificate["deadline_met"] is True
    assert "purge" in [s["step"] for s in certificate["steps"]]


def test_export_goes_to_a_private_file_through_the_link_and_never_to_the_terminal(tool: Tool, tmp_path: Path) -> None:
    # Given a person seen on the web and at a store
    someone = person(4302)
    subject_id = signed_up(tool.runner, someone)
    output = tmp_path / "export.json"

    # When the operator exports them to a file
    code, out, err = tool("export", "--phone", someone.phone, *CASE, "--output", str(output))

    # Then the file holds the whole export, readable by the operator alone
    assert code == Exit.OK, err
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    document = json.loads(output.read_text())
    assert document["subject"]["subject_id"] == subject_id
    assert document["personal_data"]["email"]["value"] == someone.email.lower()
    assert len(document["interactions"]) == 2
    # and it came from the export bucket, encrypted with the stack's key, named by the request only
    request_id = document["request_id"]
    assert f"{request_id}: export written to {output}" in out
    assert "fetching it from its link" in err
    head = s3(tool.runner).head_object(Bucket="local-exportbucket", Key=f"exports/{request_id}.json")
    assert head["ServerSideEncryption"] == "aws:kms"

    # When the operator exports again to the same file
    before = output.read_bytes()
    code, _, err = tool("export", "--phone", someone.phone, *CASE, "--output", str(output))
    # Then the tool refuses to overwrite it
    assert code == Exit.FILE_EXISTS and "--force" in err
    assert output.read_bytes() == before

    # unless told to; a replaced file is private too
    output.chmod(0o644)
    code, _, _ = tool("export", "--phone", someone.phone, *CASE, "--output", str(output), "--force")
    assert code == Exit.OK
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert json.loads(output.read_text())["request_id"] != request_id


def test_rectify_object_and_lift_tell_what_changed(tool: Tool) -> None:
    # Given a person with a profile
    someone = person(4303)
    signed_up(tool.runner, someone)

    # When the operator corrects a name, withdraws marketing on SMS, erases them and lifts the suppression
    code, out, _ = tool("rectify", "--email", someone.email, *CASE, "--set", "given_name=Corrected")
    assert code == Exit.OK and "corrected given_name" in out
    code, out, _ = tool("object", "--email", someone.email, *CASE, "--purpose", "marketing:sms")
    assert code == Exit.OK and "withdrawn marketing:sms" in out
    assert tool("erase", "--email", someone.email, *CASE, "--wait", "--interval", "0.2")[0] == Exit.OK
    code, out, _ = tool("lift", "--email", someone.email, *CASE)

    # Then each answered with its counts and nothing of the person
    assert code == Exit.OK and "suppressions lifted 1" in out


def test_queue_lists_requests_by_deadline_with_days_left(tool: Tool) -> None:
    # Given requests under two regulations
    someone = person(4304)
    signed_up(tool.runner, someone)
    assert tool("rectify", "--email", someone.email, "--regulation", "lfpdppp", "--case", "CASE-Q-1", "--set",
                "given_name=Otro")[0] == Exit.OK  # fmt: skip
    assert tool("object", "--email", someone.email, "--regulation", "ccpa", "--case", "CASE-Q-2", "--purpose",
                "marketing")[0] == Exit.OK  # fmt: skip

    # When the operator lists every request of the queue (stdout is not a terminal: no colour)
    code, out, _ = tool("queue", "--state", "all", "--all")

    # Then it is a table sorted by deadline, with days left
    assert code == Exit.OK
    lines = out.strip().splitlines()
    assert lines[0].split() == ["REQUEST", "KIND", "REGULATION", "CASE", "STATE", "RECEIVED", "DEADLINE", "DAYS",
                                "LEFT"]  # fmt: skip
    assert "\033[" not in out
    deadlines = [line.split()[-2] for line in lines[1:]]
    assert deadlines == sorted(deadlines)
    assert any("CASE-Q-1" in line and line.split()[-1] in ("27", "28", "26") for line in lines)  # 20 business days
    code, out, _ = tool("queue", "--state", "completed", "--regulation", "ccpa", "--json")
    assert code == Exit.OK
    rows = json.loads(out)
    assert rows and {r["regulation"] for r in rows} == {"ccpa"}
    assert all(r["days_left"] == 45 for r in rows if r["case_reference"] == "CASE-Q-2")


def test_refusals_each_have_a_clear_message_and_exit_code(tool: Tool, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, stranger = person(4305), person(4306), person(4307)
    signed_up(tool.runner, first)
    signed_up(tool.runner, second)
    request_id = tool("rectify", "--email", first.email, *CASE, "--set", "given_name=Uno")[1].split()[0]

    # Not the compliance role: a developer's credentials are refused by the function itself
    code, _, err = tool("--as", "developer", "status", request_id)
    assert code == Exit.FORBIDDEN and "compliance operator role" in err

    # An unknown person
    code, _, err = tool("export", "--email", stranger.email, *CASE, "--output", "/nonexistent/never-written.json")
    assert code == Exit.NOT_FOUND and "no profile is held for this person" in err

    # Identifiers of two different people
    code, _, err = tool("erase", "--email", first.email, "--phone", second.phone, *CASE)
    assert code == Exit.AMBIGUOUS and "two different people" in err

    # Expired credentials: the signature is older than API Gateway accepts
    stale = datetime.now(UTC) - timedelta(minutes=20)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: stale.replace(tzinfo=None))
    code, _, err = tool("status", request_id)
    assert code == Exit.CREDENTIALS_EXPIRED and "expired" in err
    monkeypatch.undo()

    # Deadline passed: a request answered after its deadline
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    tool.runner.dynamodb().update_item(
        TableName=tool.runner.health["tables"]["ComplianceTable"],
        Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
        UpdateExpression="SET deadline = :d",
        ExpressionAttributeValues={":d": {"S": yesterday}},
    )
    code, out, err = tool("status", request_id)
    assert code == Exit.DEADLINE_PASSED and "PASSED" in err and "late" in err
    assert request_id in out


def test_the_tool_runs_as_a_module(runner: Runner) -> None:
    # When run the way docs/compliance.md shows, as its own process
    done = subprocess.run(
        [sys.executable, "-m", "compliance_cli", "--url", runner.url, "status", "dsr_" + "0" * 32],
        cwd=REPO_ROOT,
        env=clean_environment() | {"PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then an unknown request is its own exit code and message
    assert done.returncode == Exit.NOT_FOUND, done.stderr
    assert "request_not_found" in done.stderr and done.stdout == ""


def test_local_starts_a_runner_for_the_one_command(capsys: pytest.CaptureFixture[str]) -> None:
    # When the operator tries the tool with --local (a runner of its own, gone when the command ends)
    code = main(["--local", "queue", "--state", "all"])

    # Then the command ran against it: a new runner has no requests
    out, err = capsys.readouterr()
    assert code == Exit.OK, err
    assert "starting a local runner" in err and "no requests match" in err and out == ""
