"""The hot path (app/hotpath.py) answers issue, next, finish and call-next exactly as the FastAPI
routes do: the same script of requests, good and bad, runs against an app with it and an app
without it, on two fresh stores with the same clock, and every reply must match."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import app.hotpath
from app.auth import Role
from app.bootstrap import create_user
from app.db.session import create_engine
from app.db.store import Store
from app.hotpath import HotPath
from app.main import create_app

from .conftest import Clock, client_for, password_of, settings_for

ORIGIN = "http://kiosk.example"
COMPARED_HEADERS = (
    "content-type",
    "www-authenticate",
    "retry-after",
    "access-control-allow-origin",
    "access-control-allow-credentials",
)


@asynccontextmanager
async def hall_app(sqlite_template: Path, directory: Path, *, hot: bool) -> AsyncIterator[Any]:
    path = directory / ("hot.db" if hot else "plain.db")
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    application: FastAPI = create_app(settings_for(url, allowed_origins=[ORIGIN]), clock=Clock())
    if not hot:
        application.user_middleware = [
            m for m in application.user_middleware if m.cls is not HotPath
        ]
    engine = create_engine(url)
    async with (
        application.router.lifespan_context(application),
        client_for(application) as client,
        AsyncExitStack(),
    ):
        try:
            await create_user(Store(engine), "root", password_of("root"), Role.ADMIN, None)
            yield client, Store(engine)
        finally:
            await engine.dispose()


def reply_of(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    """Status, the headers that matter, and the body without its random customer tokens."""

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ("<token>" if k == "token" else scrub(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    headers = {
        name: response.headers[name] for name in COMPARED_HEADERS if name in response.headers
    }
    try:
        body = scrub(response.json())
    except ValueError:
        body = response.text
    return response.status_code, headers, body


async def script(client: httpx.AsyncClient, store: Store) -> list[tuple[int, dict[str, str], Any]]:
    async def token(username: str) -> str:
        reply = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": password_of(username)}
        )
        assert reply.status_code == 200, reply.text
        return str(reply.json()["access_token"])

    admin = {"Authorization": f"Bearer {await token('root')}"}
    api = "/api/v1/branches/b1"
    setup = [
        ("/api/v1/branches", {"id": "b1", "name": "Hall"}),
        (f"{api}/services", {"code": "A", "name": "A"}),
        (f"{api}/services", {"code": "B", "name": "B"}),
        (f"{api}/counters", {"number": 1, "name": "1", "tiers": [["A", "B"]]}),
        (f"{api}/counters", {"number": 2, "name": "2", "tiers": [["B"]]}),
    ]
    for path, body in setup:
        assert (await client.post(path, headers=admin, json=body)).status_code == 201
    await create_user(store, "clerk", password_of("clerk"), Role.CLERK, "b1")
    clerk = {"Authorization": f"Bearer {await token('clerk')}", "Origin": ORIGIN}
    pairing = await client.post(
        f"{api}/devices", headers=admin, json={"kind": "display", "name": "lobby"}
    )
    assert pairing.status_code == 201, pairing.text
    paired = await client.post(
        "/api/v1/devices/pair", json={"code": pairing.json()["pairing_code"]}
    )
    display = {"Authorization": f"Bearer {paired.json()['device_token']}"}

    tickets = f"{api}/tickets"
    requests: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        # issue: authentication and authorization
        (tickets, {}, {"json": {"service": "A"}}),
        (tickets, {"Authorization": "Basic abc"}, {"json": {"service": "A"}}),
        (tickets, {"Authorization": "Bearer not-a-token"}, {"json": {"service": "A"}}),
        (tickets, {"Authorization": "Bearer"}, {"json": {"service": "A"}}),
        (tickets, display, {"json": {"service": "A"}}),
        # issue: bodies
        (tickets, clerk, {"json": {"service": "A"}}),
        (tickets, clerk, {"json": {"service": "B", "priority": "vip", "channel": "mobile"}}),
        (tickets, clerk, {"json": {"service": "Z"}}),
        (tickets, clerk, {"json": {"service": "A", "extra": 1}}),
        (tickets, clerk, {"json": {"service": "a"}}),
        (tickets, clerk, {"json": None}),
        (tickets, clerk, {"content": b""}),
        (tickets, clerk, {"content": b"{not json"}),
        (tickets, clerk, {"content": b"[" * 5000 + b"]" * 5000}),
        (tickets, {**clerk, "Content-Type": "text/plain"}, {"content": b'{"service": "A"}'}),
        (
            tickets,
            {**clerk, "Content-Type": "application/json; charset=utf-8"},
            {"content": b'{"service": "A"}'},
        ),
        ("/api/v1/branches/nowhere/tickets", clerk, {"json": {"service": "A"}}),
        # issue: idempotency
        (tickets, {**clerk, "Idempotency-Key": "k-1"}, {"json": {"service": "A"}}),
        (tickets, {**clerk, "Idempotency-Key": "k-1"}, {"json": {"service": "A"}}),
        (tickets, {**clerk, "Idempotency-Key": "k-1"}, {"json": {"service": "B"}}),
        (tickets, {**clerk, "Idempotency-Key": "k" * 129}, {"json": {"service": "A"}}),
        # counters: closed, then open
        (f"{api}/counters/1/next", clerk, {}),
        (f"{api}/counters/1/call-next", clerk, {}),
        (f"{api}/counters/1/open", clerk, {}),
        (f"{api}/counters/1/next", {}, {}),
        (f"{api}/counters/1/next", display, {}),
        (f"{api}/counters/1/next", clerk, {}),
        (f"{api}/counters/1/next", clerk, {"json": {"outcome": "办结"}}),
        (f"{api}/counters/1/next", clerk, {"json": None}),
        (f"{api}/counters/1/next", clerk, {"json": {"outcome": "x" * 201}}),
        (f"{api}/counters/1/next", clerk, {"json": {"nope": 1}}),
        (f"{api}/counters/1/finish", clerk, {"json": {}}),
        (f"{api}/counters/1/finish", clerk, {}),
        (f"{api}/counters/1/call-next", clerk, {}),
        (f"{api}/counters/1/call-next", clerk, {}),
        (f"{api}/counters/1/finish", {**clerk, "Idempotency-Key": "f-1"}, {"json": {}}),
        (f"{api}/counters/1/finish", {**clerk, "Idempotency-Key": "f-1"}, {"json": {}}),
        (f"{api}/counters/2/call-next", clerk, {}),
        (f"{api}/counters/3/next", clerk, {}),
        (f"{api}/counters/0/next", clerk, {}),
        (f"{api}/counters/007/next", clerk, {}),
        (f"{api}/counters/10000/next", clerk, {}),
        (f"{api}/counters/x/next", clerk, {}),
        (f"{api}/counters/1/call-next", clerk, {}),
        (f"{api}/counters/1/next", clerk, {}),
        (f"{api}/counters/1/next", clerk, {}),
    ]
    replies = []
    for path, headers, kwargs in requests:
        replies.append(reply_of(await client.post(path, headers=headers, **kwargs)))
    replies.append(reply_of(await client.get(f"{api}/queue", headers=admin)))
    return replies


@pytest.fixture
def hot_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the requests the hot path handled itself."""
    calls: list[str] = []
    issue, counter = app.hotpath._issue, app.hotpath._counter

    def spy_issue(*args: Any) -> Any:
        calls.append("issue")
        return issue(*args)

    def spy_counter(*args: Any) -> Any:
        calls.append(args[2])
        return counter(*args)

    monkeypatch.setattr(app.hotpath, "_issue", spy_issue)
    monkeypatch.setattr(app.hotpath, "_counter", spy_counter)
    return calls


async def test_the_hot_path_answers_as_the_routes_do(
    sqlite_template: Path, tmp_path: Path, hot_calls: list[str]
) -> None:
    async with hall_app(sqlite_template, tmp_path, hot=False) as (client, store):
        plain = await script(client, store)
    assert hot_calls == []
    async with hall_app(sqlite_template, tmp_path, hot=True) as (client, store):
        hot = await script(client, store)
    for index, (expected, got) in enumerate(zip(plain, hot, strict=True)):
        assert got == expected, f"reply {index} differs"
    # The hot path did answer the ordinary requests itself (the unusual ones went to FastAPI).
    assert hot_calls.count("issue") >= 10
    assert {"next", "finish", "call-next"} <= set(hot_calls)
    # And the script reached what it meant to: successes, refusals and FastAPI's own 422s.
    statuses = {status for status, _, _ in hot}
    assert {200, 201, 204, 401, 403, 404, 409, 422} <= statuses
