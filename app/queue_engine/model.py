"""States, events and records of the queue engine.

Events are past tense and carry everything a store needs to persist them and a screen needs to
show them. Records are the stored form of a ticket or a counter: an engine can be rebuilt from
the records of one business day (see :meth:`QueueEngine.rebuild`).

The live :class:`Ticket` is the engine's private, mutable, memory-lean form (one is kept per ticket
of the day, so every slot counts); it never leaves the engine: queries return records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar, TypeVar, dataclass_transform

from .config import Priority


class TicketState(StrEnum):
    WAITING = "waiting"  # in a service queue, or in one counter's direct queue
    CALLED = "called"  # called to a counter, customer on the way
    SERVING = "serving"  # customer at the counter
    PARKED = "parked"  # set aside by its counter (挂起), resumed with unpark
    MISSED = "missed"  # no-show (过号); may return within the grace period
    FINISHED = "finished"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # left over at the end of the business day


ACTIVE_AT_COUNTER = frozenset({TicketState.CALLED, TicketState.SERVING})
CLOSED_STATES = frozenset({TicketState.FINISHED, TicketState.CANCELLED, TicketState.EXPIRED})


class CounterState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    PAUSED = "paused"  # 暂停: keeps its ticket, calls nobody new


class CallReason(StrEnum):
    """Which rule picked the called ticket."""

    DIRECT = "direct"  # transferred to this counter's own queue
    SLA_ESCALATION = "sla_escalation"  # waited longer than its service's maximum wait
    APPOINTMENT = "appointment"  # checked-in booking, keyed by its slot
    HEAD_START = "head_start"  # priority class ahead of earlier normal tickets
    TIER = "tier"  # plain order in the counter's first non-empty tier
    MANUAL = "manual"  # the clerk chose this ticket
    RETURNED = "returned"  # a missed ticket that came back


class Position(StrEnum):
    """Where a transferred ticket joins its new queue."""

    FIRST = "first"
    LAST = "last"
    KEEP = "keep"  # keeps the key it had from its issue time and class


def display_number(prefix: str, number: int) -> str:
    """``A`` and 23 give ``A023``: at least three digits, as printed on tickets."""
    return f"{prefix}{number:03d}"


# --------------------------------------------------------------------------------------------
# Events

_E = TypeVar("_E")


@dataclass_transform(frozen_default=True)
def event(cls: type[_E]) -> type[_E]:
    """Declare an event: a slotted dataclass, frozen for the type checker.

    Events are never changed after they are made, and mypy (strict, on ``app/``) rejects any
    assignment to their fields. At run time they are plain slotted dataclasses with the same
    ``__eq__`` and ``__hash__`` over their fields as a frozen dataclass: every command makes an
    event, and a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
    several times slower than a plain assignment (docs/performance.md, "Queue engine").
    """
    return dataclass(slots=True, unsafe_hash=True)(cls)


@event
class Event:
    """Something that happened at a branch; ``at`` is engine time in epoch seconds."""

    type: ClassVar[str] = "event"
    at: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form: ``{"type": ..., **fields}``.

        The same as ``{"type": ..., **asdict(self)}``, which it falls back to when a field holds
        anything but a plain value (``asdict`` copies recursively: slow on the write path, where
        every event is turned into a dict for the log and for the screens)."""
        data: dict[str, Any] = {"type": self.type}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if not isinstance(value, _PLAIN):  # str and int cover StrEnum and IntEnum members
                return {"type": self.type, **asdict(self)}
            data[name] = value
        return data


_PLAIN = (str, int, float, type(None))
_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names


@event
class TicketEvent(Event):
    ticket_id: int
    number: str
    service: str


@event
class TicketIssued(TicketEvent):
    type: ClassVar[str] = "ticket_issued"
    priority: Priority
    channel: str
    key: float
    ahead: int
    eta_minutes: int | None
    appointment_id: str | None = None
    slot_start: float | None = None
    late_check_in: bool = False


@event
class TicketCancelled(TicketEvent):
    type: ClassVar[str] = "ticket_cancelled"
    previous_state: TicketState


@event
class TicketCalled(TicketEvent):
    type: ClassVar[str] = "ticket_called"
    counter: int
    counter_name: str
    priority: Priority
    reason: CallReason
    explanation: str  # zh-CN
    explanation_en: str
    waited_seconds: float


@event
class TicketRecalled(TicketEvent):
    type: ClassVar[str] = "ticket_recalled"
    counter: int
    counter_name: str
    recalls: int


@event
class ServiceStarted(TicketEvent):
    type: ClassVar[str] = "service_started"
    counter: int


@event
class TicketFinished(TicketEvent):
    type: ClassVar[str] = "ticket_finished"
    counter: int
    outcome: str | None
    service_seconds: float


@event
class TicketMissed(TicketEvent):
    type: ClassVar[str] = "ticket_missed"
    counter: int
    automatic: bool
    returns_left: int


@event
class TicketReturned(TicketEvent):
    type: ClassVar[str] = "ticket_returned"
    key: float
    returns: int
    ahead: int


@event
class TicketTransferred(TicketEvent):
    """``service`` is the new service; ``counter`` set means it waits in that counter's queue."""

    type: ClassVar[str] = "ticket_transferred"
    from_service: str
    from_counter: int | None
    to_counter: int | None
    position: Position
    key: float


@event
class TicketParked(TicketEvent):
    type: ClassVar[str] = "ticket_parked"
    counter: int


@event
class TicketUnparked(TicketEvent):
    type: ClassVar[str] = "ticket_unparked"
    counter: int
    state: TicketState


@event
class TicketExpired(TicketEvent):
    type: ClassVar[str] = "ticket_expired"
    previous_state: TicketState


@event
class CounterStateChanged(Event):
    type: ClassVar[str] = "counter_state_changed"
    counter: int
    state: CounterState
    previous_state: CounterState


@event
class BusinessDayStarted(Event):
    type: ClassVar[str] = "business_day_started"
    business_day: str
    previous_day: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        TicketIssued,
        TicketCancelled,
        TicketCalled,
        TicketRecalled,
        ServiceStarted,
        TicketFinished,
        TicketMissed,
        TicketReturned,
        TicketTransferred,
        TicketParked,
        TicketUnparked,
        TicketExpired,
        CounterStateChanged,
        BusinessDayStarted,
    )
}


# --------------------------------------------------------------------------------------------
# Records: the stored form


@dataclass(frozen=True, slots=True)
class TicketRecord:
    """One ticket as stored. ``counter`` is the counter holding it (called, serving, parked) or,
    for a waiting ticket, the counter whose direct queue it waits in. ``key`` is set while
    waiting. ``called_at`` is the latest call or recall; ``first_called_at`` the first call."""

    id: int
    service: str
    prefix: str
    number: int
    priority: Priority
    channel: str
    state: TicketState
    issued_at: float
    queued_at: float
    key: float | None = None
    counter: int | None = None
    called_at: float | None = None
    first_called_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    recalls: int = 0
    call_reason: CallReason | None = None
    missed_at: float | None = None
    returns: int = 0
    transfers: int = 0
    outcome: str | None = None
    appointment_id: str | None = None
    slot_start: float | None = None

    @property
    def display(self) -> str:
        return display_number(self.prefix, self.number)


@dataclass(frozen=True, slots=True)
class CounterRecord:
    number: int
    state: CounterState


@dataclass(frozen=True, slots=True)
class ServiceTimeEstimate:
    """The estimator's learned mean service time of one service."""

    mean_seconds: float
    samples: int


# --------------------------------------------------------------------------------------------
# The live ticket (private to the engine)


class RareFields:
    """Fields most tickets never use, kept out of :class:`Ticket` to save memory."""

    __slots__ = ("appointment_id", "missed_at", "outcome", "returns", "slot_start", "transfers")

    def __init__(self) -> None:
        self.missed_at: float | None = None
        self.returns = 0
        self.transfers = 0
        self.outcome: str | None = None
        self.appointment_id: str | None = None
        self.slot_start: float | None = None


class Ticket:
    """Mutable engine-side ticket. ``entry`` is the ``(key, id)`` tuple under which it sits in a
    queue while waiting (None otherwise); queues recognise stale entries by identity."""

    __slots__ = (
        "call_reason",
        "called_at",
        "channel",
        "counter",
        "entry",
        "finished_at",
        "first_called_at",
        "id",
        "issued_at",
        "number",
        "prefix",
        "priority",
        "queued_at",
        "rare",
        "recalls",
        "service",
        "started_at",
        "state",
    )

    def __init__(
        self,
        ticket_id: int,
        service: str,
        number: int,
        priority: Priority,
        channel: str,
        issued_at: float,
    ) -> None:
        self.id = ticket_id
        self.service = service
        self.prefix = service
        self.number = number
        self.priority = priority
        self.channel = channel
        self.state = TicketState.WAITING
        self.issued_at = issued_at
        self.queued_at = issued_at
        self.entry: tuple[float, int] | None = None
        self.counter: int | None = None
        self.called_at: float | None = None
        self.first_called_at: float | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.recalls = 0
        self.call_reason: CallReason | None = None
        self.rare: RareFields | None = None

    @property
    def display(self) -> str:
        return display_number(self.prefix, self.number)

    @property
    def more(self) -> RareFields:
        if self.rare is None:
            self.rare = RareFields()
        return self.rare

    def to_record(self) -> TicketRecord:
        rare = self.rare
        return TicketRecord(
            id=self.id,
            service=self.service,
            prefix=self.prefix,
            number=self.number,
            priority=self.priority,
            channel=self.channel,
            state=self.state,
            issued_at=self.issued_at,
            queued_at=self.queued_at,
            key=self.entry[0] if self.entry is not None else None,
            counter=self.counter,
            called_at=self.called_at,
            first_called_at=self.first_called_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            recalls=self.recalls,
            call_reason=self.call_reason,
            missed_at=rare.missed_at if rare else None,
            returns=rare.returns if rare else 0,
            transfers=rare.transfers if rare else 0,
            outcome=rare.outcome if rare else None,
            appointment_id=rare.appointment_id if rare else None,
            slot_start=rare.slot_start if rare else None,
        )

    @classmethod
    def from_record(cls, record: TicketRecord) -> Ticket:
        ticket = cls(
            record.id,
            record.service,
            record.number,
            Priority(record.priority),
            record.channel,
            record.issued_at,
        )
        ticket.prefix = record.prefix
        ticket.state = TicketState(record.state)
        ticket.queued_at = record.queued_at
        ticket.counter = record.counter
        ticket.called_at = record.called_at
        ticket.first_called_at = record.first_called_at
        ticket.started_at = record.started_at
        ticket.finished_at = record.finished_at
        ticket.recalls = record.recalls
        ticket.call_reason = CallReason(record.call_reason) if record.call_reason else None
        if (
            record.missed_at is not None
            or record.returns
            or record.transfers
            or record.outcome is not None
            or record.appointment_id is not None
            or record.slot_start is not None
        ):
            rare = ticket.more
            rare.missed_at = record.missed_at
            rare.returns = record.returns
            rare.transfers = record.transfers
            rare.outcome = record.outcome
            rare.appointment_id = record.appointment_id
            rare.slot_start = record.slot_start
        return ticket
