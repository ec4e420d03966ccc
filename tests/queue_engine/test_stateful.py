"""Random command sequences against the engine and against the brute-force model in
``reference.py``: every command is accepted or refused by both, with the same events, and the
engine stays equal to the model and to its own rebuild after every step."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from app.queue_engine import (
    AppointmentPolicy,
    BranchConfig,
    BranchSnapshot,
    CallReason,
    CounterConfig,
    CounterState,
    EngineRecords,
    Event,
    LateCheckIn,
    MissedTicketPolicy,
    PriorityPolicy,
    QueueEngine,
    QueueError,
    ServiceConfig,
    TicketCalled,
    TicketState,
)

from .reference import ExpectedEvent, ReferenceBranch, Refused

T0 = 1_763_600_000.0  # a morning in November 2025, epoch seconds
DAY = "2025-11-20"
SERVICES = ("A", "B", "C")
COUNTERS = (1, 2, 3)
SLA_B = 180.0
CLASSES = ("normal", "normal", "normal", "vip", "care", "appointment")
# Seconds between two commands: often none at all (the engine then runs the second 1 µs after
# the first), often whole minutes that line keys of different classes up exactly.
GAPS = st.one_of(
    st.sampled_from([0.0, 0.0, 1.0, 60.0, 120.0, 180.0, 300.0, 600.0]),
    st.integers(0, 900).map(float),
    st.floats(0, 2),
)
ACTIVE = (TicketState.CALLED, TicketState.SERVING)
OPEN = CounterState.OPEN
CLOSED = CounterState.CLOSED


def make_config(
    *,
    late_action: LateCheckIn = LateCheckIn.WALK_IN,
    reinsert_places: int = 2,
    max_returns: int = 1,
    auto_miss_after_recalls: int | None = 2,
) -> BranchConfig:
    """Three services (B with a 3-minute maximum wait, C with a small quota), three counters
    (counter 1 with two tiers and counter 2 as its backup)."""
    return BranchConfig(
        services=(
            ServiceConfig("A", "个人业务", "Personal"),
            ServiceConfig("B", "对公业务", "Business", sla_seconds=SLA_B),
            ServiceConfig("C", "现金业务", "Cash", daily_quota=6),
        ),
        counters=(
            CounterConfig(1, (("A",), ("B",)), backup=2),
            CounterConfig(2, (("B", "C"),)),
            CounterConfig(3, (("C", "A"),)),
        ),
        priority=PriorityPolicy({"vip": 120.0, "care": 300.0, "appointment": 600.0}),
        missed=MissedTicketPolicy(
            grace_seconds=600.0,
            reinsert_places=reinsert_places,
            max_returns=max_returns,
            auto_miss_after_recalls=auto_miss_after_recalls,
        ),
        appointments=AppointmentPolicy(
            early_seconds=1800.0, late_seconds=300.0, late_action=late_action
        ),
    )


def rebuilt(engine: QueueEngine) -> QueueEngine:
    records = engine.records()
    return QueueEngine.rebuild(
        engine.config,
        records.business_day,
        records.tickets,
        records.counters,
        estimates=records.estimates,
        next_ticket_id=records.next_ticket_id,
        last_now=records.last_now,
    )


def peek_id(engine: QueueEngine, counter: int, now: float) -> int | None:
    record = engine.peek_next(counter, now=now)
    return record.id if record is not None else None


class EngineAgainstReference(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = T0
        self.day = 0
        # Ticket id -> "it waits in a line and may be called". A call needs it; it is set again
        # only by an issue, a return or a transfer: no ticket can be called twice otherwise.
        self.callable: dict[int, bool] = {}

    # ---------------------------------------------------------------------------------------
    # Setup

    @initialize(
        late_action=st.sampled_from(LateCheckIn),
        reinsert_places=st.integers(0, 3),
        max_returns=st.integers(0, 2),
        auto_miss_after_recalls=st.sampled_from([None, 0, 2]),
        open_at_start=st.sampled_from([set(COUNTERS)] * 3 + [set(), {1}, {2, 3}]),
        first_customers=st.lists(
            st.tuples(st.sampled_from(SERVICES), st.sampled_from(CLASSES), GAPS), max_size=8
        ),
    )
    def set_up_branch(
        self,
        late_action: LateCheckIn,
        reinsert_places: int,
        max_returns: int,
        auto_miss_after_recalls: int | None,
        open_at_start: set[int],
        first_customers: list[tuple[str, str, float]],
    ) -> None:
        config = make_config(
            late_action=late_action,
            reinsert_places=reinsert_places,
            max_returns=max_returns,
            auto_miss_after_recalls=auto_miss_after_recalls,
        )
        self.engine = QueueEngine(config, DAY)
        self.ref = ReferenceBranch(config, DAY)
        for number in sorted(open_at_start):
            self.both(
                lambda n=number: self.engine.open_counter(n, now=self.clock),
                lambda n=number: self.ref.open_counter(n, now=self.clock),
            )
        for service, klass, gap in first_customers:
            self.customer_arrives(service, klass, gap, 0.0)

    # ---------------------------------------------------------------------------------------
    # Running one command on both

    def both(
        self,
        on_engine: Callable[[], list[Event]],
        on_reference: Callable[[], list[ExpectedEvent]],
    ) -> list[Event] | None:
        """Run a command on the model and on the engine; check they agree. Returns the engine's
        events, or None when both refused."""
        before = self.engine.records()
        refusal: Refused | None = None
        error: QueueError | None = None
        try:
            expected = on_reference()
        except Refused as refused:
            refusal = refused
        try:
            events = on_engine()
        except QueueError as raised:
            error = raised
        if refusal is not None:
            assert error is not None, (
                f"engine accepted a command the model refuses ({refusal}); events: {events}"
            )
            assert isinstance(error, refusal.errors), (
                f"engine raised {type(error).__name__}: {error}; "
                f"the model expected one of {[e.__name__ for e in refusal.errors]}"
            )
            assert self.engine.records() == before, "a refused command changed the engine"
            event(f"refused: {type(error).__name__}")
            return None
        assert error is None, (
            f"engine refused ({type(error).__name__}: {error}) a command the model accepts; "
            f"expected {expected}"
        )
        assert len(events) == len(expected), f"events {events}\nexpected {expected}"
        for got, want in zip(events, expected, strict=True):
            data = got.to_dict()
            assert data == {"type": got.type, **asdict(got)}  # its fast path changes nothing
            assert {k: data.get(k) for k in want} == want, f"event {data}\nexpected {want}"
            self.settle(data, want)
            self.track_callable(data)
        if not events:
            assert self.engine.records() == before, "a command without events changed the engine"
        for got in events:
            reason = got.to_dict().get("reason")
            event(f"event: {got.type}" + (f" ({reason})" if reason else ""))
        return events

    def settle(self, data: dict[str, Any], want: ExpectedEvent) -> None:
        """Tell the model the key the engine chose where the rules fix only a place."""
        if data["type"] in ("ticket_returned", "ticket_transferred") and "key" not in want:
            ticket = self.ref.tickets[data["ticket_id"]]
            due = ticket.due_rank
            rank = self.ref.place(ticket.id, data["key"])
            assert rank == due, (
                f"{data['type']} put {ticket.display} {rank} places behind the head of its line, "
                f"not {due}: {data}"
            )

    def track_callable(self, data: dict[str, Any]) -> None:
        ticket_id = data.get("ticket_id")
        kind = data["type"]
        if kind == "ticket_called":
            assert self.callable.get(ticket_id), f"ticket {data['number']} called twice"
            self.callable[ticket_id] = False
        elif kind == "ticket_returned":
            assert not self.callable.get(ticket_id)
            self.callable[ticket_id] = True
        elif kind in ("ticket_issued", "ticket_transferred"):
            self.callable[ticket_id] = True
        elif kind in ("ticket_cancelled", "ticket_expired", "ticket_missed", "ticket_finished"):
            self.callable[ticket_id] = False

    def any_ticket(self, data: st.DataObject, *states: TicketState) -> int:
        """Mostly a ticket in one of ``states`` (when there is one), sometimes any id at all."""
        matching = sorted(t.id for t in self.ref.tickets.values() if t.state in states)
        everything = [*sorted(self.ref.tickets), self.ref.next_id, 0]
        if matching and data.draw(st.integers(0, 4), label="pick in state") > 0:
            return data.draw(st.sampled_from(matching), label="ticket")
        return data.draw(st.sampled_from(everything), label="any ticket")

    def a_counter(self, data: st.DataObject, fits: Callable[[int], bool]) -> int:
        """Mostly a counter for which the command makes sense (when there is one), sometimes
        any counter."""
        fitting = [n for n in COUNTERS if fits(n)]
        if fitting and data.draw(st.integers(0, 4), label="pick a fitting counter") > 0:
            return data.draw(st.sampled_from(fitting), label="counter")
        return data.draw(st.sampled_from(COUNTERS), label="any counter")

    def can_call(self, number: int) -> bool:
        return (
            self.ref.counter_states[number] is CounterState.OPEN
            and self.ref.holding(number) is None
        )

    def holds_a_ticket(self, number: int) -> bool:
        return self.ref.holding(number) is not None

    # Preconditions: a rule runs only when it can do something (bad input has its own rule, and
    # every rule still picks an unfitting counter or ticket now and then).

    def has_tickets(self) -> bool:
        return bool(self.ref.tickets)

    def has_missed(self) -> bool:
        return any(t.state is TicketState.MISSED for t in self.ref.tickets.values())

    def has_parked(self) -> bool:
        return any(t.state is TicketState.PARKED for t in self.ref.tickets.values())

    def some_counter_can_call(self) -> bool:
        return any(self.can_call(number) for number in COUNTERS)

    def some_counter_holds_a_ticket(self) -> bool:
        return any(self.holds_a_ticket(number) for number in COUNTERS)

    # ---------------------------------------------------------------------------------------
    # Rules: customers

    @rule(
        service=st.sampled_from(SERVICES),
        klass=st.sampled_from(CLASSES),
        after=GAPS,
        slot_from_now=st.one_of(
            st.sampled_from([-600.0, -300.0, 0.0, 300.0, 1800.0, 2400.0]),
            st.integers(-900, 2400).map(float),
        ),
    )
    def customer_arrives(
        self, service: str, klass: str, after: float, slot_from_now: float
    ) -> None:
        """A walk-in takes a ticket, or a booked customer checks in (slot relative to now)."""
        self.clock += after
        now = self.clock
        if klass == "appointment":
            slot = now + slot_from_now
            booking = f"BK-{slot_from_now:.0f}"
            self.both(
                lambda: self.engine.check_in_appointment(
                    service, slot, now=now, appointment_id=booking
                ),
                lambda: self.ref.check_in_appointment(
                    service, slot, now=now, appointment_id=booking
                ),
            )
        else:
            self.both(
                lambda: self.engine.issue_ticket(service, klass, now=now),
                lambda: self.ref.issue_ticket(service, klass, now=now),
            )

    @precondition(lambda self: self.has_tickets())
    @rule(data=st.data())
    def customer_gives_up(self, data: st.DataObject) -> None:
        ticket_id = self.any_ticket(
            data, TicketState.WAITING, TicketState.CALLED, TicketState.MISSED, TicketState.PARKED
        )
        self.both(
            lambda: self.engine.cancel_ticket(ticket_id, now=self.clock),
            lambda: self.ref.cancel_ticket(ticket_id, now=self.clock),
        )

    @precondition(lambda self: self.has_missed())
    @rule(data=st.data())
    def missed_customer_comes_back(self, data: st.DataObject) -> None:
        ticket_id = self.any_ticket(data, TicketState.MISSED)
        self.both(
            lambda: self.engine.return_missed(ticket_id, now=self.clock),
            lambda: self.ref.return_missed(ticket_id, now=self.clock),
        )

    # ---------------------------------------------------------------------------------------
    # Rules: counters

    @precondition(lambda self: self.some_counter_can_call())
    @rule(data=st.data(), after=GAPS)
    def clerk_calls_next(self, data: st.DataObject, after: float) -> None:
        number = self.a_counter(data, self.can_call)
        self.clock += after
        now = self.clock
        self.both(
            lambda: self.engine.call_next(number, now=now),
            lambda: self.ref.call_next(number, now=now),
        )

    @precondition(lambda self: self.some_counter_holds_a_ticket())
    @rule(
        data=st.data(),
        action=st.sampled_from(["start_serving", "finish", "finish 办结", "no_show"]),
        after=GAPS,
    )
    def customer_is_served_or_missed(self, data: st.DataObject, action: str, after: float) -> None:
        number = self.a_counter(data, self.holds_a_ticket)
        self.clock += after
        now = self.clock
        if action == "finish 办结":
            self.both(
                lambda: self.engine.finish(number, now=now, outcome="办结"),
                lambda: self.ref.finish(number, now=now, outcome="办结"),
            )
            return
        engine_command: Callable[..., list[Event]] = getattr(self.engine, action)
        reference_command: Callable[..., list[ExpectedEvent]] = getattr(self.ref, action)
        self.both(
            lambda: engine_command(number, now=now),
            lambda: reference_command(number, now=now),
        )

    @rule(
        data=st.data(),
        action=st.sampled_from(["recall", "recall", "park", "open", "pause", "close"]),
        after=GAPS,
    )
    def clerk_acts(self, data: st.DataObject, action: str, after: float) -> None:
        if action in ("recall", "park"):
            number = self.a_counter(data, self.holds_a_ticket)
        elif action == "open":
            number = self.a_counter(
                data, lambda n: self.ref.counter_states[n] is not CounterState.OPEN
            )
        elif action == "pause":
            number = self.a_counter(data, lambda n: self.ref.counter_states[n] is OPEN)
        else:  # close: its direct queue and parked tickets are handed on
            number = self.a_counter(
                data,
                lambda n: self.ref.counter_states[n] is not CLOSED and not self.holds_a_ticket(n),
            )
        self.clock += after
        now = self.clock
        command = action if action in ("recall", "park") else f"{action}_counter"
        engine_command: Callable[..., list[Event]] = getattr(self.engine, command)
        reference_command: Callable[..., list[ExpectedEvent]] = getattr(self.ref, command)
        self.both(
            lambda: engine_command(number, now=now),
            lambda: reference_command(number, now=now),
        )

    @precondition(lambda self: self.some_counter_can_call())
    @rule(data=st.data())
    def clerk_calls_a_chosen_ticket(self, data: st.DataObject) -> None:
        number = self.a_counter(data, self.can_call)
        ticket_id = self.any_ticket(data, TicketState.WAITING)
        self.both(
            lambda: self.engine.call_ticket(number, ticket_id, now=self.clock),
            lambda: self.ref.call_ticket(number, ticket_id, now=self.clock),
        )

    @precondition(lambda self: self.some_counter_holds_a_ticket())
    @rule(
        data=st.data(),
        service=st.sampled_from([None, *SERVICES]),
        to_counter=st.sampled_from([None, *COUNTERS]),
        position=st.sampled_from(["first", "last", "keep"]),
    )
    def clerk_transfers(
        self, data: st.DataObject, service: str | None, to_counter: int | None, position: str
    ) -> None:
        number = self.a_counter(data, self.holds_a_ticket)
        self.both(
            lambda: self.engine.transfer(
                number, now=self.clock, service=service, counter=to_counter, position=position
            ),
            lambda: self.ref.transfer(
                number, now=self.clock, service=service, counter=to_counter, position=position
            ),
        )

    @precondition(lambda self: self.some_counter_holds_a_ticket())
    @rule(
        data=st.data(),
        hand_over=st.sampled_from(["park", "transfer first", "transfer last", "transfer keep"]),
        to_counter=st.sampled_from(COUNTERS),
        after=GAPS,
    )
    def clerk_goes_on_a_break(
        self, data: st.DataObject, hand_over: str, to_counter: int, after: float
    ) -> None:
        """A common sequence: set the current ticket aside (park it, or send it to another
        counter's own queue), then close; the counter's own queue and parked tickets go on to
        its backup or back to their services."""
        number = self.a_counter(data, self.holds_a_ticket)
        self.clock += after
        now = self.clock
        if hand_over == "park":
            self.both(
                lambda: self.engine.park(number, now=now),
                lambda: self.ref.park(number, now=now),
            )
        else:
            position = hand_over.removeprefix("transfer ")
            self.both(
                lambda: self.engine.transfer(
                    number, now=now, counter=to_counter, position=position
                ),
                lambda: self.ref.transfer(number, now=now, counter=to_counter, position=position),
            )
        self.both(
            lambda: self.engine.close_counter(number, now=now),
            lambda: self.ref.close_counter(number, now=now),
        )

    @precondition(lambda self: self.has_parked())
    @rule(data=st.data())
    def clerk_resumes_a_parked_ticket(self, data: st.DataObject) -> None:
        ticket_id = self.any_ticket(data, TicketState.PARKED)
        parked_by = self.ref.tickets[ticket_id].counter if ticket_id in self.ref.tickets else None
        number = self.a_counter(data, lambda n: n == parked_by)
        self.both(
            lambda: self.engine.unpark(number, ticket_id, now=self.clock),
            lambda: self.ref.unpark(number, ticket_id, now=self.clock),
        )

    # ---------------------------------------------------------------------------------------
    # Rules: bad input, restarts, a new day

    @rule(
        case=st.sampled_from(
            [
                "unknown counter",
                "unknown service",
                "unknown ticket",
                "issue an appointment",
                "unknown class",
                "empty channel",
                "slot is not a time",
                "nowhere to transfer",
                "bad position",
                "transfer to its own counter",
                "same day again",
                "outcome too long",
            ]
            + ["server restarts"] * 3
            + ["a kiosk clock runs behind", "next business day"]
        )
    )
    def something_unusual(self, case: str) -> None:
        """Bad input (refused, nothing changes), a restart, a skewed clock, a new day."""
        if case == "server restarts":
            # The runtime rebuilds the engine from the store (a restart, or a failed commit).
            self.engine = rebuilt(self.engine)
            return
        if case == "a kiosk clock runs behind":
            self.clock -= 30.0
            return
        if case == "next business day":
            self.next_business_day()
            return
        now = self.clock
        engine, ref = self.engine, self.ref
        commands: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
            "unknown counter": (
                lambda: engine.call_next(9, now=now),
                lambda: ref.call_next(9, now=now),
            ),
            "unknown service": (
                lambda: engine.issue_ticket("Z", now=now),
                lambda: ref.issue_ticket("Z", "normal", now=now),
            ),
            "unknown ticket": (
                lambda: engine.cancel_ticket(ref.next_id + 5, now=now),
                lambda: ref.cancel_ticket(ref.next_id + 5, now=now),
            ),
            "issue an appointment": (
                lambda: engine.issue_ticket("A", "appointment", now=now),
                lambda: ref.issue_ticket("A", "appointment", now=now),
            ),
            "unknown class": (
                lambda: engine.issue_ticket("A", "gold", now=now),
                lambda: ref.issue_ticket("A", "gold", now=now),
            ),
            "empty channel": (
                lambda: engine.issue_ticket("A", "normal", "", now=now),
                lambda: ref.issue_ticket("A", "normal", "", now=now),
            ),
            "slot is not a time": (
                lambda: engine.check_in_appointment("A", math.nan, now=now),
                lambda: ref.check_in_appointment("A", math.nan, now=now),
            ),
            "nowhere to transfer": (
                lambda: engine.transfer(2, now=now),
                lambda: ref.transfer(2, now=now),
            ),
            "bad position": (
                lambda: engine.transfer(2, now=now, service="A", position="middle"),
                lambda: ref.transfer(2, now=now, service="A", position="middle"),
            ),
            "transfer to its own counter": (
                lambda: engine.transfer(3, now=now, counter=3),
                lambda: ref.transfer(3, now=now, counter=3),
            ),
            "outcome too long": (
                lambda: engine.finish(1, now=now, outcome="x" * 201),
                lambda: ref.finish(1, now=now, outcome="x" * 201),
            ),
            "same day again": (
                lambda: engine.start_day(engine.business_day, now=now),
                lambda: ref.start_day(ref.business_day, now=now),
            ),
        }
        on_engine, on_reference = commands[case]
        self.both(on_engine, on_reference)

    def next_business_day(self) -> None:
        self.day += 1
        day = f"2025-11-{21 + self.day:02d}"
        self.clock += 12 * 3600
        self.both(
            lambda: self.engine.start_day(day, now=self.clock),
            lambda: self.ref.start_day(day, now=self.clock),
        )
        self.callable = {}

    # ---------------------------------------------------------------------------------------
    # Invariants

    @invariant()
    def after_every_step(self) -> None:
        # One records() and one snapshot per step, shared by the checks (they dominate the cost).
        records = self.engine.records()
        snapshot = self.engine.snapshot(self.clock)
        self.engine_equals_model(records)
        self.screens_show_what_the_model_knows(snapshot)
        self.no_counter_holds_two_tickets(records, snapshot)
        self.numbers_have_no_gaps(records)
        self.a_rebuilt_engine_is_the_same_engine(records, snapshot)

    def engine_equals_model(self, records: EngineRecords) -> None:
        ref = self.ref
        assert records.business_day == ref.business_day
        assert records.next_ticket_id == ref.next_id
        assert records.last_now == ref.last
        assert [t.id for t in records.tickets] == sorted(ref.tickets)
        for record in records.tickets:
            want = ref.tickets[record.id].expected_record()
            got = {field: getattr(record, field) for field in want}
            assert got == want, f"ticket {record.display}:\n got {got}\nwant {want}"
        assert {c.number: c.state for c in records.counters} == ref.counter_states
        lines = [ref.service_line(code) for code in SERVICES]
        for code, line in zip(SERVICES, lines, strict=True):
            assert self.engine.waiting_ids(code) == [t.id for t in line]
        lines += [ref.direct_line(number) for number in COUNTERS]
        for line in lines:
            for rank, ticket in enumerate(line):
                assert self.engine.position(ticket.id) == rank

    def screens_show_what_the_model_knows(self, snapshot: BranchSnapshot) -> None:
        ref = self.ref
        for status in snapshot.services:
            line = ref.service_line(status.code)
            direct = [
                t
                for t in ref.tickets.values()
                if t.state is TicketState.WAITING
                and t.counter is not None
                and t.service == status.code
            ]
            assert status.waiting == len(line) + len(direct)
            oldest = min((t.queued_at for t in line), default=None)
            assert status.longest_wait_seconds == (
                max(0.0, self.clock - oldest) if oldest is not None else 0.0
            )
            assert status.issued_today == ref.issued_today(status.code)
            assert status.open_counters == sum(
                1
                for c in ref.config.counters
                if status.code in c.services and ref.counter_states[c.number] is OPEN
            )
        for counter in snapshot.counters:
            held = ref.holding(counter.number)
            assert (counter.ticket.id if counter.ticket else None) == (held.id if held else None)
            assert counter.direct_waiting == len(ref.direct_line(counter.number))
            assert counter.parked == tuple(t.display for t in ref.parked_at(counter.number))

    @staticmethod
    def no_counter_holds_two_tickets(records: EngineRecords, snapshot: BranchSnapshot) -> None:
        holders = Counter(t.counter for t in records.tickets if t.state in ACTIVE)
        assert all(count == 1 for count in holders.values()), holders
        assert None not in holders
        shown = {c.number: c.ticket.id for c in snapshot.counters if c.ticket}
        assert shown == {t.counter: t.id for t in records.tickets if t.state in ACTIVE}

    @staticmethod
    def numbers_have_no_gaps(records: EngineRecords) -> None:
        tickets = records.tickets
        if tickets:
            ids = [t.id for t in tickets]
            assert ids == list(range(ids[0], ids[0] + len(ids)))
        for prefix in SERVICES:
            numbers = sorted(t.number for t in tickets if t.prefix == prefix)
            assert numbers == list(range(1, len(numbers) + 1)), (prefix, numbers)

    def a_rebuilt_engine_is_the_same_engine(
        self, records: EngineRecords, snapshot: BranchSnapshot
    ) -> None:
        """``copy()`` is a rebuild from ``records()``: same records, same screens, same picks,
        and the picks are the ones the rules make."""
        engine = self.engine
        copy = engine.copy()
        assert copy.records() == records
        assert copy.snapshot(self.clock) == snapshot
        overdue = self.clock + SLA_B + 1.0
        assert copy.snapshot(overdue) == engine.snapshot(overdue)
        for later in (0.0, 60.0, SLA_B + 1.0, 900.0):
            now = self.clock + later
            for number in COUNTERS:
                if engine.counter_state(number) is not OPEN:
                    continue
                picked = peek_id(engine, number, now)
                assert peek_id(copy, number, now) == picked, (
                    f"counter {number} at +{later}s: engine would call {picked}, "
                    f"its copy {peek_id(copy, number, now)}"
                )
                expected = self.ref.pick(number, self.ref.instant(now))
                assert picked == (expected[0].id if expected else None), (
                    f"counter {number} at +{later}s: engine would call {picked}, "
                    f"the rules say {expected}"
                )


EngineAgainstReference.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_engine_against_reference = EngineAgainstReference.TestCase


# --------------------------------------------------------------------------------------------
# Minimal reproductions of disagreements found between the engine and the rules


def open_engine(config: BranchConfig | None = None, *counters: int) -> QueueEngine:
    engine = QueueEngine(config or make_config(), DAY)
    for number in counters:
        engine.open_counter(number, now=T0 - 60)
    return engine


def test_a_ticket_parked_then_handed_back_by_closing_is_a_fresh_call_when_called_again() -> None:
    """TRANSITIONS: unpark goes "back to CALLED when it was parked before service"; finish
    "counts its service from the call" when the ticket was never started."""
    engine = open_engine(None, 2, 3)
    (issued,) = engine.issue_ticket("C", now=T0)
    engine.call_next(3, now=T0 + 10)
    engine.start_serving(3, now=T0 + 20)
    engine.park(3, now=T0 + 30)
    engine.close_counter(3, now=T0 + 40)  # no backup: C001 goes back to the queue of C
    engine.call_next(2, now=T0 + 100)
    assert engine.ticket(issued.ticket_id).started_at is None  # called, not yet served
    engine.park(2, now=T0 + 110)
    (unparked,) = engine.unpark(2, issued.ticket_id, now=T0 + 120)
    assert unparked.state is TicketState.CALLED
    (finished,) = engine.finish(2, now=T0 + 130)
    assert finished.service_seconds == 30.0  # from the call at T0 + 100


def test_a_returning_ticket_lands_its_places_behind_the_head_when_keys_tie() -> None:
    """MissedTicketPolicy: a returning ticket is reinserted ``reinsert_places`` places behind
    the head, also when the keys around that place are equal (a VIP keyed like a normal) and
    its id falls between the tied tickets' ids."""
    engine = open_engine(make_config(reinsert_places=1), 3)
    engine.issue_ticket("A", now=T0 + 10)  # key T0 + 10, id 1
    (missed,) = engine.issue_ticket("A", now=T0 + 11)  # id 2
    engine.call_ticket(3, missed.ticket_id, now=T0 + 12)
    engine.no_show(3, now=T0 + 13)
    engine.issue_ticket("A", "vip", now=T0 + 130)  # head start 120 s: key T0 + 10, id 3
    (returned,) = engine.return_missed(missed.ticket_id, now=T0 + 140)
    assert returned.ahead == 1
    assert engine.waiting_ids("A") == [1, missed.ticket_id, 3]


def test_a_returning_ticket_never_lands_ahead_of_its_place_when_no_key_fits() -> None:
    """When the tickets around the promised place share one key and both ids are larger than
    the returning ticket's, no ``(key, id)`` lands exactly there: the ticket goes right behind
    the tied tickets rather than ahead of the place it was promised."""
    engine = open_engine(make_config(reinsert_places=1), 3)
    (missed,) = engine.issue_ticket("A", now=T0)
    engine.call_next(3, now=T0 + 1)
    engine.no_show(3, now=T0 + 2)
    engine.issue_ticket("A", now=T0 + 10)  # key T0 + 10, id 2
    engine.issue_ticket("A", "vip", now=T0 + 130)  # head start 120 s: key T0 + 10, id 3
    (returned,) = engine.return_missed(missed.ticket_id, now=T0 + 140)
    assert returned.ahead == 2
    assert engine.waiting_ids("A") == [2, 3, missed.ticket_id]
    assert rebuilt(engine).waiting_ids("A") == [2, 3, missed.ticket_id]


def test_a_returning_ticket_lands_its_places_behind_the_head_when_keys_are_1us_apart() -> None:
    """The same rule when tickets were issued at one instant (the engine runs them 1 µs apart,
    as it does under any burst): the returning ticket must not land a place too far back."""
    engine = open_engine(make_config(reinsert_places=1), 3)
    engine.issue_ticket("A", now=T0)
    engine.issue_ticket("A", now=T0)  # runs at T0 + 1 µs: keys 1 µs apart
    (missed,) = engine.issue_ticket("A", now=T0 + 60)
    engine.call_ticket(3, missed.ticket_id, now=T0 + 61)
    engine.no_show(3, now=T0 + 62)
    (returned,) = engine.return_missed(missed.ticket_id, now=T0 + 70)
    assert returned.ahead == 1
    assert engine.waiting_ids("A") == [1, missed.ticket_id, 2]


def test_sla_escalation_breaks_ties_by_ticket_id_after_a_counter_hands_its_queue_back() -> None:
    """Closing a counter sends its direct queue back to the service queue at one instant; the
    most overdue of those tickets is then a tie, broken by the smaller id, before and after a
    rebuild alike."""
    engine = open_engine(None, 1, 2, 3)
    (first,) = engine.issue_ticket("B", now=T0)
    (second,) = engine.issue_ticket("B", now=T0 + 1)
    engine.call_next(2, now=T0 + 2)
    engine.transfer(2, now=T0 + 3, counter=3, position="last")
    engine.call_next(2, now=T0 + 4)
    engine.transfer(2, now=T0 + 5, counter=3, position="first")  # B002 now ahead of B001
    engine.close_counter(3, now=T0 + 6)  # no backup: both back to B, queued at the same instant
    overdue = T0 + 6 + SLA_B + 1
    rebuilt_pick = rebuilt(engine).peek_next(1, now=overdue)
    assert rebuilt_pick is not None
    assert rebuilt_pick.id == first.ticket_id
    (call,) = engine.call_next(1, now=overdue)
    assert isinstance(call, TicketCalled)
    assert call.reason is CallReason.SLA_ESCALATION
    assert call.ticket_id == first.ticket_id, f"called B00{second.ticket_id}, not B001"
