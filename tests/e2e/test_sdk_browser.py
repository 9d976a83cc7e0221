"""A web page posts with @segment/analytics-next in a real browser: headless Chromium (Debian's package, driven
by playwright-core) opens a shop's page served from a local origin in WebAllowedOrigins, with the SDK's own
prebuilt bundle from node_modules (no CDN), its apiHost the web channel's browser routes. Its identify and page,
and a beacon whose write key is only in its body, are stored with the tokens the native route gives; the same page
from an origin outside the list stores nothing. Then the browser routes over plain HTTP: CORS preflights, and
write keys that are missing, wrong or another channel's."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from local_runner.emulator.harness import RunnerFailed, free_port, served
from tests.e2e.conftest import REPO_ROOT, Runner, assert_no_pii, wait_for
from tests.e2e.test_sdk_clients import consent, events_of, failed_events, table_text, traits, web_key
from tests.factories import CHANNEL_API_KEYS
from tests.people import person
from touchpoints.model import IdentifierKind

pytestmark = pytest.mark.e2e

NODE = REPO_ROOT / "tests" / "node"
PAGE = NODE / "browser" / "page.html"
BUNDLES = NODE / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"


class _PageServer(BaseHTTPRequestHandler):
    """The shop's site: its page, and the SDK's prebuilt bundle and chunks where the SDK looks for them."""

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/shop":
            self._send(PAGE.read_bytes(), "text/html")
        elif path.startswith("/analytics-next/bundles/") and (BUNDLES / Path(path).name).is_file():
            self._send((BUNDLES / Path(path).name).read_bytes(), "application/javascript")
        else:
            self.send_error(404)

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # its query carries the page's settings (a test person's traits): never printed


@pytest.fixture(scope="module")
def site() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _PageServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def runner(site: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """The runner with the shop's origin as the only allowed one (`http://localhost:<port>` is another origin)."""
    log = tmp_path_factory.mktemp("runner") / "serve.log"
    try:
        with served(["--parameter-overrides", f"WebAllowedOrigins=http://127.0.0.1:{site}"], log=log) as api:
            yield Runner(api)
    except RunnerFailed as failure:
        pytest.fail(str(failure))
    assert_no_pii(log.read_text(), "the runner's output (access log and function logs)")


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("Debian's chromium is not installed: `make setup` installs it (apt-get install -y chromium)")
    if shutil.which("node") is None or not (NODE / "node_modules" / "playwright-core").is_dir():
        pytest.fail("Node and tests/node's packages are needed: `make setup` installs them (npm ci)")
    return found


def open_pages(runner: Runner, pages: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each (site host, settings): the shop's page opened in headless Chromium from that host; what it reported."""
    urls = [f"http://{host}/shop?config={quote(json.dumps(config))}" for host, config in pages]
    hosts = [*{host for host, _ in pages}, urlsplit(runner.url).netloc]
    request = {"urls": urls, "hosts": hosts, "executablePath": chromium()}
    result = subprocess.run(
        ["node", "browser_page.mjs"],
        cwd=NODE,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert_no_pii(result.stdout + result.stderr, "the browser's report")
    reports = list(json.loads(result.stdout))
    for report in reports:
        assert report["outside"] == [], f"the page fetched from other hosts: {report['outside']}"
        assert report["errors"] == [], report["errors"]
    return reports


def page_config(runner: Runner, n: int) -> dict[str, Any]:
    someone = person(n)
    api_host = f"{urlsplit(runner.url).netloc}/sdk/web/browser"
    return {"writeKey": web_key(runner), "apiHost": api_host, "userId": someone.app_user_id, "traits": traits(someone)}


def test_a_page_with_analytics_next_in_chromium_is_stored_and_another_origins_page_is_not(
    runner: Runner, site: int
) -> None:
    started = time.monotonic()
    someone = person(1401)
    # Given the shop's page, served from an allowed origin, with the web channel's browser routes as apiHost
    # (and the same page served from an origin outside WebAllowedOrigins: localhost is another origin)
    other = person(1402)
    # When Chromium opens each: analytics-next identifies the visitor and sends a page view, then a beacon follows
    report, refused = open_pages(
        runner, [(f"127.0.0.1:{site}", page_config(runner, 1401)), (f"localhost:{site}", page_config(runner, 1402))]
    )
    result = report["result"]
    assert "error" not in result, result
    assert result["delivered"] == [True, True] and result["beaconStatus"] == 200, report
    # (analytics-next posts /i and /p itself, with HTTP Basic: after a CORS preflight the browser let through)
    sdk_posts = {(r["method"], r["path"], r["status"]) for r in report["responses"] if r["path"].startswith("/sdk/")}
    assert {("POST", "/sdk/web/browser/i", 200), ("POST", "/sdk/web/browser/p", 200)} <= sdk_posts
    # Then they are stored on one new profile, found by the tokens the native route gives its identifiers
    subject = wait_for(
        lambda: runner.subject_of(IdentifierKind.APP_USER_ID, someone.app_user_id), 30, "the identify to be stored"
    )
    assert runner.subject_of(IdentifierKind.EMAIL, someone.email) == subject
    assert runner.subject_of(IdentifierKind.RFC, someone.rfc) == subject
    stored = wait_for(
        lambda: (events := events_of(runner, subject)) and result["beacon"] in events and events,
        30,
        "the page view and the beacon",
    )
    assert {result["identify"], result["page"], result["beacon"]} <= set(stored)
    assert (stored[result["page"]]["trace"], stored[result["page"]]["action"]) == ("visit", "page_view")
    assert stored[result["beacon"]]["action"] == "product_view"
    fields = set(runner.classified(subject)["fields"]["M"])
    assert {"given_name", "family_name", "rfc", "birth_date", "email"} <= fields
    # and from the other origin, the browser never sends the SDK's calls (their preflight is refused), the beacon
    # is refused by the function (the browser hides its answer from the page), and nothing of that visitor is stored
    assert not [r for r in refused["responses"] if r["path"].startswith("/sdk/") and r["method"] == "POST"], refused
    failed = {(r["method"], r["path"]) for r in refused["failed"]}
    assert {("POST", "/sdk/web/browser/i"), ("POST", "/sdk/web/browser/p"), ("POST", "/sdk/web/browser/t")} <= failed
    assert refused["result"]["beaconStatus"] == "refused: TypeError", refused["result"]
    assert runner.subject_of(IdentifierKind.APP_USER_ID, other.app_user_id) is None
    assert runner.subject_of(IdentifierKind.EMAIL, other.email) is None
    assert_no_pii(table_text(runner), "the profile table")
    print(f"\nbrowser journey: {time.monotonic() - started:.1f} s")


def beacon(runner: Runner, body: Any, origin: str | None = None, **headers: str) -> requests.Response:
    return requests.post(
        f"{runner.url}/sdk/web/browser/t",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "text/plain", **({"Origin": origin} if origin else {}), **headers},
        timeout=60,
    )


def track(n: int, write_key: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "track",
        "event": "Product Viewed",
        "userId": person(n).app_user_id,
        "messageId": f"beacon-{uuid.uuid4().hex}",
        "context": consent(),
    }
    return body if write_key is None else {**body, "writeKey": write_key}


def test_preflights_allow_only_the_listed_origins(runner: Runner, site: int) -> None:
    allowed = f"http://127.0.0.1:{site}"
    for origin, status in ((allowed, 204), (f"http://localhost:{site}", 403), ("https://evil.example", 403)):
        answer = requests.options(
            f"{runner.url}/sdk/web/browser/p",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
            timeout=60,
        )
        assert answer.status_code == status, answer.text
        if status == 204:
            assert answer.headers["Access-Control-Allow-Origin"] == origin
            assert "POST" in answer.headers["Access-Control-Allow-Methods"]
            assert {"authorization", "content-type"} <= set(
                answer.headers["Access-Control-Allow-Headers"].lower().split(",")
            )
        else:
            assert "Access-Control-Allow-Origin" not in answer.headers
            assert answer.json()["code"] == "origin_not_allowed"


def test_body_write_keys_are_checked_by_the_function_and_nothing_refused_is_stored(runner: Runner, site: int) -> None:
    keys = runner.health["api_keys"]
    failed_before = len(failed_events(runner))
    # A missing key, a wrong one, another channel's (the app's, public too): 401 in the SDKs' shape, nothing stored
    for n, key in ((1410, None), (1411, "not-the-key"), (1412, keys[CHANNEL_API_KEYS["app"]])):
        answer = beacon(runner, track(n, key), origin=f"http://127.0.0.1:{site}")
        assert answer.status_code == 401, answer.text
        assert answer.json()["success"] is False and answer.json()["code"] == "invalid_write_key"
        assert answer.headers["Access-Control-Allow-Origin"] == f"http://127.0.0.1:{site}"  # the page may read why
    # The right key from a page of another site: 403, no CORS header, nothing stored
    answer = beacon(runner, track(1413, web_key(runner)), origin="https://evil.example")
    assert answer.status_code == 403 and "Access-Control-Allow-Origin" not in answer.headers
    # A wrong HTTP Basic key wins over a right body key: analytics-next sends both, and they must name one channel
    wrong_basic = {"Authorization": "Basic bm90LXRoZS1rZXk6"}  # base64("not-the-key:")
    assert beacon(runner, track(1414, web_key(runner)), **wrong_basic).status_code == 401
    for n in (1410, 1411, 1412, 1413, 1414):
        assert runner.subject_of(IdentifierKind.APP_USER_ID, person(n).app_user_id) is None
    assert len(failed_events(runner)) == failed_before  # refused requests are not failed events of the channel
    # The web key in the body, from a server (no Origin): stored, and the key itself is kept nowhere
    stored = track(1415, web_key(runner))
    answer = beacon(runner, stored)
    assert answer.status_code == 200 and answer.json() == {"success": True}, answer.text
    assert "Access-Control-Allow-Origin" not in answer.headers
    subject = runner.subject_of(IdentifierKind.APP_USER_ID, person(1415).app_user_id)
    assert subject is not None and stored["messageId"] in events_of(runner, subject)
    assert web_key(runner) not in table_text(runner)
    # and the same key cannot post to the server routes without HTTP Basic (the authorizer never sees a body)
    server_route = requests.post(
        f"{runner.url}/sdk/web/v1/track", data=json.dumps(track(1416, web_key(runner))), timeout=60
    )
    assert server_route.status_code == 401 and server_route.json()["code"] == "invalid_write_key"
