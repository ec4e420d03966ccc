"""The branch's live queue and its event log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from app.auth import DeviceKind
from app.db import models
from app.deps import ALL_STAFF, CurrentPrincipal, ServicesDep, authorize
from app.realtime.views import full_state
from app.schemas import MAX_ID, BranchPath

router = APIRouter(prefix="/branches/{branch}", tags=["queue"])

READERS = frozenset(DeviceKind)


@router.get("/queue", summary="Waiting per service, each counter, recent calls")
async def queue(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    authorize(principal, branch, roles=ALL_STAFF, devices=READERS)
    runtime = services.halls.get(branch)
    state = full_state(runtime, runtime.engine.snapshot(runtime.clock()), runtime.next_seq - 1)
    # The server's clock, so that a screen can tell the age of a call whatever its own says.
    return state | {"timezone": runtime.timezone, "now": runtime.clock()}


@router.get("/events", summary="The event log, page by page (staff)")
async def events(
    branch: BranchPath,
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
