"""The web dashboard (issue #13) in a real browser: Debian's Chromium driven by Playwright for
Python, against the dashboard the broker itself serves on its management port (`/`).

What is checked is what a person does: the first login as admin/public is forced to change
the password, then the new one logs in; the overview shows the version, the listeners and a
paho client, and its counters rise while the client publishes; the client is found, opened
and kicked (paho's disconnect callback fires), and another's session ended with "clean
session"; the delayed module is switched off (a
`$delayed/1/...` publish is then an ordinary topic) and on again (delayed again); a built-in
user and an ACL rule are created and deleted in the UI (mosquitto_pub is refused while the
rule holds); the WebSocket client page connects over ws://, subscribes, shows what
mosquitto_pub sends, and publishes to a paho subscriber; a retained message is viewed as JSON
and hex and deleted; the language switches to Chinese; every page has no horizontal overflow
at 390 px; logout ends the token; and the whole dashboard, vendored files included, is under
1 MB gzip-compressed. Screenshots of every page at both widths go to
target/dashboard-screenshots/.

The trace page, the topics list and the listeners' start/stop buttons need routes that not
every broker build has: their tests skip themselves, saying why, when the OpenAPI document
lacks the route.

Every wait is a bounded Playwright wait on a DOM condition or a paho event; nothing sleeps.
"""

from __future__ import annotations

import gzip
import os
import pathlib
import re
import shutil
import subprocess
import time

import pytest
import requests

from conftest import REPO, Broker, free_port, listeners_toml, wait_tcp_ports
from e2e_helpers import V5, unique

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
WAIT_MS = 15_000
PASSWORD = "Dashboard-2026"
SHOTS = REPO / "target" / "dashboard-screenshots"
PAGES = ["overview", "clients", "subscriptions", "retained", "websocket", "modules", "access",
         "trace", "settings"]
EXTRA = """
[auth]
no_match = "allow"
[[auth.authz]]
kind = "builtin"
"""


def start_broker() -> Broker:
    ws_port = free_port()
    b = Broker(config=listeners_toml([{"kind": "ws", "ws": {"path": "/mqtt"}}], [ws_port]) + EXTRA)
    b.ws_port = ws_port
    b.base = f"http://{b.host}:{b.api_port}"
    wait_tcp_ports(b, [ws_port, b.api_port])
    return b


def stop_broker(b: Broker) -> None:
    try:
        rc = b.stop()
        assert rc == 0, f"starling exited with {rc} after SIGTERM:\n{b.log()}"
    finally:
        b.close()


@pytest.fixture(scope="module")
def dash():
    """One broker for the module, its default password already changed through the API."""
    b = start_broker()
    try:
        r = requests.post(f"{b.base}/api/v5/login", json={"username": "admin", "password": "public"},
                          timeout=10)
        r.raise_for_status()
        token = r.json()["token"]
        r = requests.post(f"{b.base}/api/v5/users/admin/change_pwd",
                          json={"old_pwd": "public", "new_pwd": PASSWORD},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code in (200, 204), r.text
        yield b
    finally:
        stop_broker(b)


def api(b: Broker, method: str, path: str, **kw):
    r = requests.post(f"{b.base}/api/v5/login", json={"username": "admin", "password": PASSWORD},
                      timeout=10)
    r.raise_for_status()
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    return requests.request(method, f"{b.base}/api/v5{path}", headers=headers, timeout=10, **kw)


def has_route(b: Broker, path: str) -> bool:
    doc = requests.get(f"{b.base}/api-docs/openapi.json", timeout=10).json()
    # A path parameter matches any segment: /listeners/{id}/stop is in /listeners/{id}/{action}.
    want = path.split("/")
    param = re.compile(r"^\{[^}]*\}$")
    return any(len(have) == len(want) and all(a == b or param.match(a) or param.match(b)
                                              for a, b in zip(have, want))
               for have in (p.split("/") for p in doc.get("paths", {})))


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
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        b = p.chromium.launch(executable_path=CHROMIUM, args=args, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A browser context on the dashboard, with its page errors collected."""

    def __init__(self, browser, base: str, width: int = 1280, height: int = 800):
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.p = self.context.new_page()
        self.p.set_default_timeout(WAIT_MS)
        self.base = base
        self.errors: list[str] = []
        self.p.on("pageerror", lambda e: self.errors.append(str(e)))

    def login(self, password: str = PASSWORD) -> None:
        self.p.goto(f"{self.base}/")
        self.p.fill("#login-username", "admin")
        self.p.fill("#login-password", password)
        self.p.click("#login-submit")
        self.p.wait_for_selector("#stat-version")

    def open(self, page: str) -> None:
        self.p.goto(f"{self.base}/#/{page}")
        self.p.wait_for_selector(f'nav a[data-page="{page.split("/")[0]}"][aria-current="page"]')

    def confirm(self) -> None:
        self.p.wait_for_selector("#confirm[open]")
        self.p.click("#confirm-ok")

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"errors in the page: {self.errors}"


@pytest.fixture
def ui(browser, dash):
    page = Page(browser, dash.base)
    page.login()
    yield page
    page.close()


def tile_value(ui: Page, key: str) -> str:
    return ui.p.locator(f"#stat-{key} .v").inner_text()


def test_first_login_forces_a_password_change(browser):
    b = start_broker()
    try:
        page = Page(browser, b.base)
        started = time.monotonic()
        page.p.goto(f"{b.base}/")
        page.p.wait_for_selector("#login-form")
        print(f"login page usable after {(time.monotonic() - started) * 1000:.0f} ms")
        page.p.fill("#login-password", "public")
        page.p.click("#login-submit")
        page.p.wait_for_selector("#change-form")
        assert "8 to 64 characters" in page.p.locator("#password-rules").inner_text()
        # Checked before sending: too short, then two that differ.
        page.p.fill("#new-password", "short")
        page.p.fill("#new-password-again", "short")
        page.p.click("#change-submit")
        page.p.wait_for_selector("#change-form .error:has-text('8 to 64')")
        page.p.fill("#new-password", PASSWORD)
        page.p.fill("#new-password-again", PASSWORD + "x")
        page.p.click("#change-submit")
        page.p.wait_for_selector("#change-form .error:has-text('differ')")
        page.p.fill("#new-password-again", PASSWORD)
        page.p.click("#change-submit")
        page.p.wait_for_selector("#login-form .note:has-text('log in with the new one')")
        # The old password no longer works; the API's message is shown.
        page.p.fill("#login-password", "public")
        page.p.click("#login-submit")
        page.p.wait_for_selector("#login-form .error:has-text('BAD_USERNAME_OR_PWD')")
        page.login(PASSWORD)
        assert page.p.locator("#whoami").inner_text() == "admin"
        page.close()
    finally:
        stop_broker(b)


def test_logout_ends_the_token(browser, dash):
    page = Page(browser, dash.base)
    page.login()
    token = page.p.evaluate("localStorage.getItem('starling.token')")
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{dash.base}/api/v5/nodes", headers=headers, timeout=10).status_code == 200
    with page.p.expect_response(lambda r: r.url.endswith("/api/v5/logout")):
        page.p.click("#logout")
    page.p.wait_for_selector("#login-form")
    assert requests.get(f"{dash.base}/api/v5/nodes", headers=headers, timeout=10).status_code == 401
    page.close()


def test_overview_shows_version_listeners_and_rising_counters(ui, dash, clients):
    version = requests.get(f"{dash.base}/api/v5/status?format=json", timeout=10).json()["version"]
    c = clients(dash, V5)
    ui.p.wait_for_function("Number(document.querySelector('#stat-connections .v').textContent) >= 1")
    assert tile_value(ui, "version") == version
    listeners = ui.p.locator("#listeners").inner_text()
    assert f"127.0.0.1:{dash.ws_port}" in listeners and "ws" in listeners
    assert f"127.0.0.1:{dash.port}" in listeners
    before = int(tile_value(ui, "received"))
    topic = unique("ov")
    for i in range(20):
        c.publish(topic, f"m{i}".encode(), qos=1)
    ui.p.wait_for_function(
        f"Number(document.querySelector('#stat-received .v').textContent) >= {before + 20}")
    # The charts are drawn (uPlot's canvas).
    assert ui.p.locator("#chart-levels canvas").count() >= 1
    assert ui.p.locator("#chart-rates canvas").count() >= 1


def test_client_is_found_and_kicked(ui, dash, clients):
    c = clients(dash, V5, client_id=unique("kickme"))
    ui.open("clients")
    ui.p.fill("#search-clientid", c.client_id[:-2])
    with ui.p.expect_response(lambda r: "/api/v5/clients?" in r.url and "like_clientid" in r.url):
        ui.p.click("#search-submit")
    ui.p.click(f"a.client-link:text-is('{c.client_id}')")
    ui.p.wait_for_selector("#client-state:text-is('connected')")
    detail = ui.p.locator("#client-detail").inner_text()
    assert "MQTT 5" in detail and "127.0.0.1:" in detail
    n = len(c.disconnects)
    ui.p.click("#kick")
    ui.confirm()
    c.wait_for(lambda: len(c.disconnects) > n, what="paho's disconnect callback after the kick")
    ui.p.wait_for_selector("#client-detail ~ .note:has-text('Kicked')")


def test_clean_session_ends_the_session(ui, dash, clients):
    c = clients(dash, V5, client_id=unique("durable"), session_expiry=3600)
    c.c.reconnect_delay_set(60, 60)  # no reconnect racing the check below
    ui.open(f"clients/{c.client_id}")
    ui.p.wait_for_selector("#client-state:text-is('connected')")
    n = len(c.disconnects)
    with ui.p.expect_response(lambda r: r.request.method == "DELETE" and "/api/v5/clients/" in r.url):
        ui.p.click("#clean-session")
        ui.confirm()
    c.wait_for(lambda: len(c.disconnects) > n, what="paho's disconnect callback after clean session")
    ui.p.wait_for_selector(".note:has-text('Session ended')")
    assert api(dash, "GET", f"/clients/{c.client_id}").status_code == 404


def test_delayed_module_switched_off_and_on(ui, dash, clients):
    ui.open("modules")
    switch = ui.p.locator("#module-delayed")
    assert switch.is_checked()
    topic = unique("later")
    sub = clients(dash, V5)
    sub.subscribe(f"$delayed/1/{topic}", qos=1)
    sub.subscribe(topic, qos=1)
    pub = clients(dash, V5)
    with ui.p.expect_response(lambda r: r.url.endswith("/api/v5/modules/delayed")):
        switch.uncheck()
    ui.p.wait_for_selector("#module-delayed-state:text-is('off')")
    # Off: $delayed/1/<topic> is an ordinary topic, delivered as it is.
    pub.publish(f"$delayed/1/{topic}", b"now", qos=1)
    assert sub.wait_messages(1, f"$delayed/1/{topic}")[0].payload == b"now"
    with ui.p.expect_response(lambda r: r.url.endswith("/api/v5/modules/delayed")):
        switch.check()
    ui.p.wait_for_selector("#module-delayed-state:text-is('on')")
    # On again: delayed, then published to <topic>.
    pub.publish(f"$delayed/1/{topic}", b"later", qos=1)
    assert sub.wait_messages(1, topic)[0].payload == b"later"


def test_auto_subscribe_topics_edited_in_the_form(ui, dash, clients):
    topic = unique("auto")
    ui.open("modules")
    card = ui.p.locator("[data-module='auto_subscribe']")
    # Checked before sending: an empty row.
    ui.p.click("#module-auto_subscribe-add")
    ui.p.click("#module-auto_subscribe-save")
    card.locator(".error:has-text('topic filter is required')").wait_for()
    card.locator("[data-row] input[name='topic']").last.fill(f"{topic}/${{clientid}}")
    card.locator("[data-row] select[name='qos']").last.select_option("1")
    with ui.p.expect_response(lambda r: r.url.endswith("/api/v5/mqtt/auto_subscribe")):
        ui.p.click("#module-auto_subscribe-save")
    card.locator(".note:has-text('Saved')").wait_for()
    c = clients(dash, V5)  # connects after the change: subscribed by the broker
    pub = clients(dash, V5)
    pub.publish(f"{topic}/{c.client_id}", b"auto", qos=1)
    m = c.wait_messages(1, f"{topic}/{c.client_id}")[0]
    assert (m.payload, m.qos) == (b"auto", 1)
    assert api(dash, "PUT", "/mqtt/auto_subscribe", json=[]).status_code == 200


def mosquitto_pub(b: Broker, *args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("mosquitto_pub")
    if exe is None:
        pytest.fail("mosquitto_pub not found: apt-get install mosquitto-clients")
    return subprocess.run([exe, "-h", b.host, "-p", str(b.port), *args],
                          capture_output=True, text=True, timeout=20)


def test_builtin_user_and_acl_rule_created_and_deleted(ui, dash):
    ui.open("access")
    user = unique("u")
    ui.p.fill("#auth-user-id", user)
    ui.p.fill("#auth-user-password", "pw-123456")
    ui.p.click("#auth-user-submit")
    ui.p.wait_for_selector(f"#auth-users td:text-is('{user}')")
    ui.p.click(f"button[data-delete='{user}']")
    ui.confirm()
    ui.p.wait_for_selector(f"#auth-users td:text-is('{user}')", state="detached")

    ui.p.click("#tab-acl")
    topic = unique("secret")
    ui.p.select_option("#acl-form-action", "publish")
    ui.p.select_option("#acl-form-permission", "deny")
    ui.p.fill("#acl-form-topic", f"{topic}/#")
    # Checked before sending: a rule for a username needs one.
    ui.p.select_option("#acl-form-who", "username")
    ui.p.click("#acl-form-submit")
    ui.p.wait_for_selector("#acl-form ~ .error:has-text('whom')")
    ui.p.select_option("#acl-form-who", "all")
    ui.p.click("#acl-form-submit")
    ui.p.wait_for_selector(f"#acl-rules td:text-is('{topic}/#')")
    denied = mosquitto_pub(dash, "-V", "5", "-q", "1", "-t", f"{topic}/1", "-m", "x")
    assert "not authorized" in (denied.stdout + denied.stderr).lower(), denied
    allowed = mosquitto_pub(dash, "-V", "5", "-q", "1", "-t", f"open/{topic}", "-m", "x")
    assert allowed.returncode == 0, allowed
    ui.p.locator("#acl-rules tr", has_text=f"{topic}/#").locator("button[data-delete]").click()
    ui.confirm()
    ui.p.wait_for_selector(f"#acl-rules td:text-is('{topic}/#')", state="detached")
    again = mosquitto_pub(dash, "-V", "5", "-q", "1", "-t", f"{topic}/1", "-m", "x")
    assert again.returncode == 0 and "not authorized" not in (again.stdout + again.stderr).lower()


def test_banned_entry_created_edited_and_deleted(ui, dash):
    ui.open("access/banned")
    who = unique("bad")
    ui.p.click("#tab-banned")
    ui.p.fill("#ban-who", who)
    ui.p.fill("#ban-reason", "test")
    ui.p.click("#ban-submit")
    ui.p.wait_for_selector(f"#banned-list td:text-is('{who}')")
    ui.p.click(f"button[aria-label='Edit ban {who}']")
    ui.p.fill("#ban-edit-reason", "edited")
    ui.p.click("#ban-edit-submit")
    ui.p.wait_for_selector("#banned-list td:text-is('edited')")
    ui.p.click(f"button[data-delete='{who}']")
    ui.confirm()
    ui.p.wait_for_selector(f"#banned-list td:text-is('{who}')", state="detached")


def test_websocket_page_subscribes_and_publishes(ui, dash, clients):
    ui.open("websocket")
    ui.p.fill("#ws-name", "local")
    ui.p.fill("#ws-url", f"ws://127.0.0.1:{dash.ws_port}/mqtt")
    ui.p.click("#ws-save")
    ui.p.click("#ws-connect")
    ui.p.wait_for_selector("#ws-status:text-is('connected')")
    ui.p.fill("#ws-sub-topic", "t/#")
    ui.p.select_option("#ws-sub-qos", "1")
    ui.p.click("#ws-sub-submit")
    ui.p.wait_for_selector("#ws-log .msg.sys:has-text('Subscribed to t/#')")
    payload = unique("from-mosquitto")
    r = mosquitto_pub(dash, "-t", "t/1", "-m", payload)
    assert r.returncode == 0, r
    ui.p.wait_for_selector(f"#ws-log .msg.in:has-text('{payload}')")

    watcher = clients(dash, V5)
    watcher.subscribe("web/out", qos=1)
    ui.p.fill("#ws-pub-topic", "web/out")
    ui.p.fill("#ws-pub-payload", "hello from the dashboard")
    ui.p.select_option("#ws-pub-qos", "1")
    ui.p.click("#ws-pub-submit")
    ui.p.wait_for_selector("#ws-log .msg.out:has-text('hello from the dashboard')")
    m = watcher.wait_messages(1, "web/out")[0]
    assert (m.payload, m.qos) == (b"hello from the dashboard", 1)
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.p.screenshot(path=str(SHOTS / "websocket-connected-1280.png"), full_page=True)
    # The saved connection survives a reload (localStorage).
    ui.p.reload()
    ui.p.wait_for_selector("#ws-connections button[data-conn='local']")


def test_retained_message_viewed_and_deleted(ui, dash, clients):
    prefix = unique("keep")
    topic, sentinel = f"{prefix}/a", f"{prefix}/z"
    c = clients(dash, V5)
    c.publish(topic, b'{"temp":21.5,"unit":"C"}', qos=1, retain=True)
    c.publish(sentinel, b"sentinel", qos=1, retain=True)
    ui.open("retained")
    ui.p.fill("#retained-topic", topic)
    ui.p.click("#retained-search-submit")
    ui.p.click(f"button[data-view='{topic}']")
    ui.p.wait_for_selector("#payload-view:has-text('\"temp\": 21.5')")
    ui.p.click("#payload-hex")
    ui.p.wait_for_selector("#payload-view:has-text('7b 22 74 65 6d 70')")
    ui.p.click("#payload-text")
    ui.p.wait_for_selector("#payload-view:text-is('{\"temp\":21.5,\"unit\":\"C\"}')")
    with ui.p.expect_response(lambda r: r.request.method == "DELETE" and "/retainer/message/" in r.url):
        ui.p.click(f"button[data-delete='{topic}']")
        ui.confirm()
    ui.p.wait_for_selector(f"button[data-delete='{topic}']", state="detached")
    assert api(dash, "GET", f"/mqtt/retainer/message/{requests.utils.quote(topic, safe='')}").status_code == 404
    # A new mosquitto_sub gets retained messages in topic order: the first it gets is the
    # sentinel (".../z"), so ".../a" is gone.
    exe = shutil.which("mosquitto_sub")
    if exe is None:
        pytest.fail("mosquitto_sub not found: apt-get install mosquitto-clients")
    r = subprocess.run([exe, "-h", dash.host, "-p", str(dash.port), "-t", f"{prefix}/#", "-v",
                        "-C", "1", "-W", "10"], capture_output=True, text=True, timeout=20)
    assert r.stdout.strip() == f"{sentinel} sentinel", r


def test_subscriptions_list_filters(ui, dash, clients):
    c = clients(dash, V5)
    topic = unique("subs")
    c.subscribe(f"{topic}/+", qos=2)
    ui.open("subscriptions")
    ui.p.fill("#sub-clientid", c.client_id)
    ui.p.click("#subscription-search-submit")
    ui.p.wait_for_selector(f"#subscription-list td:text-is('{topic}/+')")


def test_topics_list(ui, dash, clients):
    if not has_route(dash, "/api/v5/topics"):
        pytest.skip("this broker's OpenAPI document has no /api/v5/topics (not built yet)")
    c = clients(dash, V5)
    topic = unique("topics")
    c.subscribe(f"{topic}/x", qos=0)
    ui.open("subscriptions")
    ui.p.fill("#topic-filter", f"{topic}/x")
    ui.p.click("#topic-search-submit")
    ui.p.wait_for_selector(f"#topic-list td:text-is('{topic}/x')")


def test_listener_stop_and_start(ui, dash):
    if not has_route(dash, "/api/v5/listeners/{id}/stop"):
        pytest.skip("this broker's OpenAPI document has no /api/v5/listeners/{id}/stop "
                    "(not built yet)")
    ui.p.wait_for_selector("#listeners td:has-text('ws')")
    row = ui.p.locator("#listeners tr", has_text=f"127.0.0.1:{dash.ws_port}")
    row.get_by_role("button", name="Stop").click()
    row.locator(".badge:text-is('stopped')").wait_for()
    row.get_by_role("button", name="Start").click()
    row.locator(".badge:text-is('running')").wait_for()


def test_trace_started_listed_stopped_deleted(ui, dash):
    if not has_route(dash, "/api/v5/trace"):
        pytest.skip("this broker's OpenAPI document has no /api/v5/trace (not built yet)")
    ui.open("trace")
    name = unique("tr").replace("/", "_")
    ui.p.fill("#trace-name", name)
    ui.p.select_option("#trace-type", "clientid")
    ui.p.fill("#trace-target", "someone")
    ui.p.click("#trace-submit")
    ui.p.wait_for_selector(f"#trace-list td:text-is('{name}')")
    row = ui.p.locator("#trace-list tr", has_text=name)
    with ui.p.expect_response(lambda r: r.url.endswith(f"/trace/{name}/stop")):
        row.get_by_role("button", name=f"Stop {name}").click()
    ui.p.locator("#trace-list tr", has_text=name).get_by_role(
        "button", name=f"Stop {name}").and_(ui.p.locator("[disabled]")).wait_for()
    row.get_by_role("button", name=f"Delete {name}").click()
    ui.confirm()
    ui.p.wait_for_selector(f"#trace-list td:text-is('{name}')", state="detached")


def test_language_switches_to_chinese(ui):
    ui.p.select_option("#lang", "zh")
    ui.p.wait_for_selector("nav a[data-page='overview']:text-is('概览')")
    nav = ui.p.locator("#nav").inner_text()
    assert "客户端" in nav and "模块" in nav, nav
    assert ui.p.evaluate("document.documentElement.lang") == "zh-CN"
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.p.screenshot(path=str(SHOTS / "overview-zh-1280.png"), full_page=True)
    # Kept across a reload.
    ui.p.reload()
    ui.p.wait_for_selector("nav a[data-page='modules']:text-is('模块')")
    ui.p.select_option("#lang", "en")
    ui.p.wait_for_selector("nav a[data-page='overview']:text-is('Overview')")


@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_every_page_fits_and_is_labelled(browser, dash, clients, width, height):
    clients(dash, V5)  # something in the lists
    page = Page(browser, dash.base, width, height)
    page.login()
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in PAGES:
        page.open(name)
        page.p.wait_for_selector("main h1")
        if name == "overview":
            page.p.wait_for_function("Number(document.getElementById('main').dataset.polled) >= 2")
        else:
            page.p.wait_for_load_state("networkidle")
        overflow = page.p.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name} at {width} px overflows by {overflow} px"
        unlabelled = page.p.evaluate("""() => [...document.querySelectorAll(
            'input, select, textarea, button')].filter((el) => {
              if (el.closest('dialog') && !el.closest('dialog').open) return false;
              const named = el.getAttribute('aria-label') || el.labels?.length
                || (el.tagName === 'BUTTON' && el.textContent.trim());
              return !named;
            }).map((el) => el.outerHTML.slice(0, 120))""")
        assert not unlabelled, f"controls without an accessible label on {name}: {unlabelled}"
        page.p.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.close()


def test_whole_dashboard_under_1_mb_compressed(dash):
    """Every embedded file, fetched as a browser would (gzip accepted), added up."""
    total = 0
    files: dict[str, pathlib.Path] = {}
    for folder, prefix in ((REPO / "web" / "dashboard", ""), (REPO / "web" / "vendor", "vendor/")):
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                files[prefix + f.relative_to(folder).as_posix()] = f
    for path, on_disk in files.items():
        r = requests.get(f"{dash.base}/{path}", headers={"Accept-Encoding": "gzip"}, stream=True,
                         timeout=10)
        assert r.status_code == 200, path
        raw = r.raw.read(decode_content=False)
        body = gzip.decompress(raw) if r.headers.get("Content-Encoding") == "gzip" else raw
        assert body == on_disk.read_bytes(), f"{path} is not what web/ holds (rebuild?)"
        total += len(raw)
    print(f"dashboard: {len(files)} files, {total} bytes as served (gzip)")
    assert total < 1_000_000, f"{total} bytes compressed"
    # Caching: an ETag, and 304 when it matches.
    r = requests.get(f"{dash.base}/", timeout=10)
    assert r.headers["Content-Type"].startswith("text/html")
    etag = r.headers["ETag"]
    assert requests.get(f"{dash.base}/", headers={"If-None-Match": etag}, timeout=10).status_code == 304
    assert requests.get(f"{dash.base}/js/app.js", timeout=10).headers["Content-Type"].startswith("text/javascript")
    # The API is not shadowed by the dashboard.
    assert requests.get(f"{dash.base}/api/v5/status?format=json", timeout=10).json()["version"]
    assert requests.get(f"{dash.base}/api/v5/no-such", timeout=10).status_code in (401, 404)
