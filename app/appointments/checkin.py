"""Check-in (签到): a pending booking becomes a ticket through the hall runtime's write path.

The booking is first claimed in the store (``check_in_claimed_at``), so that two check-ins of
one booking at once (kiosk and phone) make one ticket. The engine then decides: within the
early/late window the ticket is of class ``appointment`` keyed by the slot; after the late
window it becomes a normal walk-in or is refused, per the branch's policy. The booking is
marked checked in by an extra write of the same batch, in the same transaction as the ticket
row: a booking is never checked in without its ticket, nor the other way round.
"""

from __future__ import annotations

import math
from typing import Any

from app.db import bookings as db
from app.db import models
from app.db.store import Store
from app.hall import HallRuntime
from app.queue_engine import Event, QueueEngine, TicketIssued
from app.queue_engine import errors as domain
from app.routers.tickets import customer_view as ticket_customer_view
from app.routers.tickets import ticket_view

from . import rules as r


class CheckInTooEarly(r.BookingRefused):
    def __init__(self, minutes: int, wait: int) -> None:
        super().__init__(
            f"签到在时段开始前 {minutes} 分钟开放，请 {wait} 分钟后再来。",
            f"Check-in opens {minutes} minutes before the slot; please come back in {wait} "
            "minutes.",
        )


class CheckInTooLate(r.BookingRefused):
    def __init__(self, minutes: int) -> None:
        super().__init__(
            f"已超过时段开始后 {minutes} 分钟，预约签到已关闭，请重新取号或预约。",
            f"Check-in closed {minutes} minutes after the slot started; please take a new "
            "ticket or book again.",
        )


def _refusal(runtime: HallRuntime, booking: models.Booking, now: float) -> r.BookingRefused:
    policy = runtime.engine.config.appointments
    if now < booking.slot_start - policy.early_seconds:
        wait = math.ceil((booking.slot_start - policy.early_seconds - now) / 60)
        return CheckInTooEarly(round(policy.early_seconds / 60), wait)
    return CheckInTooLate(round(policy.late_seconds / 60))


def existing_ticket(runtime: HallRuntime, booking: models.Booking) -> dict[str, Any] | None:
    """The ticket a checked-in booking already has today, as the customer sees it."""
    if booking.ticket_token is None:
        return None
    ticket_id = runtime.by_token.get(booking.ticket_token)
    if ticket_id is None:
        return None
    view = ticket_customer_view(runtime, ticket_id)
    view["token"] = booking.ticket_token
    return view


async def check_in(
    runtime: HallRuntime, booking: models.Booking, *, store: Store
) -> tuple[dict[str, Any], bool]:
    """Check ``booking`` in; returns the ticket (with its ``token``) and whether it is new. A
    booking already checked in today answers with its ticket again."""
    now = runtime.clock()
    if booking.state == db.BookingState.CHECKED_IN:
        again = existing_ticket(runtime, booking)
        if again is not None:
            return again, False
    if booking.state != db.BookingState.BOOKED:
        raise r.NotPending(booking.state)
    if booking.day != runtime.today(now):
        if booking.day < runtime.today(now):
            raise r.NotPending(db.BookingState.NO_SHOW)
        raise r.CheckInNotToday(booking.day)
    if not await db.claim_check_in(store, booking.id, now):
        fresh = await db.find_booking(store, booking_id=booking.id)
        if fresh.state == db.BookingState.CHECKED_IN:
            again = existing_ticket(runtime, fresh)
            if again is not None:
                return again, False
        if fresh.state != db.BookingState.BOOKED:
            raise r.NotPending(fresh.state)
        raise r.CheckInBusy()
    holder: dict[str, Any] = {}

    def command(engine: QueueEngine, at: float) -> list[Event]:
        return engine.check_in_appointment(
            booking.service, booking.slot_start, now=at, appointment_id=booking.code
        )

    def reply(engine: QueueEngine, events: list[Event]) -> tuple[int, Any]:
        issued = events[0]
        assert isinstance(issued, TicketIssued)
        token = runtime.tokens[issued.ticket_id]
        holder.update(
            ticket_id=issued.ticket_id, token=token, late=issued.late_check_in, at=issued.at
        )
        view = ticket_view(
            runtime, issued.ticket_id, ahead=issued.ahead, eta_minutes=issued.eta_minutes
        )
        view["token"] = token
        view["late_check_in"] = issued.late_check_in
        return 201, view

    try:
        _, payload = await runtime.run(
            command, reply, extra=[db.checked_in_write(booking.id, holder)]
        )
    except domain.CheckInRefused:
        await db.release_check_in(store, booking.id)
        raise _refusal(runtime, booking, now) from None
    except BaseException:
        await db.release_check_in(store, booking.id)
        raise
    return payload, True
