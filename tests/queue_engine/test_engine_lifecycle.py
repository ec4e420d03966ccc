"""A ticket's life at the counter: recall, start, finish, no-show and return, transfer, park,
cancel; counters opening, pausing and closing; a new business day."""

import pytest

from app.queue_engine import (
    CounterBusy,
    CounterIdle,
    CounterNotOpen,
    CounterState,
    IllegalTransition,
    InvalidCommand,
    MissedTicketPolicy,
    Position,
    QueueError,
    ReturnNotAllowed,
    TicketExpired,
    TicketFinished,
    TicketMissed,
    TicketRecalled,
    TicketState,
    TicketTransferred,
    TicketUnparked,
)
from app.queue_engine.model import BusinessDayStarted, CounterStateChanged

from .builders import (
    MIN,
    T0,
    call_number,
    issue,
    make_config,
    make_counter,
    make_engine,
    make_service,
)


def test_a_recall_calls_the_same_ticket_again_and_counts() -> None:
    engine = make_engine(open_counters=(1,))
    ticket = issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    (first,) = engine.recall(1, now=T0 + 30)
    (second,) = engine.recall(1, now=T0 + 60)
    assert isinstance(second, TicketRecalled)
    assert isinstance(first, TicketRecalled)
    assert (first.recalls, second.recalls) == (1, 2)
    record = engine.ticket(ticket)
    assert record.state is TicketState.CALLED
    assert record.called_at == second.at
    assert record.first_called_at == T0 + 1


def test_after_n_recalls_the_next_recall_marks_a_no_show_when_configured() -> None:
    engine = make_engine(
        make_config(missed=MissedTicketPolicy(auto_miss_after_recalls=2)), open_counters=(1,)
    )
    ticket = issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    engine.recall(1, now=T0 + 2)
    engine.recall(1, now=T0 + 3)
    (event,) = engine.recall(1, now=T0 + 4)
    assert isinstance(event, TicketMissed)
    assert event.automatic
    assert engine.ticket(ticket).state is TicketState.MISSED
    assert engine.snapshot(T0 + 5).counters[0].ticket is None


def test_a_serving_ticket_cannot_be_recalled_or_missed() -> None:
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    engine.start_serving(1, now=T0 + 2)
    with pytest.raises(IllegalTransition, match="serving"):
        engine.recall(1, now=T0 + 3)
    with pytest.raises(IllegalTransition, match="serving"):
        engine.no_show(1, now=T0 + 3)


def test_commands_on_an_idle_counter_say_it_holds_no_ticket() -> None:
    engine = make_engine(open_counters=(1,))
    for command in (
        engine.recall,
        engine.start_serving,
        engine.finish,
        engine.no_show,
        engine.park,
    ):
        with pytest.raises(CounterIdle, match="holds no ticket"):
            command(1, now=T0)


def test_finishing_reports_the_service_time_from_the_start() -> None:
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 60)
    engine.start_serving(1, now=T0 + 120)
    (event,) = engine.finish(1, now=T0 + 420, outcome="办结")
    assert isinstance(event, TicketFinished)
    assert event.service_seconds == pytest.approx(300)
    assert event.outcome == "办结"
    assert engine.ticket(event.ticket_id).outcome == "办结"


def test_finishing_a_ticket_never_started_counts_its_service_from_the_call() -> None:
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 60)
    (event,) = engine.finish(1, now=T0 + 360)
    assert isinstance(event, TicketFinished)
    assert event.service_seconds == pytest.approx(300)


def test_an_overlong_outcome_is_refused() -> None:
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    with pytest.raises(InvalidCommand, match="200 characters"):
        engine.finish(1, now=T0 + 2, outcome="x" * 201)


def test_finished_services_teach_the_estimator() -> None:
    engine = make_engine(
        make_config(services=(make_service("A", mean_service_seconds=300), make_service("B"))),
        open_counters=(1,),
    )
    for i in range(5):
        issue(engine, "A", at=T0 + i)
    for i in range(5):
        start = T0 + 1000 + i * 1000
        engine.call_next(1, now=start)
        engine.finish(1, now=start + 600)
    estimate = engine.estimates()["A"]
    assert estimate.samples == 5
    assert 300 < estimate.mean_seconds < 600
    assert engine.estimates()["B"].samples == 0


def test_a_missed_ticket_returns_a_configured_number_of_places_behind_the_head() -> None:
    engine = make_engine(
        make_config(missed=MissedTicketPolicy(reinsert_places=2, grace_seconds=30 * MIN)),
        open_counters=(1,),
    )
    missed = issue(engine, "A", at=T0)
    for i in range(4):
        issue(engine, "A", at=T0 + 1 + i)  # A002..A005
    engine.call_next(1, now=T0 + 10)
    engine.no_show(1, now=T0 + 20)
    (event,) = engine.return_missed(missed, now=T0 + 10 * MIN)
    assert event.ahead == 2
    assert engine.position(missed) == 2
    assert engine.waiting_ids("A")[2] == missed


def test_a_missed_ticket_returns_to_the_end_when_fewer_are_waiting() -> None:
    engine = make_engine(
        make_config(missed=MissedTicketPolicy(reinsert_places=3)), open_counters=(1,)
    )
    missed = issue(engine, "A", at=T0)
    issue(engine, "A", at=T0 + 1)
    engine.call_next(1, now=T0 + 2)
    engine.no_show(1, now=T0 + 3)
    engine.return_missed(missed, now=T0 + 4)
    assert engine.position(missed) == 1


def test_a_returned_ticket_is_called_with_the_returned_reason() -> None:
    engine = make_engine(
        make_config(missed=MissedTicketPolicy(reinsert_places=0)), open_counters=(1,)
    )
    missed = issue(engine, "A", at=T0)
    issue(engine, "A", at=T0 + 1)
    engine.call_next(1, now=T0 + 2)
    engine.no_show(1, now=T0 + 3)
    engine.return_missed(missed, now=T0 + 4)
    (event,) = engine.call_next(1, now=T0 + 5)
    assert event.ticket_id == missed  # type: ignore[attr-defined]
    assert event.reason == "returned"  # type: ignore[attr-defined]


def test_a_missed_ticket_cannot_return_after_the_grace_period() -> None:
    engine = make_engine(
        make_config(missed=MissedTicketPolicy(grace_seconds=10 * MIN)), open_counters=(1,)
    )
    missed = issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    engine.no_show(1, now=T0 + 2)
    before = engine.records()
    with pytest.raises(ReturnNotAllowed, match="grace period is 10 minutes"):
        engine.return_missed(missed, now=T0 + 2 + 10 * MIN + 1)
    assert engine.records() == before


def test_a_missed_ticket_returns_at_most_the_allowed_number_of_times() -> None:
    engine = make_engine(make_config(missed=MissedTicketPolicy(max_returns=1)), open_counters=(1,))
    missed = issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    engine.no_show(1, now=T0 + 2)
    engine.return_missed(missed, now=T0 + 3)
    engine.call_next(1, now=T0 + 4)
    (event,) = engine.no_show(1, now=T0 + 5)
    assert isinstance(event, TicketMissed)
    assert event.returns_left == 0
    with pytest.raises(ReturnNotAllowed, match="already returned 1 time"):
        engine.return_missed(missed, now=T0 + 6)


def test_only_a_missed_ticket_can_return() -> None:
    engine = make_engine()
    ticket = issue(engine, "A", at=T0)
    with pytest.raises(IllegalTransition, match="waiting"):
        engine.return_missed(ticket, now=T0 + 1)


def test_a_transfer_to_another_service_keeps_the_original_key_by_default() -> None:
    engine = make_engine(open_counters=(1,))
    moved = issue(engine, "A", at=T0)
    issue(engine, "B", at=T0 + 5 * MIN)
    engine.call_next(1, now=T0 + 10 * MIN)
    (event,) = engine.transfer(1, service="B", now=T0 + 11 * MIN)
    assert isinstance(event, TicketTransferred)
    assert (event.from_service, event.service, event.number) == ("A", "B", "A001")
    assert event.key == T0
    assert engine.waiting_ids("B")[0] == moved
    assert engine.snapshot(T0 + 12 * MIN).counters[0].ticket is None


@pytest.mark.parametrize(("position", "expected_place"), [("first", 0), ("last", 2), ("keep", 0)])
def test_a_transfer_joins_first_last_or_by_its_key(position: str, expected_place: int) -> None:
    engine = make_engine(open_counters=(1,))
    moved = issue(engine, "A", at=T0)
    issue(engine, "B", at=T0 + 1)
    issue(engine, "B", at=T0 + 2)
    engine.call_next(1, now=T0 + 3)
    engine.transfer(1, service="B", position=position, now=T0 + 4)
    assert engine.waiting_ids("B").index(moved) == expected_place


def test_a_transfer_to_a_counter_puts_the_ticket_in_its_direct_queue() -> None:
    engine = make_engine(open_counters=(1, 2))
    moved = issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    engine.transfer(1, counter=2, now=T0 + 2)
    record = engine.ticket(moved)
    assert (record.state, record.counter) == (TicketState.WAITING, 2)
    assert engine.waiting_ids("A") == []
    assert engine.snapshot(T0 + 3).counters[1].direct_waiting == 1
    assert engine.snapshot(T0 + 3).services[0].waiting == 1
    assert call_number(engine, 2, at=T0 + 4) == "A001"


def test_a_transfer_needs_a_valid_target() -> None:
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    with pytest.raises(InvalidCommand, match="Name the service or the counter"):
        engine.transfer(1, now=T0 + 2)
    with pytest.raises(InvalidCommand, match="already for service A"):
        engine.transfer(1, service="A", now=T0 + 2)
    with pytest.raises(InvalidCommand, match="its own counter"):
        engine.transfer(1, counter=1, now=T0 + 2)
    with pytest.raises(CounterNotOpen, match="closed"):
        engine.transfer(1, counter=2, now=T0 + 2)
    with pytest.raises(InvalidCommand, match="first"):
        engine.transfer(1, service="B", position="middle", now=T0 + 2)
    assert engine.ticket(1).state is TicketState.CALLED


def test_a_parked_ticket_frees_the_counter_and_comes_back_with_unpark() -> None:
    engine = make_engine(open_counters=(1,))
    parked = issue(engine, "A", at=T0)
    issue(engine, "A", at=T0 + 1)
    engine.call_next(1, now=T0 + 2)
    engine.start_serving(1, now=T0 + 3)
    engine.park(1, now=T0 + 4)
    assert engine.snapshot(T0 + 5).counters[0].parked == ("A001",)
    assert call_number(engine, 1, at=T0 + 5) == "A002"
    with pytest.raises(CounterBusy):
        engine.unpark(1, parked, now=T0 + 6)
    engine.finish(1, now=T0 + 7)
    (event,) = engine.unpark(1, parked, now=T0 + 8)
    assert isinstance(event, TicketUnparked)
    assert event.state is TicketState.SERVING
    assert engine.snapshot(T0 + 9).counters[0].ticket is not None


def test_a_ticket_parked_before_service_comes_back_as_called() -> None:
    engine = make_engine(open_counters=(1,))
    parked = issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    engine.park(1, now=T0 + 2)
    (event,) = engine.unpark(1, parked, now=T0 + 3)
    assert event.state is TicketState.CALLED  # type: ignore[attr-defined]


def test_only_the_parking_counter_can_unpark() -> None:
    engine = make_engine(open_counters=(1, 2))
    parked = issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    engine.park(1, now=T0 + 2)
    with pytest.raises(IllegalTransition, match="parked by counter 1"):
        engine.unpark(2, parked, now=T0 + 3)


@pytest.mark.parametrize("stage", ["waiting", "called", "parked", "missed", "direct"])
def test_a_customer_can_cancel_before_being_served(stage: str) -> None:
    engine = make_engine(open_counters=(1, 2))
    ticket = issue(engine, "A", at=T0)
    if stage != "waiting":
        engine.call_next(1, now=T0 + 1)
    if stage == "parked":
        engine.park(1, now=T0 + 2)
    if stage == "missed":
        engine.no_show(1, now=T0 + 2)
    if stage == "direct":
        engine.transfer(1, counter=2, now=T0 + 2)
    engine.cancel_ticket(ticket, now=T0 + 3)
    assert engine.ticket(ticket).state is TicketState.CANCELLED
    snapshot = engine.snapshot(T0 + 4)
    assert snapshot.waiting == 0
    assert all(c.ticket is None and not c.parked for c in snapshot.counters)
    assert engine.call_next(2, now=T0 + 5) == []


def test_a_ticket_being_served_cannot_be_cancelled() -> None:
    engine = make_engine(open_counters=(1,))
    ticket = issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    engine.start_serving(1, now=T0 + 2)
    with pytest.raises(IllegalTransition, match="serving"):
        engine.cancel_ticket(ticket, now=T0 + 3)


def test_counter_states_follow_their_table() -> None:
    engine = make_engine()
    with pytest.raises(IllegalTransition, match="closed; it cannot be paused"):
        engine.pause_counter(1, now=T0)
    (opened,) = engine.open_counter(1, now=T0)
    assert isinstance(opened, CounterStateChanged)
    assert (opened.previous_state, opened.state) == (CounterState.CLOSED, CounterState.OPEN)
    with pytest.raises(IllegalTransition, match="already open"):
        engine.open_counter(1, now=T0 + 1)
    engine.pause_counter(1, now=T0 + 2)
    engine.close_counter(1, now=T0 + 3)
    with pytest.raises(IllegalTransition, match="already closed"):
        engine.close_counter(1, now=T0 + 4)


def test_a_paused_counter_keeps_its_ticket_and_can_finish_it() -> None:
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    engine.pause_counter(1, now=T0 + 2)
    engine.finish(1, now=T0 + 3)
    assert engine.counter_state(1) is CounterState.PAUSED


def test_a_counter_holding_a_ticket_cannot_close() -> None:
    engine = make_engine(open_counters=(1,))
    issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    with pytest.raises(CounterBusy, match="before closing"):
        engine.close_counter(1, now=T0 + 2)


def test_closing_hands_direct_and_parked_tickets_to_the_open_backup_counter() -> None:
    config = make_config(
        counters=(
            make_counter(1, (("A",),), backup=2),
            make_counter(2, (("B",),)),
            make_counter(3, (("A",),)),
        )
    )
    engine = make_engine(config, open_counters=(1, 2, 3))
    parked = issue(engine, "A", at=T0)
    direct = issue(engine, "A", at=T0 + 1)
    engine.call_next(3, now=T0 + 2)
    engine.transfer(3, counter=1, now=T0 + 3)  # A001 waits for counter 1
    engine.call_next(3, now=T0 + 4)  # A002
    engine.transfer(3, counter=1, now=T0 + 5)
    engine.call_next(1, now=T0 + 6)  # counter 1 calls its direct queue: A001
    engine.park(1, now=T0 + 7)
    events = engine.close_counter(1, now=T0 + 8)
    handed = [e for e in events if isinstance(e, TicketTransferred)]
    assert {e.ticket_id for e in handed} == {direct, parked}
    assert all(e.to_counter == 2 for e in handed)
    assert engine.snapshot(T0 + 9).counters[1].direct_waiting == 2
    # Both keep their keys: the parked A001 (issued first) ahead of A002.
    assert call_number(engine, 2, at=T0 + 10) == "A001"
    engine.finish(2, now=T0 + 11)
    assert call_number(engine, 2, at=T0 + 12) == "A002"


def test_closing_without_an_open_backup_returns_tickets_to_their_service_queues() -> None:
    engine = make_engine(open_counters=(1, 2))
    moved = issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    engine.transfer(1, counter=2, now=T0 + 2)
    engine.close_counter(2, now=T0 + 3)
    record = engine.ticket(moved)
    assert (record.state, record.counter, record.key) == (TicketState.WAITING, None, T0)
    assert engine.waiting_ids("A") == [moved]


def test_a_new_business_day_expires_leftovers_closes_counters_and_restarts_numbering() -> None:
    engine = make_engine(open_counters=(1,))
    for i in range(3):
        issue(engine, "A", at=T0 + i)
    engine.call_next(1, now=T0 + 10)
    events = engine.start_day("2025-11-21", now=T0 + 86400)
    expired = [e for e in events if isinstance(e, TicketExpired)]
    assert [e.number for e in expired] == ["A001", "A002", "A003"]
    assert isinstance(events[-1], BusinessDayStarted)
    assert engine.counter_state(1) is CounterState.CLOSED
    assert engine.business_day == "2025-11-21"
    ticket = issue(engine, "A", at=T0 + 86401)
    assert engine.ticket(ticket).display == "A001"
    assert ticket == 4  # ids keep counting across days
    assert engine.snapshot(T0 + 86402).waiting == 1
    with pytest.raises(InvalidCommand, match="already started"):
        engine.start_day("2025-11-21", now=T0 + 86403)


def test_a_refused_command_changes_nothing() -> None:
    engine = make_engine(
        make_config(missed=MissedTicketPolicy(grace_seconds=0)), open_counters=(1,)
    )
    ticket = issue(engine, "A", at=T0)
    engine.call_next(1, now=T0 + 1)
    engine.no_show(1, now=T0 + 2)
    before = engine.records()
    refused = [
        lambda: engine.return_missed(ticket, now=T0 + 100),
        lambda: engine.unpark(1, ticket, now=T0 + 100),
        lambda: engine.finish(1, now=T0 + 100),
        lambda: engine.issue_ticket("Z", now=T0 + 100),
        lambda: engine.transfer(1, service="B", now=T0 + 100),
    ]
    for command in refused:
        with pytest.raises(QueueError):
            command()
        assert engine.records() == before


def test_position_constants_are_the_documented_words() -> None:
    assert [p.value for p in Position] == ["first", "last", "keep"]


def test_only_the_counter_services_or_direct_queue_feed_call_ticket() -> None:
    config = make_config(counters=(make_counter(1, (("A",),)), make_counter(2, (("A", "B"),))))
    engine = make_engine(config, open_counters=(1, 2))
    waiting_for_two = issue(engine, "A", at=T0)
    engine.call_next(2, now=T0 + 1)
    engine.transfer(2, counter=1, now=T0 + 2)
    other = issue(engine, "B", at=T0 + 3)
    with pytest.raises(Exception, match="does not serve service B"):
        engine.call_ticket(1, other, now=T0 + 4)
    assert engine.call_ticket(1, waiting_for_two, now=T0 + 5)
