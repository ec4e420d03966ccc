"""Choosing the next ticket: keys and head starts, tiers, SLA escalation, direct queues, reasons."""

import pytest

from app.queue_engine import (
    CallReason,
    CounterBusy,
    CounterNotOpen,
    InvalidCommand,
    ServiceNotServedHere,
    TicketState,
    UnknownCounter,
)

from .builders import (
    MIN,
    T0,
    call_number,
    called,
    issue,
    make_config,
    make_counter,
    make_engine,
    make_service,
)


def test_a_counter_calls_in_issue_order_as_it_finishes_each_ticket() -> None:
    engine = make_engine(open_counters=(1,))
    for i in range(4):
        issue(engine, "A", at=T0 + i)
    order = []
    for i in range(4):
        order.append(call_number(engine, 1, at=T0 + 100 + i))
        engine.finish(1, now=T0 + 100.5 + i)
    assert order == ["A001", "A002", "A003", "A004"]


def test_calling_with_nobody_waiting_returns_no_event_and_changes_nothing() -> None:
    engine = make_engine(open_counters=(1,))
    before = engine.records()
    assert engine.call_next(1, now=T0) == []
    assert engine.records() == before


def test_a_care_ticket_passes_normal_tickets_issued_within_its_head_start() -> None:
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", at=T0)  # A001
    issue(engine, "A", "care", at=T0 + 9 * MIN)  # A002, head start 10 min
    event = called(engine.call_next(1, now=T0 + 10 * MIN))
    assert event.number == "A002"
    assert event.reason is CallReason.HEAD_START
    assert "10 分钟" in event.explanation
    assert "10 min head start" in event.explanation_en


def test_a_care_ticket_never_passes_a_normal_ticket_that_waited_longer_than_the_head_start() -> (
    None
):
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", at=T0)  # A001
    issue(engine, "A", "care", at=T0 + 11 * MIN)  # A002, head start 10 min: too late to pass
    assert call_number(engine, 1, at=T0 + 12 * MIN) == "A001"


def test_a_priority_ticket_with_nobody_to_pass_is_called_in_plain_order() -> None:
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", "vip", at=T0)
    assert called(engine.call_next(1, now=T0 + 1)).reason is CallReason.TIER


def test_strict_priority_lets_priority_classes_pass_everybody_in_rank_order() -> None:
    engine = make_engine(make_config(strict=True), open_counters=(1,))
    issue(engine, "A", at=T0)  # A001 normal
    issue(engine, "A", "vip", at=T0 + 60 * MIN)  # A002
    issue(engine, "A", "care", at=T0 + 90 * MIN)  # A003 (care has the larger head start)
    order = []
    for i in range(3):
        event = called(engine.call_next(1, now=T0 + 100 * MIN + i))
        order.append(event.number)
        engine.finish(1, now=T0 + 100 * MIN + i + 0.5)
    assert order == ["A003", "A002", "A001"]


def test_a_counter_serves_its_second_tier_only_when_the_first_is_empty() -> None:
    engine = make_engine(open_counters=(1,))  # counter 1: tier 1 = A, tier 2 = B
    issue(engine, "B", at=T0)  # B001 has waited longest
    issue(engine, "A", at=T0 + 1)
    first = called(engine.call_next(1, now=T0 + 2))
    assert first.number == "A001"
    assert first.reason is CallReason.TIER
    engine.finish(1, now=T0 + 3)
    second = called(engine.call_next(1, now=T0 + 4))
    assert second.number == "B001"
    assert "tier 2" in second.explanation_en


def test_services_in_one_tier_share_one_order_by_key() -> None:
    engine = make_engine(open_counters=(2,))  # counter 2: one tier with B and A
    issue(engine, "A", at=T0)
    issue(engine, "B", at=T0 + 1)
    issue(engine, "A", at=T0 + 2)
    order = []
    for i in range(3):
        order.append(call_number(engine, 2, at=T0 + 10 + i))
        engine.finish(2, now=T0 + 10.5 + i)
    assert order == ["A001", "B001", "A002"]


def test_a_ticket_over_its_sla_is_called_first_whatever_its_tier() -> None:
    config = make_config(services=(make_service("A"), make_service("B", sla_seconds=20 * MIN)))
    engine = make_engine(config, open_counters=(1,))
    issue(engine, "B", at=T0)  # tier 2 at counter 1
    issue(engine, "A", at=T0 + 15 * MIN)
    assert call_number(engine, 1, at=T0 + 19 * MIN) == "A001"  # B001 is not overdue yet
    engine.finish(1, now=T0 + 19.5 * MIN)
    issue(engine, "A", at=T0 + 20 * MIN)
    event = called(engine.call_next(1, now=T0 + 21 * MIN))
    assert event.number == "B001"
    assert event.reason is CallReason.SLA_ESCALATION
    assert "超过" in event.explanation


def test_sla_escalation_takes_the_longest_waiter_not_the_smallest_key() -> None:
    config = make_config(services=(make_service("A", sla_seconds=5 * MIN), make_service("B")))
    engine = make_engine(config, open_counters=(1,))
    issue(engine, "A", at=T0)  # normal, waits longest
    issue(engine, "A", "care", at=T0 + 4 * MIN)  # smaller key thanks to its head start
    event = called(engine.call_next(1, now=T0 + 6 * MIN))
    assert event.number == "A001"
    assert event.reason is CallReason.SLA_ESCALATION


def test_among_overdue_services_the_most_overdue_ticket_is_called() -> None:
    config = make_config(
        services=(
            make_service("A", sla_seconds=30 * MIN),
            make_service("B", sla_seconds=5 * MIN),
        )
    )
    engine = make_engine(config, open_counters=(1,))
    issue(engine, "A", at=T0)  # waited 40 min at the call: 10 min over
    issue(engine, "B", at=T0 + 20 * MIN)  # waited 20 min at the call: 15 min over
    assert call_number(engine, 1, at=T0 + 40 * MIN) == "B001"


def test_a_counters_direct_queue_comes_before_everything_else() -> None:
    config = make_config(services=(make_service("A", sla_seconds=60), make_service("B")))
    engine = make_engine(config, open_counters=(1, 2))
    issue(engine, "A", at=T0)  # will be overdue
    issue(engine, "B", at=T0 + 1)
    assert call_number(engine, 2, at=T0 + 2) == "A001"
    engine.transfer(2, counter=1, service="B", now=T0 + 3)  # A001 now waits for counter 1
    issue(engine, "A", at=T0 + 4)
    event = called(engine.call_next(1, now=T0 + 10 * MIN))
    assert event.number == "A001"
    assert event.reason is CallReason.DIRECT


def test_only_an_open_counter_with_no_ticket_can_call() -> None:
    engine = make_engine()
    issue(engine, "A", at=T0)
    with pytest.raises(CounterNotOpen, match="closed"):
        engine.call_next(1, now=T0 + 1)
    engine.open_counter(1, now=T0 + 2)
    engine.pause_counter(1, now=T0 + 3)
    with pytest.raises(CounterNotOpen, match="paused"):
        engine.call_next(1, now=T0 + 4)
    engine.open_counter(1, now=T0 + 5)
    engine.call_next(1, now=T0 + 6)
    issue(engine, "A", at=T0 + 7)
    before = engine.records()
    with pytest.raises(CounterBusy, match="A001"):
        engine.call_next(1, now=T0 + 8)
    assert engine.records() == before


def test_an_unknown_counter_is_refused() -> None:
    with pytest.raises(UnknownCounter, match="9"):
        make_engine().call_next(9, now=T0)


def test_a_clerk_can_call_a_waiting_ticket_out_of_order() -> None:
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", at=T0)
    third = [issue(engine, "A", at=T0 + 1), issue(engine, "A", at=T0 + 2)][1]
    event = called(engine.call_ticket(1, third, now=T0 + 3))
    assert event.number == "A003"
    assert event.reason is CallReason.MANUAL
    engine.finish(1, now=T0 + 4)
    assert call_number(engine, 1, at=T0 + 5) == "A001"


def test_a_counter_cannot_call_out_of_order_a_service_it_does_not_serve() -> None:
    config = make_config(counters=(make_counter(1, (("A",),)), make_counter(2, (("B",),))))
    engine = make_engine(config, open_counters=(1,))
    ticket = issue(engine, "B", at=T0)
    with pytest.raises(ServiceNotServedHere, match="does not serve service B"):
        engine.call_ticket(1, ticket, now=T0 + 1)


def test_peek_next_names_the_ticket_call_next_will_call() -> None:
    config = make_config(services=(make_service("A"), make_service("B", sla_seconds=60)))
    engine = make_engine(config, open_counters=(1,))
    issue(engine, "A", at=T0)
    issue(engine, "B", at=T0 + 1)
    issue(engine, "A", "vip", at=T0 + 2)
    for step in range(3):
        at = T0 + 30 + step * 100
        peeked = engine.peek_next(1, now=at)
        assert peeked is not None
        assert call_number(engine, 1, at=at) == peeked.display
        engine.finish(1, now=at + 1)
    assert engine.peek_next(1, now=T0 + 1000) is None


def test_an_appointment_is_called_before_walk_ins_who_arrived_after_its_head_start() -> None:
    engine = make_engine(open_counters=(1,))
    slot = T0 + 20 * MIN
    issue(engine, "A", at=T0)  # key T0: before the appointment's key (slot - 15 min)
    issue(engine, "A", at=T0 + 6 * MIN)  # key after the appointment's key
    engine.check_in_appointment("A", slot, now=T0 + 10 * MIN)
    order = []
    for i in range(3):
        event = called(engine.call_next(1, now=T0 + 11 * MIN + i))
        order.append((event.number, event.reason))
        engine.finish(1, now=T0 + 11 * MIN + i + 0.5)
    assert order == [
        ("A001", CallReason.TIER),
        ("A003", CallReason.APPOINTMENT),
        ("A002", CallReason.TIER),
    ]


# --------------------------------------------------------------------------------------------
# Finish and call next, one command


def test_next_finishes_the_held_ticket_and_calls_the_following_one() -> None:
    engine = make_engine(open_counters=(1,))
    first = issue(engine, "A", at=T0)
    second = issue(engine, "A", at=T0 + 1)
    engine.call_next(1, now=T0 + 2)
    events = engine.finish_and_call_next(1, now=T0 + 60, outcome="办结")
    assert [e.type for e in events] == ["ticket_finished", "ticket_called"]
    assert engine.ticket(first).state == TicketState.FINISHED
    assert engine.ticket(first).outcome == "办结"
    assert engine.ticket(second).state == TicketState.CALLED
    assert engine.counter_status(1).ticket == engine.ticket(second)
    assert events[0].at < events[1].at


def test_next_is_finish_then_call_next_at_the_same_time() -> None:
    engine = make_engine(open_counters=(1, 2))
    for i in range(6):
        issue(engine, "AB"[i % 2], "care" if i == 4 else "normal", at=T0 + i)
    engine.call_next(1, now=T0 + 10)
    engine.start_serving(1, now=T0 + 20)
    apart = engine.copy()
    together = engine.finish_and_call_next(1, now=T0 + 300)
    separately = apart.finish(1, now=T0 + 300) + apart.call_next(1, now=T0 + 300)
    assert together == separately
    assert engine.records() == apart.records()


def test_next_at_an_idle_counter_only_calls() -> None:
    engine = make_engine(open_counters=(1,))
    ticket = issue(engine, "A", at=T0)
    events = engine.finish_and_call_next(1, now=T0 + 1)
    assert [e.type for e in events] == ["ticket_called"]
    assert engine.ticket(ticket).state == TicketState.CALLED


def test_next_with_nobody_waiting_only_finishes_or_does_nothing() -> None:
    engine = make_engine(open_counters=(1,))
    ticket = issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    events = engine.finish_and_call_next(1, now=T0 + 60)
    assert [e.type for e in events] == ["ticket_finished"]
    assert engine.ticket(ticket).state == TicketState.FINISHED
    assert engine.counter_status(1).ticket is None
    before = engine.records()
    assert engine.finish_and_call_next(1, now=T0 + 70, outcome="ignored") == []
    assert engine.records() == before


def test_next_at_a_paused_counter_refuses_and_keeps_the_held_ticket() -> None:
    engine = make_engine(open_counters=(1,))
    ticket = issue(engine, "A", at=T0)
    issue(engine, "A", at=T0 + 1)
    engine.call_next(1, now=T0 + 2)
    engine.pause_counter(1, now=T0 + 3)
    before = engine.records()
    with pytest.raises(CounterNotOpen, match="Counter 1 is paused"):
        engine.finish_and_call_next(1, now=T0 + 60)
    assert engine.records() == before
    assert engine.ticket(ticket).state == TicketState.CALLED


def test_next_with_a_bad_outcome_or_at_an_unknown_counter_changes_nothing() -> None:
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", at=T0)
    issue(engine, "A", at=T0 + 1)
    engine.call_next(1, now=T0 + 2)
    before = engine.records()
    with pytest.raises(InvalidCommand):
        engine.finish_and_call_next(1, now=T0 + 60, outcome="x" * 10_000)
    with pytest.raises(UnknownCounter):
        engine.finish_and_call_next(9, now=T0 + 60)
    assert engine.records() == before
