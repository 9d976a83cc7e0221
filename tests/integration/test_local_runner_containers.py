"""The local runner's Lambda containers: one process per function, own environment, warm, timeouts."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from local_runner.emulator.template import REPO_ROOT, FunctionSpec
from local_runner.emulator.workers import FunctionPool

MODULE = "tests/integration/"


def _spec(name: str, handler: str, timeout: int = 10) -> FunctionSpec:
    return FunctionSpec(name, MODULE, f"local_runner_handlers.{handler}", {}, timeout=timeout)


SPECS = {
    "One": _spec("One", "describe"),
    "Two": _spec("Two", "describe"),
    "Sleepy": _spec("Sleepy", "sleep", timeout=1),
    "Failing": _spec("Failing", "fail"),
}


@pytest.fixture(params=["fork", "spawn"])
def pool(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[FunctionPool]:
    monkeypatch.setenv("LOCAL_RUNNER_FORK", "1" if request.param == "fork" else "0")

    def environment(spec: FunctionSpec) -> dict[str, str]:
        return {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "MARKER": f"marker-{spec.logical_id}"}

    with open(os.devnull, "w") as output:
        functions = FunctionPool(SPECS, environment, output=output)
        yield functions
        functions.close()


def test_each_function_has_its_own_warm_process_and_environment(pool: FunctionPool) -> None:
    one = pool.invoke("One", {"n": 1})
    two = pool.invoke("Two", {"n": 2})
    again = pool.invoke("One", {"n": 3})
    assert one.init_ms is not None and two.init_ms is not None  # cold starts
    assert again.init_ms is None  # warm
    assert (one.result["marker"], two.result["marker"]) == ("marker-One", "marker-Two")
    assert one.result["pid"] != two.result["pid"]
    assert again.result["pid"] == one.result["pid"]
    assert again.result["invocations"] == 2
    assert again.result["event"] == {"n": 3}
    assert again.result["function"] == "One"
    assert 0 < again.result["remaining_ms"] <= 10_000


def test_a_timeout_kills_the_container_and_the_next_call_starts_a_new_one(pool: FunctionPool) -> None:
    timed_out = pool.invoke("Sleepy", {"seconds": 5})
    assert timed_out.error is not None
    assert timed_out.error["errorType"] == "Sandbox.Timedout"
    quick = pool.invoke("Sleepy", {"seconds": 0})
    assert quick.ok
    assert quick.init_ms is not None


def test_an_unhandled_exception_is_reported_like_lambda(pool: FunctionPool) -> None:
    failed = pool.invoke("Failing", {})
    assert failed.error is not None
    assert failed.error["errorType"] == "LookupError"
    assert failed.error["stackTrace"]
    assert pool.invoke("Failing", {}).init_ms is None  # the container survives its handler's exception
