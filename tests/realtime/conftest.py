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
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.typing import Origin
from websockets.uri import parse_uri

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

    async def stalled_socket(self, path: str, token: str | None) -> StalledSocket:
        """A socket that says hello and then never reads (a tiny kernel receive buffer),
        driven with the websockets library's sans-I/O client so that nothing reads for it."""
        raw = socketlib.socket(socketlib.AF_INET, socketlib.SOCK_STREAM)
        raw.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_RCVBUF, 4096)
        raw.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(raw, ("127.0.0.1", self.port)), WAIT)
        protocol = ClientProtocol(parse_uri(self.url + path), origin=Origin(ORIGIN))
        stalled = StalledSocket(raw, protocol)
        protocol.send_request(protocol.connect())
        await stalled.flush()
        while protocol.state is not State.OPEN:
            await stalled.read()
        protocol.send_text(json.dumps({"type": "hello", "token": token, "since": None}).encode())
        await stalled.flush()
        return stalled


class StalledSocket:
    def __init__(self, raw: socketlib.socket, protocol: ClientProtocol) -> None:
        self.raw = raw
        self.protocol = protocol

    async def flush(self) -> None:
        loop = asyncio.get_running_loop()
        for data in self.protocol.data_to_send():
            if data:
                await asyncio.wait_for(loop.sock_sendall(self.raw, data), WAIT)

    async def read(self) -> bool:
        data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.raw, 65536), WAIT)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        return bool(data)

    async def close_code(self) -> int | None:
        """Read everything the server sent, up to its close frame: that frame's code."""
        try:
            for _ in range(1_000_000):
                if self.protocol.close_rcvd is not None or not await self.read():
                    break
                self.protocol.events_received()
            rcvd = self.protocol.close_rcvd
            return rcvd.code if rcvd is not None else None
        finally:
            self.raw.close()


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


@asynccontextmanager
async def hall_server(  # type: ignore[no-untyped-def]
    database_url: str,
    clock: Clock | None = None,
    *,
    send_buffer: int | None = None,
    **overrides: Any,
):
    """The app under uvicorn on 127.0.0.1 and a free port; stopped on exit. ``send_buffer``
    fixes the kernel's send buffer of every accepted socket (Linux grows it to megabytes
    otherwise, which a test would have to fill before a client's reading stops mattering)."""
    clock = clock or Clock()
    app = create_app(settings_for(database_url, **overrides), clock=clock)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    listener = socketlib.socket(socketlib.AF_INET, socketlib.SOCK_STREAM)
    listener.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_REUSEADDR, 1)
    if send_buffer is not None:
        listener.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_SNDBUF, send_buffer)
    listener.bind(("127.0.0.1", 0))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    for _ in range(1000):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = listener.getsockname()[1]
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
        listener.close()
        await engine.dispose()


@pytest.fixture
async def hall(migrated: str) -> AsyncIterator[tuple[HallServer, Hall]]:  # noqa: F811
    """A server with default realtime settings, branches b1 and b2 and their principals."""
    async with hall_server(migrated) as server:
        yield server, await staffed_hall(server.api)


Headers = dict[str, str]


async def issue_many(api: Api, headers: Headers, count: int, branch: str = "b1") -> list[Message]:
    """``count`` tickets of service A, issued 50 at a time (they share commits)."""
    tickets: list[Message] = []
    while len(tickets) < count:
        chunk = min(50, count - len(tickets))
        tickets += await asyncio.gather(*(api.issue(headers, branch) for _ in range(chunk)))
    return tickets


async def open_counter(api: Api, headers: Headers, number: int, branch: str = "b1") -> None:
    response = await api.counter(headers, number, "open", branch)
    assert response.status_code == 200, response.text


async def serve_next(api: Api, headers: Headers, number: int, branch: str = "b1") -> None:
    """Call the next ticket at a counter and finish it at once."""
    called = await api.counter(headers, number, "call-next", branch)
    assert called.status_code == 200, called.text
    finished = await api.counter(headers, number, "finish", branch, json={})
    assert finished.status_code == 200, finished.text


async def serve_many(api: Api, headers: Headers, count: int) -> None:
    """``count`` call-and-finish rounds on counters 1 and 2 in turn (two events each)."""
    for i in range(count):
        await serve_next(api, headers, 1 + i % 2)


async def latest_seq(api: Api, headers: Headers, branch: str = "b1") -> int:
    response = await api.get(f"/branches/{branch}/queue", headers)
    assert response.status_code == 200, response.text
    seq: int = response.json()["seq"]
    return seq


async def logged_events(
    api: Api, headers: Headers, since: int, branch: str = "b1"
) -> list[Message]:
    response = await api.get(
        f"/branches/{branch}/events", headers, params={"since": since, "limit": 1000}
    )
    assert response.status_code == 200, response.text
    events: list[Message] = response.json()["events"]
    return events
