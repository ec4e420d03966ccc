"""The audit log for managers: who did what, when, from which device (``app.audit`` records
it). A branch's managers list their branch's entries; the administrator of every branch lists
all of them, including those of no branch (sign-ins, new branches)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import Select, select

from app.auth import Role
from app.db import models
from app.deps import MANAGERS, CurrentPrincipal, ServicesDep, authorize
from app.schemas import MAX_ID, BranchPath

router = APIRouter(tags=["audit log"])

Since = Annotated[float | None, Query(description="epoch seconds, inclusive")]
Until = Annotated[float | None, Query(description="epoch seconds, exclusive")]
Actor = Annotated[int | None, Query(ge=1, le=MAX_ID, description="staff or device id")]
ActorKind = Literal["staff", "device", "anonymous"]
Action = Annotated[
    str | None, Query(max_length=64, description="the start of the action: 'PUT /branches'")
]
Method = Literal["POST", "PUT", "PATCH", "DELETE"]
Limit = Annotated[int, Query(ge=1, le=1000)]


def entry_view(entry: models.AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "branch": entry.branch_id,
        "at": entry.at,
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "role": entry.role,
        "device": entry.device,
        "address": entry.address,
        "method": entry.method,
        "path": entry.path,
        "action": entry.action,
        "status": entry.status,
        "detail": entry.detail,
    }


def _filtered(
    query: Select[Any],
    since: float | None,
    until: float | None,
    actor: int | None,
    actor_kind: str | None,
    action: str | None,
    method: str | None,
    failed: bool | None,
    limit: int,
) -> Select[Any]:
    a = models.AuditEntry
    if since is not None:
        query = query.where(a.at >= since)
    if until is not None:
        query = query.where(a.at < until)
    if actor is not None:
        query = query.where(a.actor_id == actor)
    if actor_kind is not None:
        query = query.where(a.actor_kind == actor_kind)
    if action:
        query = query.where(a.action.startswith(action, autoescape=True))
    if method is not None:
        query = query.where(a.method == method)
    if failed is not None:
        query = query.where(a.status >= 400 if failed else a.status < 400)
    return query.order_by(a.at.desc(), a.id.desc()).limit(limit)


@router.get("/branches/{branch}/audit", summary="The branch's audit log, newest first")
async def branch_audit(
    branch: BranchPath,
    services: ServicesDep,
    principal: CurrentPrincipal,
    since: Since = None,
    until: Until = None,
    actor: Actor = None,
    actor_kind: ActorKind | None = None,
    action: Action = None,
    method: Method | None = None,
    failed: bool | None = None,
    limit: Limit = 200,
) -> list[dict[str, Any]]:
    authorize(principal, branch, roles=MANAGERS)
    services.halls.get(branch)
    if services.audit is not None:
        await services.audit.flush()  # what was just done is listed
    query = select(models.AuditEntry).where(models.AuditEntry.branch_id == branch)
    query = _filtered(query, since, until, actor, actor_kind, action, method, failed, limit)
    async with services.store.sessions() as session:
        return [entry_view(e) for e in (await session.scalars(query)).all()]


@router.get("/audit", summary="The audit log of every branch (administrator of all)")
async def all_audit(
    services: ServicesDep,
    principal: CurrentPrincipal,
    branch: Annotated[str | None, Query(max_length=40)] = None,
    since: Since = None,
    until: Until = None,
    actor: Actor = None,
    actor_kind: ActorKind | None = None,
    action: Action = None,
    method: Method | None = None,
    failed: bool | None = None,
    limit: Limit = 200,
) -> list[dict[str, Any]]:
    authorize(principal, None, roles=frozenset({Role.ADMIN}))
    if services.audit is not None:
        await services.audit.flush()
    query = select(models.AuditEntry)
    if branch is not None:
        query = query.where(models.AuditEntry.branch_id == branch)
    query = _filtered(query, since, until, actor, actor_kind, action, method, failed, limit)
    async with services.store.sessions() as session:
        return [entry_view(e) for e in (await session.scalars(query)).all()]
