"""The evaluation rules without a store: scales, reasons, the window, working-day deadlines."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from app import ratings
from app.ratings import Scale

SHANGHAI = ZoneInfo("Asia/Shanghai")
REASONS = [dict(r) for r in ratings.DEFAULT_REASONS]


def at(year: int, month: int, day: int, hour: int = 9) -> float:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI).timestamp()


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (at(2025, 11, 17), 2, at(2025, 11, 19)),  # Monday -> Wednesday
        (at(2025, 11, 20), 2, at(2025, 11, 24)),  # Thursday -> Monday
        (at(2025, 11, 21), 2, at(2025, 11, 25)),  # Friday -> Tuesday
        (at(2025, 11, 22), 1, at(2025, 11, 24)),  # Saturday -> Monday
        (at(2025, 11, 23, 22), 5, at(2025, 11, 28, 22)),  # Sunday night -> Friday night
    ],
)
def test_a_deadline_counts_working_days_only(start: float, days: int, due: float) -> None:
    assert ratings.add_working_days(start, days, "Asia/Shanghai") == due


def test_each_scale_has_its_levels_and_only_dissatisfied_ones_are_negative() -> None:
    four = [
        (level.name, level.needs_reason, level.negative) for level in ratings.levels(Scale.FOUR)
    ]
    assert four == [
        ("非常满意", False, False),
        ("满意", False, False),
        ("一般", True, False),
        ("不满意", True, True),
    ]
    five = [level.name for level in ratings.levels(Scale.FIVE) if level.negative]
    assert five == ["不满意", "非常不满意"]
    assert ratings.negative_levels() == ["dissatisfied", "very_dissatisfied"]


def test_a_reason_is_required_below_satisfied_and_must_be_on_the_list() -> None:
    assert ratings.check_rating(Scale.FOUR, "satisfied", None, REASONS).score == 3
    with pytest.raises(ratings.ReasonRequired):
        ratings.check_rating(Scale.FOUR, "average", None, REASONS)
    with pytest.raises(ratings.UnknownReason):
        ratings.check_rating(Scale.FOUR, "dissatisfied", "made_up", REASONS)
    with pytest.raises(ratings.UnknownLevel):
        ratings.check_rating(Scale.FOUR, "very_dissatisfied", "other", REASONS)
    assert ratings.check_rating(Scale.FIVE, "very_dissatisfied", "other", REASONS).score == 1


def test_only_a_finished_ticket_within_its_window_and_not_yet_rated_is_rateable() -> None:
    ratings.check_rateable("finished", 100.0, 100.0 + 24 * 3600, 24, rated=False)
    with pytest.raises(ratings.RatingWindowClosed):
        ratings.check_rateable("finished", 100.0, 100.1 + 24 * 3600, 24, rated=False)
    with pytest.raises(ratings.AlreadyRated):
        ratings.check_rateable("finished", 100.0, 200.0, 24, rated=True)
    for state in ("waiting", "called", "serving", "missed", "cancelled", "expired"):
        with pytest.raises(ratings.TicketNotServed):
            ratings.check_rateable(state, None, 200.0, 24, rated=False)


def test_a_case_is_overdue_only_while_open_and_past_its_deadline() -> None:
    assert ratings.overdue("open", 100.0, 100.5)
    assert not ratings.overdue("open", 100.0, 100.0)
    assert not ratings.overdue("closed", 100.0, 200.0)
