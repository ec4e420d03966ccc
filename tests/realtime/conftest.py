"""A real uvicorn server on a free loopback port (in this test's event loop), driven over HTTP
with httpx and over WebSockets with the ``websockets`` client.

:func:`hall_server` starts the app on a migrated store (SQLite; PostgreSQL too when
``QUEUEHALL_TEST_DATABASE_URL`` is set) with the settings a test overrides (small intervals and
queues), and gives an :class:`~tests.api.conftest.Api` whose client talks to the real server,
plus :meth:`HallServer.socket` to open a socket and say hello. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import socket as socketlib
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.db.session import create_engine
from app.db.store import Store
from app.main import create_app
from tests.api.conftest import (  # noqa: F401  (fixtures: a migrated store on both tiers)
    Api,
    Clock,
    Hall,
    migrated,
    postgresql_database,
    quick_password_hashing,
    settings_for,
    sqlite_template,
    staffed_hall,
    store_url,
)

WAIT = 10.0  # the longest any single expected message may take on a loaded machine
ORIGIN = "http://localhost:8000"

Message = dict[str, Any]


class Socket:
    """One client socket: JSON in and out, every receive bounded."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, message: Message) -> None:
        await self.connection.send(json.dumps(message))

    async def hello(self, token: str | None = None, since: int | None = None) -> None:
        await self.send({"type": "hello", "token": token, "since": since})

    async def recv(self, timeout: float = WAIT) -> Message:
        message: Message = json.loads(await asyncio.wait_for(self.connection.recv(), timeout))
        return message

    async def until(
        self, predicate: Callable[[Message], bool], limit: int = 10_000, timeout: float = WAIT
    ) -> list[Message]:
        """Messages up to and including the first that satisfies ``predicate``."""
        seen = []
        for _ in range(limit):
            message = await self.recv(timeout)
            seen.append(message)
            if predicate(message):
                return seen
        raise AssertionError(f"no matching message in {limit}")

    async def events_until(self, last_seq: int, timeout: float = WAIT) -> list[Message]:
        """Event messages until the one with ``last_seq`` (other message types left out)."""
        messages = await self.until(
            lambda m: m["type"] not in NON_EVENTS and m["seq"] >= last_seq, timeout=timeout
        )
        return [m for m in messages if m["type"] not in NON_EVENTS]

    async def close_code(self, timeout: float = WAIT) -> int | None:
        """Read until the server closes; the close code it sent."""
        try:
            for _ in range(100_000):
                await asyncio.wait_for(self.connection.recv(), timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        raise AssertionError("the server kept sending")


NON_EVENTS = frozenset({"snapshot", "queue_status", "ping", "pong"})


@dataclass
class HallServer:
    api: Api
    port: int
    stack: AsyncExitStack

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def socket(
        self,
        path: str,
        token: str | None = None,
        since: int | None = None,
        *,
        hello: bool = True,
        origin: str | None = ORIGIN,
        **options: Any,
    ) -> Socket:
        connection = await self.stack.enter_async_context(
            connect(
                self.url + path,
                origin=origin,  # type: ignore[arg-type]
                open_timeout=WAIT,
                close_timeout=WAIT,
                ping_interval=None,
                **options,
            )
        )
        socket = Socket(connection)
        if hello:
            await socket.hello(token, since)
        return socket

    async def slow_socket(self, path: str, token: str | None) -> Socket:
        """A socket that will stop reading: a tiny receive buffer, one queued message."""
        raw = socketlib.socket(socketlib.AF_INET, socketlib.SOCK_STREAM)
        raw.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_RCVBUF, 4096)
        raw.setblocking(False)
        await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", self.port))
        return await self.socket(path, token, sock=raw, max_queue=1)


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


@asynccontextmanager
async def hall_server(database_url: str, clock: Clock | None = None, **overrides: Any):  # type: ignore[no-untyped-def]
    """The app under uvicorn on 127.0.0.1 and a free port; stopped on exit."""
    clock = clock or Clock()
    app = create_app(settings_for(database_url, **overrides), clock=clock)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", ws="websockets"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    engine = create_engine(database_url)
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as client,
            AsyncExitStack() as stack,
        ):
            api = Api(app, client, Store(engine), clock)
            yield HallServer(api, port, stack)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
        await engine.dispose()


@pytest.fixture
async def hall(migrated: str) -> AsyncIterator[tuple[HallServer, Hall]]:  # noqa: F811
    """A server with default realtime settings, branches b1 and b2 and their principals."""
    async with hall_server(migrated) as server:
        yield server, await staffed_hall(server.api)
