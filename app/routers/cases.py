"""Follow-up cases (回访 / 督办): opened by a dissatisfied rating (``app.db.ratings.rate``) or by a
manager from a complaint received by phone or at the desk; assigned, annotated, closed with a
resolution. ``overdue`` is computed from the deadline on every read.

Managers and admins of the branch do everything; a clerk sees and annotates only the cases
assigned to them (others are 404 to them, as if absent).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field, StringConstraints
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import ratings
from app.auth import Principal, Role
from app.db import models
from app.db import ratings as store
from app.deps import ALL_STAFF, MANAGERS, CurrentPrincipal, ServicesDep, authorize
from app.errors import NotFound
from app.ratings import CaseClosed, CaseSource, CaseState, UnknownAssignee
from app.schemas import MAX_ID, BranchPath, CounterNumber, PrintableLines, Strict, TicketNumber

router = APIRouter(prefix="/branches/{branch}/cases", tags=["follow-up cases"])

CaseId = Annotated[int, Path(ge=1, le=MAX_ID)]
LongText = Annotated[
    str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True), PrintableLines
]


class NewCase(Strict):
    source: Literal["phone", "desk"]
    description: LongText
    ticket: TicketNumber | None = None
    counter: CounterNumber | None = None
    assignee: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None


class Assignment(Strict):
    assignee: Annotated[int, Field(ge=1, le=MAX_ID)] | None


class Note(Strict):
    text: LongText


class Closing(Strict):
    resolution: LongText


def _is_clerk(principal: Principal) -> bool:
    return principal.role == Role.CLERK


async def _case(
    session: AsyncSession, branch: BranchPath, case_id: int, principal: Principal
) -> models.FollowUpCase:
    case = await session.get(models.FollowUpCase, case_id)
    if (
        case is None
        or case.branch_id != branch
        or (_is_clerk(principal) and case.assignee_id != principal.id)
    ):
        raise NotFound(f"Case {case_id} does not exist at this branch.")
    return case


async def _notes(session: AsyncSession, case_id: int) -> list[models.CaseNote]:
    return list(
        (
            await session.scalars(
                select(models.CaseNote)
                .where(models.CaseNote.case_id == case_id)
                .order_by(models.CaseNote.id)
            )
        ).all()
    )


async def _check_assignee(session: AsyncSession, branch: BranchPath, assignee: int | None) -> None:
    if assignee is None:
        return
    user = await session.get(models.StaffUser, assignee)
    if user is None or not user.active or user.branch_id not in (branch, None):
        raise UnknownAssignee(f"Staff member {assignee} is not active staff of this branch.")


@router.get("", summary="Follow-up cases, most urgent first")
async def list_cases(
    branch: BranchPath,
    services: ServicesDep,
    principal: CurrentPrincipal,
    state: Literal["open", "closed"] | None = None,
    overdue: bool | None = None,
    source: Literal["rating", "phone", "desk"] | None = None,
    assignee: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    authorize(principal, branch, roles=ALL_STAFF)
    services.halls.get(branch)
    now = services.halls.clock()
    case = models.FollowUpCase
    query = select(case).where(case.branch_id == branch)
    if _is_clerk(principal):
        query = query.where(case.assignee_id == principal.id)
    if state is not None:
        query = query.where(case.state == state)
    if source is not None:
        query = query.where(case.source == source)
    if assignee is not None:
        query = query.where(case.assignee_id == assignee)
    if overdue is True:
        query = query.where(case.state == CaseState.OPEN.value, case.deadline < now)
    elif overdue is False:
        query = query.where((case.state != CaseState.OPEN.value) | (case.deadline >= now))
    query = query.order_by(case.deadline, case.id).limit(limit)
    async with services.store.sessions() as session:
        rows = (await session.scalars(query)).all()
    return [store.case_view(row, now) for row in rows]


@router.post("", status_code=201, summary="Open a case from a complaint (phone or desk)")
async def open_case(
    branch: BranchPath, body: NewCase, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    authorize(principal, branch, roles=MANAGERS)
    services.halls.get(branch)
    now = services.halls.clock()
    async with services.store.sessions() as session, session.begin():
        await _check_assignee(session, branch, body.assignee)
        policy = await store.rating_policy(session, branch)
        case = models.FollowUpCase(
            branch_id=branch,
            source=CaseSource(body.source).value,
            description=body.description,
            ticket_number=body.ticket,
            counter=body.counter,
            deadline=ratings.add_working_days(now, policy.case_working_days, policy.timezone),
            assignee_id=body.assignee,
            state=CaseState.OPEN.value,
            created_at=now,
            created_by=principal.id,
        )
        session.add(case)
    return store.case_view(case, now, [])


@router.get("/{case_id}", summary="A case with its notes")
async def get_case(
    branch: BranchPath, case_id: CaseId, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    authorize(principal, branch, roles=ALL_STAFF)
    services.halls.get(branch)
    async with services.store.sessions() as session:
        case = await _case(session, branch, case_id, principal)
        notes = await _notes(session, case_id)
    return store.case_view(case, services.halls.clock(), notes)


@router.put("/{case_id}/assignee", summary="Assign a case (or unassign: null)")
async def assign_case(
    branch: BranchPath,
    case_id: CaseId,
    body: Assignment,
    services: ServicesDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    authorize(principal, branch, roles=MANAGERS)
    services.halls.get(branch)
    async with services.store.sessions() as session, session.begin():
        case = await _case(session, branch, case_id, principal)
        if case.state != CaseState.OPEN:
            raise CaseClosed()
        await _check_assignee(session, branch, body.assignee)
        case.assignee_id = body.assignee
        notes = await _notes(session, case_id)
    return store.case_view(case, services.halls.clock(), notes)


@router.post("/{case_id}/notes", status_code=201, summary="Add a note to an open case")
async def add_note(
    branch: BranchPath,
    case_id: CaseId,
    body: Note,
    services: ServicesDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Managers, or the clerk the case is assigned to."""
    authorize(principal, branch, roles=ALL_STAFF)
    services.halls.get(branch)
    now = services.halls.clock()
    async with services.store.sessions() as session, session.begin():
        case = await _case(session, branch, case_id, principal)
        if case.state != CaseState.OPEN:
            raise CaseClosed()
        session.add(
            models.CaseNote(
                case_id=case_id,
                author_id=principal.id,
                author_name=principal.name,
                text=body.text,
                created_at=now,
            )
        )
        await session.flush()
        notes = await _notes(session, case_id)
    return store.case_view(case, now, notes)


@router.post("/{case_id}/close", summary="Close a case with its resolution")
async def close_case(
    branch: BranchPath,
    case_id: CaseId,
    body: Closing,
    services: ServicesDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    authorize(principal, branch, roles=MANAGERS)
    services.halls.get(branch)
    now = services.halls.clock()
    async with services.store.sessions() as session, session.begin():
        case = await _case(session, branch, case_id, principal)
        # Conditional on the state, so that of two closings at once only one takes effect.
        closed = await session.execute(
            update(models.FollowUpCase)
            .where(
                models.FollowUpCase.id == case_id,
                models.FollowUpCase.state == CaseState.OPEN.value,
            )
            .values(
                state=CaseState.CLOSED.value,
                resolution=body.resolution,
                closed_at=now,
                closed_by=principal.id,
            )
            .execution_options(synchronize_session=False)
        )
        if closed.rowcount != 1:
            raise CaseClosed()
        await session.refresh(case)
        notes = await _notes(session, case_id)
    return store.case_view(case, now, notes)
