"""Slots, bookings, customers and remote tickets in the store: each public function is one
transaction.

Capacity is the store's to keep, not Python's: a seat is taken by one conditional statement,
``UPDATE slots SET booked = booked + 1 WHERE id = :slot AND booked < capacity AND NOT closed``,
and the ``ck_slots_seats`` check constraint refuses any row with more bookings than seats. On
PostgreSQL concurrent updates of the row wait for each other and re-check the condition; on
SQLite the statement takes the database's write lock first (it is the first statement of its
transaction, so SQLite never has to upgrade a read snapshot). The rule checks that follow run
inside the same transaction and roll the seat back when they refuse; they run after the
customer's row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one writer), so
that two bookings of one customer at once cannot both pass the weekly limit.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments import rules as r
from app.appointments.rules import BookingRules

from . import models
from .store import Store

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
CLAIM_SECONDS = 30.0  # a check-in claim older than this was abandoned (a crash mid check-in)


class BookingState:
    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE matched (typed: the result type depends on the statement)."""
    return int(result.rowcount)


def new_booking_code() -> str:
    """Eight characters without look-alikes, easy to type at a kiosk."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(code: str) -> str:
    return code.strip().upper()


def _insert(session: AsyncSession, model: type[models.Base]) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (sqlite.insert if dialect == "sqlite" else postgresql.insert)(model)


# ----------------------------------------------------------------------------------------
# Rules, templates, closures


async def booking_rules(session: AsyncSession, branch_id: str) -> BookingRules:
    row = await session.get(models.BookingRules, branch_id)
    if row is None:
        return BookingRules()
    return BookingRules(
        days_ahead=row.days_ahead,
        min_lead_minutes=row.min_lead_minutes,
        max_pending_per_week=row.max_pending_per_week,
        no_show_limit=row.no_show_limit,
        no_show_window_days=row.no_show_window_days,
        no_show_block_days=row.no_show_block_days,
        no_show_grace_minutes=row.no_show_grace_minutes,
        check_in_radius_meters=row.check_in_radius_meters,
    )


async def put_booking_rules(store: Store, branch_id: str, rules: BookingRules, now: float) -> None:
    async with store.sessions() as session, session.begin():
        row = await session.get(models.BookingRules, branch_id)
        if row is None:
            row = models.BookingRules(branch_id=branch_id, updated_at=now)
            session.add(row)
        for name, value in rules.fields().items():
            setattr(row, name, value)
        row.updated_at = now


async def branch_timezone(session: AsyncSession, branch_id: str) -> str:
    branch = await session.get(models.Branch, branch_id)
    if branch is None:
        raise r.NotFoundError("没有这个网点。", "No such branch.")
    return branch.timezone


async def templates(session: AsyncSession, branch_id: str) -> list[models.SlotTemplate]:
    rows = await session.scalars(
        select(models.SlotTemplate)
        .where(models.SlotTemplate.branch_id == branch_id)
        .order_by(
            models.SlotTemplate.service,
            models.SlotTemplate.weekday,
            models.SlotTemplate.start_minute,
        )
    )
    return list(rows.all())


async def add_template(store: Store, row: models.SlotTemplate) -> models.SlotTemplate:
    async with store.sessions() as session, session.begin():
        session.add(row)
    return row


async def delete_template(store: Store, branch_id: str, template_id: int, now: float) -> bool:
    """Remove a template and the future slots it made that nobody booked (slots with bookings
    stay, so their bookings keep their seats)."""
    async with store.sessions() as session, session.begin():
        row = await session.get(models.SlotTemplate, template_id)
        if row is None or row.branch_id != branch_id:
            return False
        await session.delete(row)
        booked_slots = select(models.Booking.slot_id).where(models.Booking.branch_id == branch_id)
        await session.execute(
            delete(models.Slot).where(
                models.Slot.branch_id == branch_id,
                models.Slot.service == row.service,
                models.Slot.start_at > now,
                models.Slot.booked == 0,
                models.Slot.id.not_in(booked_slots),
            )
        )
        return True


async def closures(session: AsyncSession, branch_id: str) -> list[models.Closure]:
    rows = await session.scalars(
        select(models.Closure)
        .where(models.Closure.branch_id == branch_id)
        .order_by(models.Closure.first_day, models.Closure.id)
    )
    return list(rows.all())


def _closure_covers(closure: models.Closure, service: str, day: str) -> bool:
    return (closure.service in (None, service)) and closure.first_day <= day <= closure.last_day


def _closure_where(closure: models.Closure) -> Any:
    conditions = [
        models.Slot.branch_id == closure.branch_id,
        models.Slot.day >= closure.first_day,
        models.Slot.day <= closure.last_day,
    ]
    if closure.service is not None:
        conditions.append(models.Slot.service == closure.service)
    return and_(*conditions)


async def add_closure(
    store: Store, closure: models.Closure, now: float
) -> tuple[models.Closure, list[models.Booking]]:
    """Close days of a branch or a service: their slots take no bookings and every pending
    booking in them is cancelled (returned, for the customers' notifications)."""
    async with store.sessions() as session, session.begin():
        session.add(closure)
        await session.flush()
        await session.execute(
            update(models.Slot).where(_closure_where(closure)).values(closed=True)
        )
        affected = list(
            (
                await session.scalars(
                    select(models.Booking).where(
                        models.Booking.state == BookingState.BOOKED,
                        models.Booking.slot_id.in_(
                            select(models.Slot.id).where(_closure_where(closure))
                        ),
                    )
                )
            ).all()
        )
        reason = closure.reason or "网点停止办理 / closed by the branch"
        for booking in affected:
            booking.state = BookingState.CANCELLED
            booking.cancelled_at = now
            booking.cancel_reason = reason[:200]
            await session.execute(
                update(models.Slot)
                .where(models.Slot.id == booking.slot_id)
                .values(booked=models.Slot.booked - 1)
            )
            await enqueue(session, booking_notice("booking_cancelled", booking, reason=reason), now)
        return closure, affected


async def delete_closure(store: Store, branch_id: str, closure_id: int) -> bool:
    """Reopen the closure's slots (unless another closure still covers them). Bookings it
    cancelled stay cancelled."""
    async with store.sessions() as session, session.begin():
        closure = await session.get(models.Closure, closure_id)
        if closure is None or closure.branch_id != branch_id:
            return False
        await session.delete(closure)
        await session.flush()
        others = await closures(session, branch_id)
        slots = (await session.scalars(select(models.Slot).where(_closure_where(closure)))).all()
        for slot in slots:
            if not any(_closure_covers(other, slot.service, slot.day) for other in others):
                slot.closed = False
        return True


# ----------------------------------------------------------------------------------------
# Slots


async def ensure_slots(session: AsyncSession, branch_id: str, days: Sequence[date]) -> None:
    """Generate the slots of ``days`` from the branch's templates (rows that exist are kept as
    they are: seats taken, closed flag)."""
    timezone = await branch_timezone(session, branch_id)
    rows = await templates(session, branch_id)
    specs: list[r.SlotSpec] = []
    plain = [
        r.Template(t.service, t.weekday, t.start_minute, t.end_minute, t.slot_minutes, t.capacity)
        for t in rows
    ]
    for day in days:
        specs.extend(r.slots_of_day(plain, day, timezone))
    if not specs:
        return
    closed = await closures(session, branch_id)
    values = [
        {
            "branch_id": branch_id,
            "service": spec.service,
            "day": spec.day,
            "start_at": spec.start_at,
            "end_at": spec.end_at,
            "capacity": spec.capacity,
            "booked": 0,
            "closed": any(_closure_covers(c, spec.service, spec.day) for c in closed),
        }
        for spec in specs
    ]
    statement = _insert(session, models.Slot).on_conflict_do_nothing(
        index_elements=["branch_id", "service", "start_at"]
    )
    await session.execute(statement, values)


async def slots_of(
    store: Store, branch_id: str, service: str | None, days: Sequence[date]
) -> list[models.Slot]:
    async with store.sessions() as session, session.begin():
        await ensure_slots(session, branch_id, days)
        query = select(models.Slot).where(
            models.Slot.branch_id == branch_id,
            models.Slot.day.in_([d.isoformat() for d in days]),
        )
        if service is not None:
            query = query.where(models.Slot.service == service)
        rows = await session.scalars(query.order_by(models.Slot.start_at, models.Slot.service))
        return list(rows.all())


# ----------------------------------------------------------------------------------------
# Customers


async def customer_by_openid(store: Store, openid: str, now: float) -> models.Customer:
    async with store.sessions() as session, session.begin():
        statement = (
            _insert(session, models.Customer)
            .values(openid=openid, created_at=now, last_seen_at=now)
            .on_conflict_do_update(index_elements=["openid"], set_={"last_seen_at": now})
        )
        await session.execute(statement)
        row: models.Customer | None = await session.scalar(
            select(models.Customer).where(models.Customer.openid == openid)
        )
        assert row is not None
        return row


async def customer_for_staff_booking(
    session: AsyncSession, phone: str, name: str, now: float
) -> models.Customer:
    """The customer a staff member books for: the latest one with this phone number (its name
    is updated), else a new one.

    On PostgreSQL a transaction-scoped advisory lock on the phone number comes first: ``FOR
    UPDATE`` locks nothing while the phone is unknown, and two bookings of a new phone at once
    would each make a customer, each with its own weekly limit. (SQLite has one writer: the
    seat's ``UPDATE`` before this already holds the database's write lock.)"""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(f"customer-phone:{phone}", 0)))
        )
    row = await session.scalar(
        select(models.Customer)
        .where(models.Customer.phone == phone)
        .order_by(models.Customer.id.desc())
        .limit(1)
        .with_for_update()
    )
    if row is None:
        row = models.Customer(phone=phone, name=name or None, created_at=now, last_seen_at=now)
        session.add(row)
        await session.flush()
    elif name:
        row.name = name
    return row


async def update_customer(
    store: Store, customer_id: int, *, phone: str | None, name: str | None
) -> models.Customer:
    async with store.sessions() as session, session.begin():
        row: models.Customer | None = await session.get(models.Customer, customer_id)
        assert row is not None
        if phone is not None:
            row.phone = phone or None
        if name is not None:
            row.name = name or None
        return row


async def customer(store: Store, customer_id: int) -> models.Customer | None:
    async with store.sessions() as session:
        row: models.Customer | None = await session.get(models.Customer, customer_id)
        return row


# ----------------------------------------------------------------------------------------
# Booking


@dataclass(frozen=True)
class Booked:
    booking: models.Booking
    customer: models.Customer | None


async def _take_seat(session: AsyncSession, branch_id: str, slot_id: int) -> models.Slot:
    """Take one seat of the slot (the statement that keeps capacity), then read the slot."""
    taken = await session.execute(
        update(models.Slot)
        .where(
            models.Slot.id == slot_id,
            models.Slot.branch_id == branch_id,
            models.Slot.booked < models.Slot.capacity,
            models.Slot.closed.is_(False),
        )
        .values(booked=models.Slot.booked + 1)
        .execution_options(synchronize_session=False)
    )
    slot = await session.get(models.Slot, slot_id, populate_existing=True)
    if rowcount(taken) != 1:
        if slot is None or slot.branch_id != branch_id:
            raise r.SlotNotFound()
        if slot.closed:
            raise r.SlotClosed()
        raise r.SlotFull()
    assert slot is not None
    return slot


async def _check_customer(
    session: AsyncSession,
    rules: BookingRules,
    branch_id: str,
    customer_id: int,
    slot: models.Slot,
    now: float,
    *,
    ignore_booking: int | None = None,
) -> None:
    no_shows = (
        await session.scalars(
            select(models.Booking.no_show_at).where(
                models.Booking.customer_id == customer_id,
                models.Booking.branch_id == branch_id,
                models.Booking.state == BookingState.NO_SHOW,
                models.Booking.no_show_at >= now - rules.no_show_window_days * 86400,
            )
        )
    ).all()
    until = r.blocked_until(rules, [t for t in no_shows if t is not None], now)
    if until is not None:
        timezone = await branch_timezone(session, branch_id)
        raise r.NoShowBlocked(r.day_in(timezone, until).isoformat(), len(no_shows))
    pending = select(models.Booking).where(
        models.Booking.customer_id == customer_id,
        models.Booking.branch_id == branch_id,
        models.Booking.state == BookingState.BOOKED,
    )
    if ignore_booking is not None:
        pending = pending.where(models.Booking.id != ignore_booking)
    held = (await session.scalars(pending)).all()
    if any(b.service == slot.service and b.day == slot.day for b in held):
        raise r.AlreadyBooked()
    monday, sunday = r.week_of(date.fromisoformat(slot.day))
    in_week = [b for b in held if monday.isoformat() <= b.day <= sunday.isoformat()]
    if len(in_week) >= rules.max_pending_per_week:
        raise r.TooManyPending(rules.max_pending_per_week)


async def _check_slot(
    session: AsyncSession, rules: BookingRules, slot: models.Slot, now: float
) -> None:
    timezone = await branch_timezone(session, slot.branch_id)
    r.check_bookable(
        rules,
        now=now,
        today=r.day_in(timezone, now),
        slot_day=date.fromisoformat(slot.day),
        slot_start=slot.start_at,
        closed=False,
    )


async def book(
    store: Store,
    branch_id: str,
    slot_id: int,
    *,
    now: float,
    customer_id: int | None = None,
    phone: str | None = None,
    name: str = "",
    channel: str = "miniprogram",
    booked_by: int | None = None,
) -> Booked:
    """Book one seat for a mini-program customer (``customer_id``) or, for staff booking on
    behalf of someone, the customer with ``phone``. Raises a :class:`~r.BookingRefused`."""
    async with store.sessions() as session, session.begin():
        slot = await _take_seat(session, branch_id, slot_id)
        rules = await booking_rules(session, branch_id)
        await _check_slot(session, rules, slot, now)
        if customer_id is None:
            assert phone is not None
            person = await customer_for_staff_booking(session, phone, name, now)
        else:
            # Locked: two bookings of one customer at once are checked one after the other.
            person = await session.get(models.Customer, customer_id, with_for_update=True)
            assert person is not None
        await _check_customer(session, rules, branch_id, person.id, slot, now)
        booking = models.Booking(
            branch_id=branch_id,
            service=slot.service,
            slot_id=slot.id,
            customer_id=person.id,
            code=new_booking_code(),
            state=BookingState.BOOKED,
            day=slot.day,
            slot_start=slot.start_at,
            slot_end=slot.end_at,
            channel=channel,
            booked_by=booked_by,
            created_at=now,
            late_check_in=False,
        )
        session.add(booking)
        await session.flush()
        await enqueue(session, booking_notice("booking_confirmed", booking), now)
        await enqueue(
            session,
            booking_notice("booking_reminder", booking),
            now,
            at=max(now, booking.slot_start - REMINDER_SECONDS),
        )
        return Booked(booking, person)


async def booking_by_code(
    session: AsyncSession, branch_id: str | None, code: str
) -> models.Booking | None:
    query = select(models.Booking).where(models.Booking.code == normal_code(code))
    if branch_id is not None:
        query = query.where(models.Booking.branch_id == branch_id)
    row: models.Booking | None = await session.scalar(query)
    return row


async def find_booking(
    store: Store,
    *,
    branch_id: str | None = None,
    code: str | None = None,
    booking_id: int | None = None,
    customer_id: int | None = None,
) -> models.Booking:
    """One booking by code (within a branch) or by id (of a customer); 404 otherwise."""
    async with store.sessions() as session:
        row: models.Booking | None
        if code is not None:
            row = await booking_by_code(session, branch_id, code)
        else:
            row = await session.get(models.Booking, booking_id)
        if row is None or (customer_id is not None and row.customer_id != customer_id):
            raise r.BookingNotFound()
        if branch_id is not None and row.branch_id != branch_id:
            raise r.BookingNotFound()
        return row


async def cancel(store: Store, booking_id: int, *, now: float, reason: str) -> models.Booking:
    async with store.sessions() as session, session.begin():
        changed = await session.execute(
            update(models.Booking)
            .where(models.Booking.id == booking_id, models.Booking.state == BookingState.BOOKED)
            .values(state=BookingState.CANCELLED, cancelled_at=now, cancel_reason=reason[:200])
            .execution_options(synchronize_session=False)
        )
        booking: models.Booking | None = await session.get(
            models.Booking, booking_id, populate_existing=True
        )
        if booking is None:
            raise r.BookingNotFound()
        if rowcount(changed) != 1:
            raise r.NotPending(booking.state)
        await session.execute(
            update(models.Slot)
            .where(models.Slot.id == booking.slot_id)
            .values(booked=models.Slot.booked - 1)
        )
        await _drop_pending_notices(session, booking)
        return booking


async def reschedule(
    store: Store, branch_id: str, booking_id: int, slot_id: int, *, now: float
) -> models.Booking:
    """Move a pending booking to another slot of the same branch: the new seat is taken first
    (capacity holds), then the old one is given back, in one transaction. Keeps its code."""
    async with store.sessions() as session, session.begin():
        slot = await _take_seat(session, branch_id, slot_id)
        booking: models.Booking | None = await session.get(
            models.Booking, booking_id, with_for_update=True, populate_existing=True
        )
        if booking is None or booking.branch_id != branch_id:
            raise r.BookingNotFound()
        if booking.state != BookingState.BOOKED:
            raise r.NotPending(booking.state)
        if slot.id == booking.slot_id:
            raise r.InvalidRequest("新时段与原时段相同。", "The new slot is the booked one.")
        rules = await booking_rules(session, booking.branch_id)
        await _check_slot(session, rules, slot, now)
        if booking.customer_id is not None:
            await session.get(models.Customer, booking.customer_id, with_for_update=True)
            await _check_customer(
                session,
                rules,
                booking.branch_id,
                booking.customer_id,
                slot,
                now,
                ignore_booking=booking.id,
            )
        await session.execute(
            update(models.Slot)
            .where(models.Slot.id == booking.slot_id)
            .values(booked=models.Slot.booked - 1)
        )
        await _drop_pending_notices(session, booking)
        booking.slot_id = slot.id
        booking.service = slot.service
        booking.day = slot.day
        booking.slot_start = slot.start_at
        booking.slot_end = slot.end_at
        await session.flush()
        await enqueue(session, booking_notice("booking_confirmed", booking, rescheduled=True), now)
        await enqueue(
            session,
            booking_notice("booking_reminder", booking),
            now,
            at=max(now, booking.slot_start - REMINDER_SECONDS),
        )
        return booking


async def bookings_of_customer(store: Store, customer_id: int) -> list[models.Booking]:
    async with store.sessions() as session:
        rows = await session.scalars(
            select(models.Booking)
            .where(models.Booking.customer_id == customer_id)
            .order_by(models.Booking.slot_start.desc())
            .limit(200)
        )
        return list(rows.all())


async def bookings_of_branch(
    store: Store, branch_id: str, day: str | None, state: str | None
) -> list[tuple[models.Booking, models.Customer | None]]:
    async with store.sessions() as session:
        query = (
            select(models.Booking, models.Customer)
            .outerjoin(models.Customer, models.Customer.id == models.Booking.customer_id)
            .where(models.Booking.branch_id == branch_id)
        )
        if day is not None:
            query = query.where(models.Booking.day == day)
        if state is not None:
            query = query.where(models.Booking.state == state)
        rows = await session.execute(query.order_by(models.Booking.slot_start).limit(2000))
        return [(b, c) for b, c in rows.all()]


# ----------------------------------------------------------------------------------------
# Check-in


async def claim_check_in(store: Store, booking_id: int, now: float) -> bool:
    """Mark a pending booking as being checked in, so that two check-ins at once make one
    ticket. False when it is not pending or another check-in holds it."""
    async with store.sessions() as session, session.begin():
        claimed = await session.execute(
            update(models.Booking)
            .where(
                models.Booking.id == booking_id,
                models.Booking.state == BookingState.BOOKED,
                or_(
                    models.Booking.check_in_claimed_at.is_(None),
                    models.Booking.check_in_claimed_at < now - CLAIM_SECONDS,
                ),
            )
            .values(check_in_claimed_at=now)
        )
        return bool(rowcount(claimed) == 1)


async def release_check_in(store: Store, booking_id: int) -> None:
    async with store.sessions() as session, session.begin():
        await session.execute(
            update(models.Booking)
            .where(models.Booking.id == booking_id, models.Booking.state == BookingState.BOOKED)
            .values(check_in_claimed_at=None)
        )


def checked_in_write(booking_id: int, holder: dict[str, Any]) -> Any:
    """The hall batch's extra write that marks the booking checked in, in the same transaction
    as its ticket row (``holder`` is filled by the command's reply before the commit)."""

    async def write(session: AsyncSession) -> None:
        await session.execute(
            update(models.Booking)
            .where(models.Booking.id == booking_id)
            .values(
                state=BookingState.CHECKED_IN,
                checked_in_at=holder["at"],
                ticket_id=holder["ticket_id"],
                ticket_token=holder["token"],
                late_check_in=holder["late"],
                check_in_claimed_at=None,
            )
        )

    return write


# ----------------------------------------------------------------------------------------
# Background work


async def mark_no_shows(store: Store, branch_id: str, now: float) -> list[models.Booking]:
    """Bookings of the branch not checked in by their slot's end plus the grace become
    no-shows (their seats stay taken: the slot is over)."""
    async with store.sessions() as session, session.begin():
        rules = await booking_rules(session, branch_id)
        deadline = now - rules.no_show_grace_minutes * 60
        due = (
            await session.scalars(
                select(models.Booking).where(
                    models.Booking.branch_id == branch_id,
                    models.Booking.state == BookingState.BOOKED,
                    models.Booking.slot_end < deadline,
                    or_(
                        models.Booking.check_in_claimed_at.is_(None),
                        models.Booking.check_in_claimed_at < now - CLAIM_SECONDS,
                    ),
                )
            )
        ).all()
        marked = []
        for booking in due:
            changed = await session.execute(
                update(models.Booking)
                .where(models.Booking.id == booking.id, models.Booking.state == BookingState.BOOKED)
                .values(state=BookingState.NO_SHOW, no_show_at=now)
            )
            if rowcount(changed) == 1:
                marked.append(booking)
                await _drop_pending_notices(session, booking)
        return marked


async def purge(
    store: Store, now: float, *, booking_days: float, ticket_days: float
) -> dict[str, int]:
    """Delete customer data past its retention: bookings whose slot ended more than
    ``booking_days`` ago, remote tickets older than ``ticket_days`` (unless their ticket still
    waits or is called), sent or failed notifications of the same age, and then customers no
    longer named by any booking or remote ticket and not seen within either period."""
    async with store.sessions() as session, session.begin():
        bookings_cut = now - booking_days * 86400
        tickets_cut = now - ticket_days * 86400
        removed_bookings = await session.execute(
            delete(models.Booking).where(
                models.Booking.slot_end < bookings_cut,
                models.Booking.state != BookingState.BOOKED,
            )
        )
        live = select(models.Ticket.token).where(models.Ticket.state.in_(("waiting", "called")))
        removed_tickets = await session.execute(
            delete(models.RemoteTicket).where(
                models.RemoteTicket.created_at < tickets_cut,
                or_(models.RemoteTicket.token.is_(None), models.RemoteTicket.token.not_in(live)),
            )
        )
        await session.execute(
            delete(models.Notification).where(
                models.Notification.created_at < min(bookings_cut, tickets_cut),
                models.Notification.state.in_(("sent", "failed")),
            )
        )
        still_named = (
            select(models.Booking.customer_id)
            .where(models.Booking.customer_id.is_not(None))
            .union(
                select(models.RemoteTicket.customer_id).where(
                    models.RemoteTicket.customer_id.is_not(None)
                )
            )
        )
        removed_customers = await session.execute(
            delete(models.Customer).where(
                models.Customer.last_seen_at < max(bookings_cut, tickets_cut),
                models.Customer.id.not_in(still_named),
            )
        )
        return {
            "bookings": int(rowcount(removed_bookings)),
            "remote_tickets": int(rowcount(removed_tickets)),
            "customers": int(rowcount(removed_customers)),
        }


# ----------------------------------------------------------------------------------------
# Notifications (the outbox rows are written in the transaction that causes them)

REMINDER_SECONDS = 3600.0


def booking_notice(kind: str, booking: models.Booking, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "branch_id": booking.branch_id,
        "customer_id": booking.customer_id,
        "dedupe_key": f"{kind}:{booking.id}:{booking.slot_id}"
        + (":r" if extra.get("rescheduled") else ""),
        "payload": {
            "booking": booking.code,
            "service": booking.service,
            "day": booking.day,
            "slot_start": booking.slot_start,
            **extra,
        },
    }


async def enqueue(
    session: AsyncSession, notice: dict[str, Any], now: float, *, at: float | None = None
) -> None:
    """Add one message to the outbox; a message with the same ``dedupe_key`` is kept once."""
    if notice.get("customer_id") is None:
        return
    statement = _insert(session, models.Notification).values(
        branch_id=notice["branch_id"],
        customer_id=notice["customer_id"],
        kind=notice["kind"],
        dedupe_key=notice["dedupe_key"][:200],
        payload=notice["payload"],
        state="pending",
        attempts=0,
        next_attempt_at=now if at is None else at,
        created_at=now,
    )
    await session.execute(statement.on_conflict_do_nothing(index_elements=["dedupe_key"]))


async def _drop_pending_notices(session: AsyncSession, booking: models.Booking) -> None:
    """A reminder of a slot the booking no longer has is not sent."""
    await session.execute(
        update(models.Notification)
        .where(
            models.Notification.state == "pending",
            models.Notification.kind == "booking_reminder",
            models.Notification.dedupe_key == f"booking_reminder:{booking.id}:{booking.slot_id}",
        )
        .values(state="dropped")
    )


def horizon(today: date, days_ahead: int) -> list[date]:
    return [today + timedelta(days=n) for n in range(days_ahead + 1)]
