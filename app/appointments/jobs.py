"""Background work of appointments, beside the hall runtimes' business-day ticker:

* every tick: bookings not checked in by their slot's end plus the grace become no-shows;
  phone tickets whose "arrive within" time passed unconfirmed are cancelled (through the hall
  runtime); the outbox is sent; once an hour, customer data past its retention is purged;
* a watcher per branch follows the committed events on the bus and writes the customer
  notifications of tickets that belong to customers (booked or taken from the phone): almost
  your turn, called to a counter, please rate. It runs after the commit in its own task: a
  slow store or adapter never delays a queue command.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from app.aio import stop_task, wait_event
from app.bus import EventBus
from app.db import bookings as db
from app.db import models
from app.db.store import Store
from app.hall import HallRuntime, Halls, RuntimeFailure
from app.notify.outbox import Sender
from app.queue_engine import Event, QueueEngine, TicketState
from app.queue_engine import errors as domain

log = logging.getLogger("queuehall.appointments")
PURGE_EVERY_SECONDS = 3600.0
MOVES_QUEUE = frozenset(
    {"ticket_called", "ticket_cancelled", "ticket_missed", "ticket_transferred", "ticket_finished"}
)


class AppointmentJobs:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        halls: Halls,
        sender: Sender,
        *,
        clock: Callable[[], float],
        tick_seconds: float,
        retention_booking_days: float,
        retention_ticket_days: float,
    ) -> None:
        self.store = store
        self.bus = bus
        self.halls = halls
        self.sender = sender
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.retention_booking_days = retention_booking_days
        self.retention_ticket_days = retention_ticket_days
        self.watched: dict[str, dict[int, int]] = {}  # branch -> ticket id -> customer id
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._last_purge = float("-inf")

    # ------------------------------------------------------------------------------------
    # Lifecycle

    async def start(self) -> None:
        async with self.store.sessions() as session:
            booked = (
                await session.execute(
                    select(
                        models.Booking.branch_id,
                        models.Booking.ticket_id,
                        models.Booking.customer_id,
                    ).where(
                        models.Booking.state == db.BookingState.CHECKED_IN,
                        models.Booking.ticket_id.is_not(None),
                    )
                )
            ).all()
            remote = (
                await session.execute(
                    select(
                        models.RemoteTicket.branch_id,
                        models.RemoteTicket.ticket_id,
                        models.RemoteTicket.customer_id,
                    ).where(models.RemoteTicket.state == "active")
                )
            ).all()
        for branch, ticket_id, customer_id in [*booked, *remote]:
            if ticket_id is None or customer_id is None:
                continue
            try:
                runtime = self.halls.get(branch)
            except LookupError:
                continue
            if ticket_id in runtime.tokens:  # today's ticket, still known to the engine
                self.watch(branch, ticket_id, customer_id)
        for runtime in self.halls:  # follow every branch from the start: no event is missed
            self._follow(runtime.branch_id)
        self._ticker = asyncio.create_task(self._tick_loop(), name="appointments-ticker")

    async def stop(self) -> None:
        for task in (self._ticker, *self._watchers.values()):
            await stop_task(task)
        self._watchers.clear()
        self._ticker = None

    def wake(self) -> None:
        """New outbox rows: send them now rather than at the next tick."""
        self._wake.set()

    def watch(self, branch: str, ticket_id: int, customer_id: int) -> None:
        """Notify ``customer_id`` of what happens to the ticket."""
        self.watched.setdefault(branch, {})[ticket_id] = customer_id
        self._follow(branch)

    def _follow(self, branch: str) -> None:
        if branch not in self._watchers:
            self._watchers[branch] = asyncio.create_task(
                self._watch_branch(branch), name=f"notify-{branch}"
            )

    # ------------------------------------------------------------------------------------
    # The tick

    async def _tick_loop(self) -> None:
        while True:
            await wait_event(self._wake, self.tick_seconds)
            self._wake.clear()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next tick tries again
                log.exception("appointments tick failed")

    async def tick(self) -> None:
        now = self.clock()
        for runtime in self.halls:
            try:
                await db.mark_no_shows(self.store, runtime.branch_id, now)
                await self.expire_unconfirmed(runtime)
            except Exception:  # one branch's trouble never stops the others
                log.exception("branch %s: appointments tick failed", runtime.branch_id)
        if now - self._last_purge >= PURGE_EVERY_SECONDS:
            await db.purge(
                self.store,
                now,
                booking_days=self.retention_booking_days,
                ticket_days=self.retention_ticket_days,
            )
            self._last_purge = now
        await self.sender.run_once()

    async def expire_unconfirmed(self, runtime: HallRuntime) -> list[int]:
        """Cancel phone tickets still waiting whose customer did not confirm arrival in time."""
        now = runtime.clock()
        async with self.store.sessions() as session:
            due = (
                await session.scalars(
                    select(models.RemoteTicket).where(
                        models.RemoteTicket.branch_id == runtime.branch_id,
                        models.RemoteTicket.state == "active",
                        models.RemoteTicket.arrive_by < now,
                        models.RemoteTicket.arrived_at.is_(None),
                    )
                )
            ).all()
        cancelled = []
        for remote in due:
            ticket_id = remote.ticket_id
            if ticket_id is None or ticket_id not in runtime.tokens:
                await self._finish_remote(remote.id, "expired")
                continue
            if runtime.engine.ticket(ticket_id).state is not TicketState.WAITING:
                continue  # already called: the counter deals with it

            def command(engine: QueueEngine, at: float, tid: int = ticket_id) -> list[Event]:
                return engine.cancel_ticket(tid, now=at)

            def reply(engine: QueueEngine, events: list[Event]) -> tuple[int, Any]:
                return 200, None

            try:
                await runtime.run(command, reply)
            except (domain.QueueError, RuntimeFailure) as error:
                log.info("phone ticket %s not cancelled: %s", ticket_id, error)
                continue
            await self._finish_remote(remote.id, "expired")
            cancelled.append(ticket_id)
        return cancelled

    async def _finish_remote(self, remote_id: int, state: str) -> None:
        async with self.store.sessions() as session, session.begin():
            await session.execute(
                update(models.RemoteTicket)
                .where(models.RemoteTicket.id == remote_id, models.RemoteTicket.state == "active")
                .values(state=state)
            )

    # ------------------------------------------------------------------------------------
    # Notifications from queue events

    async def _watch_branch(self, branch: str) -> None:
        while True:
            async with self.bus.subscribe(branch, size=10_000) as subscription:
                while not (subscription.overflowed and subscription.queue.empty()):
                    envelope = await subscription.get()
                    try:
                        await self.on_event(branch, envelope)
                    except asyncio.CancelledError:
                        raise
                    except Exception:  # a notification is lost, the queue is not affected
                        log.exception("branch %s: notification of %s failed", branch, envelope)
            # Fell behind a burst: notices of the events dropped are lost, later ones are not.
            log.warning("branch %s: notification watcher fell behind; resubscribing", branch)

    async def on_event(self, branch: str, envelope: dict[str, Any]) -> None:
        kind = envelope["type"]
        if kind not in MOVES_QUEUE and kind != "ticket_expired":
            return
        data = envelope["data"]
        watched = self.watched.get(branch, {})
        ticket_id = data.get("ticket_id")
        notices: list[dict[str, Any]] = []
        runtime = self.halls.get(branch)
        customer_id = watched.get(ticket_id) if isinstance(ticket_id, int) else None
        if customer_id is not None:
            token = runtime.tokens.get(ticket_id)
            base = {"number": data.get("number"), "service": data.get("service"), "token": token}
            if kind == "ticket_called":
                notices.append(
                    {
                        "kind": "ticket_called",
                        "dedupe_key": f"ticket_called:{branch}:{ticket_id}:{data.get('counter')}",
                        "payload": {
                            **base,
                            "counter": data.get("counter"),
                            "counter_name": data.get("counter_name"),
                        },
                    }
                )
            elif kind == "ticket_finished":
                notices.append(
                    {
                        "kind": "please_rate",
                        "dedupe_key": f"please_rate:{branch}:{ticket_id}",
                        "payload": base,
                    }
                )
            if kind in ("ticket_finished", "ticket_cancelled", "ticket_expired"):
                watched.pop(ticket_id, None)
                await self._close_remote(branch, ticket_id)
        if kind in MOVES_QUEUE:
            ahead_limit = runtime.almost_turn_ahead
            for tid, cid in list(watched.items()):
                if tid not in runtime.tokens:
                    continue
                ahead = runtime.engine.position(tid)
                if ahead is not None and ahead <= ahead_limit:
                    record = runtime.engine.ticket(tid)
                    notices.append(
                        {
                            "kind": "almost_turn",
                            "customer_id": cid,
                            "dedupe_key": f"almost_turn:{branch}:{tid}",
                            "payload": {
                                "number": record.display,
                                "service": record.service,
                                "ahead": ahead,
                                "token": runtime.tokens.get(tid),
                            },
                        }
                    )
        if not notices:
            return
        now = self.clock()
        async with self.store.sessions() as session, session.begin():
            for notice in notices:
                notice.setdefault("customer_id", customer_id)
                notice["branch_id"] = branch
                await db.enqueue(session, notice, now)
        self.wake()

    async def _close_remote(self, branch: str, ticket_id: int) -> None:
        async with self.store.sessions() as session, session.begin():
            await session.execute(
                update(models.RemoteTicket)
                .where(
                    models.RemoteTicket.branch_id == branch,
                    models.RemoteTicket.ticket_id == ticket_id,
                    models.RemoteTicket.state == "active",
                )
                .values(state="done")
            )
