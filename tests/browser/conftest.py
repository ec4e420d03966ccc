"""The screens in a real browser: the app served by uvicorn on a loopback port (in a thread of
the test process, on a fresh SQLite store), headless Chromium from the Debian ``chromium``
package driven by Playwright (no browser download), and the REST API called with httpx as the
rest of the hall (manager, clerk, kiosk) would.

In the page, ``window.speechSynthesis`` is replaced by a recorder (``window.__spoken``: one
entry per utterance handed to it) and ``window.print`` by a counter (``window.__printed``):
headless Chromium has no voices and no printer. Screenshots go to ``artifacts/browser/``.

The app's clock is the real clock plus ``server.clock.skew``, so that a test can make a call
"40 seconds old" without waiting 40 seconds.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from app import auth
from app.auth import Role
from app.bootstrap import create_user
from app.db.migrate import upgrade_sync
from app.db.session import create_engine
from app.db.store import Store
from app.main import create_app
from app.settings import Settings

ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "browser-test-secret-key-long-enough-for-hs256"
ADMIN = ("root", "root-password-123")
PAGE_STUBS = """
(() => {
  window.__spoken = [];
  window.__printed = 0;
  class RecordedUtterance {
    constructor(text) {
      this.text = text; this.lang = ""; this.rate = 1; this.pitch = 1; this.volume = 1;
      this.voice = null; this.onstart = null; this.onend = null; this.onerror = null;
    }
  }
  window.SpeechSynthesisUtterance = RecordedUtterance;
  const synth = {
    speaking: false, pending: false, paused: false,
    speak(utterance) {
      window.__spoken.push({ text: utterance.text, lang: utterance.lang, at: Date.now() });
      this.speaking = true;
      setTimeout(() => {
        if (utterance.onstart) utterance.onstart({});
        this.speaking = false;
        if (utterance.onend) utterance.onend({});
      }, 30);
    },
    cancel() {}, pause() {}, resume() {},
    getVoices() { return []; },
    addEventListener() {}, removeEventListener() {},
  };
  Object.defineProperty(window, "speechSynthesis", { value: synth, configurable: true });
  window.print = () => { window.__printed += 1; };
  window.__vibrations = [];
  Object.defineProperty(navigator, "vibrate", {
    value: (pattern) => { window.__vibrations.push(pattern); return true; },
    configurable: true,
  });
})();
"""


class SkewedClock:
    """The real clock, moved forward by ``skew`` seconds."""

    def __init__(self) -> None:
        self.skew = 0.0

    def __call__(self) -> float:
        return time.time() + self.skew


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """The app under uvicorn in a thread; ``stop`` and ``start`` again on the same port and store
    (a restart, or the hall's network going away and coming back)."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.clock = SkewedClock()
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        app = create_app(self.settings, clock=self.clock)
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                # as `queuehall serve` runs it
                ws_max_size=self.settings.ws_max_message_bytes,
                ws_per_message_deflate=False,
            )
        )
        self._thread = threading.Thread(target=self._uvicorn.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._uvicorn.started:
            assert self._thread.is_alive(), "the server did not start"
            assert time.monotonic() < deadline, "the server did not start within 30 s"
            time.sleep(0.05)

    def stop(self) -> None:
        assert self._uvicorn is not None
        assert self._thread is not None
        self._uvicorn.should_exit = True
        self._thread.join(timeout=15)
        assert not self._thread.is_alive(), "the server did not stop within 15 s"

    def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        expect: int | None = None,
        **kwargs: Any,
    ) -> Any:
        response = self.http.request(method, f"/api/v1{path}", headers=headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json() if response.content else None

    def login(self, username: str, password: str) -> dict[str, str]:
        reply = self.call(
            "POST", "/auth/token", expect=200, data={"username": username, "password": password}
        )
        return {"Authorization": f"Bearer {reply['access_token']}"}

    def pairing_code(
        self, manager: dict[str, str], kind: str, branch: str = "b1", counter: int | None = None
    ) -> str:
        body: dict[str, Any] = {"kind": kind, "name": kind}
        if counter is not None:
            body["counter"] = counter
        created = self.call("POST", f"/branches/{branch}/devices", manager, 201, json=body)
        code: str = created["pairing_code"]
        return code

    def device(self, manager: dict[str, str], kind: str, branch: str = "b1") -> str:
        code = self.pairing_code(manager, kind, branch)
        token: str = self.call("POST", "/devices/pair", expect=200, json={"code": code})[
            "device_token"
        ]
        return token

    def issue(self, headers: dict[str, str], service: str = "A", **body: Any) -> dict[str, Any]:
        ticket: dict[str, Any] = self.call(
            "POST", "/branches/b1/tickets", headers, 201, json={"service": service, **body}
        )
        return ticket

    def counter(self, headers: dict[str, str], number: int, command: str, **kwargs: Any) -> Any:
        return self.call("POST", f"/branches/b1/counters/{number}/{command}", headers, **kwargs)

    def queue(self, headers: dict[str, str]) -> dict[str, Any]:
        queue: dict[str, Any] = self.call("GET", "/branches/b1/queue", headers, 200)
        return queue

    def event_types(self, headers: dict[str, str]) -> list[str]:
        events = self.call("GET", "/branches/b1/events?limit=1000", headers, 200)["events"]
        return [e["type"] for e in events]


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server runs in this process: Argon2 at its lowest cost, as in the API tests."""
    quick = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(auth, "_hasher", quick)
    monkeypatch.setattr(auth, "_DUMMY_HASH", quick.hash("queuehall-no-such-user"))


async def add_admin(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await create_user(Store(engine), ADMIN[0], ADMIN[1], Role.ADMIN, None)
    finally:
        await engine.dispose()


def prepare_store(database_url: str) -> None:
    upgrade_sync(database_url)
    asyncio.run(add_admin(database_url))


def in_own_thread(target: Any, *args: Any) -> None:
    """Run ``target`` in a thread of its own: Playwright's sync API keeps an event loop running
    in the test's thread, where ``asyncio.run`` refuses to start another."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target(*args)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'queuehall.db'}"
    in_own_thread(prepare_store, database_url)
    port = free_port()
    settings = Settings(
        database_url=database_url,
        secret_key=SECRET,
        allowed_origins=[f"http://127.0.0.1:{port}"],
        rate_limit_issue="10000/minute",
        rate_limit_public="10000/minute",
    )
    running = Server(settings, port)
    running.start()
    try:
        yield running
    finally:
        running.http.close()
        running.stop()


@dataclass
class Hall:
    """Branch b1 ("第一网点") with services A (个人业务, two materials) and B (对公业务), counters 1
    (A, then B) and 2 (B, A), a manager and a clerk."""

    server: Server
    admin: dict[str, str]
    manager: dict[str, str]
    clerk: dict[str, str]
    clerk_login: tuple[str, str]


@pytest.fixture
def hall(server: Server) -> Hall:
    admin = server.login(*ADMIN)
    server.call("POST", "/branches", admin, 201, json={"id": "b1", "name": "第一网点"})
    services = (
        {"code": "A", "name": "个人业务", "name_en": "Personal", "materials": ["身份证", "银行卡"]},
        {"code": "B", "name": "对公业务", "name_en": "Business"},
    )
    for service in services:
        server.call("POST", "/branches/b1/services", admin, 201, json=service)
    for number, tiers in ((1, [["A"], ["B"]]), (2, [["B", "A"]])):
        server.call(
            "POST", "/branches/b1/counters", admin, 201, json={"number": number, "tiers": tiers}
        )
    for username, role in (("manager1", "manager"), ("clerk1", "clerk")):
        server.call(
            "POST",
            "/branches/b1/staff",
            admin,
            201,
            json={"username": username, "password": f"{username}-password", "role": role},
        )
    return Hall(
        server,
        admin,
        server.login("manager1", "manager1-password"),
        server.login("clerk1", "clerk1-password"),
        ("clerk1", "clerk1-password"),
    )


# Per module, not per session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, which the async tests of other folders cannot share.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert CHROMIUM.exists(), "install Debian's chromium (apt-get install chromium); .ci/run does"
    launched = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield launched
    launched.close()


@contextmanager
def page_errors_fail_the_test(context: BrowserContext) -> Iterator[None]:
    """An uncaught error in a page's script, or anything the Content-Security-Policy blocked,
    fails the test that saw it."""
    errors: list[str] = []

    def watch(page: Page) -> None:
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        page.on(
            "console",
            lambda message: (
                errors.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text
                else None
            ),
        )

    context.on("page", watch)
    yield
    assert not errors, "\n".join(errors)


def new_context(browser: Browser, server: Server, **options: Any) -> Iterator[BrowserContext]:
    # The browser's own time zone is not the hall's: screens must show the branch's time.
    context = browser.new_context(base_url=server.url, locale="zh-CN", timezone_id="UTC", **options)
    context.add_init_script(PAGE_STUBS)
    context.set_default_timeout(10_000)
    with page_errors_fail_the_test(context):
        yield context
    context.close()


@pytest.fixture
def context(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    yield from new_context(browser, server, viewport={"width": 1920, "height": 1080})


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
