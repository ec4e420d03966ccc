"""The outbox sender: claims due notifications, hands them to the adapter, records the result.

A row is claimed by one conditional ``UPDATE`` (``pending``, or ``sending`` whose claim
expired after a crash, to ``sending`` with ``claimed_until``): two senders never send the same
row, and a row is sent again only when its sender died between sending and recording it. A
failure sets the row back to ``pending`` with ``next_attempt_at`` after an exponential backoff
(``backoff × 2^(attempts-1)``, at most an hour) until ``max_attempts``, then ``failed``. A
message the adapter does not carry (no template, not subscribed) is ``skipped``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import or_, select, update

from app.db import models
from app.db.store import Store

from .adapters import Adapter, DeliveryFailed, Message, Skipped

log = logging.getLogger("queuehall.notify")
CLAIM_SECONDS = 60.0
MAX_BACKOFF = 3600.0


class Sender:
    def __init__(
        self,
        store: Store,
        adapter: Adapter,
        *,
        clock: Callable[[], float],
        max_attempts: int = 8,
        backoff_seconds: float = 5.0,
        batch: int = 50,
    ) -> None:
        self.store = store
        self.adapter = adapter
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.batch = batch

    async def _claim(self, row_id: int, now: float) -> bool:
        async with self.store.sessions() as session, session.begin():
            claimed = await session.execute(
                update(models.Notification)
                .where(
                    models.Notification.id == row_id,
                    or_(
                        models.Notification.state == "pending",
                        (models.Notification.state == "sending")
                        & (models.Notification.claimed_until < now),
                    ),
                )
                .values(state="sending", claimed_until=now + CLAIM_SECONDS)
            )
            return bool(claimed.rowcount == 1)

    async def _record(self, row_id: int, **values: object) -> None:
        async with self.store.sessions() as session, session.begin():
            await session.execute(
                update(models.Notification)
                .where(models.Notification.id == row_id)
                .values(claimed_until=None, **values)
            )

    async def run_once(self) -> int:
        """Send what is due now; returns how many were delivered."""
        now = self.clock()
        async with self.store.sessions() as session:
            due = (
                await session.execute(
                    select(models.Notification, models.Customer.openid)
                    .outerjoin(
                        models.Customer, models.Customer.id == models.Notification.customer_id
                    )
                    .where(
                        or_(
                            models.Notification.state == "pending",
                            (models.Notification.state == "sending")
                            & (models.Notification.claimed_until < now),
                        ),
                        models.Notification.next_attempt_at <= now,
                    )
                    .order_by(models.Notification.next_attempt_at, models.Notification.id)
                    .limit(self.batch)
                )
            ).all()
        delivered = 0
        for row, openid in due:
            if not await self._claim(row.id, now):
                continue
            message = Message(row.id, row.kind, row.branch_id, row.customer_id, openid, row.payload)
            attempts = row.attempts + 1
            try:
                await self.adapter.send(message)
            except Skipped as skipped:
                await self._record(
                    row.id, state="skipped", attempts=attempts, last_error=str(skipped)
                )
                continue
            except Exception as error:  # any adapter trouble is one failed attempt
                reason = str(error) if isinstance(error, DeliveryFailed) else repr(error)
                final = attempts >= self.max_attempts
                wait = min(MAX_BACKOFF, self.backoff_seconds * 2 ** (attempts - 1))
                await self._record(
                    row.id,
                    state="failed" if final else "pending",
                    attempts=attempts,
                    last_error=reason[:1000],
                    next_attempt_at=now + wait,
                )
                log.warning("notification %s (%s) failed: %s", row.id, row.kind, reason)
                continue
            await self._record(row.id, state="sent", attempts=attempts, sent_at=self.clock())
            delivered += 1
        return delivered
