"""Queries (position, estimate, snapshot, look-ups) and rebuilding an engine from its records."""

import pytest

from app.queue_engine import (
    BranchConfig,
    CounterState,
    InvalidCommand,
    QueueEngine,
    ServiceTimeEstimate,
    TicketState,
    UnknownCounter,
    UnknownTicket,
)

from .builders import (
    MIN,
    T0,
    issue,
    make_config,
    make_counter,
    make_engine,
    make_service,
)


def one_service(counters: int = 1, mean: float = 300.0) -> BranchConfig:
    return make_config(
        services=(make_service("A", mean_service_seconds=mean),),
        counters=tuple(make_counter(n, (("A",),)) for n in range(1, counters + 1)),
    )


def test_position_counts_the_tickets_ahead_in_the_same_line() -> None:
    engine = make_engine()
    ids = [issue(engine, "A", at=T0 + i) for i in range(3)]
    issue(engine, "B", at=T0 + 3)
    assert [engine.position(t) for t in ids] == [0, 1, 2]


def test_position_is_none_once_a_ticket_no_longer_waits() -> None:
    engine = make_engine(open_counters=(1,))
    ticket = issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    assert engine.position(ticket) is None
    assert engine.estimate_wait_minutes(ticket) is None


def test_the_estimate_is_unknown_while_no_open_counter_serves_the_service() -> None:
    engine = make_engine(one_service())
    ticket = issue(engine, "A", at=T0)
    assert engine.estimate_wait_seconds(ticket) is None


def test_an_idle_counter_means_no_wait() -> None:
    engine = make_engine(one_service(counters=2), open_counters=(1, 2))
    first = issue(engine, "A", at=T0)
    second = issue(engine, "A", at=T0 + 1)
    third = issue(engine, "A", at=T0 + 2)
    assert engine.estimate_wait_seconds(first) == 0
    assert engine.estimate_wait_seconds(second) == 0
    # Both counters will be busy with the first two: the third waits for one of two services.
    assert engine.estimate_wait_seconds(third) == pytest.approx(300 / 2)


def test_with_all_counters_busy_each_place_adds_a_mean_service_over_the_counters() -> None:
    engine = make_engine(one_service(counters=2, mean=600), open_counters=(1, 2))
    for i in range(2):
        issue(engine, "A", at=T0 + i)
    engine.call_next(1, now=T0 + 10)
    engine.call_next(2, now=T0 + 11)
    waiting = [issue(engine, "A", at=T0 + 20 + i) for i in range(4)]
    estimates = [engine.estimate_wait_seconds(t) for t in waiting]
    assert estimates == pytest.approx([300, 600, 900, 1200])
    assert engine.estimate_wait_minutes(waiting[3]) == 20


def test_more_open_counters_shorten_the_estimate() -> None:
    engine = make_engine(one_service(counters=3), open_counters=(1,))
    tickets = [issue(engine, "A", at=T0 + i) for i in range(10)]
    one = engine.estimate_wait_seconds(tickets[-1])
    engine.open_counter(2, now=T0 + 20)
    engine.open_counter(3, now=T0 + 21)
    three = engine.estimate_wait_seconds(tickets[-1])
    assert one is not None
    assert three is not None
    assert three < one / 2


def test_a_second_tier_counter_counts_less_while_its_first_tier_is_busy() -> None:
    engine = make_engine(open_counters=(1,))  # counter 1: tier 1 A, tier 2 B
    b_ticket = issue(engine, "B", at=T0)
    alone = engine.estimate_wait_seconds(b_ticket)
    issue(engine, "A", at=T0 + 1)
    behind_a = engine.estimate_wait_seconds(b_ticket)
    assert alone is not None
    assert behind_a is not None
    assert behind_a > alone


def test_the_estimate_uses_the_learned_service_time() -> None:
    engine = make_engine(one_service(mean=300), open_counters=(1,))
    for i in range(20):
        start = T0 + 1000 * i
        issue(engine, "A", at=start)
        engine.call_next(1, now=start + 1)
        engine.finish(1, now=start + 901)
    learned = engine.estimates()["A"].mean_seconds
    assert 800 < learned <= 900
    first = issue(engine, "A", at=T0 + 50_000)
    second = issue(engine, "A", at=T0 + 50_001)
    assert engine.estimate_wait_seconds(first) == 0  # the counter is idle
    assert engine.estimate_wait_seconds(second) == pytest.approx(learned)


def test_the_snapshot_shows_waiting_longest_wait_counters_and_recent_calls() -> None:
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", at=T0)
    issue(engine, "A", at=T0 + 5 * MIN)
    issue(engine, "B", at=T0 + 6 * MIN)
    engine.call_next(1, now=T0 + 7 * MIN)
    snapshot = engine.snapshot(T0 + 10 * MIN)
    a, b = snapshot.services
    assert (a.code, a.waiting, a.longest_wait_seconds) == ("A", 1, 5 * MIN)
    assert (b.code, b.waiting, b.longest_wait_seconds) == ("B", 1, 4 * MIN)
    assert (a.issued_today, a.open_counters) == (2, 1)
    counter_one, counter_two = snapshot.counters
    assert counter_one.state is CounterState.OPEN
    assert counter_one.ticket is not None
    assert counter_one.ticket.display == "A001"
    assert counter_two.state is CounterState.CLOSED
    assert [(c.number, c.counter) for c in snapshot.recent_calls] == [("A001", 1)]
    assert snapshot.waiting == 2


def test_recent_calls_are_newest_first_and_bounded() -> None:
    engine = make_engine(make_config(recent_calls=3), open_counters=(1,))
    for i in range(5):
        issue(engine, "A", at=T0 + i)
    for i in range(5):
        engine.call_next(1, now=T0 + 10 + i)
        engine.finish(1, now=T0 + 10.5 + i)
    assert [c.number for c in engine.snapshot(T0 + 20).recent_calls] == ["A005", "A004", "A003"]


def test_a_recall_moves_a_ticket_to_the_top_of_recent_calls() -> None:
    engine = make_engine(open_counters=(1, 2))
    issue(engine, "A", at=T0)
    issue(engine, "A", at=T0 + 1)
    engine.call_next(1, now=T0 + 2)
    engine.call_next(2, now=T0 + 3)
    engine.recall(1, now=T0 + 4)
    assert [c.number for c in engine.snapshot(T0 + 5).recent_calls] == ["A001", "A002"]


def test_a_ticket_can_be_found_by_its_display_number() -> None:
    engine = make_engine()
    issue(engine, "A", at=T0)
    second = issue(engine, "A", at=T0 + 1)
    assert engine.find_ticket("A002").id == second
    assert engine.find_ticket("a2").id == second
    for bad in ("A003", "Z001", "A", "001", "A-1", "A99999999999"):
        with pytest.raises(UnknownTicket):
            engine.find_ticket(bad)


def test_an_unknown_ticket_id_is_refused() -> None:
    engine = make_engine()
    with pytest.raises(UnknownTicket):
        engine.ticket(1)
    with pytest.raises(UnknownTicket):
        engine.cancel_ticket(0, now=T0)


def busy_day() -> QueueEngine:
    """An engine after a morning with every kind of command."""
    config = make_config(
        services=(make_service("A", sla_seconds=20 * MIN), make_service("B"), make_service("C")),
        counters=(
            make_counter(1, (("A",), ("B",)), backup=2),
            make_counter(2, (("B", "A"),)),
            make_counter(3, (("C",), ("A",))),
        ),
    )
    engine = make_engine(config, open_counters=(1, 2, 3))
    t = T0
    for i in range(12):
        engine.issue_ticket("ABC"[i % 3], ("normal", "vip", "care", "normal")[i % 4], now=t + i)
    engine.check_in_appointment("B", t + 30 * MIN, now=t + 20)
    engine.call_next(1, now=t + 60)
    engine.start_serving(1, now=t + 90)
    engine.transfer(1, service="C", position="first", now=t + 200)
    engine.call_next(1, now=t + 210)
    engine.no_show(1, now=t + 400)
    engine.call_next(2, now=t + 410)
    engine.park(2, now=t + 420)
    engine.call_next(2, now=t + 430)
    engine.finish(2, now=t + 700, outcome="ok")
    engine.call_next(3, now=t + 710)
    engine.transfer(3, counter=1, now=t + 720)
    engine.call_next(2, now=t + 730)
    engine.recall(2, now=t + 760)
    engine.return_missed(engine.find_ticket("A004").id, now=t + 800)
    engine.pause_counter(3, now=t + 810)
    return engine


def assert_equal_engines(original: QueueEngine, rebuilt: QueueEngine, now: float) -> None:
    assert rebuilt.records() == original.records()
    assert rebuilt.snapshot(now) == original.snapshot(now)
    for number in (1, 2, 3):
        assert rebuilt.peek_next(number, now=now) == original.peek_next(number, now=now)
    for ticket in original.tickets():
        assert rebuilt.position(ticket.id) == original.position(ticket.id)
        assert rebuilt.estimate_wait_seconds(ticket.id) == original.estimate_wait_seconds(ticket.id)


def test_a_rebuilt_engine_equals_the_original() -> None:
    engine = busy_day()
    records = engine.records()
    rebuilt = QueueEngine.rebuild(
        engine.config,
        records.business_day,
        reversed(records.tickets),  # any order
        records.counters,
        estimates=records.estimates,
        next_ticket_id=records.next_ticket_id,
        last_now=records.last_now,
    )
    assert_equal_engines(engine, rebuilt, T0 + 2000)


def test_a_rebuilt_engine_goes_on_exactly_like_the_original() -> None:
    engine = busy_day()
    rebuilt = engine.copy()
    script = [
        lambda e: e.finish(2, now=T0 + 900),
        lambda e: e.open_counter(3, now=T0 + 901),
        lambda e: e.issue_ticket("A", "care", now=T0 + 901),  # same instant: nudged
        lambda e: e.call_next(2, now=T0 + 1900),  # A tickets are past their SLA by now
        lambda e: e.finish(2, now=T0 + 1950),
        lambda e: e.call_next(1, now=T0 + 1960),
        lambda e: e.unpark(
            2,
            e.snapshot(T0).counters[1].parked
            and e.find_ticket(e.snapshot(T0).counters[1].parked[0]).id,
            now=T0 + 1970,
        ),
    ]
    for step in script:
        assert step(rebuilt) == step(engine)
    assert_equal_engines(engine, rebuilt, T0 + 3000)


def test_a_rebuild_without_tickets_starts_numbering_at_the_given_id() -> None:
    engine = QueueEngine.rebuild(make_config(), "2025-11-21", [], next_ticket_id=500)
    assert issue(engine, "A", at=T0) == 500
    assert engine.ticket(500).display == "A001"


def test_a_rebuild_refuses_records_that_cannot_be_a_day() -> None:
    records = busy_day().records()
    config = busy_day().config
    with pytest.raises(InvalidCommand, match="contiguous"):
        QueueEngine.rebuild(config, "d", records.tickets[1:3] + records.tickets[4:])
    with pytest.raises(InvalidCommand, match="next id"):
        QueueEngine.rebuild(config, "d", records.tickets, next_ticket_id=1)
    with pytest.raises(InvalidCommand, match="no longer has"):
        QueueEngine.rebuild(make_config(), "d", records.tickets)


def test_the_estimator_state_survives_a_rebuild() -> None:
    engine = make_engine(one_service(), open_counters=(1,))
    issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    engine.finish(1, now=T0 + 1000)
    learned = engine.estimates()["A"]
    assert learned.samples == 1
    assert engine.copy().estimates()["A"] == learned
    fresh = QueueEngine(one_service(), "x", estimates={"A": ServiceTimeEstimate(42.0, 7)})
    assert fresh.estimates()["A"] == ServiceTimeEstimate(42.0, 7)


def test_reconfiguring_keeps_tickets_and_applies_the_new_policy() -> None:
    engine = make_engine(open_counters=(1,))
    waiting = issue(engine, "A", at=T0)
    config = make_config(
        services=(make_service("A"), make_service("B"), make_service("C")),
        counters=(make_counter(1, (("A", "C"),)),),
    )
    changed = engine.reconfigured(config)
    assert changed.ticket(waiting).state is TicketState.WAITING
    assert changed.counter_state(1) is CounterState.OPEN
    assert issue(changed, "C", at=T0 + 1) == waiting + 1


def test_reconfiguring_refuses_to_drop_a_counter_holding_a_ticket() -> None:
    engine = make_engine(open_counters=(2,))
    issue(engine, "A", at=T0)
    engine.call_next(2, now=T0 + 1)
    with pytest.raises(InvalidCommand, match="still holds"):
        engine.reconfigured(make_config(counters=(make_counter(1, (("A",),)),)))


def test_a_counter_status_is_what_the_snapshot_shows_for_that_counter() -> None:
    engine = make_engine(open_counters=(1, 2))
    for i in range(4):
        issue(engine, "A" if i % 2 else "B", at=T0 + i)
    engine.call_next(1, now=T0 + 10)
    engine.park(1, now=T0 + 11)
    engine.call_next(1, now=T0 + 12)
    engine.call_next(2, now=T0 + 13)
    engine.transfer(2, now=T0 + 14, counter=1)
    snapshot = engine.snapshot(T0 + 15)
    assert [engine.counter_status(c.number) for c in snapshot.counters] == list(snapshot.counters)
    first = engine.counter_status(1)
    assert first.ticket is not None
    assert len(first.parked) == 1
    assert first.direct_waiting == 1


def test_the_status_of_an_unknown_counter_is_refused() -> None:
    engine = make_engine()
    with pytest.raises(UnknownCounter):
        engine.counter_status(9)
