"""An app per test on a fresh store (SQLite; PostgreSQL too when QUEUEHALL_TEST_DATABASE_URL is
set), driven through ASGI with httpx, with its lifespan running.

Builders, not giant fixtures: :func:`running_app` starts an app on a store (several may run one
after the other on the same store, for restarts), :func:`make_branch` adds a branch with two
services and two counters, :func:`staffed_hall` two branches with a principal of every kind.
Time is a :class:`Clock` the test moves by hand.

Stores: each test gets an empty, migrated store, on SQLite always and on PostgreSQL too when
``QUEUEHALL_TEST_DATABASE_URL`` names a server. The migrations run once per session: a SQLite
test copies a migrated template file, a PostgreSQL test empties the session's migrated database
(``TRUNCATE ... RESTART IDENTITY``), which is many times faster than creating and migrating a
database per test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import limits.aio.storage.memory
import limits.aio.strategies
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

import app.ratelimit
from app import auth
from app.auth import Role
from app.bootstrap import create_user
from app.db import models
from app.db.migrate import upgrade_sync
from app.db.session import create_engine
from app.db.store import Store
from app.main import create_app
from app.settings import Settings

PG_URL = os.environ.get("QUEUEHALL_TEST_DATABASE_URL")
STORES = ["sqlite"] + (["postgresql"] if PG_URL else [])
SECRET = "test-secret-key-that-is-long-enough-for-hs256"
# 09:00 on 2025-11-20 in Shanghai
MORNING = datetime(2025, 11, 20, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
DEFAULT_ADDRESS = "127.0.0.1"

Headers = dict[str, str]


class Clock:
    """The app's clock: stands still unless ``step`` is set or the test moves it."""

    def __init__(self, start: float = MORNING, step: float = 0.0) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with its production cost takes half a second per hash on a small machine; the
    tests sign in hundreds of times. Same algorithm, lowest cost."""
    quick = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(auth, "_hasher", quick)
    monkeypatch.setattr(auth, "_DUMMY_HASH", quick.hash("queuehall-no-such-user"))


class PinnedWallClock:
    """Stands in for the ``time`` module where rate limiting reads the wall clock."""

    def __init__(self) -> None:
        # 30 s into a minute (and into an hour): every window of the tests' limits is whole.
        self.now = (time.time() // 3600) * 3600 + 1830.0

    def time(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def rate_limits_in_the_middle_of_their_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sliding window counter weighs the previous fixed window by how much of it is left,
    rounded down: a burst that straddles a window's end may get one hit more than the limit.
    Tests assert exact counts, so the limiter's clock stands still mid-window."""
    clock = PinnedWallClock()
    for module in (limits.aio.storage.memory, limits.aio.strategies, app.ratelimit):
        monkeypatch.setattr(module, "time", clock)


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    store: Store
    clock: Clock
    _clients: AsyncExitStack = field(default_factory=AsyncExitStack)

    @property
    def settings(self) -> Settings:
        settings: Settings = self.app.state.services.settings
        return settings

    async def login(self, username: str, password: str) -> Headers:
        response = await self.sign_in(username, password)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def sign_in(self, username: str, password: str) -> httpx.Response:
        return await self.client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )

    async def user(self, username: str, role: Role, branch: str | None) -> Headers:
        await create_user(self.store, username, password_of(username), role, branch)
        return await self.login(username, password_of(username))

    async def device(self, manager: Headers, branch: str, kind: str, name: str = "") -> Headers:
        """A paired device of ``kind`` at ``branch``: its bearer headers."""
        code = await self.pairing_code(manager, branch, kind, name)
        paired = await self.client.post("/api/v1/devices/pair", json={"code": code})
        assert paired.status_code == 200, paired.text
        return {"Authorization": f"Bearer {paired.json()['device_token']}"}

    async def pairing_code(self, manager: Headers, branch: str, kind: str, name: str = "") -> str:
        body = {"kind": kind, "name": name or kind}
        if kind == "evaluator":
            body["counter"] = 1  # an evaluator stands at one counter
        created = await self.post(f"/branches/{branch}/devices", manager, json=body)
        assert created.status_code == 201, created.text
        code: str = created.json()["pairing_code"]
        return code

    async def request(
        self, method: str, path: str, headers: Headers | None = None, **kwargs: Any
    ) -> httpx.Response:
        return await self.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    async def post(
        self, path: str, headers: Headers | None = None, **kwargs: Any
    ) -> httpx.Response:
        return await self.request("POST", path, headers, **kwargs)

    async def put(self, path: str, headers: Headers | None = None, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, headers, **kwargs)

    async def delete(self, path: str, headers: Headers | None = None) -> httpx.Response:
        return await self.request("DELETE", path, headers)

    async def get(self, path: str, headers: Headers | None = None, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, headers, **kwargs)

    async def at(self, address: str) -> Api:
        """The same app, reached from another client address."""
        client = await self._clients.enter_async_context(client_for(self.app, address))
        return Api(self.app, client, self.store, self.clock, self._clients)

    async def issue(self, headers: Headers, branch: str = "b1", **body: Any) -> dict[str, Any]:
        response = await self.post(
            f"/branches/{branch}/tickets", headers, json={"service": "A", **body}
        )
        assert response.status_code == 201, response.text
        ticket: dict[str, Any] = response.json()
        return ticket

    async def counter(
        self, headers: Headers, number: int | str, command: str, branch: str = "b1", **kwargs: Any
    ) -> httpx.Response:
        return await self.post(f"/branches/{branch}/counters/{number}/{command}", headers, **kwargs)


def password_of(username: str) -> str:
    return f"pw-{username}-secret"


def client_for(app: FastAPI, address: str = DEFAULT_ADDRESS) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def settings_for(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": SECRET,
        "rate_limit_issue": "10000/minute",
        "rate_limit_public": "10000/minute",
        "rate_limit_booking_address": "10000/minute",
        "rate_limit_booking_customer": "10000/minute",
        "rate_limit_check_in_failures": "10000/minute",
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def running_app(
    database_url: str,
    clock: Clock | None = None,
    **overrides: Any,
) -> AsyncIterator[Api]:
    """An app on the (migrated) store at ``database_url``, lifespan started, stopped on exit."""
    clock = clock or Clock()
    app = create_app(settings_for(database_url, **overrides), clock=clock)
    async with (
        app.router.lifespan_context(app),
        client_for(app) as client,
        AsyncExitStack() as clients,
    ):
        engine = create_engine(database_url)
        try:
            yield Api(app, client, Store(engine), clock, clients)
        finally:
            await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "queuehall.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    return path


async def _on_server(statement: str) -> None:
    assert PG_URL is not None
    server = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await server.dispose()


@pytest.fixture(scope="session")
def postgresql_database() -> Iterator[str]:
    """A migrated database of its own for this session's API tests."""
    assert PG_URL is not None
    name = f"qh_api_{uuid.uuid4().hex[:12]}"
    asyncio.run(_on_server(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        upgrade_sync(url)
        yield url
    finally:
        asyncio.run(_on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "queuehall.db"
        shutil.copyfile(template, path)
        assert not template.with_name(template.name + "-wal").exists()  # all of it is in the file
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgresql_database")
    return url


async def empty_postgresql(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in models.Base.metadata.sorted_tables)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
async def migrated(store_url: str) -> str:
    """The URL of an empty store at the newest schema (SQLite, or PostgreSQL when set up)."""
    if not store_url.startswith("sqlite"):
        await empty_postgresql(store_url)
    return store_url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def api(migrated: str, clock: Clock) -> AsyncIterator[Api]:
    async with running_app(migrated, clock) as running:
        yield running


async def make_branch(api: Api, admin: Headers, branch: str = "b1") -> None:
    """A branch with services A and B and counters 1 (A then B) and 2 (B, A)."""
    created = await api.post("/branches", admin, json={"id": branch, "name": "测试网点"})
    assert created.status_code == 201, created.text
    for code in ("A", "B"):
        response = await api.post(
            f"/branches/{branch}/services", admin, json={"code": code, "name": f"业务{code}"}
        )
        assert response.status_code == 201, response.text
    for number, tiers in ((1, [["A"], ["B"]]), (2, [["B", "A"]])):
        response = await api.post(
            f"/branches/{branch}/counters", admin, json={"number": number, "tiers": tiers}
        )
        assert response.status_code == 201, response.text


DEVICE_KINDS = ("kiosk", "display", "counter", "evaluator")


@dataclass
class Hall:
    """Branches b1 and b2 and a signed-in principal of every kind. ``own`` holds b1's principals
    by name (admin, branch-admin, manager, clerk, and one device of each kind); ``other`` holds
    b2's manager and clerk and a kiosk of b2."""

    own: dict[str, Headers]
    other: dict[str, Headers]

    @property
    def admin(self) -> Headers:
        return self.own["admin"]

    @property
    def manager(self) -> Headers:
        return self.own["manager"]

    @property
    def clerk(self) -> Headers:
        return self.own["clerk"]


async def staffed_hall(api: Api) -> Hall:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin, "b1")
    await make_branch(api, admin, "b2")
    own = {
        "admin": admin,
        "branch-admin": await api.user("b1-admin", Role.ADMIN, "b1"),
        "manager": await api.user("b1-manager", Role.MANAGER, "b1"),
        "clerk": await api.user("b1-clerk", Role.CLERK, "b1"),
    }
    for kind in DEVICE_KINDS:
        own[kind] = await api.device(own["manager"], "b1", kind)
    other = {
        "manager": await api.user("b2-manager", Role.MANAGER, "b2"),
        "clerk": await api.user("b2-clerk", Role.CLERK, "b2"),
    }
    other["kiosk"] = await api.device(other["manager"], "b2", "kiosk")
    return Hall(own, other)


def assert_error(response: httpx.Response, status: int, error: str | None = None) -> None:
    """The response is ``status`` with the ``{"error", "detail"}`` body (and that error name)."""
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error", "detail"}, payload
    assert isinstance(payload["detail"], str)
    assert payload["detail"].strip(), payload
    if error is not None:
        assert payload["error"] == error, payload
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), response.headers
