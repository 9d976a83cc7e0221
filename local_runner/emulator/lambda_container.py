"""One Lambda execution environment: imports a handler once, then runs the invocations the runner sends.

Started by local_runner.emulator.workers either as
`python -m local_runner.emulator.lambda_container FD MODULE ATTRIBUTE`
with the function's own environment, or forked from a zygote process (`--zygote FD`) that has
imported the heavy third-party libraries once, which then applies the function's environment.
Either way each function has its own process, and Powertools singletons, settings and caches are
built from its environment and live as long as the process, like a warm container's. Nothing of the
project is imported before the handler, so the handler's own cold start is real.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any


class LambdaContext:
    """The context object the Python runtime passes to a handler."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.function_name: str = fields["function_name"]
        self.function_version: str = fields["function_version"]
        self.invoked_function_arn: str = fields["invoked_function_arn"]
        self.memory_limit_in_mb: int = fields["memory_limit_in_mb"]
        self.aws_request_id: str = fields["aws_request_id"]
        self.log_group_name: str = fields["log_group_name"]
        self.log_stream_name: str = fields["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + fields["timeout_seconds"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def describe(error: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


def log_error(error: BaseException) -> None:
    # Type and frames only: an exception's message may quote personal data.
    print(f"[ERROR] {type(error).__name__}", "".join(traceback.format_tb(error.__traceback__)), file=sys.stderr)


def serve(connection: Connection, module: str, attribute: str) -> int:
    started = time.monotonic()
    try:
        handler = getattr(importlib.import_module(module), attribute)
    except Exception as error:
        log_error(error)
        connection.send(("init_error", describe(error)))
        return 1
    connection.send(("ready", round((time.monotonic() - started) * 1000)))
    while True:
        try:
            event_json, context_fields = connection.recv()
        except EOFError:
            return 0
        try:
            result = handler(json.loads(event_json), LambdaContext(context_fields))
            payload = json.dumps(result)
        except Exception as error:
            log_error(error)
            connection.send(("error", describe(error)))
        else:
            connection.send(("result", payload))
        sys.stdout.flush()


# Third-party modules a container would import anyway and whose import reads nothing specific to a
# function. The zygote imports them once; every container forked from it starts with them loaded.
PRELOAD = (
    "boto3",
    "botocore.session",
    "botocore.client",
    "pydantic",
    "yaml",
    "cryptography.hazmat.primitives.ciphers.aead",
    "aws_lambda_powertools.event_handler",
)


def zygote(control: socket.socket) -> int:
    """Import PRELOAD, then fork one container per request of the runner.

    The runner sends the container's end of a socket pair and its stdout/stderr descriptors; the
    forked child reads its function, environment and import path from that socket pair, so nothing
    of one function (environment, imported project code, caches) exists before it forks.
    """
    for name in PRELOAD:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # containers are reaped as they exit
    children = _Children()
    while True:
        try:
            _, descriptors, _, _ = socket.recv_fds(control, 1, 3)
        except OSError:
            descriptors = []
        if len(descriptors) != 3:
            children.kill()  # the runner stopped (or died): no container outlives it, busy or still importing
            return 0
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os._exit(_forked(*descriptors))
        children.add(pid)
        for descriptor in descriptors:
            os.close(descriptor)


class _Children:
    """The containers forked so far, as pidfds: a pid reused by another process after a container exited is
    never signalled."""

    def __init__(self) -> None:
        self._pidfds: list[int] = []

    def add(self, pid: int) -> None:
        alive = []
        for fd in self._pidfds:
            if _signal(fd, 0):
                alive.append(fd)
            else:
                os.close(fd)  # that container exited
        self._pidfds = alive
        # Already gone, or no pidfds on this system: it then exits at the runner's EOF, as before
        with contextlib.suppress(ProcessLookupError, AttributeError, OSError):
            self._pidfds.append(os.pidfd_open(pid))

    def kill(self) -> None:
        for fd in self._pidfds:
            _signal(fd, signal.SIGKILL)


def _signal(pidfd: int, signum: int) -> bool:
    try:
        signal.pidfd_send_signal(pidfd, signum)
    except ProcessLookupError:
        return False
    return True


def _forked(descriptor: int, stdout: int, stderr: int) -> int:
    os.dup2(stdout, 1)
    os.dup2(stderr, 2)
    for extra in {stdout, stderr} - {1, 2}:
        os.close(extra)
    connection = Connection(descriptor)
    connection.send(("pid", os.getpid()))  # the runner kills a container that times out
    module, attribute, environment = connection.recv()
    os.environ.clear()
    os.environ.update(environment)
    paths = [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [*paths, *(p for p in sys.path if p not in paths)]
    try:
        return serve(connection, module, attribute)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def main() -> int:
    # Ctrl+C in `make serve` reaches the whole process group: the runner stops the containers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.argv[1] == "--zygote":
        return zygote(socket.socket(fileno=int(sys.argv[2])))
    descriptor, module, attribute = sys.argv[1:4]
    return serve(Connection(int(descriptor)), module, attribute)


if __name__ == "__main__":
    raise SystemExit(main())
