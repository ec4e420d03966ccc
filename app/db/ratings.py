"""Ratings and follow-up cases in the store: each function is one transaction.

Ratings are not queue commands: they change no ticket and no queue, so they do not go through a
branch's hall runtime (no lock, no event, no ``seq``). They read the ticket's committed row, the
one the finish command wrote before anyone was told it was finished. The unique constraint on
``(branch_id, ticket_id)`` decides between two ratings of one ticket sent at once; the loser is
told :class:`~app.ratings.AlreadyRated`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import ratings
from app.ratings import AlreadyRated, CaseSource, Channel, Level, Scale

from . import models
from .store import Store


@dataclass(frozen=True)
class RatingPolicy:
    scale: Scale
    window_hours: float
    reasons: list[dict[str, str]]
    case_working_days: int
    timezone: str

    def view(self) -> dict[str, Any]:
        return {
            "scale": self.scale.value,
            "levels": [
                {
                    "code": level.code,
                    "name": level.name,
                    "name_en": level.name_en,
                    "score": level.score,
                    "needs_reason": level.needs_reason,
                    "negative": level.negative,
                }
                for level in ratings.levels(self.scale)
            ],
            "reasons": self.reasons,
            "window_hours": self.window_hours,
        }


async def rating_policy(session: AsyncSession, branch_id: str) -> RatingPolicy:
    policy = await session.get(models.Policy, branch_id)
    branch = await session.get(models.Branch, branch_id)
    timezone = branch.timezone if branch is not None else "Asia/Shanghai"
    if policy is None:
        return RatingPolicy(
            Scale.FOUR,
            ratings.DEFAULT_WINDOW_HOURS,
            [dict(r) for r in ratings.DEFAULT_REASONS],
            ratings.DEFAULT_CASE_WORKING_DAYS,
            timezone,
        )
    return RatingPolicy(
        Scale(policy.rating_scale),
        policy.rating_window_hours,
        list(policy.rating_reasons or [dict(r) for r in ratings.DEFAULT_REASONS]),
        policy.case_deadline_working_days,
        timezone,
    )


async def ticket_by_token(session: AsyncSession, token: str) -> models.Ticket | None:
    ticket: models.Ticket | None = await session.scalar(
        select(models.Ticket).where(models.Ticket.token == token)
    )
    return ticket


async def last_finished(
    session: AsyncSession, branch_id: str, counter: int
) -> models.Ticket | None:
    """The ticket finished last at ``counter`` (any day: the window decides the rest)."""
    ticket: models.Ticket | None = await session.scalar(
        select(models.Ticket)
        .where(
            models.Ticket.branch_id == branch_id,
            models.Ticket.counter == counter,
            models.Ticket.state == "finished",
        )
        .order_by(models.Ticket.finished_at.desc())
        .limit(1)
    )
    return ticket


async def rating_of(session: AsyncSession, branch_id: str, ticket_id: int) -> models.Rating | None:
    rating: models.Rating | None = await session.scalar(
        select(models.Rating).where(
            models.Rating.branch_id == branch_id, models.Rating.ticket_id == ticket_id
        )
    )
    return rating


def display_number(ticket: models.Ticket) -> str:
    return f"{ticket.prefix}{ticket.number:03d}"


@dataclass(frozen=True)
class NewRating:
    level: str
    reason: str | None
    text: str
    channel: Channel


async def rate(
    store: Store, ticket: models.Ticket, new: NewRating, now: float
) -> tuple[models.Rating, models.FollowUpCase | None]:
    """Store the rating of ``ticket`` (as read before), and its follow-up case when negative,
    in one transaction; raises a :class:`~app.ratings.RatingError` and stores nothing when the
    rules refuse it."""
    try:
        async with store.sessions() as session, session.begin():
            policy = await rating_policy(session, ticket.branch_id)
            existing = await rating_of(session, ticket.branch_id, ticket.id)
            ratings.check_rateable(
                ticket.state, ticket.finished_at, now, policy.window_hours, existing is not None
            )
            level: Level = ratings.check_rating(policy.scale, new.level, new.reason, policy.reasons)
            assert ticket.finished_at is not None
            rating = models.Rating(
                branch_id=ticket.branch_id,
                ticket_id=ticket.id,
                ticket_number=display_number(ticket),
                business_day=ticket.business_day,
                service=ticket.service,
                counter=ticket.counter,
                clerk_id=ticket.finished_by,
                served_at=ticket.finished_at,
                scale=policy.scale.value,
                level=level.code,
                score=level.score,
                reason=new.reason,
                text=new.text,
                channel=new.channel.value,
                created_at=now,
            )
            session.add(rating)
            await session.flush()
            case = None
            if level.negative:
                reason_name = next(
                    (r["name"] for r in policy.reasons if r["code"] == new.reason), ""
                )
                description = f"{display_number(ticket)} 评价「{level.name}」：{reason_name}"
                if new.text:
                    description += f"。{new.text}"
                case = models.FollowUpCase(
                    branch_id=ticket.branch_id,
                    rating_id=rating.id,
                    source=CaseSource.RATING.value,
                    description=description,
                    ticket_number=display_number(ticket),
                    counter=ticket.counter,
                    clerk_id=ticket.finished_by,
                    deadline=ratings.add_working_days(
                        now, policy.case_working_days, policy.timezone
                    ),
                    assignee_id=None,
                    state="open",
                    created_at=now,
                )
                session.add(case)
    except IntegrityError:
        # Another rating of this ticket committed first (the unique constraint).
        raise AlreadyRated() from None
    return rating, case


def rating_view(rating: models.Rating, case_id: int | None = None) -> dict[str, Any]:
    return {
        "id": rating.id,
        "branch": rating.branch_id,
        "ticket": rating.ticket_number,
        "ticket_id": rating.ticket_id,
        "business_day": rating.business_day,
        "service": rating.service,
        "counter": rating.counter,
        "clerk_id": rating.clerk_id,
        "served_at": rating.served_at,
        "scale": rating.scale,
        "level": rating.level,
        "score": rating.score,
        "reason": rating.reason,
        "text": rating.text,
        "channel": rating.channel,
        "created_at": rating.created_at,
        "case": case_id,
    }


def case_view(
    case: models.FollowUpCase, now: float, notes: list[models.CaseNote] | None = None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": case.id,
        "branch": case.branch_id,
        "rating": case.rating_id,
        "source": case.source,
        "description": case.description,
        "ticket": case.ticket_number,
        "counter": case.counter,
        "clerk_id": case.clerk_id,
        "deadline": case.deadline,
        "overdue": ratings.overdue(case.state, case.deadline, now),
        "assignee": case.assignee_id,
        "state": case.state,
        "resolution": case.resolution,
        "created_at": case.created_at,
        "created_by": case.created_by,
        "closed_at": case.closed_at,
        "closed_by": case.closed_by,
    }
    if notes is not None:
        view["notes"] = [
            {
                "id": note.id,
                "author": note.author_id,
                "author_name": note.author_name,
                "text": note.text,
                "created_at": note.created_at,
            }
            for note in notes
        ]
    return view
