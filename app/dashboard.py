"""The live dashboard's alerts, as rules with no I/O.

A branch manager is alerted when

* a service's longest wait is over its SLA (its maximum wait);
* an open counter has had no ticket for :data:`IDLE_GRACE_SECONDS` while people wait for one of
  the services it serves (a counter that just finished a ticket is not idle yet);
* a negative rating came in within :data:`NEGATIVE_RATING_SECONDS`;
* a follow-up case is open past its deadline.

Alerts are ordered most urgent first: overdue cases and waits over SLA are ``critical``, idle
counters and negative ratings ``warning``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

IDLE_GRACE_SECONDS = 60.0
NEGATIVE_RATING_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # wait_over_sla | idle_counter | negative_rating | overdue_case
    severity: str  # critical | warning
    message: str
    message_en: str
    at: float  # since when it holds (or when it happened)
    service: str | None = None
    counter: int | None = None
    rating_id: int | None = None
    case_id: int | None = None

    def view(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ServiceLine:
    code: str
    name: str
    waiting: int
    longest_wait_seconds: float
    sla_seconds: float | None


@dataclass(frozen=True, slots=True)
class CounterLine:
    number: int
    name: str
    state: str  # open | paused | closed
    has_ticket: bool
    services: frozenset[str]
    idle_since: float | None  # last ticket finished or left the counter today, if any


@dataclass(frozen=True, slots=True)
class NegativeRating:
    rating_id: int
    number: str
    counter: int | None
    level_name: str
    at: float
    case_id: int | None


@dataclass(frozen=True, slots=True)
class OverdueCase:
    case_id: int
    ticket_number: str | None
    counter: int | None
    deadline: float


def wait_alerts(services: Iterable[ServiceLine], now: float) -> list[Alert]:
    alerts = []
    for s in services:
        if s.sla_seconds is not None and s.waiting and s.longest_wait_seconds > s.sla_seconds:
            minutes = round(s.longest_wait_seconds / 60)
            sla = round(s.sla_seconds / 60)
            alerts.append(
                Alert(
                    "wait_over_sla",
                    "critical",
                    f"{s.name}最长等候 {minutes} 分钟，超过时限 {sla} 分钟",
                    f"{s.code}: longest wait {minutes} min, over its {sla}-minute limit",
                    now - s.longest_wait_seconds + s.sla_seconds,
                    service=s.code,
                )
            )
    return alerts


def idle_alerts(
    counters: Iterable[CounterLine], waiting: Mapping[str, int], now: float
) -> list[Alert]:
    alerts = []
    for c in counters:
        if c.state != "open" or c.has_ticket:
            continue
        people = sum(waiting.get(code, 0) for code in c.services)
        if not people:
            continue
        if c.idle_since is not None and now - c.idle_since < IDLE_GRACE_SECONDS:
            continue
        alerts.append(
            Alert(
                "idle_counter",
                "warning",
                f"{c.name}空闲，其业务有 {people} 人等候",
                f"Counter {c.number} is idle while {people} wait for its services",
                c.idle_since if c.idle_since is not None else now,
                counter=c.number,
            )
        )
    return alerts


def rating_alerts(ratings: Iterable[NegativeRating], now: float) -> list[Alert]:
    return [
        Alert(
            "negative_rating",
            "warning",
            f"{r.number} 评价「{r.level_name}」" + (f"（{r.counter}号窗口）" if r.counter else ""),
            f"{r.number} was rated {r.level_name}"
            + (f" at counter {r.counter}" if r.counter else ""),
            r.at,
            counter=r.counter,
            rating_id=r.rating_id,
            case_id=r.case_id,
        )
        for r in ratings
        if now - r.at <= NEGATIVE_RATING_SECONDS
    ]


def case_alerts(cases: Iterable[OverdueCase], now: float) -> list[Alert]:
    return [
        Alert(
            "overdue_case",
            "critical",
            f"督办件 #{c.case_id}"
            + (f"（{c.ticket_number}）" if c.ticket_number else "")
            + " 已逾期",
            f"Case #{c.case_id}"
            + (f" ({c.ticket_number})" if c.ticket_number else "")
            + " is overdue",
            c.deadline,
            counter=c.counter,
            case_id=c.case_id,
        )
        for c in cases
        if now > c.deadline
    ]


SEVERITY_ORDER = {"critical": 0, "warning": 1}


def alerts(
    services: Sequence[ServiceLine],
    counters: Sequence[CounterLine],
    ratings: Sequence[NegativeRating],
    cases: Sequence[OverdueCase],
    now: float,
) -> list[Alert]:
    """Every alert that holds at ``now``, critical first, then the oldest first."""
    waiting = {s.code: s.waiting for s in services}
    found = [
        *wait_alerts(services, now),
        *idle_alerts(counters, waiting, now),
        *rating_alerts(ratings, now),
        *case_alerts(cases, now),
    ]
    return sorted(found, key=lambda a: (SEVERITY_ORDER[a.severity], a.at))
