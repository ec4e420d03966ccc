"""Taking a number: numbering, quotas, classes, channels, appointments, the engine clock."""

import pytest

from app.queue_engine import (
    AppointmentPolicy,
    CheckInRefused,
    InvalidCommand,
    Priority,
    QuotaReached,
    TicketIssued,
    UnknownService,
)
from app.queue_engine.config import LateCheckIn

from .builders import MIN, T0, issue, issued, make_config, make_engine, make_service


def test_numbers_count_up_per_service_from_001() -> None:
    engine = make_engine()
    numbers = [
        issued(engine.issue_ticket(code, now=T0 + i)).number for i, code in enumerate("AABAB")
    ]
    assert numbers == ["A001", "A002", "B001", "A003", "B002"]


def test_a_service_stops_issuing_when_its_daily_quota_is_reached() -> None:
    engine = make_engine(
        make_config(services=(make_service("A", daily_quota=2), make_service("B")))
    )
    issue(engine, "A", at=T0)
    issue(engine, "A", at=T0 + 1)
    before = engine.records()
    with pytest.raises(QuotaReached, match="2 tickets"):
        engine.issue_ticket("A", now=T0 + 2)
    assert engine.records() == before
    assert issue(engine, "B", at=T0 + 3)  # other services are unaffected


def test_an_unknown_service_is_refused_by_name() -> None:
    with pytest.raises(UnknownService, match="'Z'"):
        make_engine().issue_ticket("Z", now=T0)


def test_appointment_tickets_cannot_be_issued_directly() -> None:
    with pytest.raises(InvalidCommand, match="checking in"):
        make_engine().issue_ticket("A", Priority.APPOINTMENT, now=T0)


@pytest.mark.parametrize("priority", ["gold", ""])
def test_an_unknown_priority_class_is_refused(priority: str) -> None:
    with pytest.raises(InvalidCommand, match="priority class"):
        make_engine().issue_ticket("A", priority, now=T0)


@pytest.mark.parametrize("channel", ["", "x" * 33])
def test_the_channel_must_be_a_short_name(channel: str) -> None:
    with pytest.raises(InvalidCommand, match="channel"):
        make_engine().issue_ticket("A", channel=channel, now=T0)


@pytest.mark.parametrize("now", [float("nan"), float("inf"), True])
def test_the_time_must_be_a_finite_number(now: float) -> None:
    with pytest.raises(InvalidCommand, match="finite"):
        make_engine().issue_ticket("A", now=now)


def test_engine_time_never_goes_back_and_no_two_commands_share_an_instant() -> None:
    engine = make_engine()
    first = issued(engine.issue_ticket("A", now=T0 + 10))
    second = issued(engine.issue_ticket("A", now=T0 + 10))
    late_clock = issued(engine.issue_ticket("A", now=T0))  # a clock that went backwards
    assert first.at < second.at < late_clock.at
    assert second.at - first.at == pytest.approx(1e-6, abs=1e-6)


def test_a_priority_ticket_is_keyed_earlier_by_its_head_start() -> None:
    engine = make_engine()
    normal = issued(engine.issue_ticket("A", now=T0))
    care = issued(engine.issue_ticket("A", "care", now=T0 + 5 * MIN))
    assert normal.key == normal.at
    assert care.key == pytest.approx(care.at - 10 * MIN)
    assert care.ahead == 0  # its key is earlier than the normal ticket's
    assert engine.position(normal.ticket_id) == 1


def test_the_issue_event_says_how_many_are_ahead() -> None:
    engine = make_engine()
    aheads = [issued(engine.issue_ticket("A", now=T0 + i)).ahead for i in range(4)]
    assert aheads == [0, 1, 2, 3]


def test_an_appointment_checked_in_on_time_is_keyed_by_its_slot() -> None:
    engine = make_engine()
    slot = T0 + 30 * MIN
    event = issued(engine.check_in_appointment("A", slot, now=T0, appointment_id="bk-1"))
    assert event.priority is Priority.APPOINTMENT
    assert event.key == slot - 15 * MIN
    assert event.appointment_id == "bk-1"
    assert event.slot_start == slot


def test_an_appointment_too_early_is_refused_with_the_wait_in_minutes() -> None:
    engine = make_engine(make_config(appointments=AppointmentPolicy(early_seconds=30 * MIN)))
    with pytest.raises(CheckInRefused, match="come back in 10 minutes"):
        engine.check_in_appointment("A", T0 + 40 * MIN, now=T0)


def test_an_appointment_too_late_becomes_a_walk_in_by_default() -> None:
    engine = make_engine(make_config(appointments=AppointmentPolicy(late_seconds=10 * MIN)))
    event = issued(engine.check_in_appointment("A", T0 - 11 * MIN, now=T0))
    assert isinstance(event, TicketIssued)
    assert event.priority is Priority.NORMAL
    assert event.late_check_in
    assert event.key == event.at


def test_an_appointment_too_late_is_refused_when_the_policy_says_so() -> None:
    policy = AppointmentPolicy(late_seconds=10 * MIN, late_action=LateCheckIn.REFUSE)
    engine = make_engine(make_config(appointments=policy))
    engine.check_in_appointment("A", T0 - 10 * MIN, now=T0)  # exactly at the limit: accepted
    with pytest.raises(CheckInRefused, match="closed 10 minutes after"):
        engine.check_in_appointment("A", T0 - 11 * MIN, now=T0 + 1)


def test_check_ins_count_toward_the_quota_but_are_never_refused_for_it() -> None:
    engine = make_engine(
        make_config(services=(make_service("A", daily_quota=1), make_service("B")))
    )
    issue(engine, "A", at=T0)
    issued(engine.check_in_appointment("A", T0 + 10 * MIN, now=T0 + 1))
    with pytest.raises(QuotaReached):
        engine.issue_ticket("A", now=T0 + 2)
