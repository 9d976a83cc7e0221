"""Lambda containers for the local runner: one process per warm container, started on first use.

Each function gets its own processes (never shared with another function: the layer's caches and
Powertools singletons are per process, as in Lambda), its own environment, a timeout that kills
the container like Lambda's, and up to `max_containers` concurrent containers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import IO, Any

from local_runner.emulator.provision import LOCAL_ACCOUNT
from local_runner.emulator.template import FunctionSpec

_SHARED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")
INIT_TIMEOUT_SECONDS = 30.0  # Lambda allows 10 s; a fresh clone also compiles its bytecode on first import


@dataclass
class Invocation:
    """What an invocation returned: the handler's result, or the error Lambda would report."""

    function: str
    result: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    init_ms: float | None = None  # set on a cold start

    @property
    def ok(self) -> bool:
        return self.error is None


class Zygote:
    """A process that imported the heavy third-party libraries once and forks containers from there.

    A fork costs milliseconds where a fresh interpreter re-imports boto3, pydantic and Powertools
    (about a second of CPU per container); the function's own modules are still imported in the
    container, after its environment is set. POSIX only; LOCAL_RUNNER_FORK=0 turns it off.
    """

    def __init__(self, environment: Mapping[str, str], output: IO[Any] | None) -> None:
        control, child = socket.socketpair()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "local_runner.emulator.lambda_container", "--zygote", str(child.fileno())],
            env={**environment, "PYTHONUNBUFFERED": "1"},
            pass_fds=[child.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
        )
        child.close()
        self._control = control
        self._lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        return hasattr(os, "fork") and hasattr(socket, "send_fds") and os.environ.get("LOCAL_RUNNER_FORK") != "0"

    def fork(self, connection: socket.socket, output: IO[Any] | None) -> None:
        stdout = output.fileno() if output is not None else 1
        stderr = output.fileno() if output is not None else 2
        with self._lock:
            socket.send_fds(self._control, [b"F"], [connection.fileno(), stdout, stderr])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._control.shutdown(socket.SHUT_RDWR)  # EOF for the zygote even while a copy of the socket lives
        self._control.close()
        try:
            self.process.wait(timeout=1)  # it holds nothing worth a longer wait: a stop stays within seconds
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Container:
    """One execution environment: a process that imported the handler and answers one event at a time."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: Mapping[str, str],
        output: IO[Any] | None,
        zygote: Zygote | None = None,
    ) -> None:
        self.spec = spec
        self.region = environment.get("AWS_REGION", "us-east-1")
        self.process: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self._closed = False
        parent, child = socket.socketpair()
        if zygote is not None:
            zygote.fork(child, output)
            child.close()
            self.connection = Connection(parent.detach())
            self.connection.send((spec.module, spec.attribute, dict(environment)))
        else:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [
                    sys.executable,
                    "-m",
                    "local_runner.emulator.lambda_container",
                    str(child.fileno()),
                    spec.module,
                    spec.attribute,
                ],
                env=dict(environment),
                pass_fds=[child.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
            )
            self.pid = self.process.pid
            child.close()
            self.connection = Connection(parent.detach())
        self.init_ms: float | None = None
        self.started = time.monotonic()

    def invoke(self, event: Mapping[str, Any], request_id: str) -> Invocation:
        invocation = Invocation(self.spec.logical_id)
        if self.init_ms is None:
            kind, payload = self._receive(INIT_TIMEOUT_SECONDS, "init")
            if kind != "ready":
                invocation.error = payload
                return invocation
            self.init_ms = invocation.init_ms = float(payload)
        started = time.monotonic()
        try:
            self.connection.send((json.dumps(event), self._context(request_id)))
        except OSError:  # the process is gone (it crashed after its last answer)
            self.close()
            invocation.error = {"errorType": "Runtime.ExitError", "errorMessage": "the container had exited"}
            return invocation
        kind, payload = self._receive(float(self.spec.timeout), "invoke")
        invocation.duration_ms = (time.monotonic() - started) * 1000
        if kind == "result":
            invocation.result = json.loads(payload)
        else:
            invocation.error = payload
        return invocation

    def _receive(self, timeout: float, phase: str) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        try:
            while self.connection.poll(max(0.0, deadline - time.monotonic())):
                kind, payload = self.connection.recv()
                if kind != "pid":
                    return str(kind), payload
                self.pid = int(payload)
        except (EOFError, OSError):
            self.close()
            return "error", {"errorType": "Runtime.ExitError", "errorMessage": f"the container exited during {phase}"}
        self.close()  # Lambda discards a container that timed out
        return "error", {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {timeout:.2f} seconds"}

    def _context(self, request_id: str) -> dict[str, Any]:
        name = self.spec.logical_id
        return {
            "function_name": name,
            "function_version": "$LATEST",
            "invoked_function_arn": f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT}:function:{name}",
            "memory_limit_in_mb": self.spec.memory_size,
            "aws_request_id": request_id,
            "log_group_name": f"/aws/lambda/{name}",
            "log_stream_name": f"local/[$LATEST]{id(self):x}",
            "timeout_seconds": self.spec.timeout,
        }

    @property
    def alive(self) -> bool:
        if self._closed:
            return False
        if self.process is not None:
            return self.process.poll() is None
        return True  # forked: the connection reports its end (EOF) when the process goes

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        elif self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.connection.close()


@dataclass
class _Slots:
    idle: list[Container] = field(default_factory=list)
    count: int = 0


class FunctionPool:
    """The containers of every function, started lazily, reused while warm, at most `max_containers` each."""

    def __init__(
        self,
        specs: Mapping[str, FunctionSpec],
        environment: Callable[[FunctionSpec], Mapping[str, str]],
        *,
        max_containers: int = 1,
        output: IO[Any] | None = None,
    ) -> None:
        self.specs = specs
        self._environment = environment
        self._max = max_containers
        self._output = output
        self._slots = {name: _Slots() for name in specs}
        self._condition = threading.Condition()
        self._busy: set[Container] = set()  # killed too when the pool closes: a stop never waits for a handler
        self._in_flight = 0
        self._closed = False
        self.invocations = 0
        self._zygote: Zygote | None = None
        self._zygote_tried = False

    def _container(self, spec: FunctionSpec) -> Container:
        with self._condition:
            if self._closed:  # a request that raced the stop must not start a new zygote or container
                raise RuntimeError("the runner is shutting down")
            if self._zygote is not None and self._zygote.process.poll() is not None:
                self._zygote, self._zygote_tried = None, False  # it died: start another
            if not self._zygote_tried:
                self._zygote_tried = True
                if Zygote.available():
                    self._zygote = Zygote(self._zygote_environment(spec), self._output)
        return Container(spec, self._environment(spec), self._output, self._zygote)

    def _zygote_environment(self, spec: FunctionSpec) -> dict[str, str]:
        """What every container shares (the interpreter's path, locale): no function's own variables."""
        environment = self._environment(spec)
        return {k: environment[k] for k in _SHARED_VARIABLES if k in environment}

    @property
    def busy(self) -> bool:
        return self._in_flight > 0  # read without the lock: /__health must answer whatever the pool does

    def warm(self, names: list[str] | None = None) -> None:
        """Start one container per function now (their imports run in parallel), instead of on first use."""
        with self._condition:
            for name in names or list(self.specs):
                slots = self._slots[name]
                if slots.count == 0:
                    slots.idle.append(self._container(self.specs[name]))
                    slots.count += 1

    def invoke(self, name: str, event: Mapping[str, Any]) -> Invocation:
        container = self._acquire(name)
        with self._condition:
            if self._closed:
                container.close()
            self._busy.add(container)
        try:
            invocation = container.invoke(event, str(uuid.uuid4()))
        except Exception:
            container.close()
            raise
        finally:
            self._release(name, container)
        return invocation

    def _acquire(self, name: str) -> Container:
        spec = self.specs[name]
        with self._condition:
            slots = self._slots[name]
            while self._closed or (not slots.idle and slots.count >= self._max):
                if self._closed:
                    raise RuntimeError("the runner is shutting down")
                self._condition.wait()
            self._in_flight += 1
            if slots.idle:
                return slots.idle.pop()
            slots.count += 1
        try:
            return self._container(spec)
        except BaseException:
            with self._condition:
                slots.count -= 1
                self._in_flight -= 1
                self._condition.notify_all()
            raise

    def _release(self, name: str, container: Container) -> None:
        with self._condition:
            self._busy.discard(container)
            self._in_flight -= 1
            self.invocations += 1
            slots = self._slots[name]
            if container.alive and not self._closed:
                slots.idle.append(container)
            else:
                container.close()
                slots.count -= 1
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            containers = [c for slots in self._slots.values() for c in slots.idle] + list(self._busy)
            for slots in self._slots.values():
                slots.idle.clear()
            self._condition.notify_all()
        for container in containers:
            container.close()
        if self._zygote is not None:
            self._zygote.close()
