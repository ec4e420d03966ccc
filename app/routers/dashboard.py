"""The branch's live dashboard for managers: waiting and longest wait per service, each counter's
state (serving whom, since when; idle; paused), today's figures (served, satisfaction) and the
alerts of ``app.dashboard``.

The dashboard screen listens to ``/ws/branches/{b}/dashboard`` (every event, including
``rating_received``) and asks this endpoint for the whole view after each burst of events and
every few seconds (alerts such as a wait passing its SLA happen with no event)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select

from app import dashboard, ratings
from app.db import models
from app.db import reports as report_store
from app.deps import MANAGERS, CurrentPrincipal, ServicesDep, authorize
from app.realtime.views import full_state
from app.schemas import BranchPath

router = APIRouter(tags=["dashboard"])

LEVEL_NAMES = {level.code: level.name for scale in ratings.SCALES.values() for level in scale}
LIST_LIMIT = 20


@router.get("/branches/{branch}/dashboard", summary="The branch's live dashboard")
async def branch_dashboard(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    authorize(principal, branch, roles=MANAGERS)
    runtime = services.halls.get(branch)
    now = runtime.clock()
    engine = runtime.engine
    state = full_state(runtime, engine.snapshot(now), runtime.next_seq - 1)
    day = engine.business_day
    scope = report_store.Scope(
        {branch: runtime.timezone}, date.fromisoformat(day), date.fromisoformat(day), now
    )
    postgresql = services.store.engine.dialect.name == "postgresql"
    t, r, c = models.Ticket, models.Rating, models.FollowUpCase
    today = (
        await report_store.report(services.store.sessions, scope, "total", postgresql=postgresql)
    )[0]
    async with services.store.sessions() as session:
        finished_rows = await session.execute(
            select(t.counter, func.max(func.coalesce(t.finished_at, t.missed_at)))
            .where(t.branch_id == branch, t.business_day == day, t.counter.is_not(None))
            .group_by(t.counter)
        )
        last_done = {row[0]: row[1] for row in finished_rows.all()}
        negative_rows = (
            await session.execute(
                select(r, c.id)
                .outerjoin(c, c.rating_id == r.id)
                .where(
                    r.branch_id == branch,
                    r.created_at >= now - dashboard.NEGATIVE_RATING_SECONDS,
                    r.level.in_(ratings.negative_levels()),
                )
                .order_by(r.created_at.desc())
                .limit(LIST_LIMIT)
            )
        ).all()
        overdue_rows = (
            await session.scalars(
                select(c)
                .where(c.branch_id == branch, c.state == "open", c.deadline < now)
                .order_by(c.deadline)
                .limit(LIST_LIMIT)
            )
        ).all()
        overdue_count = await session.scalar(
            select(func.count()).where(c.branch_id == branch, c.state == "open", c.deadline < now)
        )
        open_cases = await session.scalar(
            select(func.count()).where(c.branch_id == branch, c.state == "open")
        )

    service_lines = []
    for s in state["services"]:
        sla = engine.config.service(s["code"]).sla_seconds
        s["sla_seconds"] = sla
        s["over_sla"] = bool(sla is not None and s["waiting"] and s["longest_wait_seconds"] > sla)
        service_lines.append(
            dashboard.ServiceLine(
                s["code"], s["name"], s["waiting"], s["longest_wait_seconds"], sla
            )
        )
    counter_lines = []
    for counter in state["counters"]:
        ticket = counter["ticket"]
        since = None
        if ticket is not None:
            record = engine.ticket(ticket["id"])
            since = record.started_at if record.started_at is not None else record.called_at
        counter["since"] = since
        counter["idle_since"] = last_done.get(counter["number"]) if ticket is None else None
        counter_lines.append(
            dashboard.CounterLine(
                counter["number"],
                counter["name"],
                counter["state"],
                ticket is not None,
                frozenset(code for tier in counter["tiers"] for code in tier),
                counter["idle_since"],
            )
        )
    negative = [
        dashboard.NegativeRating(
            row[0].id,
            row[0].ticket_number,
            row[0].counter,
            LEVEL_NAMES.get(row[0].level, row[0].level),
            row[0].created_at,
            row[1],
        )
        for row in negative_rows
    ]
    overdue = [
        dashboard.OverdueCase(case.id, case.ticket_number, case.counter, case.deadline)
        for case in overdue_rows
    ]
    found = dashboard.alerts(service_lines, counter_lines, negative, overdue, now)
    return {
        "branch": branch,
        "name": runtime.name,
        "business_day": day,
        "timezone": runtime.timezone,
        "seq": state["seq"],
        "now": now,
        "waiting": state["waiting"],
        "services": state["services"],
        "counters": state["counters"],
        "today": {
            "issued": today["issued"],
            "served": today["served"],
            "no_show": today["no_show"],
            "wait_mean": today["wait_mean"],
            "wait_p90": today["wait_p90"],
            "within_sla_share": today["within_sla_share"],
            "ratings": today["ratings"],
            "rating_levels": today["rating_levels"],
            "satisfaction_rate": today["satisfaction_rate"],
            "cases_open": open_cases or 0,
            "cases_overdue": overdue_count or 0,
        },
        "alerts": [alert.view() for alert in found],
    }
