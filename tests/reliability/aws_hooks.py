"""Hooks at the AWS client boundary: inject faults, count attempts, record every SDK call.

Registered once in botocore's built-in handlers, like moto's own stub, so every client the
functions build afterwards (in any container, in any thread) carries them; they do nothing
until a test arms them. More specific event names run before moto's generic ``before-send``,
so an armed fault answers instead of moto. The code under test is never patched.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.handlers import BUILTIN_HANDLERS

from tests.reliability import tally

_SERVICES = ("dynamodb", "kms", "secrets-manager")


class _RawBody(BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


@dataclass
class Fault:
    """One AWS operation answering with an error (or a crafted answer) instead of the service."""

    service: str
    operation: str
    code: str
    status: int = 400
    times: int | None = None  # None: every attempt fails
    skip: int = 0  # attempts let through before the first failure
    reasons: list[str] | None = None  # CancellationReasons of a TransactionCanceledException
    answer: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # a 200 answer built from the request
    message: str = "injected by the reliability tests"
    injected: int = 0

    def response(self, request: Any) -> AWSResponse:
        if self.answer is not None:
            body: dict[str, Any] = self.answer(json.loads(request.body or b"{}"))
            status, headers = 200, {}
        else:
            body = {"__type": self.code, "message": self.message}
            if self.reasons is not None:
                body["CancellationReasons"] = [{"Code": r} for r in self.reasons]
            status, headers = self.status, {"x-amzn-ErrorType": self.code}
        headers["Content-Type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, status, headers, _RawBody(json.dumps(body).encode()))


@dataclass
class Call:
    service: str
    operation: str
    params: dict[str, Any]


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: list[Fault] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)  # "Service.Operation" -> HTTP attempts
    recorders: list[list[Call]] = field(default_factory=list)


_STATE = _State()
_SCENE = threading.local()  # set while a test's own calls set a scene (unrecorded)


def _operation(event_name: str) -> tuple[str, str]:
    _, service, operation = event_name.split(".", 2)
    return service, operation


def _before_send(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
    service, operation = _operation(event_name)
    with _STATE.lock:
        _STATE.attempts[f"{service}.{operation}"] += 1
        for fault in _STATE.faults:
            if (fault.service, fault.operation) != (service, operation):
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            if fault.times is None or fault.injected < fault.times:
                fault.injected += 1
                break
        else:
            return None
    tally.add("faults_injected")
    response = fault.response(request)
    # botocore calls every before-send handler and uses the first answer; send moto's copy of
    # this request nowhere, so the failed attempt has no effect, as in AWS.
    request.url = "https://fault-injected.invalid/"
    return response


def _before_parameter_build(params: dict[str, Any], event_name: str, **_: Any) -> None:
    if getattr(_SCENE, "setting", False):
        return
    service, operation = _operation(event_name)
    with _STATE.lock:
        for calls in _STATE.recorders:
            calls.append(Call(service, operation, json.loads(json.dumps(params, default=str))))


for _service in _SERVICES:
    BUILTIN_HANDLERS.append((f"before-send.{_service}", _before_send))
BUILTIN_HANDLERS.append(("before-parameter-build", _before_parameter_build))


class Faults:
    """What a test armed, and how many attempts each operation saw while it was armed."""

    def __init__(self) -> None:
        self._start = Counter(_STATE.attempts)

    def fail(self, service: str, operation: str, code: str, **kwargs: Any) -> Fault:
        fault = Fault(service, operation, code, **kwargs)
        with _STATE.lock:
            _STATE.faults.append(fault)
        return fault

    def attempts(self, service: str, operation: str) -> int:
        with _STATE.lock:
            key = f"{service}.{operation}"
            return _STATE.attempts[key] - self._start[key]

    def clear(self) -> None:
        with _STATE.lock:
            _STATE.faults.clear()


@contextmanager
def armed() -> Iterator[Faults]:
    faults = Faults()
    try:
        yield faults
    finally:
        faults.clear()


@contextmanager
def recording() -> Iterator[list[Call]]:
    """Every SDK call made (once per call, not per retry) while inside the block."""
    calls: list[Call] = []
    with _STATE.lock:
        _STATE.recorders.append(calls)
    try:
        yield calls
    finally:
        with _STATE.lock:
            _STATE.recorders.remove(calls)


@contextmanager
def unrecorded() -> Iterator[None]:
    """The calls a test makes itself to set a scene, in this thread: kept out of every recording, which is of the
    code under test."""
    _SCENE.setting = True
    try:
        yield
    finally:
        _SCENE.setting = False
