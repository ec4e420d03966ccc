"""A small, obviously correct model of the queue engine's rules, for tests only.

It keeps every ticket of the day in a plain dict and answers every question by scanning all of
them: no heaps, no caches, no arrival deques. It reads only the rules as written in
ARCHITECTURE.md ("Choosing the next ticket") and in the docstrings of ``app/queue_engine``, so a
disagreement with the engine points at one of the two.

Each command either raises :class:`Refused` (naming every error class that the engine may raise
for it: when several rules forbid a command, which one the engine reports is its own business)
and changes nothing, or applies the command and returns the events it expects, as dicts holding
only the fields the model predicts.

Keys the rules do not fix (a returning ticket "N places behind the head", a transfer to the
first or last place) are left unset: :meth:`ReferenceBranch.place` takes the key the engine chose
and reports where it puts the ticket, which the caller compares with :attr:`RefTicket.due_rank`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from app.queue_engine import (
    BranchConfig,
    CallReason,
    CheckInRefused,
    CounterBusy,
    CounterIdle,
    CounterNotOpen,
    CounterState,
    IllegalTransition,
    InvalidCommand,
    LateCheckIn,
    Position,
    Priority,
    QueueError,
    QuotaReached,
    ReturnNotAllowed,
    ServiceNotServedHere,
    TicketState,
    UnknownCounter,
    UnknownService,
    UnknownTicket,
    display_number,
)

W = TicketState.WAITING
CALLED = TicketState.CALLED
SERVING = TicketState.SERVING
PARKED = TicketState.PARKED
MISSED = TicketState.MISSED
FINISHED = TicketState.FINISHED
CANCELLED = TicketState.CANCELLED
EXPIRED = TicketState.EXPIRED
OPEN = CounterState.OPEN
CLOSED = CounterState.CLOSED

TICK = 1e-6  # "a command whose now is not after the previous command's runs 1 microsecond after it"
MAX_CHANNEL_LENGTH = 32
MAX_OUTCOME_LENGTH = 200

ExpectedEvent = dict[str, Any]


class Refused(Exception):
    """The model refuses the command; ``errors`` are the engine errors that would be right."""

    def __init__(self, *errors: type[QueueError]) -> None:
        super().__init__(", ".join(e.__name__ for e in errors))
        self.errors = errors


@dataclass
class RefTicket:
    id: int
    service: str
    prefix: str
    number: int
    priority: Priority
    channel: str
    issued_at: float
    queued_at: float
    state: TicketState = W
    key: float | None = None  # None while waiting only when the engine has yet to place it
    due_rank: int | None = None  # where an unplaced ticket must land in its line
    counter: int | None = None  # direct queue it waits in, or the counter holding it
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
    parked_from: TicketState | None = None

    @property
    def display(self) -> str:
        return display_number(self.prefix, self.number)

    @property
    def order(self) -> tuple[float, int]:
        assert self.key is not None, f"ticket {self.id} was never placed"
        return (self.key, self.id)

    def expected_record(self) -> dict[str, Any]:
        """The fields of the engine's :class:`TicketRecord` this model is sure of, in this state.

        Leftovers the rules leave open (the counter of a finished ticket, the recalls of a
        waiting one) are not compared.
        """
        fields: dict[str, Any] = {
            "id": self.id,
            "service": self.service,
            "prefix": self.prefix,
            "number": self.number,
            "priority": self.priority,
            "channel": self.channel,
            "state": self.state,
            "issued_at": self.issued_at,
            "called_at": self.called_at,
            "first_called_at": self.first_called_at,
            "missed_at": self.missed_at,
            "returns": self.returns,
            "transfers": self.transfers,
            "appointment_id": self.appointment_id,
            "slot_start": self.slot_start,
        }
        if self.state is W:
            fields.update(queued_at=self.queued_at, key=self.key, counter=self.counter)
        else:
            fields["key"] = None
        if self.state in (CALLED, SERVING, PARKED):
            fields.update(
                counter=self.counter,
                recalls=self.recalls,
                started_at=self.started_at,
                call_reason=self.call_reason,
            )
        if self.state is FINISHED:
            fields.update(
                started_at=self.started_at,
                finished_at=self.finished_at,
                outcome=self.outcome,
                call_reason=self.call_reason,
            )
        return fields


class ReferenceBranch:
    """The model of one branch for one business day."""

    def __init__(self, config: BranchConfig, business_day: str) -> None:
        self.config = config
        self.business_day = business_day
        self.tickets: dict[int, RefTicket] = {}
        self.next_id = 1
        self.counter_states = {c.number: CounterState.CLOSED for c in config.counters}
        self.last = -math.inf

    # ---------------------------------------------------------------------------------------
    # Time

    def instant(self, now: float) -> float:
        """When a command given ``now`` runs: never before or at the previous command."""
        at = float(now)
        if at <= self.last:
            at = self.last + TICK
            if at <= self.last:
                at = math.nextafter(self.last, math.inf)
        return at

    def _take(self, now: float) -> float:
        self.last = self.instant(now)
        return self.last

    # ---------------------------------------------------------------------------------------
    # Looking things up

    def head_start(self, priority: Priority) -> float:
        assert not self.config.priority.strict_priority, "the model covers head starts only"
        return self.config.priority.head_start_seconds[Priority(priority)]

    def original_key(self, ticket: RefTicket) -> float:
        """The key a ticket gets from its issue (or slot) and class."""
        if ticket.priority is Priority.APPOINTMENT:
            assert ticket.slot_start is not None
            return ticket.slot_start - self.head_start(Priority.APPOINTMENT)
        return ticket.issued_at - self.head_start(ticket.priority)

    def counter_config(self, number: int) -> Any:
        for counter in self.config.counters:
            if counter.number == number:
                return counter
        return None

    def holding(self, number: int) -> RefTicket | None:
        """The ticket counter ``number`` holds (called or serving), if any."""
        held = [
            t for t in self.tickets.values() if t.state in (CALLED, SERVING) and t.counter == number
        ]
        assert len(held) <= 1, f"the model itself let counter {number} hold {held}"
        return held[0] if held else None

    def parked_at(self, number: int) -> list[RefTicket]:
        return sorted(
            (t for t in self.tickets.values() if t.state is PARKED and t.counter == number),
            key=lambda t: t.id,
        )

    def service_line(self, code: str) -> list[RefTicket]:
        """Waiting tickets of a service queue (not of direct queues), in calling order."""
        return sorted(
            (
                t
                for t in self.tickets.values()
                if t.state is W and t.counter is None and t.service == code
            ),
            key=lambda t: t.order,
        )

    def direct_line(self, number: int) -> list[RefTicket]:
        """Waiting tickets of counter ``number``'s own queue, in calling order."""
        return sorted(
            (t for t in self.tickets.values() if t.state is W and t.counter == number),
            key=lambda t: t.order,
        )

    def line_of(self, ticket: RefTicket) -> list[RefTicket]:
        if ticket.counter is not None:
            return self.direct_line(ticket.counter)
        return self.service_line(ticket.service)

    def rank(self, ticket: RefTicket) -> int:
        """How many tickets of its line come before a waiting ticket."""
        return sum(1 for other in self.line_of(ticket) if other.order < ticket.order)

    def issued_today(self, prefix: str) -> int:
        return sum(1 for t in self.tickets.values() if t.prefix == prefix)

    # ---------------------------------------------------------------------------------------
    # Choosing the next ticket, literally

    def pick(self, number: int, at: float) -> tuple[RefTicket, CallReason] | None:
        counter = self.counter_config(number)
        direct = self.direct_line(number)
        if direct:
            return direct[0], CallReason.DIRECT
        overdue: list[tuple[float, int, RefTicket]] = []
        for code in counter.services:
            sla = self.config.service(code).sla_seconds
            if sla is None:
                continue
            for ticket in self.service_line(code):
                late = at - ticket.queued_at - sla
                if late > 0:
                    overdue.append((-late, ticket.id, ticket))
        if overdue:
            return min(overdue, key=lambda o: (o[0], o[1]))[2], CallReason.SLA_ESCALATION
        for tier in counter.tiers:
            waiting = [t for code in tier for t in self.service_line(code)]
            if waiting:
                best = min(waiting, key=lambda t: t.order)
                return best, self._tier_reason(best, waiting)
        return None

    @staticmethod
    def _tier_reason(ticket: RefTicket, tier_waiting: list[RefTicket]) -> CallReason:
        if ticket.returns:
            return CallReason.RETURNED
        if ticket.priority is Priority.APPOINTMENT:
            return CallReason.APPOINTMENT
        if ticket.priority is Priority.NORMAL:
            return CallReason.TIER
        # A priority ticket used its head start only if someone who joined earlier still waits.
        if any(other.queued_at < ticket.queued_at for other in tier_waiting):
            return CallReason.HEAD_START
        return CallReason.TIER

    # ---------------------------------------------------------------------------------------
    # Commands: issue, check in, cancel

    def issue_ticket(
        self, service: str, priority: str, channel: str = "kiosk", *, now: float
    ) -> list[ExpectedEvent]:
        errors: list[type[QueueError]] = []
        known = service in {s.code for s in self.config.services}
        if not known:
            errors.append(UnknownService)
        if priority not in {p.value for p in Priority} or priority == Priority.APPOINTMENT:
            errors.append(InvalidCommand)
        quota = self.config.service(service).daily_quota if known else None
        if quota is not None and self.issued_today(service) >= quota:
            errors.append(QuotaReached)
        if not _channel_ok(channel):
            errors.append(InvalidCommand)
        if errors:
            raise Refused(*errors)
        at = self._take(now)
        klass = Priority(priority)
        ticket = self._new_ticket(service, klass, channel, at)
        ticket.key = at - self.head_start(klass)
        return [self._issued(ticket, at, late=False)]

    def check_in_appointment(
        self,
        service: str,
        slot_start: float,
        *,
        now: float,
        appointment_id: str | None = None,
        channel: str = "appointment",
    ) -> list[ExpectedEvent]:
        errors: list[type[QueueError]] = []
        if service not in {s.code for s in self.config.services}:
            errors.append(UnknownService)
        if not math.isfinite(slot_start):
            errors.append(InvalidCommand)
        if not _channel_ok(channel):
            errors.append(InvalidCommand)
        policy = self.config.appointments
        at = self.instant(now)
        late = at > slot_start + policy.late_seconds
        if at < slot_start - policy.early_seconds:
            errors.append(CheckInRefused)
        if late and policy.late_action is LateCheckIn.REFUSE:
            errors.append(CheckInRefused)
        if errors:
            raise Refused(*errors)
        self._take(now)
        klass = Priority.NORMAL if late else Priority.APPOINTMENT
        ticket = self._new_ticket(service, klass, channel, at)
        ticket.appointment_id = appointment_id
        ticket.slot_start = slot_start
        ticket.key = at if late else slot_start - self.head_start(Priority.APPOINTMENT)
        return [self._issued(ticket, at, late=late)]

    def cancel_ticket(self, ticket_id: int, *, now: float) -> list[ExpectedEvent]:
        ticket = self._ticket(ticket_id)
        if ticket.state not in (W, CALLED, PARKED, MISSED):
            raise Refused(IllegalTransition)
        at = self._take(now)
        previous = ticket.state
        ticket.state = CANCELLED
        ticket.key = None
        return [_event("ticket_cancelled", at, ticket, previous_state=previous)]

    # ---------------------------------------------------------------------------------------
    # Commands: counters

    def open_counter(self, number: int, *, now: float) -> list[ExpectedEvent]:
        return self._counter_to(number, CounterState.OPEN, set(CounterState) - {OPEN}, now)

    def pause_counter(self, number: int, *, now: float) -> list[ExpectedEvent]:
        return self._counter_to(number, CounterState.PAUSED, {CounterState.OPEN}, now)

    def close_counter(self, number: int, *, now: float) -> list[ExpectedEvent]:
        """Its direct queue and parked tickets go to its backup's direct queue when the backup is
        not closed (direct tickets keeping their keys), else to their service queues under their
        original keys."""
        errors: list[type[QueueError]] = []
        if self.counter_config(number) is None:
            raise Refused(UnknownCounter)
        if self.holding(number) is not None:
            errors.append(CounterBusy)
        if self.counter_states[number] is CLOSED:
            errors.append(IllegalTransition)
        if errors:
            raise Refused(*errors)
        events = self._counter_to(number, CounterState.CLOSED, set(CounterState) - {CLOSED}, now)
        at = self.last
        backup = self.counter_config(number).backup
        if backup is not None and self.counter_states[backup] is CounterState.CLOSED:
            backup = None
        # Handed over in id order: tickets queued at one instant join the arrival order by id.
        for ticket in sorted(self.direct_line(number) + self.parked_at(number), key=_by_id):
            kept = ticket.key if ticket.state is W else None
            if ticket.state is PARKED:  # called afresh later: its service starts again then
                ticket.started_at = None
                ticket.recalls = 0
            ticket.state = W
            ticket.queued_at = at
            if backup is not None:
                ticket.counter = backup
                ticket.key = kept if kept is not None else self.original_key(ticket)
            else:
                ticket.counter = None
                ticket.key = self.original_key(ticket)
            events.append(
                _event(
                    "ticket_transferred",
                    at,
                    ticket,
                    from_service=ticket.service,
                    from_counter=number,
                    to_counter=backup,
                    position=Position.KEEP,
                    key=ticket.key,
                )
            )
        return events

    def _counter_to(
        self, number: int, state: CounterState, allowed_from: set[CounterState], now: float
    ) -> list[ExpectedEvent]:
        if self.counter_config(number) is None:
            raise Refused(UnknownCounter)
        previous = self.counter_states[number]
        if previous not in allowed_from:
            raise Refused(IllegalTransition)
        at = self._take(now)
        self.counter_states[number] = state
        return [
            {
                "type": "counter_state_changed",
                "at": at,
                "counter": number,
                "state": state,
                "previous_state": previous,
            }
        ]

    # ---------------------------------------------------------------------------------------
    # Commands: calling

    def _can_call(self, number: int) -> list[type[QueueError]]:
        if self.counter_config(number) is None:
            raise Refused(UnknownCounter)
        errors: list[type[QueueError]] = []
        if self.counter_states[number] is not CounterState.OPEN:
            errors.append(CounterNotOpen)
        if self.holding(number) is not None:
            errors.append(CounterBusy)
        return errors

    def call_next(self, number: int, *, now: float) -> list[ExpectedEvent]:
        errors = self._can_call(number)
        if errors:
            raise Refused(*errors)
        picked = self.pick(number, self.instant(now))
        if picked is None:
            return []
        ticket, reason = picked
        return [self._call(number, ticket, reason, self._take(now))]

    def call_ticket(self, number: int, ticket_id: int, *, now: float) -> list[ExpectedEvent]:
        errors = self._can_call(number)
        if ticket_id not in self.tickets:
            raise Refused(*errors, UnknownTicket)
        ticket = self.tickets[ticket_id]
        served_here = self.counter_config(number).services
        if ticket.state is not W:
            errors.append(IllegalTransition)
        elif ticket.counter != number and (
            ticket.counter is not None or ticket.service not in served_here
        ):
            errors.append(ServiceNotServedHere)  # another counter's own queue, or not served here
        if errors:
            raise Refused(*errors)
        return [self._call(number, ticket, CallReason.MANUAL, self._take(now))]

    def _call(self, number: int, ticket: RefTicket, reason: CallReason, at: float) -> ExpectedEvent:
        event = _event(
            "ticket_called",
            at,
            ticket,
            counter=number,
            priority=ticket.priority,
            reason=reason,
            waited_seconds=at - ticket.queued_at,
        )
        ticket.state = CALLED
        ticket.key = None
        ticket.counter = number
        ticket.called_at = at
        if ticket.first_called_at is None:
            ticket.first_called_at = at
        ticket.recalls = 0
        ticket.call_reason = reason
        ticket.started_at = None  # a new call: the customer is not at the counter yet
        return event

    def _held(self, number: int, allowed: tuple[TicketState, ...]) -> RefTicket:
        if self.counter_config(number) is None:
            raise Refused(UnknownCounter)
        ticket = self.holding(number)
        if ticket is None:
            raise Refused(CounterIdle)
        if ticket.state not in allowed:
            raise Refused(IllegalTransition)
        return ticket

    def recall(self, number: int, *, now: float) -> list[ExpectedEvent]:
        """With ``auto_miss_after_recalls`` = N, the recall after N recalls marks it missed."""
        ticket = self._held(number, (CALLED,))
        at = self._take(now)
        limit = self.config.missed.auto_miss_after_recalls
        if limit is not None and ticket.recalls >= limit:
            return [self._miss(number, ticket, at, automatic=True)]
        ticket.recalls += 1
        ticket.called_at = at
        return [_event("ticket_recalled", at, ticket, counter=number, recalls=ticket.recalls)]

    def start_serving(self, number: int, *, now: float) -> list[ExpectedEvent]:
        ticket = self._held(number, (CALLED,))
        at = self._take(now)
        ticket.state = SERVING
        ticket.started_at = at
        return [_event("service_started", at, ticket, counter=number)]

    def finish(self, number: int, *, now: float, outcome: str | None = None) -> list[ExpectedEvent]:
        """A ticket finished without being started counts its service from its call."""
        ticket = self._held(number, (CALLED, SERVING))
        if outcome is not None and len(outcome) > MAX_OUTCOME_LENGTH:
            raise Refused(InvalidCommand)
        at = self._take(now)
        if ticket.started_at is None:
            ticket.started_at = ticket.called_at
        assert ticket.started_at is not None
        ticket.state = FINISHED
        ticket.finished_at = at
        ticket.outcome = outcome
        return [
            _event(
                "ticket_finished",
                at,
                ticket,
                counter=number,
                outcome=outcome,
                service_seconds=at - ticket.started_at,
            )
        ]

    def no_show(self, number: int, *, now: float) -> list[ExpectedEvent]:
        ticket = self._held(number, (CALLED,))
        return [self._miss(number, ticket, self._take(now), automatic=False)]

    def _miss(self, number: int, ticket: RefTicket, at: float, *, automatic: bool) -> ExpectedEvent:
        ticket.state = MISSED
        ticket.missed_at = at
        return _event(
            "ticket_missed",
            at,
            ticket,
            counter=number,
            automatic=automatic,
            returns_left=max(0, self.config.missed.max_returns - ticket.returns),
        )

    def return_missed(self, ticket_id: int, *, now: float) -> list[ExpectedEvent]:
        """Back within the grace period, ``reinsert_places`` places behind the head of its
        service queue (last when fewer wait), at most ``max_returns`` times."""
        ticket = self._ticket(ticket_id)
        if ticket.state is not MISSED:
            raise Refused(IllegalTransition)
        policy = self.config.missed
        at = self.instant(now)
        assert ticket.missed_at is not None
        errors: list[type[QueueError]] = []
        if ticket.returns >= policy.max_returns:
            errors.append(ReturnNotAllowed)
        if at - ticket.missed_at > policy.grace_seconds:
            errors.append(ReturnNotAllowed)
        if errors:
            raise Refused(*errors)
        self._take(now)
        line = self.service_line(ticket.service)
        places = policy.reinsert_places
        ahead = min(places, len(line))
        if 0 < places < len(line):
            before, after = line[places - 1], line[places]
            if before.key == after.key and not before.id < ticket.id < after.id:
                # No (key, id) lands exactly there: right behind the tickets sharing that key.
                ahead = sum(1 for t in line if t.order[0] <= after.order[0])
        ticket.returns += 1
        ticket.state = W
        ticket.counter = None
        ticket.queued_at = at
        ticket.key = None
        ticket.due_rank = ahead
        return [_event("ticket_returned", at, ticket, returns=ticket.returns, ahead=ahead)]

    def transfer(
        self,
        number: int,
        *,
        now: float,
        service: str | None = None,
        counter: int | None = None,
        position: str = Position.KEEP,
    ) -> list[ExpectedEvent]:
        ticket = self._held(number, (CALLED, SERVING))
        errors: list[type[QueueError]] = []
        if position not in {p.value for p in Position}:
            errors.append(InvalidCommand)
        if service is None and counter is None:
            errors.append(InvalidCommand)
        if service is not None and service not in {s.code for s in self.config.services}:
            errors.append(UnknownService)
        if counter is not None:
            if self.counter_config(counter) is None:
                errors.append(UnknownCounter)
            elif counter == number:
                errors.append(InvalidCommand)
            elif self.counter_states[counter] is CounterState.CLOSED:
                errors.append(CounterNotOpen)
        elif service == ticket.service:
            errors.append(InvalidCommand)
        if errors:
            raise Refused(*errors)
        at = self._take(now)
        from_service = ticket.service
        line = (
            self.direct_line(counter)
            if counter is not None
            else self.service_line(service or ticket.service)
        )
        ticket.service = service or ticket.service
        ticket.state = W
        ticket.counter = counter
        ticket.queued_at = at
        ticket.transfers += 1
        event = _event(
            "ticket_transferred",
            at,
            ticket,
            from_service=from_service,
            from_counter=number,
            to_counter=counter,
            position=Position(position),
        )
        if position == Position.KEEP:
            ticket.key = self.original_key(ticket)
            event["key"] = ticket.key
        else:
            ticket.key = None
            ticket.due_rank = 0 if position == Position.FIRST else len(line)
        return [event]

    def park(self, number: int, *, now: float) -> list[ExpectedEvent]:
        ticket = self._held(number, (CALLED, SERVING))
        at = self._take(now)
        ticket.parked_from = ticket.state
        ticket.state = PARKED
        return [_event("ticket_parked", at, ticket, counter=number)]

    def unpark(self, number: int, ticket_id: int, *, now: float) -> list[ExpectedEvent]:
        """The parked ticket becomes the counter's ticket again, in the state it was parked in."""
        if self.counter_config(number) is None:
            raise Refused(UnknownCounter)
        ticket = self._ticket(ticket_id)
        errors: list[type[QueueError]] = []
        if ticket.state is not PARKED or ticket.counter != number:
            errors.append(IllegalTransition)
        if self.counter_states[number] is CounterState.CLOSED:
            errors.append(CounterNotOpen)
        if self.holding(number) is not None:
            errors.append(CounterBusy)
        if errors:
            raise Refused(*errors)
        at = self._take(now)
        assert ticket.parked_from is not None
        ticket.state = ticket.parked_from
        return [_event("ticket_unparked", at, ticket, counter=number, state=ticket.state)]

    def start_day(self, business_day: str, *, now: float) -> list[ExpectedEvent]:
        """Unfinished tickets expire, counters close, numbering restarts."""
        if business_day == self.business_day:
            raise Refused(InvalidCommand)
        at = self._take(now)
        events = [
            _event("ticket_expired", at, t, previous_state=t.state)
            for t in sorted(self.tickets.values(), key=lambda t: t.id)
            if t.state in (W, CALLED, SERVING, PARKED, MISSED)
        ]
        for counter in self.config.counters:
            previous = self.counter_states[counter.number]
            if previous is not CounterState.CLOSED:
                self.counter_states[counter.number] = CounterState.CLOSED
                events.append(
                    {
                        "type": "counter_state_changed",
                        "at": at,
                        "counter": counter.number,
                        "state": CounterState.CLOSED,
                        "previous_state": previous,
                    }
                )
        events.append(
            {
                "type": "business_day_started",
                "at": at,
                "business_day": business_day,
                "previous_day": self.business_day,
            }
        )
        self.tickets = {}
        self.business_day = business_day
        return events

    # ---------------------------------------------------------------------------------------
    # Placing tickets whose key the rules leave to the engine

    def place(self, ticket_id: int, key: float) -> int:
        """Give an unplaced waiting ticket the engine's key; return how many tickets of its line
        then come before it (compare with ``due_rank``)."""
        ticket = self.tickets[ticket_id]
        assert ticket.state is W
        assert ticket.key is None
        ticket.key = key
        return self.rank(ticket)

    # ---------------------------------------------------------------------------------------
    # Internals

    @property
    def first_id(self) -> int:
        return self.next_id - len(self.tickets)

    def _ticket(self, ticket_id: int) -> RefTicket:
        if ticket_id not in self.tickets:
            raise Refused(UnknownTicket)
        return self.tickets[ticket_id]

    def _new_ticket(self, service: str, klass: Priority, channel: str, at: float) -> RefTicket:
        ticket = RefTicket(
            id=self.next_id,
            service=service,
            prefix=service,
            number=self.issued_today(service) + 1,
            priority=klass,
            channel=channel,
            issued_at=at,
            queued_at=at,
        )
        self.tickets[ticket.id] = ticket
        self.next_id += 1
        return ticket

    def _issued(self, ticket: RefTicket, at: float, *, late: bool) -> ExpectedEvent:
        return _event(
            "ticket_issued",
            at,
            ticket,
            priority=ticket.priority,
            channel=ticket.channel,
            key=ticket.key,
            ahead=self.rank(ticket),
            appointment_id=ticket.appointment_id,
            slot_start=ticket.slot_start,
            late_check_in=late,
        )


def _event(kind: str, at: float, ticket: RefTicket, **fields: Any) -> ExpectedEvent:
    return {
        "type": kind,
        "at": at,
        "ticket_id": ticket.id,
        "number": ticket.display,
        "service": ticket.service,
        **fields,
    }


def _channel_ok(channel: str) -> bool:
    return isinstance(channel, str) and 0 < len(channel) <= MAX_CHANNEL_LENGTH


def _by_id(ticket: RefTicket) -> int:
    return ticket.id
