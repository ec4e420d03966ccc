"""Service evaluation (评价) and follow-up cases (回访 / 督办): the rules, with no I/O.

* A branch rates on one scale: ``four`` (非常满意 / 满意 / 一般 / 不满意, the default) or ``five``
  (the national 好差评 scale: 非常满意 / 满意 / 基本满意 / 不满意 / 非常不满意).
* A level below "satisfied" needs a reason from the branch's list (text is optional).
* A dissatisfied level (不满意, 非常不满意) is negative: it opens a follow-up case at once, in the
  same transaction as the rating. 一般 and 基本满意 need a reason but open no case: they are the
  scales' middle, not a complaint.
* Only a finished (served) ticket can be rated, once, within the branch's window (default 24 h
  after it was finished).
* A case's deadline is a number of working days (default 2) after it was opened, at the same
  time of day; Saturdays and Sundays are skipped (public holidays are not known here).

Every refusal is a :class:`RatingError` whose docstring is its default sentence; ``app.errors``
maps them to HTTP statuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar
from zoneinfo import ZoneInfo

from app.queue_engine.model import Event, event


class Scale(StrEnum):
    FOUR = "four"
    FIVE = "five"


class Channel(StrEnum):
    EVALUATOR = "evaluator"
    MOBILE = "mobile"
    MINIPROGRAM = "miniprogram"


class CaseSource(StrEnum):
    RATING = "rating"
    PHONE = "phone"
    DESK = "desk"


class CaseState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Level:
    code: str
    name: str
    name_en: str
    score: int
    needs_reason: bool
    negative: bool


SCALES: dict[Scale, tuple[Level, ...]] = {
    Scale.FOUR: (
        Level("very_satisfied", "非常满意", "Very satisfied", 4, False, False),
        Level("satisfied", "满意", "Satisfied", 3, False, False),
        Level("average", "一般", "Average", 2, True, False),
        Level("dissatisfied", "不满意", "Dissatisfied", 1, True, True),
    ),
    Scale.FIVE: (
        Level("very_satisfied", "非常满意", "Very satisfied", 5, False, False),
        Level("satisfied", "满意", "Satisfied", 4, False, False),
        Level("basically_satisfied", "基本满意", "Basically satisfied", 3, True, False),
        Level("dissatisfied", "不满意", "Dissatisfied", 2, True, True),
        Level("very_dissatisfied", "非常不满意", "Very dissatisfied", 1, True, True),
    ),
}

DEFAULT_REASONS: tuple[dict[str, str], ...] = (
    {"code": "long_wait", "name": "等候时间太长", "name_en": "Waited too long"},
    {"code": "attitude", "name": "服务态度不好", "name_en": "Unfriendly service"},
    {"code": "slow", "name": "办理效率低", "name_en": "Slow handling"},
    {"code": "unclear", "name": "解释说明不清楚", "name_en": "Unclear explanation"},
    {"code": "not_solved", "name": "问题没有解决", "name_en": "Problem not solved"},
    {"code": "repeat_visit", "name": "需要多次跑腿", "name_en": "Had to come back again"},
    {"code": "environment", "name": "大厅环境或设施问题", "name_en": "Hall or equipment problem"},
    {"code": "other", "name": "其他", "name_en": "Other"},
)

DEFAULT_WINDOW_HOURS = 24.0
DEFAULT_CASE_WORKING_DAYS = 2


class RatingError(Exception):
    """The rating cannot be accepted."""

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or (self.__doc__ or "").strip()
        super().__init__(self.detail)


class TicketNotServed(RatingError):
    """Only a ticket that was served can be rated."""


class AlreadyRated(RatingError):
    """This ticket has already been rated; a ticket is rated once."""


class RatingWindowClosed(RatingError):
    """The time for rating this service has passed."""


class UnknownLevel(RatingError):
    """This level is not on the branch's rating scale."""


class ReasonRequired(RatingError):
    """A rating below "satisfied" needs a reason from the list."""


class UnknownReason(RatingError):
    """This reason is not on the branch's list."""


class NothingToRate(RatingError):
    """No ticket was finished at this counter yet today."""


class NotLastFinished(RatingError):
    """This is no longer the last ticket finished at this counter."""


class CaseClosed(RatingError):
    """This follow-up case is closed; it cannot change any more."""


class UnknownAssignee(RatingError):
    """The assignee must be an active staff member of this branch."""


def levels(scale: Scale) -> tuple[Level, ...]:
    return SCALES[scale]


def negative_levels() -> list[str]:
    """Level codes that are negative on any scale (they open a follow-up case)."""
    return sorted({level.code for scale in SCALES.values() for level in scale if level.negative})


def level_of(scale: Scale, code: str) -> Level:
    for level in SCALES[scale]:
        if level.code == code:
            return level
    names = ", ".join(level.code for level in SCALES[scale])
    raise UnknownLevel(f"Level {code!r} is not on this branch's {scale} scale ({names}).")


def check_rating(
    scale: Scale, level_code: str, reason: str | None, reasons: list[dict[str, str]]
) -> Level:
    """The level, once ``reason`` fits it: required below "satisfied", from ``reasons``."""
    level = level_of(scale, level_code)
    if reason is not None and reason not in {r["code"] for r in reasons}:
        raise UnknownReason(f"Reason {reason!r} is not on this branch's list.")
    if level.needs_reason and reason is None:
        raise ReasonRequired(f"A rating of {level.name_en.lower()} needs a reason from the list.")
    return level


def check_rateable(
    state: str, finished_at: float | None, now: float, window_hours: float, rated: bool
) -> None:
    """Refuse a ticket that was not served, is already rated, or whose window has passed."""
    if state != "finished" or finished_at is None:
        raise TicketNotServed(f"Only a ticket that was served can be rated; this one is {state}.")
    if rated:
        raise AlreadyRated()
    if now > finished_at + window_hours * 3600:
        raise RatingWindowClosed(
            f"The time for rating this service has passed ({window_hours:g} hours after it ended)."
        )


def add_working_days(start: float, days: int, timezone: str) -> float:
    """``days`` working days (Monday to Friday) after ``start``, at the same local time."""
    moment = datetime.fromtimestamp(start, ZoneInfo(timezone))
    left = days
    while left > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    # Same wall-clock time; a DST change in between (not in China) shifts it with the zone.
    return (
        datetime.combine(moment.date(), moment.timetz().replace(tzinfo=None))
        .replace(tzinfo=ZoneInfo(timezone))
        .timestamp()
    )


def overdue(state: str, deadline: float, now: float) -> bool:
    return state == CaseState.OPEN and now > deadline


@event
class RatingReceived(Event):
    """A rating was stored: logged in ``branch_events`` through the hall runtime (after the
    rating's own transaction) so that dashboards hear of it in ``seq`` order."""

    type: ClassVar[str] = "rating_received"
    rating_id: int
    ticket_id: int
    number: str
    service: str
    counter: int | None
    clerk_id: int | None
    level: str
    score: int
    negative: bool
    reason: str | None
    channel: str
    case_id: int | None
