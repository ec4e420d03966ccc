"""The branch's live queue and its event log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from app.auth import DeviceKind
from app.db import models
from app.deps import ALL_STAFF, CurrentPrincipal, ServicesDep, authorize
from app.schemas import MAX_ID, ticket_body

router = APIRouter(prefix="/branches/{branch}", tags=["queue"])

READERS = frozenset(DeviceKind)


@router.get("/queue", summary="Waiting per service, each counter, recent calls")
async def queue(branch: str, services: ServicesDep, principal: CurrentPrincipal) -> dict[str, Any]:
    authorize(principal, branch, roles=ALL_STAFF, devices=READERS)
    runtime = services.halls.get(branch)
    snapshot = runtime.engine.snapshot(runtime.clock())
    return {
        "branch": branch,
        "name": runtime.name,
        "timezone": runtime.timezone,
        # The server's clock, so that a screen can tell the age of a call whatever its own says.
        "now": runtime.clock(),
        "business_day": snapshot.business_day,
        "seq": runtime.next_seq - 1,
        "waiting": snapshot.waiting,
        "services": [
            {
                "code": s.code,
                "name": s.name,
                "name_en": s.name_en,
                "waiting": s.waiting,
                "longest_wait_seconds": round(s.longest_wait_seconds, 1),
                "eta_minutes": s.eta_minutes,
                "open_counters": s.open_counters,
                "issued_today": s.issued_today,
                "quota_left": s.quota_left,
            }
            for s in snapshot.services
        ],
        "counters": [
            {
                "number": c.number,
                "name": c.name,
                "state": c.state.value,
                "ticket": ticket_body(c.ticket) if c.ticket else None,
                "direct_waiting": c.direct_waiting,
                "parked": list(c.parked),
                "tiers": [list(tier) for tier in c.services],
            }
            for c in snapshot.counters
        ],
        "recent_calls": [
            {
                "number": call.number,
                "service": call.service,
                "counter": call.counter,
                "counter_name": call.counter_name,
                "called_at": call.called_at,
            }
            for call in snapshot.recent_calls
        ],
    }


@router.get("/events", summary="The event log, page by page (staff)")
async def events(
    branch: str,
    services: ServicesDep,
    principal: CurrentPrincipal,
    since: Annotated[
        int, Query(ge=0, le=MAX_ID, description="Return events with seq > since.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    authorize(principal, branch, roles=ALL_STAFF)
    services.halls.get(branch)
    async with services.store.sessions() as session:
        rows = (
            await session.scalars(
                select(models.BranchEvent)
                .where(models.BranchEvent.branch_id == branch, models.BranchEvent.seq > since)
                .order_by(models.BranchEvent.seq)
                .limit(limit + 1)
            )
        ).all()
    page = rows[:limit]
    return {
        "events": [
            {"branch": branch, "seq": r.seq, "type": r.type, "at": r.at, "data": r.data}
            for r in page
        ],
        "next_since": page[-1].seq if page else since,
        "more": len(rows) > limit,
    }
