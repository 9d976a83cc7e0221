"""The HTTP side of the local runner: http://127.0.0.1:3000 like `sam local start-api`.

Paths are the template's (no stage prefix, as with sam local). `GET /__health` is the runner's own:
it reports readiness, the local AWS endpoint, tables and queues, and whether all work has settled.
`GET /reports` is the runner's too: the HTML report (report_cli) drawn live from its own report routes.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from compliance_cli.credentials import local_target
from compliance_cli.errors import ToolError
from local_runner.emulator.apigateway import BAD_GATEWAY, TIMEOUT, GatewayResponse, HttpRequest, to_http
from local_runner.emulator.principals import DEVELOPER
from local_runner.emulator.runner import LocalRunner, log
from report_cli.fetch import DEFAULT_DAYS, fetch_reports
from report_cli.render_html import render

HEALTH_PATH = "/__health"
REPORTS_PATH = "/reports"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Not joined at close: a client's keep-alive connection holds its thread for as long as the client posts, so
    # under load a joining close waited for ever and the runner ignored SIGTERM
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], runner: LocalRunner, access_log: bool) -> None:
        super().__init__(address, _Handler)
        self.runner = runner
        self.access_log = access_log


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, QUERY...) reaches the gateway too, which refuses it as API Gateway does, not 501.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the runner logs its own line per request, without query strings (they may hold PII)."""

    def _handle(self) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        if url.path == HEALTH_PATH and self.command == "GET":
            self._send(
                GatewayResponse(
                    200, [("Content-Type", "application/json")], json.dumps(self.server.runner.health()).encode()
                )
            )
            return
        if url.path == REPORTS_PATH and self.command in ("GET", "HEAD"):
            self._send(_report_page(f"http://{self._host()}", url.query))
            return
        try:
            body = self._read_body()
        except ValueError:
            self._send(GatewayResponse(400, [("Content-Type", "application/json")], b'{"message": "Bad Request"}'))
            return
        request = HttpRequest(
            self.command, url.path, url.query, list(self.headers.items()), body, self.client_address[0]
        )
        runner = self.server.runner
        assert runner.gateway is not None
        prepared = runner.gateway.prepare(request, self._host())
        function = "-"
        if isinstance(prepared, GatewayResponse):
            response = prepared
        else:
            route, event = prepared
            function = route.function
            try:
                invocation = runner.invoke(route.function, event)
            except Exception as error:  # the container could not start: what API Gateway shows is a 502
                log(f"{function} could not be invoked: {type(error).__name__}")
                self._send(BAD_GATEWAY)
                return
            if invocation.ok:
                response = to_http(invocation.result)
            else:
                error_type = (invocation.error or {}).get("errorType")
                log(f"{function} failed: {error_type}")
                # Past API Gateway's 29 s integration timeout the caller sees a 504, before that a 502.
                timed_out = error_type == "Sandbox.Timedout" and runner.specs[route.function].timeout >= 29
                response = TIMEOUT if timed_out else BAD_GATEWAY
            if invocation.init_ms is not None:
                function += f" (cold start {invocation.init_ms:.0f} ms)"
        self._send(response)
        if self.server.access_log:
            elapsed = (time.monotonic() - started) * 1000
            log(f"{self.command} {url.path} {response.status} {function} {elapsed:.0f} ms")

    def _host(self) -> str:
        return f"{self.server.server_address[0]}:{self.server.server_address[1]}"

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _send(self, response: GatewayResponse) -> None:
        self.send_response(response.status)
        names = {name.lower() for name, _ in response.headers}
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


def _report_page(base_url: str, query: str) -> GatewayResponse:
    """The report from this runner's own routes, signed as the local developer, as `report_cli html` draws it."""
    days = (parse_qs(query).get("days") or [str(DEFAULT_DAYS)])[0]
    if not days.isdigit() or not 1 <= int(days) <= 366:
        return GatewayResponse(400, [("Content-Type", "text/plain")], b"days: a number of days from 1 to 366\n")
    try:
        reports = fetch_reports(local_target(base_url, DEVELOPER), days=int(days))
    except ToolError as error:
        return GatewayResponse(502, [("Content-Type", "text/plain")], f"{error.message}\n".encode())
    page = render(reports.as_dict()).encode()
    return GatewayResponse(200, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")], page)


class ApiServer:
    """The API of a started LocalRunner, served from a background thread."""

    def __init__(self, runner: LocalRunner, host: str = "127.0.0.1", port: int = 3000, access_log: bool = True) -> None:
        self._server = _Server((host, port), runner, access_log)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
