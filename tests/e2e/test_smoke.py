"""`make smoke` without a stack: the operator's smoke test, run the way CI runs it, against the local runner."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from local_runner.commands.demo_data import synthetic_person
from local_runner.emulator.harness import clean_environment
from local_runner.emulator.template import REPO_ROOT
from tests.e2e.conftest import assert_no_pii
from tests.people import register_pii

pytestmark = pytest.mark.e2e

RUN = "5e0c7e57ab"
STEPS = (
    "state report before",
    "touchpoints on 7 channels",
    "classified",
    "state report",
    "erasure filed",
    "erasure completed",
)


def test_make_smoke_passes_against_the_local_runner_and_prints_each_step_without_personal_data():
    register_pii(*synthetic_person(RUN).pii_values())

    # When the operator's command runs with no stack
    result = subprocess.run(
        [sys.executable, "-m", "local_runner", "smoke", "--run-id", RUN],
        cwd=REPO_ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # Then every step passed, each printed with its time, and the run ends with PASSED
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    timed = re.findall(r"^  \[ *[\d.]+ s\] (.+?) \([\d.]+ s\): ", result.stdout, flags=re.MULTILINE)
    assert tuple(timed) == STEPS, result.stdout
    assert "all stored on profile sub_" in result.stdout
    assert "state A: 0 → 1" in result.stdout
    assert re.search(r"erasure completed .*keys_destroyed 1", result.stdout)
    assert result.stdout.rstrip().splitlines()[-1].startswith("SMOKE PASSED in ")
    assert_no_pii(output, "the smoke test's output")
