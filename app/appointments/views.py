"""The JSON forms of slots, bookings and customers. Customer data is shown whole only to its
owner and to staff (``full=True``); everywhere else it is masked."""

from __future__ import annotations

from typing import Any

from app.db import models

from .rules import clock_time, mask_name, mask_phone


def customer_view(customer: models.Customer | None, *, full: bool) -> dict[str, Any] | None:
    if customer is None:
        return None
    if full:
        return {"name": customer.name, "phone": customer.phone}
    return {"name": mask_name(customer.name), "phone": mask_phone(customer.phone)}


def slot_view(slot: models.Slot, timezone: str) -> dict[str, Any]:
    return {
        "id": slot.id,
        "service": slot.service,
        "day": slot.day,
        "start": clock_time(timezone, slot.start_at),
        "end": clock_time(timezone, slot.end_at),
        "start_at": slot.start_at,
        "end_at": slot.end_at,
        "capacity": slot.capacity,
        "booked": slot.booked,
        "available": 0 if slot.closed else max(0, slot.capacity - slot.booked),
        "closed": slot.closed,
    }


def booking_view(
    booking: models.Booking,
    timezone: str,
    *,
    customer: models.Customer | None = None,
    full: bool = False,
) -> dict[str, Any]:
    return {
        "id": booking.id,
        "code": booking.code,
        "branch": booking.branch_id,
        "service": booking.service,
        "slot": booking.slot_id,
        "day": booking.day,
        "start": clock_time(timezone, booking.slot_start),
        "end": clock_time(timezone, booking.slot_end),
        "slot_start": booking.slot_start,
        "slot_end": booking.slot_end,
        "state": booking.state,
        "channel": booking.channel,
        "booked_by_staff": booking.booked_by is not None,
        "created_at": booking.created_at,
        "cancelled_at": booking.cancelled_at,
        "cancel_reason": booking.cancel_reason,
        "checked_in_at": booking.checked_in_at,
        "late_check_in": booking.late_check_in,
        "ticket_token": booking.ticket_token,
        "customer": customer_view(customer, full=full),
    }
