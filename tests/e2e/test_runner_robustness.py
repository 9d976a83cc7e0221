"""The local runner as developers run it (`python -m local_runner serve`), when things go wrong.

A function that times out does not wedge it, /__health answers while functions are busy, SIGINT and
SIGTERM stop it and its containers within seconds, and an endpoint without DynamoDB Streams or TTL
is refused before anything is created.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from local_runner.emulator.harness import clean_environment, served
from local_runner.emulator.template import REPO_ROOT

SLEEPY_TIMEOUT_SECONDS = 3


def _template(tmp_path: Path) -> Path:
    """One API function that sleeps as long as asked, with a short timeout (tests/integration's handlers)."""
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "SleepyFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "tests/integration/",
                    "Handler": "local_runner_handlers.http_sleep",
                    "Runtime": "python3.11",
                    "Timeout": SLEEPY_TIMEOUT_SECONDS,
                    "Events": {"Sleep": {"Type": "Api", "Properties": {"Path": "/sleep", "Method": "post"}}},
                },
            }
        },
    }
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(template))
    return path


def _sleep(url: str, seconds: float) -> requests.Response:
    return requests.post(f"{url}/sleep", json={"seconds": seconds}, timeout=60)


def _until_busy(url: str, timeout: float = 30.0) -> None:
    """Poll /__health until an invocation runs (no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while requests.get(f"{url}/__health", timeout=5).json()["idle"] is not False:
        assert time.monotonic() < deadline, "no invocation started"
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_timeout_does_not_wedge_the_runner_and_health_answers_meanwhile(tmp_path: Path) -> None:
    with served(["-t", str(_template(tmp_path)), "--max-containers", "2"]) as api, ThreadPoolExecutor(3) as pool:
        # Given two invocations that will both time out, holding every container of the function
        stuck = [pool.submit(_sleep, api.url, 30) for _ in range(2)]
        _until_busy(api.url)

        # Then /__health answers at once, saying the runner is busy
        started = time.monotonic()
        health = requests.get(f"{api.url}/__health", timeout=5).json()
        assert time.monotonic() - started < 1.0
        assert health["idle"] is False

        # And the stuck calls end as Lambda ends them (502 at the function's timeout), not when the handler would
        assert [future.result().status_code for future in stuck] == [502, 502]
        # And the function answers again, from new containers
        again = _sleep(api.url, 0)
        assert (again.status_code, again.json()) == (200, {"slept": 0})


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_runner_and_its_busy_containers_within_seconds(tmp_path: Path, signum: int) -> None:
    with served(["-t", str(_template(tmp_path))]) as api:
        busy = threading.Thread(target=lambda: _sleep(api.url, 60), daemon=True)
        busy.start()
        _until_busy(api.url)  # the container is now inside the handler

        started = time.monotonic()
        os.kill(api.process.pid, signum)  # the runner only, as `kill` would; Ctrl+C reaches the group
        api.process.wait(timeout=10)
        stopped_in = time.monotonic() - started
        deadline = time.monotonic() + 5
        while _group_alive(api.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)

        assert api.process.returncode == 0
        assert stopped_in < 5.0
        assert not _group_alive(api.process.pid), "a function container outlived the runner"


def test_sigterm_stops_a_runner_under_load_from_sixteen_clients_within_five_seconds() -> None:
    """Under the load of every channel (the load command's own plan and clients), not one sleepy function."""
    from local_runner.commands.load import CHANNEL_KEYS, plan, send

    planned, _ = plan(2_000, retry_share=0.05, bad_share=0.03)
    with served(["--max-containers", "2"]) as api:
        keys = {name: api.health["api_keys"][name] for name in CHANNEL_KEYS.values()}
        sender = threading.Thread(target=send, args=(api.url, keys, planned, 16, io.StringIO()), daemon=True)
        sender.start()
        deadline = time.monotonic() + 60
        while requests.get(f"{api.url}/__health", timeout=10).json()["invocations"] < 150:
            assert time.monotonic() < deadline, "the load never got going"
            time.sleep(0.5)

        started = time.monotonic()
        os.kill(api.process.pid, signal.SIGTERM)
        api.process.wait(timeout=30)
        stopped_in = time.monotonic() - started
        while _group_alive(api.process.pid) and time.monotonic() < started + 10:
            time.sleep(0.1)

        assert api.process.returncode == 0
        assert stopped_in < 5.0, f"stopped in {stopped_in:.1f} s"
        assert not _group_alive(api.process.pid), "a function container outlived the runner"


class _DynamoWithoutStreams(BaseHTTPRequestHandler):
    """A DynamoDB endpoint like dynalite: tables, no Streams API, and (unless told) no TTL API."""

    targets: list[str]
    with_ttl = False

    def do_POST(self) -> None:
        target = self.headers.get("X-Amz-Target", "")
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.targets.append(target)
        operation = target.rsplit(".", 1)[-1]
        if target.startswith("DynamoDB_20120810.") and operation == "ListTables":
            self._answer(200, {"TableNames": []})
        elif operation == "DescribeTimeToLive" and self.with_ttl:
            self._answer(400, {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"})
        else:
            self._answer(400, {"__type": "com.amazon.coral.service#UnknownOperationException"})

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(params=[False, True], ids=["no-streams-no-ttl", "no-streams"])
def endpoint_without_streams(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[str], bool]]:
    targets: list[str] = []
    handler = type("Handler", (_DynamoWithoutStreams,), {"targets": targets, "with_ttl": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", targets, request.param
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("command", "variable"),
    [("serve", "AWS_ENDPOINT_URL"), ("serve", "AWS_ENDPOINT_URL_DYNAMODB"), ("demo", "AWS_ENDPOINT_URL_DYNAMODB")],
)
def test_an_endpoint_without_streams_is_refused_in_one_line_before_anything_is_created(
    endpoint_without_streams: tuple[str, list[str], bool], command: str, variable: str
) -> None:
    """However DynamoDB is pointed elsewhere (docs: `AWS_ENDPOINT_URL_DYNAMODB=… make serve`, dynalite's case)."""
    url, targets, with_ttl = endpoint_without_streams
    arguments = ["serve", "--port", "0"] if command == "serve" else [command]
    result = subprocess.run(
        [sys.executable, "-m", "local_runner", *arguments],
        cwd=REPO_ROOT,
        env=clean_environment() | {variable: url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("[local-runner]")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert f"endpoint {url} lacks DynamoDB Streams (the classifier" in lines[0]
    assert ("TTL" in lines[0]) is not with_ttl
    assert "nothing was created" in lines[0]
    assert not [t for t in targets if "Create" in t or "Update" in t or "Put" in t], targets
