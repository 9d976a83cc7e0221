"""`python -m local_runner serve` as a separate process, for tests, benchmarks and scripts.

    with served() as api:
        requests.post(api.url + "/v1/web/touchpoints", headers={"x-api-key": api.api_key("WebApiKey")}, ...)

The runner and its function containers share a new process group, stopped together on exit
whatever happens; its whole output (access log and function logs) is kept in `api.log`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_runner.emulator.template import REPO_ROOT


class RunnerFailed(RuntimeError):
    """The runner exited or did not become ready; the message ends with its last output."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_environment() -> dict[str, str]:
    """The caller's environment minus anything that would point the runner at another AWS or logger setup."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    environment.pop("ENDPOINT_URL", None)
    return environment | {"SAM_CLI_TELEMETRY": "0", "PYTHONUNBUFFERED": "1"}


@dataclass
class ServedApi:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    health: dict[str, Any] = field(default_factory=dict)

    def api_key(self, logical_id: str) -> str:
        """The local value of an `AWS::ApiGateway::ApiKey` of the template."""
        return str(self.health["api_keys"][logical_id])

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _health(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/__health", timeout=2) as response:  # noqa: S310 - our loopback URL
            return dict(json.loads(response.read()))
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM to the runner's process group (runner and containers), then SIGKILL to what is left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def served(
    arguments: Sequence[str] = (), port: int | None = None, log: Path | None = None, ready_timeout: float = 90.0
) -> Iterator[ServedApi]:
    """Start `python -m local_runner serve` on a free port, wait until /__health answers, stop it on exit."""
    port = port or free_port()
    log = log or Path(tempfile.mkdtemp(prefix="local-runner-")) / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "local_runner", "serve", "--port", str(port), *arguments],
            cwd=REPO_ROOT,
            env=clean_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        api = ServedApi(process, f"http://127.0.0.1:{port}", log)
        deadline = time.monotonic() + ready_timeout
        while (health := _health(api.url)) is None:
            if process.poll() is not None:
                raise RunnerFailed(f"the runner exited with {process.returncode}:\n{api.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise RunnerFailed(f"the runner was not ready within {ready_timeout} s:\n{api.output()[-3000:]}")
            time.sleep(0.2)
        api.health = health
        yield api
    finally:
        stop(process)
