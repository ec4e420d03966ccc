"""WebSocket endpoints: who may listen where; the protocol itself is in ``app/realtime``.

Each endpoint checks the Origin (before accepting), waits for the client's ``hello``, checks its
credential for the branch, and hands the socket to the hub. Refusals:

* an Origin neither in ``QUEUEHALL_ALLOWED_ORIGINS`` nor the server's own → HTTP 403, no socket;
* no valid ``hello`` with a valid credential within ``ws_hello_timeout_seconds`` → close 4401;
* a credential of another branch, or of a role or device kind that may not listen here → 4403;
* no such branch, counter or ticket → 4404; a malformed message → 4400; over 64 KiB → 1009.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket

from app.auth import DeviceKind, InvalidToken, Principal, Role, decode_token
from app.deps import ALL_STAFF, MANAGERS, Services, authorize, principal_from_token
from app.errors import Forbidden, NotAuthenticated, TooManyRequests
from app.hall import HallRuntime, UnknownBranch
from app.realtime import (
    Audience,
    CloseCode,
    Connection,
    Credential,
    Hello,
    Hub,
    Ping,
    ProtocolError,
    encode,
    parse_client_message,
)

router = APIRouter(tags=["realtime"])

# An evaluator listens to the display's public stream to light up when its counter finishes.
DISPLAY_DEVICES = frozenset({DeviceKind.DISPLAY, DeviceKind.EVALUATOR})
COUNTER_DEVICES = frozenset({DeviceKind.COUNTER})
NO_DEVICES: frozenset[DeviceKind] = frozenset()


class Refused(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Browsers always send Origin: it must be listed, or be the server's own address (a screen
    the server served). Clients without Origin are not browsers; their credential decides."""
    if origin is None:
        return True
    if "*" in allowed or origin.rstrip("/") in (a.rstrip("/") for a in allowed):
        return True
    return host is not None and urlsplit(origin).netloc == host


@router.websocket("/ws/branches/{branch}/display")
async def display(websocket: WebSocket, branch: str) -> None:
    """The lobby display of a branch (a display device, or any staff of the branch)."""
    await _branch_socket(websocket, branch, Audience.DISPLAY, ALL_STAFF, DISPLAY_DEVICES)


@router.websocket("/ws/branches/{branch}/counters/{number}")
async def counter(websocket: WebSocket, branch: str, number: int) -> None:
    """A counter terminal (clerk, manager or admin of the branch, or a counter device)."""
    await _branch_socket(
        websocket, branch, Audience.COUNTER, ALL_STAFF, COUNTER_DEVICES, counter=number
    )


@router.websocket("/ws/branches/{branch}/dashboard")
async def dashboard(websocket: WebSocket, branch: str) -> None:
    """The branch's live dashboard (manager or admin)."""
    await _branch_socket(websocket, branch, Audience.DASHBOARD, MANAGERS, NO_DEVICES)


@router.websocket("/ws/tickets/{token}")
async def ticket(websocket: WebSocket, token: str) -> None:
    """A customer's own ticket; the token in the path is the credential. Opening one counts
    against the public look-up limit of the client's address, like ``GET /tickets/{token}``."""
    services, hub = _services(websocket)
    address = websocket.client.host if websocket.client else "unknown"
    try:
        await services.limiter.check(services.settings.rate_limit_public, "lookup-ip", address)
    except TooManyRequests as refused:
        await websocket.accept()  # accepted first, so the page sees the code and backs off
        await _refuse(websocket, CloseCode.TOO_MANY_REQUESTS, refused.detail)
        return
    hello = await _open(websocket, services)
    if hello is None:
        return
    found = services.halls.ticket_by_token(token) if len(token) <= 64 else None
    if found is None:
        await _refuse(websocket, CloseCode.NOT_FOUND, "No ticket has this link today.")
        return
    runtime, ticket_id = found
    connection = hub.connection(websocket, Audience.TICKET)
    try:
        await hub.follow_ticket(connection, runtime, ticket_id, token)
        await _read(websocket, connection, services.settings.ws_max_message_bytes)
    except asyncio.CancelledError:
        if not _dropped(connection):
            raise
    finally:
        await connection.finish()
        hub.leave(connection)


async def _branch_socket(
    websocket: WebSocket,
    branch: str,
    audience: Audience,
    roles: frozenset[Role],
    devices: frozenset[DeviceKind],
    *,
    counter: int | None = None,
) -> None:
    services, hub = _services(websocket)
    hello = await _open(websocket, services)
    if hello is None:
        return
    try:
        principal, credential = await _authenticate(services, hello)
        try:
            authorize(principal, branch, roles=roles, devices=devices)
        except Forbidden as error:
            raise Refused(CloseCode.FORBIDDEN, error.detail) from None
        runtime = _runtime(services, branch, counter)
    except Refused as refusal:
        await _refuse(websocket, refusal.code, refusal.reason)
        return
    connection = hub.connection(websocket, audience)
    connection.credential = credential
    try:
        await hub.join(connection, runtime, hello.since)
        await _read(websocket, connection, services.settings.ws_max_message_bytes)
    except asyncio.CancelledError:
        if not _dropped(connection):
            raise
    finally:
        await connection.finish()
        hub.leave(connection)


def _dropped(connection: Connection) -> bool:
    """The hub cancels a reader whose close frame could not be sent (the client stopped
    reading): end the endpoint quietly so that the server drops the socket. Any other
    cancellation (the server stopping) goes on."""
    task = asyncio.current_task()
    if connection.closing is None or task is None or task.cancelling() != 1:
        return False
    task.uncancel()
    return True


def _services(websocket: WebSocket) -> tuple[Services, Hub]:
    state = websocket.app.state
    return state.services, state.realtime


def _runtime(services: Services, branch: str, counter: int | None) -> HallRuntime:
    try:
        runtime = services.halls.get(branch)
    except UnknownBranch:
        raise Refused(CloseCode.NOT_FOUND, f"Branch {branch!r} does not exist.") from None
    if counter is not None and all(c.number != counter for c in runtime.engine.config.counters):
        raise Refused(CloseCode.NOT_FOUND, f"Counter {counter} does not exist at this branch.")
    return runtime


async def _authenticate(services: Services, hello: Hello) -> tuple[Principal, Credential]:
    if not hello.token:
        raise Refused(CloseCode.NOT_AUTHENTICATED, "hello.token is required here.")
    try:
        principal = await principal_from_token(services, hello.token)
        claims = decode_token(services.secret, hello.token)
    except (NotAuthenticated, InvalidToken):
        raise Refused(CloseCode.NOT_AUTHENTICATED, "The token is invalid or revoked.") from None
    version = claims.get("ver") if principal.is_staff else None
    credential = Credential(principal.kind, principal.id, version, float(claims["exp"]))
    return principal, credential


async def _open(websocket: WebSocket, services: Services) -> Hello | None:
    """Check the Origin, accept, and wait for the hello; None when the socket was refused."""
    settings = services.settings
    origin = websocket.headers.get("origin")
    if not origin_allowed(origin, websocket.headers.get("host"), settings.allowed_origins):
        await websocket.close(code=1008)  # before accepting: the server answers HTTP 403
        return None
    await websocket.accept()
    deadline = settings.ws_hello_timeout_seconds
    try:
        async with asyncio.timeout(deadline):
            message = await websocket.receive()
    except TimeoutError:
        await _refuse(websocket, CloseCode.NOT_AUTHENTICATED, "No hello in time.")
        return None
    if message["type"] == "websocket.disconnect":
        return None
    try:
        hello = parse_client_message(_text(message), max_bytes=settings.ws_max_message_bytes)
    except ProtocolError as error:
        await _refuse(websocket, error.code, error.reason)
        return None
    if not isinstance(hello, Hello):
        await _refuse(websocket, CloseCode.NOT_AUTHENTICATED, "The first message is hello.")
        return None
    return hello


def _text(message: Mapping[str, Any]) -> str:
    text = message.get("text")
    if text is not None:
        return str(text)
    return bytes(message.get("bytes") or b"").decode("utf-8", errors="replace")


async def _refuse(websocket: WebSocket, code: CloseCode, reason: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason[:120])


async def _read(websocket: WebSocket, connection: Connection, max_bytes: int) -> None:
    """The client's side until it leaves: pongs, pings; anything else closes the socket."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if connection.closing is not None:
            continue
        connection.heartbeat.heard(time.monotonic())
        try:
            parsed = parse_client_message(_text(message), max_bytes=max_bytes)
        except ProtocolError as error:
            connection.close(error.code, error.reason)
            continue
        if isinstance(parsed, Ping):
            connection.offer(encode(connection.cursor.last, "pong", time.time(), {}))
        elif isinstance(parsed, Hello):
            connection.close(CloseCode.BAD_MESSAGE, "hello was already received.")
