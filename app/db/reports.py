"""Service-quality reports: every figure is an SQL aggregate computed in the store, the same on
SQLite and PostgreSQL (docs/quality.md defines each figure).

A report covers a set of branches and a range of business days, grouped by one dimension:
``total`` (one row), ``service``, ``counter``, ``clerk`` (who finished the ticket), ``hour`` (of
issue, in the branch's time zone), ``day`` or ``branch``. Three sources feed each row:

* tickets of the range's business days (counts, waiting and service times, SLA, channels);
* ratings of those tickets (count per level, satisfaction rate), grouped by what the rating is
  bound to (its service, counter and clerk at the time of service);
* follow-up cases opened in the range (local days of the branch), grouped by their counter and
  clerk, and by the rated service for cases opened by a rating.

Percentiles are continuous (linear interpolation between the two nearest ranks, as
PostgreSQL's ``percentile_cont``): PostgreSQL computes them with ``percentile_cont``; SQLite,
which has no ordered-set aggregates, with ``row_number()`` and ``count()`` windows, and the
interpolation is finished in Python. Hours and local days come from epoch seconds plus the
branch's UTC offset, written as a ``CASE`` over the offset changes (daylight saving) that fall
within the range, so no store needs time zone support.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from app import ratings as rules

from . import models

DIMENSIONS = ("total", "service", "counter", "clerk", "hour", "day", "branch")
# Channels by which a customer takes a ticket without being in the hall.
REMOTE_CHANNELS = ("mobile", "miniprogram", "web", "wechat", "app")
PERCENTILES = {"wait_p50": 0.5, "wait_p90": 0.9, "service_p90": 0.9}
LEVELS = tuple(dict.fromkeys(level.code for scale in rules.SCALES.values() for level in scale))
NEGATIVE_LEVELS = rules.negative_levels()
DAY = 86400
_T = TypeVar("_T")
SORT_MEMORY = "64MB"  # PostgreSQL's work_mem for the report's sorts (one transaction)


class floor_int(FunctionElement[int]):
    """``floor(x)`` as an integer, for non-negative ``x``."""

    type = Integer()
    inherit_cache = True


@compiles(floor_int)
def _floor_int(element: floor_int, compiler: Any, **kw: Any) -> str:
    return f"CAST(floor({compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(floor_int, "sqlite")
def _floor_int_sqlite(element: floor_int, compiler: Any, **kw: Any) -> str:
    # SQLite's floor() needs its math extension; CAST truncates, which is floor for x >= 0.
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


@dataclass(frozen=True)
class Scope:
    """What a report covers: branches (id -> time zone) and business days, inclusive."""

    branches: dict[str, str]
    first_day: date
    last_day: date
    now: float

    def bounds(self, timezone: str) -> tuple[float, float]:
        """Epoch seconds of the range's start and end (exclusive) in ``timezone``."""
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.first_day, datetime.min.time(), zone)
        end = datetime.combine(self.last_day + timedelta(days=1), datetime.min.time(), zone)
        return start.timestamp(), end.timestamp()


def offset_changes(timezone: str, start: float, end: float) -> list[tuple[float, int]]:
    """``[(from_epoch, utc_offset_seconds), ...]``: the zone's offset over ``[start, end)``,
    the first entry starting at ``start``; found hour by hour, then to the second."""
    zone = ZoneInfo(timezone)

    def offset(at: float) -> int:
        delta = datetime.fromtimestamp(at, zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    changes = [(start, offset(start))]
    at = start
    while at < end:
        step = min(at + 3600, end)
        if offset(step) != changes[-1][1]:
            low, high = at, step  # the change happens in (low, high]
            while high - low > 1:
                middle = math.floor((low + high) / 2)
                if offset(middle) == changes[-1][1]:
                    low = middle
                else:
                    high = middle
            changes.append((high, offset(high)))
        at = step
    return changes


def local_seconds(scope: Scope, branch: Any, at: Any) -> Any:
    """``at`` moved to the branch's local time (still seconds since 1970, local)."""
    by_zone: dict[str, list[str]] = {}
    for branch_id, timezone in scope.branches.items():
        by_zone.setdefault(timezone, []).append(branch_id)
    offsets: list[tuple[ColumnElement[bool], ColumnElement[float]]] = []
    for timezone, ids in sorted(by_zone.items()):
        start, end = scope.bounds(timezone)
        # A ticket's times may run past its business day (late finishes): one day of margin.
        changes = offset_changes(timezone, start - DAY, end + DAY)
        zone_offset: ColumnElement[float]
        if len(changes) == 1:
            zone_offset = literal(float(changes[0][1]), Float())
        else:
            zone_offset = case(
                *(
                    (at < until, literal(float(o), Float()))
                    for (_, o), (until, _) in itertools.pairwise(changes)
                ),
                else_=literal(float(changes[-1][1]), Float()),
            )
        offsets.append((branch.in_(ids), zone_offset))
    if len(offsets) == 1:
        return at + offsets[0][1]
    return at + case(*offsets, else_=literal(0.0, Float()))


def hour_of(scope: Scope, branch: Any, at: Any) -> Any:
    return floor_int(local_seconds(scope, branch, at) / 3600) % 24


def local_day_number(scope: Scope, branch: Any, at: Any) -> Any:
    return floor_int(local_seconds(scope, branch, at) / DAY)


def _count(condition: ColumnElement[bool]) -> Any:
    # FILTER, not SUM(CASE ...): PostgreSQL runs it in parallel and faster (SQLite >= 3.30 too).
    return func.count().filter(condition)


def _ticket_dimension(scope: Scope, by: str) -> list[Any]:
    t = models.Ticket
    dimensions: dict[str, list[Any]] = {
        "total": [],
        "service": [t.service],
        "counter": [t.branch_id, t.counter],
        "clerk": [t.finished_by],
        "hour": [hour_of(scope, t.branch_id, t.issued_at)],
        "day": [t.business_day],
        "branch": [t.branch_id],
    }
    return dimensions[by]


def _rating_dimension(scope: Scope, by: str) -> list[Any]:
    r, t = models.Rating, models.Ticket
    dimensions: dict[str, list[Any]] = {
        "total": [],
        "service": [r.service],
        "counter": [r.branch_id, r.counter],
        "clerk": [r.clerk_id],
        "hour": [hour_of(scope, t.branch_id, t.issued_at)],
        "day": [r.business_day],
        "branch": [r.branch_id],
    }
    return dimensions[by]


def _case_dimension(scope: Scope, by: str) -> list[Any]:
    c, r = models.FollowUpCase, models.Rating
    dimensions: dict[str, list[Any]] = {
        "total": [],
        "service": [r.service],
        "counter": [c.branch_id, c.counter],
        "clerk": [c.clerk_id],
        "hour": [hour_of(scope, c.branch_id, c.created_at)],
        "day": [local_day_number(scope, c.branch_id, c.created_at)],
        "branch": [c.branch_id],
    }
    return dimensions[by]


def _labelled(columns: list[Any]) -> list[Any]:
    return [column.label(f"k{i}") for i, column in enumerate(columns)]


def _key(row: Any, width: int) -> tuple[Any, ...]:
    return tuple(row[i] for i in range(width))


def _ticket_filter(scope: Scope) -> ColumnElement[bool]:
    t = models.Ticket
    return and_(
        t.branch_id.in_(sorted(scope.branches)),
        t.business_day >= scope.first_day.isoformat(),
        t.business_day <= scope.last_day.isoformat(),
    )


def _wait() -> Any:
    t = models.Ticket
    return t.first_called_at - t.issued_at


def _service_time() -> Any:
    t = models.Ticket
    return case((t.state == "finished", t.finished_at - t.started_at))


async def _ticket_counts(
    session: AsyncSession, scope: Scope, by: str
) -> dict[tuple[Any, ...], dict[str, Any]]:
    t, s = models.Ticket, models.Service
    keys = _ticket_dimension(scope, by)
    wait = _wait()
    # Each service's SLA as a literal CASE: a join with the services table cost a third of
    # the query over a million tickets.
    slas = (
        await session.execute(
            select(s.branch_id, s.code, s.sla_minutes).where(
                s.branch_id.in_(sorted(scope.branches)), s.sla_minutes.is_not(None)
            )
        )
    ).all()
    sla: Any = (
        case(
            *(
                (
                    and_(t.branch_id == branch, t.service == code),
                    literal(float(minutes or 0) * 60.0),
                )
                for branch, code, minutes in slas
            ),
            else_=None,
        )
        if slas
        else literal(None, Float())
    )
    called = t.first_called_at.is_not(None)
    figures = [
        func.count().label("issued"),
        _count(t.state == "finished").label("served"),
        _count(and_(t.missed_at.is_not(None), t.state.in_(("missed", "expired")))).label("no_show"),
        _count(t.state == "cancelled").label("cancelled"),
        _count(t.transfers > 0).label("transferred"),
        _count(and_(t.state == "expired", t.missed_at.is_(None))).label("expired"),
        func.count(t.first_called_at).label("called"),
        func.avg(wait).label("wait_mean"),
        func.max(wait).label("wait_max"),
        func.avg(_service_time()).label("service_mean"),
        _count(and_(called, sla.is_not(None))).label("sla_eligible"),
        _count(and_(called, wait <= sla)).label("sla_met"),
        _count(t.channel.in_(REMOTE_CHANNELS)).label("remote"),
        _count(t.appointment_id.is_not(None)).label("appointments"),
    ]
    query = select(*_labelled(keys), *figures).select_from(t).where(_ticket_filter(scope))
    if keys:
        query = query.group_by(*keys)
    result = {}
    for row in (await session.execute(query)).mappings().all():
        values = dict(row)
        result[tuple(values.pop(f"k{i}") for i in range(len(keys)))] = values
    return result


async def _ticket_percentiles(
    session: AsyncSession, scope: Scope, by: str, postgresql: bool
) -> dict[tuple[Any, ...], dict[str, Any]]:
    keys = _ticket_dimension(scope, by)
    wait = _wait()
    result: dict[tuple[Any, ...], dict[str, Any]] = {}
    if not postgresql:
        for name, value in (("wait", wait), ("service", _service_time())):
            wanted = {f: p for f, p in PERCENTILES.items() if f.startswith(name)}
            found = await _window_percentiles(session, scope, keys, value, wanted)
            for key, figures_of_key in found.items():
                result.setdefault(key, {}).update(figures_of_key)
        return result
    # A query of its own: ordered-set aggregates run in one process and sort their input,
    # while the counts run in parallel workers. One sort serves both waiting percentiles
    # (percentile_cont over an array of fractions); in memory, not temporary files.
    await session.execute(text(f"SET LOCAL work_mem = '{SORT_MEMORY}'"))
    percentiles = select(
        *_labelled(keys),
        func.percentile_cont(pg.array([0.5, 0.9])).within_group(wait).label("wait"),
        func.percentile_cont(0.9).within_group(_service_time()).label("service_p90"),
    ).where(_ticket_filter(scope))
    if keys:
        percentiles = percentiles.group_by(*keys)
    for row in (await session.execute(percentiles)).mappings().all():
        key = tuple(row[f"k{i}"] for i in range(len(keys)))
        wait_p50, wait_p90 = row["wait"] or (None, None)
        result[key] = {
            "wait_p50": wait_p50,
            "wait_p90": wait_p90,
            "service_p90": row["service_p90"],
        }
    return result


async def _window_percentiles(
    session: AsyncSession,
    scope: Scope,
    keys: list[Any],
    value: Any,
    wanted: dict[str, float],
) -> dict[tuple[Any, ...], dict[str, float | None]]:
    """Continuous percentiles without ordered-set aggregates: rank every value in its group
    (``row_number`` from 0, ``count``), keep the two ranks around ``(n - 1) * p``, and
    interpolate between them."""
    t = models.Ticket
    ranked = (
        select(
            *_labelled(keys),
            value.label("v"),
            (func.row_number().over(partition_by=keys or None, order_by=value) - 1).label("rn"),
            func.count().over(partition_by=keys or None).label("n"),
        )
        .select_from(t)
        .where(_ticket_filter(scope), value.is_not(None))
        .subquery()
    )
    group = [ranked.c[f"k{i}"] for i in range(len(keys))]
    columns: list[Any] = [*group, func.max(ranked.c.n).label("n")]
    for name, p in wanted.items():
        low = floor_int((ranked.c.n - 1) * p)
        columns.append(func.min(case((ranked.c.rn == low, ranked.c.v))).label(f"{name}_low"))
        columns.append(func.min(case((ranked.c.rn == low + 1, ranked.c.v))).label(f"{name}_high"))
    query = select(*columns)
    if group:
        query = query.group_by(*group)
    result: dict[tuple[Any, ...], dict[str, float | None]] = {}
    for row in (await session.execute(query)).mappings().all():
        if row["n"] is None:  # no value at all (a total over nothing)
            continue
        n = int(row["n"])
        figures: dict[str, float | None] = {}
        for name, p in wanted.items():
            position = (n - 1) * p
            fraction = position - math.floor(position)
            low, high = row[f"{name}_low"], row[f"{name}_high"]
            figures[name] = low if high is None else low + fraction * (high - low)
        result[tuple(row[f"k{i}"] for i in range(len(keys)))] = figures
    return result


async def _rating_figures(
    session: AsyncSession, scope: Scope, by: str
) -> dict[tuple[Any, ...], dict[str, int]]:
    r, t = models.Rating, models.Ticket
    keys = _rating_dimension(scope, by)
    query = select(*_labelled(keys), r.level, func.count().label("count")).select_from(r)
    if by == "hour":  # the hour the ticket was issued: the only figure read from the ticket
        query = query.join(t, and_(t.branch_id == r.branch_id, t.id == r.ticket_id))
    query = query.where(
        r.branch_id.in_(sorted(scope.branches)),
        r.business_day >= scope.first_day.isoformat(),
        r.business_day <= scope.last_day.isoformat(),
    ).group_by(*keys, r.level)
    result: dict[tuple[Any, ...], dict[str, int]] = {}
    for row in (await session.execute(query)).all():
        key = _key(row, len(keys))
        result.setdefault(key, {})[row[len(keys)]] = int(row[len(keys) + 1])
    return result


async def _case_figures(
    session: AsyncSession, scope: Scope, by: str
) -> dict[tuple[Any, ...], dict[str, int]]:
    c, r = models.FollowUpCase, models.Rating
    keys = _case_dimension(scope, by)
    in_range = or_(
        *(
            and_(c.branch_id == branch, c.created_at >= start, c.created_at < end)
            for branch, (start, end) in (
                (branch, scope.bounds(timezone)) for branch, timezone in scope.branches.items()
            )
        )
    )
    closed = c.state == "closed"
    query = (
        select(
            *_labelled(keys),
            func.count().label("cases_opened"),
            _count(closed).label("cases_closed"),
            _count(and_(~closed, c.deadline < scope.now)).label("cases_overdue"),
            _count(and_(closed, c.closed_at > c.deadline)).label("cases_closed_late"),
        )
        .select_from(c)
        .outerjoin(r, r.id == c.rating_id)
        .where(in_range)
    )
    if keys:
        query = query.group_by(*keys)
    result = {}
    for row in (await session.execute(query)).mappings().all():
        values = {k: int(v or 0) for k, v in row.items() if not k.startswith("k")}
        result[tuple(row[f"k{i}"] for i in range(len(keys)))] = values
    return result


TICKET_COUNTS = ("issued", "served", "no_show", "cancelled", "transferred", "expired")


def _row(
    key: tuple[Any, ...],
    tickets: dict[str, Any] | None,
    levels: dict[str, int] | None,
    cases: dict[str, int] | None,
) -> dict[str, Any]:
    tickets = tickets or {}
    levels = levels or {}
    cases = cases or {}
    issued = int(tickets.get("issued") or 0)

    def number(name: str) -> float | None:
        value = tickets.get(name)
        return None if value is None else round(float(value), 3)

    def share(part: str, whole: int) -> float | None:
        return round(int(tickets.get(part) or 0) / whole, 4) if whole else None

    rated = sum(levels.values())
    satisfied = sum(n for level, n in levels.items() if level not in NEGATIVE_LEVELS)
    return {
        **{name: int(tickets.get(name) or 0) for name in TICKET_COUNTS},
        "wait_mean": number("wait_mean"),
        "wait_p50": number("wait_p50"),
        "wait_p90": number("wait_p90"),
        "wait_max": number("wait_max"),
        "service_mean": number("service_mean"),
        "service_p90": number("service_p90"),
        "within_sla_share": share("sla_met", int(tickets.get("sla_eligible") or 0)),
        "remote_share": share("remote", issued),
        "appointment_share": share("appointments", issued),
        "ratings": rated,
        "rating_levels": {level: levels.get(level, 0) for level in LEVELS},
        "satisfaction_rate": round(satisfied / rated, 4) if rated else None,
        "cases_opened": cases.get("cases_opened", 0),
        "cases_closed": cases.get("cases_closed", 0),
        "cases_overdue": cases.get("cases_overdue", 0),
        "cases_closed_late": cases.get("cases_closed_late", 0),
    }


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    # None (no counter, no clerk) last; then by value.
    return tuple((value is None, "" if value is None else value) for value in key)


async def report(
    sessions: Callable[[], AsyncSession], scope: Scope, by: str, *, postgresql: bool
) -> list[dict[str, Any]]:
    """One row per value of ``by`` (a single row for ``total``), each with every figure:
    ``{"key": {...}, **figures}``; rows sorted by key. The four queries (ticket counts,
    percentiles, ratings, cases) run at once, each on a session of its own from ``sessions``."""
    if by not in DIMENSIONS:
        raise ValueError(by)

    async def run(query: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
        async with sessions() as session:
            return await query(session)

    counts, percentiles, levels, cases = await asyncio.gather(
        run(lambda session: _ticket_counts(session, scope, by)),
        run(lambda session: _ticket_percentiles(session, scope, by, postgresql)),
        run(lambda session: _rating_figures(session, scope, by)),
        run(lambda session: _case_figures(session, scope, by)),
    )
    tickets = counts
    for key, figures in percentiles.items():
        tickets.setdefault(key, {}).update(figures)
    if by == "day":
        # Cases are keyed by local day number; tickets and ratings by business day.
        cases = {
            ((date(1970, 1, 1) + timedelta(days=int(k[0]))).isoformat(),): v
            for k, v in cases.items()
        }
    keys: set[tuple[Any, ...]] = set(tickets) | set(levels) | set(cases)
    if by == "total":
        keys = {()}
    rows = []
    for key in sorted(keys, key=_sort_key):
        figures_of_key = _row(key, tickets.get(key), levels.get(key), cases.get(key))
        rows.append({"key": _key_view(by, key), **figures_of_key})
    return rows


def _key_view(by: str, key: Sequence[Any]) -> dict[str, Any]:
    if by == "total":
        return {}
    if by == "counter":
        return {"branch": key[0], "counter": key[1]}
    if by == "hour":
        return {"hour": None if key[0] is None else int(key[0])}
    return {by: key[0]}
