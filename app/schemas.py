"""Request and response bodies (Pydantic, at the edge only). Every string and list is bounded;
unknown fields are refused; text holds no control characters (PostgreSQL cannot store NUL, and
screens cannot show the rest)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.queue_engine import TicketRecord

# The largest id or sequence number the store's 32-bit INTEGER columns hold.
MAX_ID = 2**31 - 1
LINE_BREAKS = frozenset("\t\n\r")


def _no_control_characters(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


def _no_control_characters_but_line_breaks(value: str) -> str:
    if any((ord(c) < 32 and c not in LINE_BREAKS) or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters other than line breaks")
    return value


Printable = AfterValidator(_no_control_characters)
PrintableLines = AfterValidator(_no_control_characters_but_line_breaks)

ServiceCode = Annotated[str, StringConstraints(max_length=3, pattern=r"^[A-Z]{1,3}$")]
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True), Printable
]
OptionalText = Annotated[str, StringConstraints(max_length=100, strip_whitespace=True), Printable]
Channel = Annotated[str, StringConstraints(max_length=32, pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
TicketNumber = Annotated[str, StringConstraints(max_length=9, pattern=r"^[A-Za-z]{1,3}[0-9]{1,6}$")]
CounterNumber = Annotated[int, Field(ge=1, le=9999)]
BranchId = Annotated[str, StringConstraints(max_length=40, pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
# A branch named in a path: bounded, but not checked against the id pattern, so that an id the
# pattern refuses is "not found" (404) like any other unknown branch.
BranchPath = Annotated[str, Path(max_length=40)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IssueTicket(Strict):
    service: ServiceCode
    priority: Literal["normal", "vip", "care"] = "normal"
    channel: Channel = "kiosk"


class Finish(Strict):
    outcome: (
        Annotated[
            str,
            StringConstraints(max_length=200),
            AfterValidator(_no_control_characters_but_line_breaks),
        ]
        | None
    ) = None


class CallTicket(Strict):
    ticket: TicketNumber


class Transfer(Strict):
    service: ServiceCode | None = None
    counter: CounterNumber | None = None
    position: Literal["first", "last", "keep"] = "keep"


def ticket_body(record: TicketRecord, **extra: Any) -> dict[str, Any]:
    """The public form of a ticket (no customer data lives in tickets)."""
    return {
        "id": record.id,
        "number": record.display,
        "service": record.service,
        "priority": record.priority.value,
        "channel": record.channel,
        "state": record.state.value,
        "issued_at": record.issued_at,
        "counter": record.counter,
        "called_at": record.called_at,
        "recalls": record.recalls,
        "call_reason": record.call_reason.value if record.call_reason else None,
        **extra,
    }
