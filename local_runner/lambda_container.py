"""One Lambda execution environment: imports a handler once, then runs the invocations the runner sends.

Started by local_runner.workers as `python -m local_runner.lambda_container FD MODULE ATTRIBUTE` with
the function's own environment (the runner sets it, as Lambda does), so Powertools singletons,
settings and caches are built from that environment and live as long as this process, like a warm
container's. It imports nothing of the project before the handler, so the handler's cold start is real.
"""

from __future__ import annotations

import importlib
import json
import signal
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


def main() -> int:
    # Ctrl+C in `make serve` reaches the whole process group: the runner stops the containers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    descriptor, module, attribute = sys.argv[1:4]
    return serve(Connection(int(descriptor)), module, attribute)


if __name__ == "__main__":
    raise SystemExit(main())
