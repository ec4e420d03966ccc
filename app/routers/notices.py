"""Scrolling notices (滚动公告) of a branch's lobby displays.

Managers create, change and withdraw notices: Chinese text, optional English, a start and an end
time, and the displays that show them (all, or chosen display devices). A display asks for its
notices (``GET .../notices/current``: every notice for it that has not ended, with its times)
and shows those whose window holds by the server's clock, so a start or an end needs no event.
Each change is written in its own transaction and then announced as a ``notices_changed`` event
through the branch's runtime (the only writer of ``branch_events``), on which displays ask again.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Path
from pydantic import Field, StringConstraints, model_validator
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import DeviceKind, Principal
from app.db import models
from app.deps import ALL_STAFF, MANAGERS, CurrentPrincipal, Services, ServicesDep, authorize
from app.errors import Invalid, NotFound
from app.hall import RuntimeFailure
from app.queue_engine.model import Event, event
from app.schemas import MAX_ID, BranchPath, Printable, Strict

router = APIRouter(prefix="/branches/{branch}/notices", tags=["notices"])
log = logging.getLogger("queuehall.notices")

NoticeId = Annotated[int, Path(ge=1, le=MAX_ID)]
NoticeText = Annotated[
    str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True), Printable
]
OptionalNoticeText = Annotated[
    str, StringConstraints(max_length=500, strip_whitespace=True), Printable
]
Epoch = Annotated[float, Field(ge=0, le=4102444800)]  # up to 2100
DISPLAYS = frozenset({DeviceKind.DISPLAY})


@event
class NoticesChanged(Event):
    """A notice was created, changed or withdrawn: displays ask for their notices again."""

    type: ClassVar[str] = "notices_changed"
    notice_id: int


class NoticeBody(Strict):
    text: NoticeText
    text_en: OptionalNoticeText = ""
    starts_at: Epoch | None = None  # None: now
    ends_at: Epoch | None = None  # None: until withdrawn
    displays: (
        Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(max_length=200)] | None
    ) = None  # None: every display of the branch

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> NoticeBody:
        if (
            self.ends_at is not None
            and self.starts_at is not None
            and self.ends_at <= self.starts_at
        ):
            raise ValueError("ends_at must be after starts_at")
        return self


def notice_view(notice: models.Notice, now: float) -> dict[str, Any]:
    return {
        "id": notice.id,
        "text": notice.text,
        "text_en": notice.text_en,
        "starts_at": notice.starts_at,
        "ends_at": notice.ends_at,
        "displays": notice.displays,
        "source": notice.source,
        "active": notice.starts_at <= now and (notice.ends_at is None or now < notice.ends_at),
        "created_at": notice.created_at,
        "updated_at": notice.updated_at,
    }


async def _check_displays(session: AsyncSession, branch: str, displays: list[int] | None) -> None:
    if not displays:
        if displays is not None:
            raise Invalid("displays: name at least one display, or leave it out for all.")
        return
    found = set(
        (
            await session.scalars(
                select(models.Device.id).where(
                    models.Device.branch_id == branch,
                    models.Device.kind == DeviceKind.DISPLAY.value,
                    models.Device.id.in_(displays),
                )
            )
        ).all()
    )
    missing = sorted(set(displays) - found)
    if missing:
        raise Invalid(f"No display of this branch has the id {missing[0]}.")


async def announce(services: Services, branch: str, notice_id: int) -> None:
    """Log and publish ``notices_changed`` after the notice's own commit; when that fails the
    displays still pick the change up on their next periodic ask."""
    try:
        runtime = services.halls.get(branch)
        await runtime.run(
            lambda engine, now: [NoticesChanged(at=now, notice_id=notice_id)],
            lambda engine, events: (200, None),
        )
    except (RuntimeFailure, LookupError) as error:
        log.warning("notice %s stored, but its event was not: %r", notice_id, error)


async def publish(
    services: Services,
    branch: str,
    body: NoticeBody,
    *,
    source: str = "manual",
    created_by: int | None = None,
) -> models.Notice:
    """Store a new notice and announce it (also used for automatic notices)."""
    now = services.halls.clock()
    async with services.store.sessions() as session, session.begin():
        await _check_displays(session, branch, body.displays)
        notice = models.Notice(
            branch_id=branch,
            text=body.text,
            text_en=body.text_en,
            starts_at=body.starts_at if body.starts_at is not None else now,
            ends_at=body.ends_at,
            displays=body.displays,
            source=source,
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
        session.add(notice)
    await announce(services, branch, notice.id)
    return notice


def _creator(principal: Principal) -> int | None:
    return principal.id if principal.is_staff else None


@router.post("", status_code=201, summary="Add a notice to the branch's displays")
async def create_notice(
    branch: BranchPath, body: NoticeBody, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    authorize(principal, branch, roles=MANAGERS)
    services.halls.get(branch)
    notice = await publish(services, branch, body, created_by=_creator(principal))
    return notice_view(notice, services.halls.clock())


@router.get("", summary="The branch's notices (not yet ended, or all)")
async def list_notices(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal, ended: bool = False
) -> list[dict[str, Any]]:
    authorize(principal, branch, roles=ALL_STAFF)
    services.halls.get(branch)
    now = services.halls.clock()
    n = models.Notice
    query = select(n).where(n.branch_id == branch)
    if not ended:
        query = query.where(or_(n.ends_at.is_(None), n.ends_at > now))
    async with services.store.sessions() as session:
        rows = (await session.scalars(query.order_by(n.starts_at, n.id))).all()
    return [notice_view(row, now) for row in rows]


@router.get("/current", summary="What a display shows: its notices that have not ended")
async def current_notices(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """For a display device (its own notices) or staff (every display's). Each notice has its
    times; the display shows those whose window holds at ``now`` (server time) and re-checks
    on its own, so a start or an end needs no event."""
    authorize(principal, branch, roles=ALL_STAFF, devices=DISPLAYS)
    services.halls.get(branch)
    now = services.halls.clock()
    n = models.Notice
    async with services.store.sessions() as session:
        rows = (
            await session.scalars(
                select(n)
                .where(n.branch_id == branch, or_(n.ends_at.is_(None), n.ends_at > now))
                .order_by(n.starts_at, n.id)
            )
        ).all()
    mine = [
        row
        for row in rows
        if principal.is_staff or row.displays is None or principal.id in row.displays
    ]
    return {"now": now, "notices": [notice_view(row, now) for row in mine]}


async def _notice(session: AsyncSession, branch: str, notice_id: int) -> models.Notice:
    notice = await session.get(models.Notice, notice_id)
    if notice is None or notice.branch_id != branch:
        raise NotFound(f"Notice {notice_id} does not exist at this branch.")
    return notice


@router.put("/{notice_id}", summary="Change a notice")
async def update_notice(
    branch: BranchPath,
    notice_id: NoticeId,
    body: NoticeBody,
    services: ServicesDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    authorize(principal, branch, roles=MANAGERS)
    services.halls.get(branch)
    now = services.halls.clock()
    async with services.store.sessions() as session, session.begin():
        notice = await _notice(session, branch, notice_id)
        await _check_displays(session, branch, body.displays)
        notice.text = body.text
        notice.text_en = body.text_en
        notice.starts_at = body.starts_at if body.starts_at is not None else notice.starts_at
        notice.ends_at = body.ends_at
        if notice.ends_at is not None and notice.ends_at <= notice.starts_at:
            raise Invalid("ends_at must be after starts_at.")
        notice.displays = body.displays
        notice.updated_at = now
    await announce(services, branch, notice_id)
    return notice_view(notice, now)


@router.delete("/{notice_id}", status_code=204, summary="Withdraw a notice")
async def delete_notice(
    branch: BranchPath, notice_id: NoticeId, services: ServicesDep, principal: CurrentPrincipal
) -> None:
    authorize(principal, branch, roles=MANAGERS)
    services.halls.get(branch)
    async with services.store.sessions() as session, session.begin():
        await session.delete(await _notice(session, branch, notice_id))
    await announce(services, branch, notice_id)
