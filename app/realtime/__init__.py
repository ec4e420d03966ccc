"""Realtime pushes over WebSockets: the protocol (sans-I/O), audience views, the hub.

Public surface: :class:`Hub` (one per app), the protocol's messages and close codes, the
audiences. The message formats are documented in ``docs/realtime.md``.
"""

from .hub import BranchFeed, Connection, Credential, Hub
from .protocol import (
    CloseCode,
    Cursor,
    Heartbeat,
    Hello,
    MessageType,
    Ping,
    Pong,
    ProtocolError,
    Replay,
    Snapshot,
    SnapshotReason,
    Verdict,
    encode,
    parse_client_message,
    plan_resume,
)
from .ticket_watch import TicketWatch
from .views import Audience, public_data

__all__ = [
    "Audience",
    "BranchFeed",
    "CloseCode",
    "Connection",
    "Credential",
    "Cursor",
    "Heartbeat",
    "Hello",
    "Hub",
    "MessageType",
    "Ping",
    "Pong",
    "ProtocolError",
    "Replay",
    "Snapshot",
    "SnapshotReason",
    "TicketWatch",
    "Verdict",
    "encode",
    "parse_client_message",
    "plan_resume",
    "public_data",
]
