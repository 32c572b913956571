"""A real browser as an MQTT client (issue #10, "Transports"): Debian's Chromium, driven by
Playwright for Python, opens tests/web/mqtt-test.html, which loads the vendored MQTT.js
(web/vendor/mqtt, npm package `mqtt`) and, over ws://127.0.0.1:<port>/mqtt or
wss://localhost:<port>/mqtt, connects (MQTT 3.1.1 or 5.0), subscribes, publishes one QoS 1
message and shows what it receives in the page. A paho client on the broker's plain TCP
listener subscribes to the same topic, so the message is also seen crossing transports.

This is what a web dashboard does; it checks the WebSocket listeners against a browser's own
WebSocket stack (HTTP/1.1 upgrade, subprotocol, masking, framing), not another library's.

The page is served by a Python http.server thread on 127.0.0.1 from the repository root. For
wss the broker uses its generated self-signed CA, which the browser does not trust: the
browser context is opened with ignore_https_errors (certificate errors ignored), because
Chromium cannot be given a CA file. Certificate verification itself is checked in
test_transports.py with clients that take --cafile.

Playwright only drives /usr/bin/chromium (`playwright install` downloads nothing here). A
missing Chromium or Playwright fails the test with what to install; it is never skipped.
Every wait is a bounded Playwright wait on a DOM condition.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
import urllib.parse

import pytest

from conftest import REPO
from e2e_helpers import V5, unique

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
PAGE = "tests/web/mqtt-test.html"
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def page_server():
    """http://127.0.0.1:<port>/ serving the repository root (the page and web/vendor)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(REPO))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    # Not a skip: a missing browser is a broken test environment, reported as such.
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium "
                    "(or set E2E_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright not installed: pip install -r tests/e2e/requirements.txt")
    with sync_playwright() as p:
        # Chromium's sandbox cannot start as root (CI runs as root).
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        b = p.chromium.launch(executable_path=CHROMIUM, args=args, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    # ignore_https_errors: the wss listener's certificate is issued by the broker's generated
    # CA, which this browser has no way to be told to trust (see the module docstring).
    context = browser.new_context(ignore_https_errors=True)
    try:
        p = context.new_page()
        p.set_default_timeout(WAIT_MS)
        yield p
    finally:
        context.close()


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
@pytest.mark.parametrize("kind", ["ws", "wss"])
def test_browser_mqtt_js(listener_broker, clients, page_server, page, kind, version):
    b = listener_broker({"kind": kind, "ws": {"path": "/mqtt"}})
    host = "localhost" if kind == "wss" else "127.0.0.1"
    topic, payload = unique(f"browser/{kind}"), f"hello from chromium over {kind}"
    watcher = clients(b, V5)  # plain TCP
    watcher.subscribe(topic, qos=1)

    query = urllib.parse.urlencode({"url": f"{kind}://{host}:{b.ports[0]}/mqtt", "topic": topic,
                                    "payload": payload, "version": version})
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.goto(f"{page_server}/{PAGE}?{query}")
    page.wait_for_function("['received', 'error'].includes(document.body.dataset.state)",
                           timeout=WAIT_MS)

    state = page.evaluate("document.body.dataset.state")
    report = (f"page log: {page.locator('#log').inner_text()!r}; "
              f"error: {page.locator('#error').inner_text()!r}; console: {console}; "
              f"broker log:\n{b.log()}")
    assert state == "received", report
    assert page.locator("#received-topic").inner_text() == topic, report
    assert page.locator("#received").inner_text() == payload, report
    m = watcher.wait_messages(1, topic)[0]
    assert (m.payload, m.qos) == (payload.encode(), 1)
