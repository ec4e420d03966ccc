"""The in-memory queue engine of one branch: commands in, events out.

Rules, in plain sentences (ARCHITECTURE.md, "Choosing the next ticket", is the design):

* A ticket is issued for one service and priority class. Its key is ``issued_at - head_start``;
  a checked-in appointment's key is ``slot_start - head_start(appointment)``. Smaller keys are
  called first; keys never change while a ticket waits.
* A counter calls, in this order: the head of its direct queue (tickets transferred to it); the
  most overdue ticket among its services whose wait exceeds the service's maximum wait (SLA
  escalation, whatever its tier); the smallest key of its first tier with anybody waiting.
* A counter calls only when open, and holds at most one ticket (called or serving).
* Ticket states move only along the table :data:`TRANSITIONS`; any other move raises
  :class:`IllegalTransition`. Every command validates completely before it changes anything, so a
  raised error always leaves the engine exactly as it was.
* Engine time never goes backwards, and no two commands share an instant: a command whose ``now``
  is not after the previous command's runs 1 microsecond after it. Stored times therefore order
  every call and every finish, which is what lets :meth:`QueueEngine.rebuild` reproduce the engine
  exactly.

The engine never reads the clock, never awaits and imports only the standard library and
``sortedcontainers``. Queries never change state.
"""

from __future__ import annotations

import bisect
import math
import sys
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from .config import BranchConfig, CounterConfig, LateCheckIn, Priority, ServiceConfig
from .errors import (
    CheckInRefused,
    CounterBusy,
    CounterIdle,
    CounterNotOpen,
    IllegalTransition,
    InvalidCommand,
    QuotaReached,
    ReturnNotAllowed,
    ServiceNotServedHere,
    ServicePaused,
    UnknownCounter,
    UnknownService,
    UnknownTicket,
)
from .explain import explain_call
from .model import (
    BusinessDayStarted,
    CallReason,
    CounterRecord,
    CounterState,
    CounterStateChanged,
    Event,
    Position,
    ServiceStarted,
    ServiceTimeEstimate,
    Ticket,
    TicketCalled,
    TicketCancelled,
    TicketExpired,
    TicketFinished,
    TicketIssued,
    TicketMissed,
    TicketParked,
    TicketRecalled,
    TicketRecord,
    TicketReturned,
    TicketState,
    TicketTransferred,
    TicketUnparked,
    display_number,
)
from .queues import Entry, KeyedQueue, ServiceQueue

S = TicketState

# Enum members as module constants: on Python 3.11 every ``Enum.MEMBER`` read goes through
# ``EnumType.__getattr__`` (0.08 µs here, 0.19 µs on a slower host), and the calling path reads
# several per command.
CALLED = TicketState.CALLED
FINISHED = TicketState.FINISHED
OPEN = CounterState.OPEN
NORMAL = Priority.NORMAL
APPOINTMENT = Priority.APPOINTMENT
TIER = CallReason.TIER
DIRECT = CallReason.DIRECT
SLA_ESCALATION = CallReason.SLA_ESCALATION
RETURNED = CallReason.RETURNED
_INF = math.inf

#: Which ticket states each command accepts, and the state it leaves the ticket in.
TRANSITIONS: Mapping[str, Mapping[TicketState, TicketState]] = {
    "call": {S.WAITING: S.CALLED},
    "recall": {S.CALLED: S.CALLED},
    "start": {S.CALLED: S.SERVING},
    "finish": {S.CALLED: S.FINISHED, S.SERVING: S.FINISHED},
    "no_show": {S.CALLED: S.MISSED},
    "return": {S.MISSED: S.WAITING},
    "transfer": {S.CALLED: S.WAITING, S.SERVING: S.WAITING},
    "park": {S.CALLED: S.PARKED, S.SERVING: S.PARKED},
    "unpark": {S.PARKED: S.SERVING},  # or back to CALLED when it was parked before service
    "cancel": {
        S.WAITING: S.CANCELLED,
        S.CALLED: S.CANCELLED,
        S.PARKED: S.CANCELLED,
        S.MISSED: S.CANCELLED,
    },
    "expire": {
        S.WAITING: S.EXPIRED,
        S.CALLED: S.EXPIRED,
        S.SERVING: S.EXPIRED,
        S.PARKED: S.EXPIRED,
        S.MISSED: S.EXPIRED,
    },
}

COUNTER_TRANSITIONS: Mapping[str, Mapping[CounterState, CounterState]] = {
    "open": {CounterState.CLOSED: CounterState.OPEN, CounterState.PAUSED: CounterState.OPEN},
    "pause": {CounterState.OPEN: CounterState.PAUSED},
    "close": {CounterState.OPEN: CounterState.CLOSED, CounterState.PAUSED: CounterState.CLOSED},
}

TICK = 1e-6  # seconds between two commands that arrive at the same instant
MIN_SERVICE_SAMPLE = 1.0  # shorter services are mis-clicks, not data
MAX_SAMPLE_FACTOR = 10.0  # one sample moves the mean at most this many times the mean
MAX_OUTCOME_LENGTH = 200
MAX_CHANNEL_LENGTH = 32


# --------------------------------------------------------------------------------------------
# Query results


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    code: str
    name: str
    name_en: str
    waiting: int
    longest_wait_seconds: float
    open_counters: int
    eta_minutes: int | None  # for a ticket taken now
    issued_today: int
    quota_left: int | None
    paused: bool = False


@dataclass(frozen=True, slots=True)
class CounterStatus:
    number: int
    name: str
    state: CounterState
    ticket: TicketRecord | None
    direct_waiting: int
    parked: tuple[str, ...]
    services: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class RecentCall:
    ticket_id: int
    number: str
    service: str
    counter: int
    counter_name: str
    called_at: float


@dataclass(frozen=True, slots=True)
class BranchSnapshot:
    business_day: str
    at: float
    services: tuple[ServiceStatus, ...]
    counters: tuple[CounterStatus, ...]
    recent_calls: tuple[RecentCall, ...]

    @property
    def waiting(self) -> int:
        return sum(service.waiting for service in self.services)


@dataclass(frozen=True, slots=True)
class EngineRecords:
    """Everything needed to rebuild an engine: the stored form of its state."""

    business_day: str
    tickets: tuple[TicketRecord, ...]
    counters: tuple[CounterRecord, ...]
    estimates: Mapping[str, ServiceTimeEstimate]
    next_ticket_id: int
    last_now: float


# --------------------------------------------------------------------------------------------
# Internal state


class _Service:
    __slots__ = (
        "config",
        "direct_waiting",
        "estimate",
        "ids",
        "queue",
        "samples",
        "servers",
    )

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.queue = ServiceQueue()
        self.ids: list[int] = []  # ticket ids by number: ids[n - 1] is ticket n
        self.direct_waiting = 0  # tickets of this service waiting in a counter's direct queue
        self.estimate = config.mean_service_seconds
        self.samples = 0
        self.servers: list[tuple[_Counter, int]] = []  # counters serving it, with the tier index


class _Counter:
    __slots__ = (
        "config",
        "current",
        "direct",
        "display_name",
        "number",
        "parked",
        "sla_services",
        "state",
        "tiers",
    )

    def __init__(self, config: CounterConfig, services: Mapping[str, _Service]) -> None:
        self.config = config
        self.number = config.number
        self.display_name = config.display_name  # the config property formats on every read
        self.state = CounterState.CLOSED
        self.current: Ticket | None = None
        self.direct = KeyedQueue()
        self.parked: list[int] = []
        self.tiers = tuple(tuple(services[code] for code in tier) for tier in config.tiers)
        # The services it serves that have a maximum wait: the SLA check visits only these.
        self.sla_services = tuple(
            svc for tier in self.tiers for svc in tier if svc.config.sla_seconds is not None
        )

    def tier_of(self, code: str) -> int | None:
        for index, tier in enumerate(self.config.tiers):
            if code in tier:
                return index
        return None


class QueueEngine:
    """One branch's queues and counters for one business day. Not thread-safe: the caller
    serialises commands (the hall runtime holds the branch lock)."""

    def __init__(
        self,
        config: BranchConfig,
        business_day: str,
        *,
        first_ticket_id: int = 1,
        estimates: Mapping[str, ServiceTimeEstimate] | None = None,
    ) -> None:
        if first_ticket_id < 1:
            raise InvalidCommand("Ticket ids start at 1 or later.")
        self.config = config
        self.business_day = business_day
        self._offsets = {p: config.priority.offset(p) for p in Priority}
        self._services: dict[str, _Service] = {s.code: _Service(s) for s in config.services}
        self._counters: dict[int, _Counter] = {
            c.number: _Counter(c, self._services) for c in config.counters
        }
        for counter in self._counters.values():
            for tier_index, tier in enumerate(counter.tiers):
                for svc in tier:
                    svc.servers.append((counter, tier_index))
        self._tickets: list[Ticket] = []
        self._first_id = first_ticket_id
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._recent_limit = config.recent_calls
        self._last_now = -math.inf
        # Call explanations depend only on (reason, class, tier, counter), except an SLA
        # escalation's, which names the wait: those are made per call, the others once.
        self._explanations: dict[tuple[CallReason, Priority, int, int], tuple[str, str]] = {}
        for code, estimate in (estimates or {}).items():
            if code in self._services:
                self._services[code].estimate = estimate.mean_seconds
                self._services[code].samples = estimate.samples

    # ----------------------------------------------------------------------------------------
    # Rebuild

    @classmethod
    def rebuild(
        cls,
        config: BranchConfig,
        business_day: str,
        tickets: Iterable[TicketRecord],
        counters: Iterable[CounterRecord] = (),
        *,
        estimates: Mapping[str, ServiceTimeEstimate] | None = None,
        next_ticket_id: int | None = None,
        last_now: float | None = None,
    ) -> QueueEngine:
        """An engine equal to the one whose stored state this is.

        ``tickets`` are all of the business day's tickets (any order). ``next_ticket_id`` defaults
        to one past the highest id; ``last_now`` to the latest time found in the records.
        """
        records = sorted(tickets, key=lambda r: r.id)
        first_id = records[0].id if records else (next_ticket_id or 1)
        engine = cls(config, business_day, first_ticket_id=first_id, estimates=estimates)
        expected_id = first_id
        latest = -math.inf
        arrivals: dict[str, list[tuple[float, Entry]]] = {code: [] for code in engine._services}
        for record in records:
            if record.id != expected_id:
                raise InvalidCommand(
                    f"Ticket ids of a business day are contiguous; expected {expected_id}, "
                    f"found {record.id}."
                )
            expected_id += 1
            if record.service not in engine._services or record.prefix not in engine._services:
                raise InvalidCommand(
                    f"Ticket {record.display} belongs to service {record.service}, "
                    "which the configuration no longer has."
                )
            ticket = Ticket.from_record(record)
            engine._tickets.append(ticket)
            prefix_service = engine._services[record.prefix]
            while len(prefix_service.ids) < record.number:
                prefix_service.ids.append(0)
            prefix_service.ids[record.number - 1] = ticket.id
            latest = max(
                latest,
                *(
                    t
                    for t in (
                        record.issued_at,
                        record.queued_at,
                        record.called_at,
                        record.started_at,
                        record.finished_at,
                        record.missed_at,
                    )
                    if t is not None
                ),
            )
            service = engine._services[record.service]
            if ticket.state is S.WAITING:
                if record.key is None:
                    raise InvalidCommand(f"Waiting ticket {record.display} has no key.")
                entry = (record.key, ticket.id)
                ticket.entry = entry
                if ticket.counter is not None:
                    engine._counter(ticket.counter).direct.add(entry)
                    service.direct_waiting += 1
                else:
                    arrivals[service.config.code].append((ticket.queued_at, entry))
            elif ticket.state in (S.CALLED, S.SERVING):
                counter = engine._counter(_required(ticket.counter, record))
                if counter.current is not None:
                    raise InvalidCommand(
                        f"Counter {counter.config.number} holds two tickets: "
                        f"{counter.current.display} and {record.display}."
                    )
                counter.current = ticket
            elif ticket.state is S.PARKED:
                bisect.insort(engine._counter(_required(ticket.counter, record)).parked, ticket.id)
        for code, pending in arrivals.items():
            engine._services[code].queue.add_in_arrival_order(pending)
        for service in engine._services.values():
            if 0 in service.ids:
                raise InvalidCommand(f"Ticket numbers of service {service.config.code} have a gap.")
        called = sorted(
            (t for t in engine._tickets if t.called_at is not None),
            key=lambda t: (t.called_at or 0.0, t.id),
        )
        for ticket in called[-config.recent_calls :]:
            engine._recent[ticket.id] = None
        for counter_record in counters:
            engine._counter(counter_record.number).state = CounterState(counter_record.state)
        if records and next_ticket_id not in (None, expected_id):
            raise InvalidCommand(
                f"Today's tickets end at id {expected_id - 1}, so the next id is {expected_id}, "
                f"not {next_ticket_id}."
            )
        engine._last_now = max(latest, last_now if last_now is not None else -math.inf)
        return engine

    def records(self) -> EngineRecords:
        """The stored form of the whole engine (see :meth:`rebuild`)."""
        return EngineRecords(
            business_day=self.business_day,
            tickets=tuple(t.to_record() for t in self._tickets),
            counters=tuple(CounterRecord(n, c.state) for n, c in self._counters.items()),
            estimates=self.estimates(),
            next_ticket_id=self.next_ticket_id,
            last_now=self._last_now,
        )

    def copy(self) -> QueueEngine:
        """An independent engine in the same state (for previews and tests)."""
        records = self.records()
        return QueueEngine.rebuild(
            self.config,
            records.business_day,
            records.tickets,
            records.counters,
            estimates=records.estimates,
            next_ticket_id=records.next_ticket_id,
            last_now=records.last_now,
        )

    def reconfigured(self, config: BranchConfig) -> QueueEngine:
        """This engine's state under a new configuration. Refuses (``InvalidCommand``) when a
        ticket of today needs a service or counter that the new configuration drops."""
        records = self.records()
        numbers = {c.number for c in config.counters}
        for ticket in records.tickets:
            if ticket.state in (S.CALLED, S.SERVING, S.PARKED) and ticket.counter not in numbers:
                raise InvalidCommand(
                    f"Counter {ticket.counter} still holds ticket {ticket.display}; "
                    "it cannot be removed now."
                )
        counters = tuple(c for c in records.counters if c.number in numbers)
        tickets = tuple(
            t if t.counter is None or t.counter in numbers else replace(t, counter=None)
            for t in records.tickets
        )
        return QueueEngine.rebuild(
            config,
            records.business_day,
            tickets,
            counters,
            estimates=records.estimates,
            next_ticket_id=records.next_ticket_id,
            last_now=records.last_now,
        )

    # ----------------------------------------------------------------------------------------
    # Commands: issue, check in, cancel

    def issue_ticket(
        self,
        service: str,
        priority: Priority | str = Priority.NORMAL,
        channel: str = "kiosk",
        *,
        now: float,
    ) -> list[Event]:
        """Take a number. Returns ``[TicketIssued]``; quota reached → :class:`QuotaReached`,
        issuing paused → :class:`ServicePaused`."""
        svc = self._service(service)
        if svc.config.paused:
            raise paused_refusal(svc.config)
        klass = _priority(priority)
        if klass is APPOINTMENT:
            raise InvalidCommand(
                "Appointment tickets are made by checking in a booking, not issued directly."
            )
        quota = svc.config.daily_quota
        if quota is not None and len(svc.ids) >= quota:
            raise QuotaReached(
                f"Service {svc.config.code} ({svc.config.name}) has issued its {quota} tickets "
                "for today."
            )
        channel = _channel(channel)
        at = self._advance(now)
        ticket = self._new_ticket(svc, klass, channel, at)
        key = at - self._offsets[klass] if self._offsets[klass] else at
        self._enqueue(ticket, svc, key)
        return [self._issued_event(ticket, svc)]

    def check_in_appointment(
        self,
        service: str,
        slot_start: float,
        *,
        now: float,
        appointment_id: str | None = None,
        channel: str = "appointment",
    ) -> list[Event]:
        """A booked customer arrives (签到). Within the window the ticket is of class
        ``appointment``, keyed by its slot; too late, it becomes a walk-in or is refused, per
        policy. Check-ins count toward the daily quota but are never refused for it."""
        svc = self._service(service)
        if not math.isfinite(slot_start):
            raise InvalidCommand("The slot start must be a time.")
        policy = self.config.appointments
        channel = _channel(channel)
        at = self._instant(now)
        if at < slot_start - policy.early_seconds:
            minutes = math.ceil((slot_start - policy.early_seconds - at) / 60)
            raise CheckInRefused(
                f"Check-in opens {policy.early_seconds / 60:.0f} minutes before the slot; "
                f"please come back in {minutes} minutes."
            )
        late = at > slot_start + policy.late_seconds
        if late and policy.late_action is LateCheckIn.REFUSE:
            raise CheckInRefused(
                f"Check-in closed {policy.late_seconds / 60:.0f} minutes after the slot started; "
                "please take a new ticket or book again."
            )
        self._last_now = at
        klass = Priority.NORMAL if late else Priority.APPOINTMENT
        ticket = self._new_ticket(svc, klass, channel, at)
        rare = ticket.more
        rare.appointment_id = appointment_id
        rare.slot_start = slot_start
        key = at if late else slot_start - self._offsets[Priority.APPOINTMENT]
        self._enqueue(ticket, svc, key)
        return [self._issued_event(ticket, svc, late_check_in=late)]

    def cancel_ticket(self, ticket_id: int, *, now: float) -> list[Event]:
        """The customer gives up a ticket that is waiting, called, parked or missed."""
        ticket = self._ticket(ticket_id)
        self._require("cancel", ticket)
        at = self._advance(now)
        previous = ticket.state
        self._take_off_counter(ticket)
        ticket.state = S.CANCELLED
        return [TicketCancelled(at, ticket.id, ticket.display, ticket.service, previous)]

    # ----------------------------------------------------------------------------------------
    # Commands: counters

    def open_counter(self, number: int, *, now: float) -> list[Event]:
        return self._counter_transition(number, "open", now)

    def pause_counter(self, number: int, *, now: float) -> list[Event]:
        """The counter keeps its current ticket but calls nobody new until opened again."""
        return self._counter_transition(number, "pause", now)

    def close_counter(self, number: int, *, now: float) -> list[Event]:
        """Close a counter that holds no ticket. Its direct queue and parked tickets go, in id
        order, to the direct queue of its backup counter (AB角) keeping their order when that
        one is not closed, else back to their service queues under their original keys."""
        counter = self._counter(number)
        if counter.current is not None:
            raise CounterBusy(
                f"Counter {number} still holds ticket {counter.current.display}; finish it, "
                "mark it a no-show or transfer it before closing."
            )
        self._counter_state_change(counter, "close")
        at = self._advance(now)
        backup = (
            self._counters.get(counter.config.backup) if counter.config.backup is not None else None
        )
        if backup is not None and backup.state is CounterState.CLOSED:
            backup = None
        events: list[Event] = [self._set_counter_state(counter, CounterState.CLOSED, at)]
        # Sorted by id: tickets queued at one instant join the arrival order by id, as a rebuild
        # orders them, so SLA escalation picks the same ticket before and after a restart.
        handed = sorted(counter.direct.ids() + counter.parked)
        counter.parked = []
        for ticket_id in handed:
            ticket = self._ticket(ticket_id)
            kept = ticket.entry[0] if ticket.entry is not None else None
            if ticket.state is S.WAITING:
                self._dequeue(ticket)
            else:  # parked: its next call is a fresh call, and its service starts again then
                ticket.started_at = None
                ticket.recalls = 0
            ticket.state = S.WAITING
            ticket.queued_at = at
            svc = self._services[ticket.service]
            if backup is not None:
                key = kept if kept is not None else self._original_key(ticket)
                self._enqueue_direct(ticket, backup, key)
            else:
                key = self._original_key(ticket)
                ticket.counter = None
                self._enqueue(ticket, svc, key)
            events.append(
                TicketTransferred(
                    at,
                    ticket.id,
                    ticket.display,
                    ticket.service,
                    from_service=ticket.service,
                    from_counter=number,
                    to_counter=backup.config.number if backup is not None else None,
                    position=Position.KEEP,
                    key=key,
                )
            )
        return events

    # ----------------------------------------------------------------------------------------
    # Commands: calling

    def call_next(self, counter_number: int, *, now: float) -> list[Event]:
        """Call the next ticket for this counter; ``[]`` when nobody is waiting for it."""
        # The hot command (docs/performance.md): the usual case of each check is inlined, and
        # the full check runs whenever that case does not hold.
        counter = self._counters.get(counter_number) if type(counter_number) is int else None
        if counter is None:
            counter = self._counter(counter_number)
        if counter.state is not OPEN or counter.current is not None:
            self._require_can_call(counter)
        at = now if type(now) is float and self._last_now < now < _INF else self._instant(now)
        picked = self._pick(counter, at)
        if picked is None:
            return []
        self._last_now = at
        ticket, reason, tier_index = picked
        return [self._call(counter, ticket, reason, tier_index, at)]

    def peek_next(self, counter_number: int, *, now: float) -> TicketRecord | None:
        """The ticket :meth:`call_next` would call now, without calling it."""
        counter = self._counter(counter_number)
        picked = self._pick(counter, self._instant(now))
        return picked[0].to_record() if picked is not None else None

    def call_ticket(self, counter_number: int, ticket_id: int, *, now: float) -> list[Event]:
        """Call one waiting ticket out of order (the clerk chooses it)."""
        counter = self._counter(counter_number)
        self._require_can_call(counter)
        ticket = self._ticket(ticket_id)
        self._require("call", ticket)
        if ticket.counter is not None and ticket.counter != counter_number:
            raise ServiceNotServedHere(
                f"Ticket {ticket.display} waits for counter {ticket.counter}, not this one."
            )
        if ticket.counter is None and counter.tier_of(ticket.service) is None:
            raise ServiceNotServedHere(
                f"Counter {counter_number} does not serve service {ticket.service}; "
                f"transfer ticket {ticket.display} instead."
            )
        at = self._advance(now)
        return [self._call(counter, ticket, CallReason.MANUAL, 0, at)]

    def recall(self, counter_number: int, *, now: float) -> list[Event]:
        """Call the counter's current ticket again (重呼). With ``auto_miss_after_recalls`` = N,
        the recall after N recalls marks the ticket missed instead."""
        counter = self._counter(counter_number)
        ticket = self._current(counter, "recall")
        limit = self.config.missed.auto_miss_after_recalls
        if limit is not None and ticket.recalls >= limit:
            at = self._advance(now)
            return [self._miss(counter, ticket, at, automatic=True)]
        at = self._advance(now)
        ticket.recalls += 1
        ticket.called_at = at
        self._note_recent(ticket.id)
        return [
            TicketRecalled(
                at,
                ticket.id,
                ticket.display,
                ticket.service,
                counter=counter_number,
                counter_name=counter.config.display_name,
                recalls=ticket.recalls,
            )
        ]

    def start_serving(self, counter_number: int, *, now: float) -> list[Event]:
        """The called customer has arrived at the counter."""
        counter = self._counter(counter_number)
        ticket = self._current(counter, "start")
        at = self._advance(now)
        ticket.state = S.SERVING
        ticket.started_at = at
        return [ServiceStarted(at, ticket.id, ticket.display, ticket.service, counter_number)]

    def finish(self, counter_number: int, *, now: float, outcome: str | None = None) -> list[Event]:
        """Service done. Finishing a called ticket that was never started counts its service
        from the call."""
        counter = self._counter(counter_number)
        ticket = self._current(counter, "finish")
        if outcome is not None and (
            not isinstance(outcome, str) or len(outcome) > MAX_OUTCOME_LENGTH
        ):
            raise InvalidCommand(
                f"The outcome is a text of at most {MAX_OUTCOME_LENGTH} characters."
            )
        at = self._advance(now)
        started = ticket.started_at if ticket.started_at is not None else ticket.called_at
        service_seconds = at - (started if started is not None else at)
        if ticket.started_at is None:
            ticket.started_at = started
        ticket.state = FINISHED
        ticket.finished_at = at
        if outcome is not None:
            ticket.more.outcome = outcome
        counter.current = None
        self._learn(self._services[ticket.service], service_seconds)
        return [
            TicketFinished(  # positional, in field order: keywords cost more
                at,
                ticket.id,
                display_number(ticket.prefix, ticket.number),
                ticket.service,
                counter_number,
                outcome,
                service_seconds,
            )
        ]

    def no_show(self, counter_number: int, *, now: float) -> list[Event]:
        """The called customer did not come (过号)."""
        counter = self._counter(counter_number)
        ticket = self._current(counter, "no_show")
        at = self._advance(now)
        return [self._miss(counter, ticket, at, automatic=False)]

    def return_missed(self, ticket_id: int, *, now: float) -> list[Event]:
        """A missed ticket comes back within its grace period and is reinserted
        ``reinsert_places`` places behind the head of its service queue."""
        ticket = self._ticket(ticket_id)
        self._require("return", ticket)
        at = self._instant(now)
        policy = self.config.missed
        rare = ticket.more
        missed_at = rare.missed_at if rare.missed_at is not None else ticket.called_at or at
        if rare.returns >= policy.max_returns:
            raise ReturnNotAllowed(
                f"Ticket {ticket.display} has already returned {rare.returns} time(s), the most "
                "allowed; please take a new ticket."
            )
        if at - missed_at > policy.grace_seconds:
            raise ReturnNotAllowed(
                f"Ticket {ticket.display} was missed {(at - missed_at) / 60:.0f} minutes ago; "
                f"the grace period is {policy.grace_seconds / 60:.0f} minutes. "
                "Please take a new ticket."
            )
        self._last_now = at
        svc = self._services[ticket.service]
        key = self._key_behind_head(svc.queue, policy.reinsert_places, at, ticket.id)
        rare.returns += 1
        ticket.state = S.WAITING
        ticket.counter = None
        ticket.queued_at = at
        self._enqueue(ticket, svc, key)
        return [
            TicketReturned(
                at,
                ticket.id,
                ticket.display,
                ticket.service,
                key=key,
                returns=rare.returns,
                ahead=svc.queue.rank(_entry(ticket)),
            )
        ]

    def transfer(
        self,
        counter_number: int,
        *,
        now: float,
        service: str | None = None,
        counter: int | None = None,
        position: Position | str = Position.KEEP,
    ) -> list[Event]:
        """Send the counter's current ticket to another service, or into another counter's own
        queue (optionally for another service too), joining first, last, or by its original key."""
        source = self._counter(counter_number)
        ticket = self._current(source, "transfer")
        try:
            place = Position(position)
        except ValueError:
            raise InvalidCommand("The position is 'first', 'last' or 'keep'.") from None
        if service is None and counter is None:
            raise InvalidCommand("Name the service or the counter to transfer the ticket to.")
        target_service = (
            self._services[ticket.service] if service is None else self._service(service)
        )
        target_counter: _Counter | None = None
        if counter is not None:
            target_counter = self._counter(counter)
            if counter == counter_number:
                raise InvalidCommand("A ticket cannot be transferred to its own counter.")
            if target_counter.state is CounterState.CLOSED:
                raise CounterNotOpen(
                    f"Counter {counter} is closed; transfer to an open counter or to a service."
                )
        elif target_service is self._services[ticket.service]:
            raise InvalidCommand(
                f"Ticket {ticket.display} is already for service {ticket.service}; name another "
                "service or a counter."
            )
        at = self._advance(now)
        from_service = ticket.service
        if ticket.state is S.SERVING and ticket.started_at is not None:
            self._learn(self._services[from_service], at - ticket.started_at)
        source.current = None
        ticket.service = target_service.config.code
        ticket.state = S.WAITING
        ticket.queued_at = at
        ticket.recalls = 0
        ticket.started_at = None
        ticket.more.transfers += 1
        line: KeyedQueue = target_counter.direct if target_counter else target_service.queue
        if place is Position.FIRST:
            key = (line.head[0] if line.head is not None else at) - 1.0
        elif place is Position.LAST:
            key = max(at, line.key_at(-1) + 1.0) if len(line) else at
        else:
            key = self._original_key(ticket)
        if target_counter is not None:
            self._enqueue_direct(ticket, target_counter, key)
        else:
            ticket.counter = None
            self._enqueue(ticket, target_service, key)
        return [
            TicketTransferred(
                at,
                ticket.id,
                ticket.display,
                ticket.service,
                from_service=from_service,
                from_counter=counter_number,
                to_counter=counter,
                position=place,
                key=key,
            )
        ]

    def park(self, counter_number: int, *, now: float) -> list[Event]:
        """Set the current ticket aside (挂起), freeing the counter to call others."""
        counter = self._counter(counter_number)
        ticket = self._current(counter, "park")
        at = self._advance(now)
        ticket.state = S.PARKED
        counter.current = None
        bisect.insort(counter.parked, ticket.id)
        return [TicketParked(at, ticket.id, ticket.display, ticket.service, counter_number)]

    def unpark(self, counter_number: int, ticket_id: int, *, now: float) -> list[Event]:
        """Resume a ticket this counter parked; it becomes the counter's current ticket again."""
        counter = self._counter(counter_number)
        ticket = self._ticket(ticket_id)
        self._require("unpark", ticket)
        if ticket.counter != counter_number:
            raise IllegalTransition(
                f"Ticket {ticket.display} was parked by counter {ticket.counter}, not this one."
            )
        if counter.state is CounterState.CLOSED:
            raise CounterNotOpen(f"Counter {counter_number} is closed.")
        if counter.current is not None:
            raise CounterBusy(
                f"Counter {counter_number} is holding ticket {counter.current.display}; "
                "finish or park it first."
            )
        at = self._advance(now)
        counter.parked.remove(ticket.id)
        ticket.state = S.SERVING if ticket.started_at is not None else S.CALLED
        counter.current = ticket
        return [
            TicketUnparked(
                at, ticket.id, ticket.display, ticket.service, counter_number, ticket.state
            )
        ]

    def start_day(self, business_day: str, *, now: float) -> list[Event]:
        """Begin a new business day: every unfinished ticket expires, counters close, numbering
        restarts at 1. Learned service times carry over."""
        if business_day == self.business_day:
            raise InvalidCommand(f"Business day {business_day} has already started.")
        at = self._advance(now)
        events: list[Event] = []
        for ticket in self._tickets:
            if ticket.state in TRANSITIONS["expire"]:
                events.append(
                    TicketExpired(at, ticket.id, ticket.display, ticket.service, ticket.state)
                )
                ticket.state = S.EXPIRED
        for counter in self._counters.values():
            if counter.state is not CounterState.CLOSED:
                events.append(self._set_counter_state(counter, CounterState.CLOSED, at))
            counter.current = None
            counter.direct = KeyedQueue()
            counter.parked = []
        next_id = self.next_ticket_id
        for service in self._services.values():
            service.queue = ServiceQueue()
            service.ids = []
            service.direct_waiting = 0
        self._tickets = []
        self._first_id = next_id
        self._recent.clear()
        previous = self.business_day
        self.business_day = business_day
        events.append(BusinessDayStarted(at, business_day, previous))
        return events

    # ----------------------------------------------------------------------------------------
    # Queries

    @property
    def next_ticket_id(self) -> int:
        return self._first_id + len(self._tickets)

    @property
    def last_now(self) -> float:
        return self._last_now

    def ticket(self, ticket_id: int) -> TicketRecord:
        return self._ticket(ticket_id).to_record()

    def find_ticket(self, number: str) -> TicketRecord:
        """Today's ticket with display number ``number`` (for example ``A005``)."""
        prefix = number.rstrip("0123456789")
        digits = number[len(prefix) :]
        service = self._services.get(prefix.upper())
        if service is None or not digits or not digits.isdigit() or len(digits) > 9:
            raise UnknownTicket(f"No ticket numbered {number!r} today.")
        index = int(digits) - 1
        if not 0 <= index < len(service.ids):
            raise UnknownTicket(f"No ticket numbered {number!r} today.")
        return self.ticket(service.ids[index])

    def tickets(self) -> list[TicketRecord]:
        return [t.to_record() for t in self._tickets]

    def waiting_ids(self, service: str) -> list[int]:
        """Waiting tickets of a service queue, in calling order (direct queues excluded)."""
        return self._service(service).queue.ids()

    def position(self, ticket_id: int) -> int | None:
        """How many tickets are ahead of this one in its line (its service queue, or the direct
        queue of its counter): the number printed on the ticket. None unless waiting."""
        ticket = self._ticket(ticket_id)
        if ticket.state is not S.WAITING or ticket.entry is None:
            return None
        if ticket.counter is not None:
            return self._counter(ticket.counter).direct.rank(ticket.entry)
        return self._services[ticket.service].queue.rank(ticket.entry)

    def estimate_wait_seconds(self, ticket_id: int) -> float | None:
        """Expected seconds until this waiting ticket is called; None when no open counter
        serves it."""
        ticket = self._ticket(ticket_id)
        ahead = self.position(ticket_id)
        if ahead is None:
            return None
        if ticket.counter is not None:
            counter = self._counter(ticket.counter)
            if counter.state is CounterState.CLOSED:
                return None
            busy = 1 if counter.current is not None else 0
            return (ahead + busy) * self._services[ticket.service].estimate
        return self._estimate(self._services[ticket.service], ahead)

    def estimate_wait_minutes(self, ticket_id: int) -> int | None:
        seconds = self.estimate_wait_seconds(ticket_id)
        return None if seconds is None else _to_minutes(seconds)

    def estimates(self) -> dict[str, ServiceTimeEstimate]:
        return {
            code: ServiceTimeEstimate(svc.estimate, svc.samples)
            for code, svc in self._services.items()
        }

    def counter_state(self, number: int) -> CounterState:
        return self._counter(number).state

    def counter_status(self, number: int) -> CounterStatus:
        """One counter as :meth:`snapshot` shows it, without building the whole snapshot (a
        counter's reply needs only its own status)."""
        c = self._counter(number)
        return CounterStatus(
            number=number,
            name=c.config.display_name,
            state=c.state,
            ticket=c.current.to_record() if c.current is not None else None,
            direct_waiting=len(c.direct),
            parked=tuple(self._ticket(t).display for t in c.parked),
            services=c.config.tiers,
        )

    def finish_and_call_next(
        self, counter_number: int, *, now: float, outcome: str | None = None
    ) -> list[Event]:
        """The clerk's "next" button, one command: finish the counter's current ticket if it
        holds one (with ``outcome``), then call the next ticket. Returns ``TicketFinished``
        and/or ``TicketCalled``, ``[]`` when the counter held nothing and nobody waits.

        Everything is checked before anything changes: a counter that is not open refuses
        (:class:`CounterNotOpen`) even while holding a ticket, and a bad outcome refuses, with
        the ticket still held. The call cannot fail once the finish is done. Equal to
        :meth:`finish` then :meth:`call_next` at the same ``now``. The outcome is ignored when
        there is no ticket to finish."""
        counter = self._counter(counter_number)
        if counter.state is not CounterState.OPEN:
            raise CounterNotOpen(
                f"Counter {counter_number} is {counter.state.value}; open it to call."
            )
        finished = (
            self.finish(counter_number, now=now, outcome=outcome)
            if counter.current is not None
            else []
        )
        return finished + self.call_next(counter_number, now=now)

    def snapshot(self, now: float) -> BranchSnapshot:
        """What a lobby screen or a dashboard shows, as of ``now`` (no state changes)."""
        services = []
        for code, svc in self._services.items():
            oldest = svc.queue.oldest(self._ticket)
            waiting = len(svc.queue) + svc.direct_waiting
            eta = self._estimate(svc, len(svc.queue))
            quota = svc.config.daily_quota
            services.append(
                ServiceStatus(
                    code=code,
                    name=svc.config.name,
                    name_en=svc.config.name_en,
                    waiting=waiting,
                    longest_wait_seconds=max(0.0, now - oldest.queued_at) if oldest else 0.0,
                    open_counters=sum(1 for c, _ in svc.servers if c.state is CounterState.OPEN),
                    eta_minutes=None if eta is None else _to_minutes(eta),
                    issued_today=len(svc.ids),
                    quota_left=None if quota is None else max(0, quota - len(svc.ids)),
                    paused=svc.config.paused,
                )
            )
        counters = tuple(
            CounterStatus(
                number=number,
                name=c.config.display_name,
                state=c.state,
                ticket=c.current.to_record() if c.current is not None else None,
                direct_waiting=len(c.direct),
                parked=tuple(self._ticket(t).display for t in c.parked),
                services=c.config.tiers,
            )
            for number, c in self._counters.items()
        )
        recent = []
        for ticket_id in reversed(self._recent):
            ticket = self._ticket(ticket_id)
            number = ticket.counter
            # A ticket transferred since its call waits again: it is no longer a call to show.
            if number is None or ticket.called_at is None or ticket.state is S.WAITING:
                continue
            recent.append(
                RecentCall(
                    ticket_id=ticket.id,
                    number=ticket.display,
                    service=ticket.service,
                    counter=number,
                    counter_name=self._counters[number].config.display_name,
                    called_at=ticket.called_at,
                )
            )
        return BranchSnapshot(
            business_day=self.business_day,
            at=now,
            services=tuple(services),
            counters=counters,
            recent_calls=tuple(recent),
        )

    # ----------------------------------------------------------------------------------------
    # Internals: calling

    def _pick(self, counter: _Counter, now: float) -> tuple[Ticket, CallReason, int] | None:
        # Entries in queues always name one of today's tickets: index the list directly.
        direct = counter.direct.head
        if direct is not None:
            return self._tickets[direct[1] - self._first_id], DIRECT, 0
        if counter.sla_services:
            overdue = self._most_overdue(counter, now)
            if overdue is not None:
                return overdue, SLA_ESCALATION, 0
        for tier_index, tier in enumerate(counter.tiers):
            best: Entry | None = None
            for svc in tier:
                head = svc.queue.head
                if head is not None and (best is None or head < best):
                    best = head
            if best is not None:
                ticket = self._tickets[best[1] - self._first_id]
                if ticket.priority is NORMAL and ticket.rare is None:
                    return ticket, TIER, tier_index  # what _tier_reason says for these
                return ticket, self._tier_reason(ticket, tier), tier_index
        return None

    def _most_overdue(self, counter: _Counter, now: float) -> Ticket | None:
        best: Ticket | None = None
        best_overdue = 0.0
        for svc in counter.sla_services:
            sla = svc.config.sla_seconds
            if sla is None or svc.queue.head is None:
                continue
            oldest = svc.queue.oldest(self._ticket)
            if oldest is None:
                continue
            overdue = now - oldest.queued_at - sla
            if overdue > 0 and (
                best is None
                or overdue > best_overdue
                or (overdue == best_overdue and oldest.id < best.id)
            ):
                best, best_overdue = oldest, overdue
        return best

    def _tier_reason(self, ticket: Ticket, tier: tuple[_Service, ...]) -> CallReason:
        if ticket.rare is not None and ticket.rare.returns and ticket.call_reason is not None:
            return RETURNED
        priority = ticket.priority
        if priority is NORMAL:
            return TIER
        if priority is APPOINTMENT:
            return CallReason.APPOINTMENT
        # A priority ticket "used" its head start only if someone who joined earlier still waits.
        for svc in tier:
            oldest = svc.queue.oldest(self._ticket)
            if oldest is not None and oldest.queued_at < ticket.queued_at:
                return CallReason.HEAD_START
        return CallReason.TIER

    def _call(
        self, counter: _Counter, ticket: Ticket, reason: CallReason, tier_index: int, at: float
    ) -> TicketCalled:
        waited = at - ticket.queued_at
        number = counter.number
        priority = ticket.priority
        cache_key = (reason, priority, tier_index, number)
        explanation = self._explanations.get(cache_key)
        if explanation is None:
            svc = self._services[ticket.service]
            explanation = explain_call(
                reason,
                priority=priority,
                head_start_seconds=self.config.priority.head_start_seconds[priority],
                tier_index=tier_index,
                tier_services=counter.config.tiers[tier_index] if counter.config.tiers else (),
                waited_seconds=waited,
                sla_seconds=svc.config.sla_seconds,
                service_name=svc.config.name,
                strict=self.config.priority.strict_priority,
            )
            if reason is not SLA_ESCALATION:
                self._explanations[cache_key] = explanation
        if ticket.counter is None and ticket.entry is not None:  # _dequeue's usual case
            self._services[ticket.service].queue.remove(ticket.entry)
            ticket.entry = None
        else:
            self._dequeue(ticket)
        ticket.state = CALLED
        ticket.counter = number
        ticket.called_at = at
        if ticket.first_called_at is None:
            ticket.first_called_at = at
        ticket.recalls = 0
        ticket.call_reason = reason
        counter.current = ticket
        self._note_recent(ticket.id)
        # Positional arguments, in field order: keywords cost more than the rest of the event.
        return TicketCalled(
            at,
            ticket.id,
            display_number(ticket.prefix, ticket.number),
            ticket.service,
            number,
            counter.display_name,
            priority,
            reason,
            explanation[0],
            explanation[1],
            waited,
        )

    def _miss(self, counter: _Counter, ticket: Ticket, at: float, *, automatic: bool) -> Event:
        ticket.state = S.MISSED
        rare = ticket.more
        rare.missed_at = at
        counter.current = None
        return TicketMissed(
            at,
            ticket.id,
            ticket.display,
            ticket.service,
            counter=counter.config.number,
            automatic=automatic,
            returns_left=max(0, self.config.missed.max_returns - rare.returns),
        )

    # ----------------------------------------------------------------------------------------
    # Internals: queues and keys

    def _new_ticket(self, svc: _Service, klass: Priority, channel: str, at: float) -> Ticket:
        ticket = Ticket(self.next_ticket_id, svc.config.code, len(svc.ids) + 1, klass, channel, at)
        self._tickets.append(ticket)
        svc.ids.append(ticket.id)
        return ticket

    def _enqueue(self, ticket: Ticket, svc: _Service, key: float) -> None:
        entry = (key, ticket.id)
        ticket.entry = entry
        svc.queue.add(entry)

    def _enqueue_direct(self, ticket: Ticket, counter: _Counter, key: float) -> None:
        entry = (key, ticket.id)
        ticket.entry = entry
        ticket.counter = counter.config.number
        counter.direct.add(entry)
        self._services[ticket.service].direct_waiting += 1

    def _dequeue(self, ticket: Ticket) -> None:
        entry = ticket.entry
        if entry is None:
            return
        if ticket.counter is not None:
            self._counters[ticket.counter].direct.remove(entry)
            self._services[ticket.service].direct_waiting -= 1
        else:
            self._services[ticket.service].queue.remove(entry)
        ticket.entry = None

    def _take_off_counter(self, ticket: Ticket) -> None:
        if ticket.state is S.WAITING:
            self._dequeue(ticket)
        elif ticket.state in (S.CALLED, S.SERVING) and ticket.counter is not None:
            self._counters[ticket.counter].current = None
        elif ticket.state is S.PARKED and ticket.counter is not None:
            self._counters[ticket.counter].parked.remove(ticket.id)

    def _original_key(self, ticket: Ticket) -> float:
        rare = ticket.rare
        if (
            ticket.priority is Priority.APPOINTMENT
            and rare is not None
            and rare.slot_start is not None
        ):
            return rare.slot_start - self._offsets[Priority.APPOINTMENT]
        return ticket.issued_at - self._offsets[ticket.priority]

    @staticmethod
    def _key_behind_head(queue: KeyedQueue, places: int, at: float, ticket_id: int) -> float:
        """A key that puts ticket ``ticket_id`` ``places`` places behind the head of ``queue``.

        Entries order by ``(key, id)``. When the keys on both sides of that place are equal and
        the id does not fall between theirs, no key lands exactly there; the ticket then goes
        right behind the tickets sharing that key: never ahead of the place it was promised.
        """
        size = len(queue)
        if size == 0:
            return at
        if places == 0:
            return queue.key_at(0) - 1.0
        if size <= places:
            return queue.key_at(-1) + 1.0
        before, after = queue.entry_at(places - 1), queue.entry_at(places)
        for key in ((before[0] + after[0]) / 2, before[0], after[0]):
            if before < (key, ticket_id) < after:
                return key
        return math.nextafter(after[0], math.inf)

    def _estimate(self, svc: _Service, ahead: int) -> float | None:
        """Seconds until the ticket with ``ahead`` tickets before it is called.

        Capacity is the open counters that serve the service, each weighted by its tier: a
        first-tier counter counts fully, split among the services of that tier that have
        people waiting; a lower-tier counter counts a quarter as much while its higher tiers
        have anybody waiting (and then is not idle for this service). With ``c`` counters of
        capacity and every one busy, the ticket is called after ``ahead + 1`` services finish,
        ``mean / c`` apart; idle counters call at once.
        """
        capacity = 0.0
        idle = 0.0
        for counter, tier_index in svc.servers:
            if counter.state is not OPEN:
                continue
            tier = counter.tiers[tier_index]
            sharing = sum(1 for other in tier if other is svc or other.queue.head is not None)
            weight = 1.0 / sharing
            if any(
                other.queue.head is not None
                for higher in counter.tiers[:tier_index]
                for other in higher
            ):
                weight *= 0.25  # busy with its higher tiers first: no idle help from it either
            elif counter.current is None and counter.direct.head is None:
                idle += weight
            capacity += weight
        if capacity == 0:
            return None
        if ahead < idle:
            return 0.0
        return (ahead + 1 - idle) * svc.estimate / capacity

    def _learn(self, svc: _Service, seconds: float) -> None:
        if seconds < MIN_SERVICE_SAMPLE:
            return
        sample = min(seconds, svc.estimate * MAX_SAMPLE_FACTOR)
        # A running average (the configured mean counting as one sample) until there are enough
        # samples, then an exponentially weighted mean. A fast-moving mean chases the last few
        # services, and queues are long exactly when recent services were: it overshoots.
        weight = max(self.config.estimator_weight, 1.0 / (svc.samples + 2))
        svc.estimate += weight * (sample - svc.estimate)
        svc.samples += 1

    # ----------------------------------------------------------------------------------------
    # Internals: validation and lookups

    def _instant(self, now: float) -> float:
        """The engine time a command given ``now`` runs at (validated, not yet taken)."""
        if type(now) is float and self._last_now < now < _INF:
            return now  # the usual case: a finite float after the previous command
        if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
            raise InvalidCommand("The command's time must be a finite number of seconds.")
        at = float(now)
        if at <= self._last_now:
            at = self._last_now + TICK
            if at <= self._last_now:  # float spacing wider than TICK at this magnitude
                at = math.nextafter(self._last_now, math.inf)
        return at

    def _advance(self, now: float) -> float:
        """Take the next instant: called once per command, right before it changes state."""
        at = self._instant(now)
        self._last_now = at
        return at

    def _service(self, code: str) -> _Service:
        svc = self._services.get(code) if isinstance(code, str) else None
        if svc is None:
            raise UnknownService(f"Service {code!r} does not exist at this branch.")
        return svc

    def _counter(self, number: int) -> _Counter:
        counter = self._counters.get(number) if isinstance(number, int) else None
        if counter is None:
            raise UnknownCounter(f"Counter {number!r} does not exist at this branch.")
        return counter

    def _ticket(self, ticket_id: int) -> Ticket:
        index = ticket_id - self._first_id if isinstance(ticket_id, int) else -1
        if not 0 <= index < len(self._tickets):
            raise UnknownTicket(f"Ticket {ticket_id!r} does not exist today.")
        return self._tickets[index]

    def _current(self, counter: _Counter, command: str) -> Ticket:
        ticket = counter.current
        if ticket is None:
            raise CounterIdle(f"Counter {counter.config.number} holds no ticket.")
        self._require(command, ticket)
        return ticket

    def _require(self, command: str, ticket: Ticket) -> None:
        if ticket.state not in TRANSITIONS[command]:
            raise IllegalTransition(
                f"Ticket {ticket.display} is {ticket.state.value}; "
                f"'{command.replace('_', ' ')}' is not possible now."
            )

    def _require_can_call(self, counter: _Counter) -> None:
        if counter.state is not OPEN:
            raise CounterNotOpen(
                f"Counter {counter.config.number} is {counter.state.value}; open it to call."
            )
        if counter.current is not None:
            raise CounterBusy(
                f"Counter {counter.config.number} is still holding ticket "
                f"{counter.current.display}; finish it, mark it a no-show or transfer it first."
            )

    def _counter_state_change(self, counter: _Counter, command: str) -> CounterState:
        allowed = COUNTER_TRANSITIONS[command]
        if counter.state not in allowed:
            already = counter.state in allowed.values()
            raise IllegalTransition(
                f"Counter {counter.config.number} is already {counter.state.value}."
                if already
                else f"Counter {counter.config.number} is {counter.state.value}; "
                f"it cannot be {'paused' if command == 'pause' else command + 'ed'}."
            )
        return allowed[counter.state]

    def _counter_transition(self, number: int, command: str, now: float) -> list[Event]:
        counter = self._counter(number)
        state = self._counter_state_change(counter, command)
        at = self._advance(now)
        return [self._set_counter_state(counter, state, at)]

    def _set_counter_state(
        self, counter: _Counter, state: CounterState, at: float
    ) -> CounterStateChanged:
        previous = counter.state
        counter.state = state
        return CounterStateChanged(at, counter.config.number, state, previous)

    def _note_recent(self, ticket_id: int) -> None:
        """Put a called or recalled ticket first among the recent calls (at most
        ``recent_calls`` tickets, each once)."""
        recent = self._recent
        if ticket_id in recent:
            recent.move_to_end(ticket_id)
        else:
            recent[ticket_id] = None
            if len(recent) > self._recent_limit:
                recent.popitem(last=False)

    def _issued_event(
        self, ticket: Ticket, svc: _Service, *, late_check_in: bool = False
    ) -> TicketIssued:
        entry = _entry(ticket)
        ahead = svc.queue.rank(entry)
        eta = self._estimate(svc, ahead)
        rare = ticket.rare
        return TicketIssued(  # positional, in field order: keywords cost more
            ticket.issued_at,
            ticket.id,
            display_number(ticket.prefix, ticket.number),
            ticket.service,
            ticket.priority,
            ticket.channel,
            entry[0],
            ahead,
            None if eta is None else _to_minutes(eta),
            rare.appointment_id if rare else None,
            rare.slot_start if rare else None,
            late_check_in,
        )


def _entry(ticket: Ticket) -> Entry:
    assert ticket.entry is not None
    return ticket.entry


def _required(counter: int | None, record: TicketRecord) -> int:
    if counter is None:
        raise InvalidCommand(f"Ticket {record.display} is {record.state} but names no counter.")
    return counter


_PRIORITIES: dict[str, Priority] = {p.value: p for p in Priority}


def _priority(value: Priority | str) -> Priority:
    try:
        # A member hashes and compares as its value: one look-up serves both forms.
        return _PRIORITIES[value]
    except (KeyError, TypeError):
        pass
    try:
        return Priority(value)
    except ValueError:
        raise InvalidCommand(
            f"Unknown priority class {value!r}; use normal, vip or care."
        ) from None


_CHANNELS: dict[str, str] = {}


def _channel(value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_CHANNEL_LENGTH:
        raise InvalidCommand(
            f"The channel is a short name of 1 to {MAX_CHANNEL_LENGTH} characters."
        )
    # Channels repeat on every ticket: share one string object per channel name.
    return _CHANNELS.setdefault(value, sys.intern(value))


def _to_minutes(seconds: float) -> int:
    return max(0, round(seconds / 60))


def paused_refusal(service: ServiceConfig) -> ServicePaused:
    """The refusal of a new ticket for a paused service, in Chinese and English."""
    zh = f"{service.code} 业务（{service.name}）暂停取号"
    en = f"Service {service.code} ({service.name_en or service.name}) is not issuing tickets now"
    if service.pause_reason:
        zh += f"：{service.pause_reason}"
        en += f": {service.pause_reason_en or service.pause_reason}"
    return ServicePaused(f"{zh}。", f"{en}.")
