"""Announces follow-up cases that pass their deadline: a ``case_overdue`` event per case, once,
logged through the branch's runtime together with the mark that it was announced (one
transaction), so dashboards hear of it in ``seq`` order and a restart never repeats it.

A case becomes overdue with no command at all, so :class:`OverdueWatch` looks every
:data:`CHECK_SECONDS`; the dashboard's own figures and alerts read the cases table on every
refresh, so nothing shown waits for this event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.aio import stop_task
from app.db import models
from app.db.store import Store
from app.hall import Halls, RuntimeFailure
from app.queue_engine.model import Event, event

log = logging.getLogger("queuehall.overdue")

CHECK_SECONDS = 30.0


@event
class CaseOverdue(Event):
    """A follow-up case is open past its deadline."""

    type: ClassVar[str] = "case_overdue"
    case_id: int
    ticket_number: str | None
    counter: int | None
    clerk_id: int | None
    deadline: float


class OverdueWatch:
    def __init__(self, store: Store, halls: Halls, clock: Callable[[], float]) -> None:
        self.store = store
        self.halls = halls
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)

    async def check(self) -> int:
        """Announce every case that passed its deadline since the last check; how many."""
        now = self.clock()
        c = models.FollowUpCase
        async with self.store.sessions() as session:
            cases = (
                await session.scalars(
                    select(c)
                    .where(c.state == "open", c.deadline < now, c.overdue_announced_at.is_(None))
                    .order_by(c.branch_id, c.deadline, c.id)
                )
            ).all()
        by_branch: dict[str, list[models.FollowUpCase]] = {}
        for case in cases:
            by_branch.setdefault(case.branch_id, []).append(case)
        announced = 0
        for branch, overdue in by_branch.items():
            try:
                runtime = self.halls.get(branch)
            except LookupError:
                continue
            ids = [case.id for case in overdue]

            def command(
                engine: Any, at: float, overdue: list[models.FollowUpCase] = overdue
            ) -> list[Any]:
                return [
                    CaseOverdue(
                        at=at,
                        case_id=case.id,
                        ticket_number=case.ticket_number,
                        counter=case.counter,
                        clerk_id=case.clerk_id,
                        deadline=case.deadline,
                    )
                    for case in overdue
                ]

            async def mark(session: AsyncSession, ids: list[int] = ids) -> None:
                await session.execute(
                    update(c).where(c.id.in_(ids)).values(overdue_announced_at=now)
                )

            try:
                await runtime.run(command, lambda engine, events: (200, None), extra=[mark])
            except RuntimeFailure as error:
                log.warning("overdue cases of %s not announced yet: %r", branch, error)
                continue
            announced += len(ids)
        return announced

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                await self.check()
            except Exception as error:  # the store is down: try again later
                log.warning("overdue check failed: %r", error)
