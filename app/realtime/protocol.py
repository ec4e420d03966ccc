"""The WebSocket protocol's rules, without sockets or a loop (sans-I/O).

Every server message is one JSON text frame ``{"seq", "type", "at", "data"}``:

* ``seq`` is the branch's event sequence number. On an event it is that event's own ``seq``;
  on any other message (``snapshot``, ``queue_status``, ``ping``, a customer ticket update) it is
  the last event ``seq`` the message reflects. A client keeps the highest ``seq`` it has seen
  and sends it as ``since`` when it reconnects; it drops *events* whose ``seq`` it has already
  seen, never the other messages.
* ``type`` is an event type (``ticket_called`` …) or one of :data:`SERVER_TYPES`.
* ``at`` is epoch seconds (event time for events, send time for the others).

The client's first message is ``{"type": "hello", "token": ..., "since": <int or null>}``;
after it the client sends only ``{"type": "pong"}`` (an answer to ``ping``) or
``{"type": "ping"}`` (answered with ``pong``). Anything else closes the socket with
:attr:`CloseCode.BAD_MESSAGE`.

Resuming (:func:`plan_resume`): a client that names a ``since`` the log still covers gets the
events after it, in order, then the live stream; otherwise (no ``since``, too far behind, a
``seq`` from before the current business day, or one the branch never reached) a ``snapshot``.
The shell subscribes to live events *before* it reads the log, so an event is in the log read,
in the live stream, or both; :class:`Cursor` drops the duplicates and notices a gap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

MAX_SEQ = 2**31 - 1


class CloseCode(IntEnum):
    """Close codes the server uses (4xxx are application codes; 4401/4403 mirror HTTP)."""

    NORMAL = 1000  # a customer's ticket is over (expired with its day)
    GOING_AWAY = 1001  # the server is stopping: reconnect
    MESSAGE_TOO_BIG = 1009
    RESYNC = 4009  # the server lost track of the stream: reconnect and resume
    SLOW_CONSUMER = 4008  # the client did not read fast enough
    BAD_MESSAGE = 4400
    NOT_AUTHENTICATED = 4401  # no valid credential in time, or it was revoked or expired
    FORBIDDEN = 4403  # a credential for another branch or of a role that may not listen here
    NOT_FOUND = 4404  # no such branch, counter or ticket
    SILENT = 4408  # nothing heard from the client for too long (no pong)
    TOO_MANY_REQUESTS = 4429  # this address opened too many customer sockets: retry later


class MessageType(StrEnum):
    """Server messages that are not branch events."""

    SNAPSHOT = "snapshot"
    QUEUE_STATUS = "queue_status"
    PING = "ping"
    PONG = "pong"


SERVER_TYPES = frozenset(MessageType)


class ProtocolError(Exception):
    """The client broke the protocol; the socket closes with ``code``."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Hello:
    token: str | None
    since: int | None


@dataclass(frozen=True, slots=True)
class Pong:
    pass


@dataclass(frozen=True, slots=True)
class Ping:
    pass


ClientMessage = Hello | Pong | Ping


def parse_client_message(text: str, *, max_bytes: int) -> ClientMessage:
    """One client frame, or :class:`ProtocolError` (1009 when over ``max_bytes``)."""
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        raise ProtocolError(
            CloseCode.MESSAGE_TOO_BIG, f"Messages are limited to {max_bytes} bytes."
        )
    try:
        message = json.loads(text)
    except ValueError:
        raise ProtocolError(CloseCode.BAD_MESSAGE, "Messages are JSON objects.") from None
    if not isinstance(message, dict):
        raise ProtocolError(CloseCode.BAD_MESSAGE, "Messages are JSON objects.")
    kind = message.get("type")
    if kind == "pong":
        return Pong()
    if kind == "ping":
        return Ping()
    if kind != "hello":
        raise ProtocolError(CloseCode.BAD_MESSAGE, f"Unknown message type {kind!r}.")
    token = message.get("token")
    since = message.get("since")
    if token is not None and (not isinstance(token, str) or len(token) > 4096):
        raise ProtocolError(CloseCode.BAD_MESSAGE, "hello.token is a string.")
    if since is not None and (
        isinstance(since, bool) or not isinstance(since, int) or not 0 <= since <= MAX_SEQ
    ):
        raise ProtocolError(CloseCode.BAD_MESSAGE, "hello.since is a sequence number or null.")
    return Hello(token=token, since=since)


def encode(seq: int, kind: str, at: float, data: dict[str, Any], **extra: Any) -> str:
    """One server frame. ``extra`` adds top-level keys (the snapshot's ``state``)."""
    message = {"seq": seq, "type": kind, "at": at, "data": data, **extra}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def snapshot_frame(seq: int, at: float, state: dict[str, Any], reason: str) -> str:
    """The state is sent twice, as ``data`` (every message's payload) and ``state`` (the name
    the issue gives it); both are the same object. ``reason`` says why a snapshot and not a
    replay (:class:`SnapshotReason`; ``ticket`` on a customer's socket)."""
    return encode(seq, MessageType.SNAPSHOT, at, state, state=state, reason=reason)


# ------------------------------------------------------------------------------------------
# Resuming


class SnapshotReason(StrEnum):
    NEW = "new"  # no since: a first connection
    TOO_FAR_BEHIND = "too_far_behind"
    DAY_CHANGED = "day_changed"
    UNKNOWN_SEQ = "unknown_seq"  # since is ahead of the branch (another store, a reset)


@dataclass(frozen=True, slots=True)
class Replay:
    """Send the events with ``seq > since`` from the log, then live."""

    since: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    reason: SnapshotReason


def plan_resume(
    since: int | None, *, latest_seq: int, day_start_seq: int, max_replay: int
) -> Replay | Snapshot:
    """How to bring a client that saw events up to ``since`` up to date.

    ``latest_seq`` is the branch's last event, ``day_start_seq`` the ``seq`` of the event that
    started its current business day (0 when none is logged): a client that has not seen it
    holds yesterday's board, which no replay of today's events can correct.
    """
    if since is None:
        return Snapshot(SnapshotReason.NEW)
    if since > latest_seq:
        return Snapshot(SnapshotReason.UNKNOWN_SEQ)
    if since < day_start_seq:
        return Snapshot(SnapshotReason.DAY_CHANGED)
    if latest_seq - since > max_replay:
        return Snapshot(SnapshotReason.TOO_FAR_BEHIND)
    return Replay(since)


class Verdict(StrEnum):
    SEND = "send"
    DUPLICATE = "duplicate"
    GAP = "gap"


class Cursor:
    """The last event ``seq`` a connection has sent; events must follow it one by one."""

    __slots__ = ("last",)

    def __init__(self, last: int) -> None:
        self.last = last

    def accept(self, seq: int) -> Verdict:
        """SEND (and advance) for ``last + 1``, DUPLICATE for anything already sent, GAP for a
        ``seq`` beyond ``last + 1`` (nothing changes: the connection must resynchronise)."""
        if seq <= self.last:
            return Verdict.DUPLICATE
        if seq != self.last + 1:
            return Verdict.GAP
        self.last = seq
        return Verdict.SEND


# ------------------------------------------------------------------------------------------
# Liveness


class Heartbeat:
    """When to ping and when to give up on a silent client, on a clock the caller passes.

    Any client message counts as a sign of life. ``due(now)`` says what to do now: ``"close"``
    after ``silence_seconds`` without one, ``"ping"`` when ``ping_seconds`` have passed since the
    last ping, else None.
    """

    __slots__ = ("last_heard", "last_ping", "ping_seconds", "silence_seconds")

    def __init__(self, now: float, *, ping_seconds: float, silence_seconds: float) -> None:
        self.ping_seconds = ping_seconds
        self.silence_seconds = silence_seconds
        self.last_heard = now
        self.last_ping = now

    def heard(self, now: float) -> None:
        self.last_heard = now

    def due(self, now: float) -> str | None:
        if now - self.last_heard >= self.silence_seconds:
            return "close"
        if now - self.last_ping >= self.ping_seconds:
            self.last_ping = now
            return "ping"
        return None
