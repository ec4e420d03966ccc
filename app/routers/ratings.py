"""Service evaluation (评价): the customer rates a served ticket by its token (mobile page,
mini-program), or on the evaluator device at the counter that served it; managers list ratings.
The rules are in ``app.ratings``; one rating is one transaction (``app.db.ratings.rate``)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field, StringConstraints
from sqlalchemy import select

from app import ratings
from app.auth import DeviceKind
from app.db import models
from app.db import ratings as store
from app.deps import ALL_STAFF, MANAGERS, CurrentPrincipal, Services, ServicesDep, authorize
from app.errors import Forbidden, NotFound
from app.hall import RuntimeFailure
from app.openapi import RATE_LIMITED
from app.ratings import Channel, NothingToRate, NotLastFinished, RatingReceived
from app.routers.tickets import Token, client_address
from app.schemas import MAX_ID, BranchPath, PrintableLines, ServiceCode, Strict

router = APIRouter(tags=["ratings"])
log = logging.getLogger("queuehall.ratings")

Number = Annotated[int, Path(ge=1, le=9999)]
ReasonCode = Annotated[str, StringConstraints(max_length=32, pattern=r"^[a-z][a-z0-9_]{0,31}$")]
LevelCode = Annotated[str, StringConstraints(max_length=24, pattern=r"^[a-z][a-z_]{0,23}$")]
RatingText = Annotated[
    str, StringConstraints(max_length=500, strip_whitespace=True), PrintableLines
]
EVALUATORS = frozenset({DeviceKind.EVALUATOR})


class CustomerRating(Strict):
    level: LevelCode
    reason: ReasonCode | None = None
    text: RatingText = ""
    channel: Literal["mobile", "miniprogram"] = "mobile"


class EvaluatorRating(Strict):
    level: LevelCode
    reason: ReasonCode | None = None
    text: RatingText = ""
    # The ticket the screen showed: refused when another was finished since.
    ticket_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None


async def announce(
    services: Services, rating: models.Rating, case: models.FollowUpCase | None
) -> None:
    """Log and publish ``rating_received`` through the branch's runtime (the only writer of
    ``branch_events``, which keeps ``seq`` gap-free). The rating is already committed: when the
    store fails now, the rating stands and only the live notice is lost (reports and the
    dashboard's figures read the ratings table)."""
    try:
        runtime = services.halls.get(rating.branch_id)
        fields: dict[str, Any] = {
            "rating_id": rating.id,
            "ticket_id": rating.ticket_id,
            "number": rating.ticket_number,
            "service": rating.service,
            "counter": rating.counter,
            "clerk_id": rating.clerk_id,
            "level": rating.level,
            "score": rating.score,
            "negative": rating.level in ratings.negative_levels(),
            "reason": rating.reason,
            "channel": rating.channel,
            "case_id": case.id if case is not None else None,
        }

        def command(engine: Any, now: float) -> list[Any]:
            return [RatingReceived(at=now, **fields)]

        await runtime.run(command, lambda engine, events: (201, None))
    except (RuntimeFailure, LookupError) as error:
        log.warning("rating %s stored, but its event was not: %r", rating.id, error)


def rating_state(
    ticket: models.Ticket,
    rating: models.Rating | None,
    policy: store.RatingPolicy,
    now: float,
) -> dict[str, Any]:
    """What a rating screen needs: the ticket, whether it can still be rated, the scale."""
    finished_at = ticket.finished_at
    window_ends = finished_at + policy.window_hours * 3600 if finished_at is not None else None
    return {
        "ticket": store.display_number(ticket),
        "ticket_id": ticket.id,
        "service": ticket.service,
        "counter": ticket.counter,
        "state": ticket.state,
        "finished_at": finished_at,
        "rateable": rating is None
        and ticket.state == "finished"
        and window_ends is not None
        and now <= window_ends,
        "window_ends_at": window_ends,
        "rating": store.rating_view(rating) if rating is not None else None,
        **policy.view(),
    }


async def _customer_ticket(services: ServicesDep, token: str, request: Request) -> models.Ticket:
    await services.limiter.check(
        services.settings.rate_limit_public, "lookup-ip", client_address(request)
    )
    async with services.store.sessions() as session:
        ticket = await store.ticket_by_token(session, token)
    if ticket is None:
        raise NotFound("No ticket has this link.")
    return ticket


@router.get(
    "/tickets/{token}/rating",
    summary="The ticket's rating, or whether it can be rated",
    responses=RATE_LIMITED,
)
async def get_customer_rating(
    token: Token, services: ServicesDep, request: Request
) -> dict[str, Any]:
    """Public: the token is the handle. Also answers for tickets of earlier days, within the
    rating window."""
    ticket = await _customer_ticket(services, token, request)
    async with services.store.sessions() as session:
        policy = await store.rating_policy(session, ticket.branch_id)
        rating = await store.rating_of(session, ticket.branch_id, ticket.id)
    return rating_state(ticket, rating, policy, services.halls.clock())


@router.post(
    "/tickets/{token}/rating",
    status_code=201,
    summary="The customer rates the service",
    responses=RATE_LIMITED,
)
async def rate_by_token(
    token: Token, body: CustomerRating, services: ServicesDep, request: Request
) -> dict[str, Any]:
    """Once per served ticket, within the branch's window; a level below "satisfied" needs a
    reason from the branch's list, and a dissatisfied one opens a follow-up case."""
    ticket = await _customer_ticket(services, token, request)
    new = store.NewRating(body.level, body.reason, body.text, Channel(body.channel))
    rating, case = await store.rate(services.store, ticket, new, services.halls.clock())
    await announce(services, rating, case)
    return store.rating_view(rating, case.id if case else None)


def _evaluator_at(
    principal: CurrentPrincipal, branch: BranchPath, number: int, staff: bool
) -> None:
    authorize(principal, branch, roles=ALL_STAFF if staff else frozenset(), devices=EVALUATORS)
    if not principal.is_staff and principal.counter != number:
        raise Forbidden(f"This evaluator stands at counter {principal.counter}, not {number}.")


@router.get(
    "/branches/{branch}/counters/{number}/rating",
    summary="The ticket last finished at a counter, for its evaluator",
)
async def get_counter_rating(
    branch: BranchPath, number: Number, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """The evaluator device of the counter (or staff of the branch) asks what to show:
    ``rateable`` is true while the last finished ticket awaits its rating."""
    _evaluator_at(principal, branch, number, staff=True)
    services.halls.get(branch)
    async with services.store.sessions() as session:
        policy = await store.rating_policy(session, branch)
        ticket = await store.last_finished(session, branch, number)
        rating = await store.rating_of(session, branch, ticket.id) if ticket else None
    now = services.halls.clock()
    if ticket is None:
        return {"ticket": None, "rateable": False, "rating": None, "now": now, **policy.view()}
    # ``now``: the screen measures how long ago the ticket was finished in the server's time.
    return {**rating_state(ticket, rating, policy, now), "now": now}


@router.post(
    "/branches/{branch}/counters/{number}/rating",
    status_code=201,
    summary="The evaluator rates the ticket its counter just finished",
)
async def rate_at_counter(
    branch: BranchPath,
    number: Number,
    body: EvaluatorRating,
    services: ServicesDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    _evaluator_at(principal, branch, number, staff=False)
    services.halls.get(branch)
    async with services.store.sessions() as session:
        ticket = await store.last_finished(session, branch, number)
    if ticket is None:
        raise NothingToRate(f"No ticket has been finished at counter {number} yet.")
    if body.ticket_id is not None and body.ticket_id != ticket.id:
        raise NotLastFinished(
            f"Another ticket ({store.display_number(ticket)}) was finished at counter {number} "
            "since; the rating was not stored."
        )
    new = store.NewRating(body.level, body.reason, body.text, Channel.EVALUATOR)
    rating, case = await store.rate(services.store, ticket, new, services.halls.clock())
    await announce(services, rating, case)
    return store.rating_view(rating, case.id if case else None)


@router.get("/branches/{branch}/ratings", summary="Ratings of a branch, newest first")
async def list_ratings(
    branch: BranchPath,
    services: ServicesDep,
    principal: CurrentPrincipal,
    since: Annotated[float | None, Query(description="epoch seconds, inclusive")] = None,
    until: Annotated[float | None, Query(description="epoch seconds, exclusive")] = None,
    day: Annotated[str | None, Query(max_length=10, pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
    service: ServiceCode | None = None,
    counter: Annotated[int | None, Query(ge=1, le=9999)] = None,
    clerk: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    level: LevelCode | None = None,
    channel: Literal["evaluator", "mobile", "miniprogram"] | None = None,
    negative: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    authorize(principal, branch, roles=MANAGERS)
    services.halls.get(branch)
    rating = models.Rating
    query = select(rating, models.FollowUpCase.id).outerjoin(
        models.FollowUpCase, models.FollowUpCase.rating_id == rating.id
    )
    query = query.where(rating.branch_id == branch)
    filters = {
        rating.business_day: day,
        rating.service: service,
        rating.counter: counter,
        rating.clerk_id: clerk,
        rating.level: level,
        rating.channel: channel,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(rating.created_at >= since)
    if until is not None:
        query = query.where(rating.created_at < until)
    if negative is not None:
        negative_levels = ratings.negative_levels()
        query = query.where(
            rating.level.in_(negative_levels) if negative else rating.level.not_in(negative_levels)
        )
    query = query.order_by(rating.created_at.desc(), rating.id.desc()).limit(limit)
    async with services.store.sessions() as session:
        rows = (await session.execute(query)).all()
    return [store.rating_view(row[0], row[1]) for row in rows]
