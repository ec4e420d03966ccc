"""The audit log: every staff and device action that changes something (every POST, PUT,
PATCH and DELETE of the API by a signed-in caller, and every sign-in and pairing attempt), with
who, when, what (method, route, path, status, the request body without secrets) and from which
device (a device's name, else the browser's user agent) and address.

:class:`AuditTrail` is a plain ASGI middleware that notes each such request after its answer;
:class:`AuditWriter` writes the notes in batches, every half second, in a transaction of their
own, so that the commands' own commits never wait for the log. The price: notes of the last
half second are lost if the process is killed (a normal stop writes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import insert
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.aio import stop_task
from app.auth import Principal
from app.db import models
from app.db.store import Store

log = logging.getLogger("queuehall.audit")

AUDIT_TABLE: Any = models.AuditEntry.__table__
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Reached without a credential, but attempts of staff and devices all the same.
SIGN_IN_PATHS = frozenset({"/api/v1/auth/token", "/api/v1/devices/pair"})
MAX_BODY = 4096  # bytes of a JSON body kept in the log
SECRET_WORDS = ("password", "token", "secret")
FLUSH_SECONDS = 0.5
MAX_PENDING = 50_000  # entries kept while the store is down; the oldest go first


def without_secrets(value: Any) -> Any:
    """The body with every field whose name speaks of a secret replaced by ``"***"``."""
    if isinstance(value, dict):
        return {
            k: "***" if any(w in str(k).lower() for w in SECRET_WORDS) else without_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def branch_of(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) > 4 and parts[1:4] == ["api", "v1", "branches"]:
        return parts[4][:40] or None
    return None


class AuditWriter:
    """Batches audit entries and writes them every :data:`FLUSH_SECONDS`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, entry: dict[str, Any]) -> None:
        self._pending.append(entry)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
        await self.flush()

    async def flush(self) -> None:
        entries, self._pending = self._pending, []
        if not entries:
            return
        try:
            async with self.store.sessions() as session, session.begin():
                # Core insert on the table: the ORM's bulk-insert bookkeeping cost as much again.
                await session.execute(insert(AUDIT_TABLE), entries)
        except Exception as error:  # the store is down: keep them for the next try
            log.warning("audit entries not written yet: %r", error)
            self._pending = (entries + self._pending)[-MAX_PENDING:]

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()


class AuditTrail:
    """Notes every write request of a signed-in caller, and every sign-in attempt."""

    def __init__(
        self,
        app: ASGIApp,
        writer: Callable[[], AuditWriter | None],
        clock: Callable[[], float],
    ) -> None:
        self.app = app
        self.writer = writer
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        status = 500

        async def reading() -> Message:  # the app's own reads, kept on the way
            message = await receive()
            if message["type"] == "http.request" and len(body) <= MAX_BODY:
                body.extend(message.get("body", b""))
            return message

        async def answering(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, reading, answering)
        finally:
            self._note(scope, bytes(body), status)

    def _note(self, scope: Scope, body: bytes, status: int) -> None:
        writer = self.writer()
        path: str = scope["path"]
        principal: Principal | None = scope.get("state", {}).get("principal")
        if writer is None or (principal is None and path not in SIGN_IN_PATHS):
            return  # customers (by their ticket's token) and anonymous refusals
        headers = dict(scope.get("headers") or ())
        detail: Any = None
        if path == "/api/v1/devices/pair":
            detail = None  # its body is the one-time pairing code
        elif body and len(body) <= MAX_BODY and b"json" in headers.get(b"content-type", b""):
            with contextlib.suppress(ValueError):
                detail = without_secrets(json.loads(body))
        elif path == "/api/v1/auth/token" and body:
            username = parse_qs(body.decode("utf-8", "replace")).get("username", [""])[0]
            detail = {"username": username[:64]}
        route = scope.get("route")
        client = scope.get("client")
        agent = headers.get(b"user-agent", b"").decode("latin-1")[:200]
        writer.add(
            {
                "branch_id": branch_of(path),
                "at": self.clock(),
                "actor_kind": principal.kind if principal else "anonymous",
                "actor_id": principal.id if principal else None,
                "actor_name": (principal.name if principal else "")[:100],
                "role": (
                    (principal.role if principal.is_staff else principal.device_kind)
                    if principal
                    else None
                ),
                "device": (principal.name if principal and not principal.is_staff else agent)[:200],
                "address": (client[0] if client else "")[:64],
                "method": scope["method"],
                "path": path[:300],
                "action": f"{scope['method']} {getattr(route, 'path', path)}".replace(
                    " /api/v1/", " /"
                )[:64],
                "status": status,
                "detail": detail
                if isinstance(detail, dict) or detail is None
                else {"body": detail},
            }
        )
