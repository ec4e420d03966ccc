"""Booking rules and refusals, cancel, reschedule, closures, and staff booking on behalf."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.db import models
from tests.api.conftest import Api, assert_error

from .conftest import TODAY, TOMORROW, booking_hall


async def test_templates_make_slots_for_every_day_of_the_horizon(api: Api) -> None:
    hall = await booking_hall(api)
    listed = await api.get("/branches/b1/slots", hall.clerk, params={"service": "A"})
    assert listed.status_code == 200, listed.text
    slots = listed.json()
    days = sorted({s["day"] for s in slots})
    assert days[0] == TODAY
    assert len(days) == 8
    today = [s for s in slots if s["day"] == TODAY]
    assert [s["start"] for s in today] == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    assert {(s["capacity"], s["available"]) for s in slots} == {(3, 3)}
    again = await api.get("/branches/b1/slots", hall.clerk, params={"service": "A"})
    assert [s["id"] for s in again.json()] == [s["id"] for s in slots]  # generated once


async def test_a_booking_takes_a_seat_and_staff_see_the_customer_in_full(api: Api) -> None:
    hall = await booking_hall(api)
    booking = await hall.booked(TOMORROW, "10:00", phone="13912345678")
    assert len(booking["code"]) == 8
    assert booking["state"] == "booked"
    assert booking["booked_by_staff"] is True
    assert booking["customer"] == {"name": "张三", "phone": "13912345678"}
    slot = await hall.slot(TOMORROW, "10:00")
    assert (slot["booked"], slot["available"]) == (1, 2)
    fetched = await api.get(f"/branches/b1/bookings/{booking['code'].lower()}", hall.clerk)
    assert fetched.json()["id"] == booking["id"]


async def test_a_full_slot_refuses_in_chinese_by_default_and_in_english_on_request(
    api: Api,
) -> None:
    hall = await booking_hall(api)
    slot = await hall.slot(TOMORROW, "10:00")
    for n in range(3):
        assert (await hall.book(slot["id"], phone=f"1380000000{n}")).status_code == 201
    refused = await hall.book(slot["id"], phone="13800000009")
    assert_error(refused, 409, "SlotFull")
    assert "约满" in refused.json()["detail"]
    english = await hall.book(slot["id"], phone="13800000009", **{"Accept-Language": "en-US"})
    assert english.json()["detail"] == "This slot is fully booked; please choose another."


async def test_booking_closes_min_lead_minutes_before_the_slot(api: Api) -> None:
    hall = await booking_hall(api)  # now 09:00, default lead 30 minutes
    assert_error(await hall.book((await hall.slot(TODAY, "09:00"))["id"]), 409, "LeadTooShort")
    assert (await hall.book((await hall.slot(TODAY, "09:30"))["id"])).status_code == 201
    await hall.rules(min_lead_minutes=120)
    refused = await hall.book((await hall.slot(TODAY, "10:30"))["id"], phone="13700000000")
    assert_error(refused, 409, "LeadTooShort")
    assert "120" in refused.json()["detail"]


async def test_booking_opens_at_most_days_ahead(api: Api) -> None:
    hall = await booking_hall(api)
    far = await hall.slot("2025-11-27", "10:00")  # 7 days ahead: inside the default horizon
    await hall.rules(days_ahead=2)
    assert_error(await hall.book(far["id"]), 409, "TooFarAhead")
    assert await hall.slots("2025-11-27") == []  # not offered any more
    assert (await hall.book((await hall.slot("2025-11-22", "10:00"))["id"])).status_code == 201


async def test_a_customer_holds_at_most_n_pending_bookings_per_week_and_one_per_day(
    api: Api,
) -> None:
    hall = await booking_hall(api)
    first = await hall.booked(TOMORROW, "10:00")
    assert_error(await hall.book((await hall.slot(TOMORROW, "11:00"))["id"]), 409, "AlreadyBooked")
    await hall.booked("2025-11-22", "10:00")
    refused = await hall.book((await hall.slot("2025-11-23", "10:00"))["id"])
    assert_error(refused, 409, "TooManyPending")
    # Next week (Monday 24th) is another week.
    assert (await hall.book((await hall.slot("2025-11-24", "10:00"))["id"])).status_code == 201
    # Cancelling one frees its place in the week.
    cancel = await api.post(f"/branches/b1/bookings/{first['code']}/cancel", hall.clerk, json={})
    assert cancel.status_code == 200, cancel.text
    assert (await hall.book((await hall.slot("2025-11-23", "10:00"))["id"])).status_code == 201


async def test_a_no_show_blocks_booking_for_the_configured_days(api: Api) -> None:
    hall = await booking_hall(api)
    await hall.booked(TODAY, "10:00")
    api.clock.advance(2 * 3600)  # 11:00: the 10:00-10:30 slot plus 15 minutes' grace is over
    await hall.jobs.tick()
    listed = await api.get("/branches/b1/bookings", hall.clerk, params={"state": "no_show"})
    assert len(listed.json()) == 1
    refused = await hall.book((await hall.slot("2025-11-22", "10:00"))["id"])
    assert_error(refused, 403, "NoShowBlocked")
    assert "2025-11-23" in refused.json()["detail"]  # three days after 2025-11-20 11:00
    api.clock.advance(3 * 86400)
    assert (await hall.book((await hall.slot("2025-11-24", "10:00"))["id"])).status_code == 201


async def test_the_no_show_rule_is_configurable(api: Api) -> None:
    hall = await booking_hall(api)
    await hall.rules(no_show_limit=2, no_show_block_days=7)
    await hall.booked(TODAY, "10:00")
    api.clock.advance(2 * 3600)
    await hall.jobs.tick()
    assert (await hall.book((await hall.slot("2025-11-22", "10:00"))["id"])).status_code == 201


async def test_cancel_gives_the_seat_back_and_happens_once(api: Api) -> None:
    hall = await booking_hall(api, capacity=1)
    booking = await hall.booked(TOMORROW, "10:00")
    slot = await hall.slot(TOMORROW, "10:00")
    assert_error(await hall.book(slot["id"], phone="13600000000"), 409, "SlotFull")
    path = f"/branches/b1/bookings/{booking['code']}/cancel"
    cancelled = await api.post(path, hall.clerk, json={"reason": "客户来电取消"})
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["cancel_reason"] == "客户来电取消"
    assert_error(await api.post(path, hall.clerk, json={}), 409, "NotPending")
    assert (await hall.book(slot["id"], phone="13600000000")).status_code == 201


async def test_reschedule_moves_the_seat_and_keeps_the_code(api: Api) -> None:
    hall = await booking_hall(api, capacity=1)
    booking = await hall.booked(TOMORROW, "10:00")
    target = await hall.slot(TOMORROW, "11:00")
    path = f"/branches/b1/bookings/{booking['code']}/reschedule"
    moved = await api.post(path, hall.clerk, json={"slot": target["id"]})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["code"], moved.json()["start"]) == (booking["code"], "11:00")
    assert (await hall.slot(TOMORROW, "10:00"))["booked"] == 0
    assert (await hall.slot(TOMORROW, "11:00"))["booked"] == 1
    # Into a full slot: refused, and the booking keeps its seat.
    other = await hall.booked(TOMORROW, "10:00", phone="13600000000")
    refused = await api.post(
        f"/branches/b1/bookings/{other['code']}/reschedule", hall.clerk, json={"slot": target["id"]}
    )
    assert_error(refused, 409, "SlotFull")
    assert (await hall.slot(TOMORROW, "10:00"))["booked"] == 1
    # A rule applies to the new slot too.
    assert_error(
        await api.post(path, hall.clerk, json={"slot": (await hall.slot(TODAY, "09:00"))["id"]}),
        409,
        "LeadTooShort",
    )


async def test_closing_a_day_cancels_its_bookings_and_notifies_their_customers(api: Api) -> None:
    hall = await booking_hall(api)
    kept = await hall.booked("2025-11-22", "10:00", phone="13500000000")
    lost = [
        await hall.booked(TOMORROW, t, phone=f"1390000000{n}")
        for n, t in enumerate(("10:00", "11:00"))
    ]
    closed = await api.post(
        "/branches/b1/closures",
        hall.manager,
        json={"first_day": TOMORROW, "reason": "系统升级"},
    )
    assert closed.status_code == 201, closed.text
    assert sorted(closed.json()["cancelled_bookings"]) == sorted(b["code"] for b in lost)
    states = {
        b["code"]: b["state"] for b in (await api.get("/branches/b1/bookings", hall.clerk)).json()
    }
    assert states == {kept["code"]: "booked", **{b["code"]: "cancelled" for b in lost}}
    slot = await hall.slot(TOMORROW, "09:30")
    assert (slot["closed"], slot["available"]) == (True, 0)
    assert_error(await hall.book(slot["id"], phone="13400000000"), 409, "SlotClosed")
    async with api.store.sessions() as session:
        notices = (
            await session.scalars(
                select(models.Notification.payload).where(
                    models.Notification.kind == "booking_cancelled"
                )
            )
        ).all()
    assert sorted(n["booking"] for n in notices) == sorted(b["code"] for b in lost)
    assert {n["reason"] for n in notices} == {"系统升级"}
    # Reopening makes the day bookable again; the cancelled bookings stay cancelled.
    closure_id = closed.json()["id"]
    assert (
        await api.delete(f"/branches/b1/closures/{closure_id}", hall.manager)
    ).status_code == 204
    assert (await hall.book(slot["id"], phone="13400000000")).status_code == 201


async def test_closing_one_service_leaves_the_others_and_closes_days_not_yet_generated(
    api: Api,
) -> None:
    hall = await booking_hall(api)
    response = await api.post(
        "/branches/b1/slot-templates",
        hall.manager,
        json={
            "service": "B",
            "weekday": 4,
            "start": "14:00",
            "end": "15:00",
            "slot_minutes": 60,
            "capacity": 2,
        },
    )
    assert response.status_code == 201
    closed = await api.post(
        "/branches/b1/closures",
        hall.manager,
        json={"service": "A", "first_day": TOMORROW, "last_day": "2025-11-30"},
    )
    assert closed.status_code == 201
    assert all(s["closed"] for s in await hall.slots("2025-11-25"))
    b_slots = await hall.slots(TOMORROW, "B")
    assert [(s["start"], s["closed"]) for s in b_slots] == [("14:00", False)]


async def test_staff_book_on_behalf_of_a_customer_known_by_phone(api: Api) -> None:
    hall = await booking_hall(api)
    first = await hall.booked(TOMORROW, "10:00", phone="138-0000-2222")
    assert first["customer"]["phone"] == "13800002222"
    # The same phone is the same customer: the rules count both bookings.
    assert_error(
        await hall.book((await hall.slot(TOMORROW, "11:00"))["id"], phone="13800002222"),
        409,
        "AlreadyBooked",
    )


async def test_a_hundred_concurrent_bookings_for_three_seats_give_exactly_three(api: Api) -> None:
    hall = await booking_hall(api)
    slot = await hall.slot(TOMORROW, "10:00")
    responses = await asyncio.gather(
        *(hall.book(slot["id"], phone=f"1370000{n:04d}") for n in range(100))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 3, [r.text for r in responses if r.status_code not in (201, 409)]
    assert statuses.count(409) == 97
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"SlotFull"}
    async with api.store.sessions() as session:
        row = await session.get(models.Slot, slot["id"])
        assert row is not None
        assert row.booked == 3
        count = await session.scalar(
            select(func.count())
            .select_from(models.Booking)
            .where(models.Booking.slot_id == slot["id"])
        )
    assert count == 3


async def test_the_store_itself_refuses_more_bookings_than_seats(api: Api) -> None:
    """The check constraint is the last guard, whatever the Python code does."""
    hall = await booking_hall(api)
    slot = await hall.slot(TOMORROW, "10:00")
    with pytest.raises(IntegrityError):
        async with api.store.sessions() as session, session.begin():
            await session.execute(
                update(models.Slot).where(models.Slot.id == slot["id"]).values(booked=4)
            )


async def test_invalid_templates_and_unknown_services_are_refused(api: Api) -> None:
    hall = await booking_hall(api)
    base = {
        "service": "A",
        "weekday": 0,
        "start": "09:00",
        "end": "09:20",
        "slot_minutes": 30,
        "capacity": 3,
    }
    assert_error(await api.post("/branches/b1/slot-templates", hall.manager, json=base), 422)
    unknown = {**base, "service": "Z", "end": "12:00"}
    assert_error(
        await api.post("/branches/b1/slot-templates", hall.manager, json=unknown),
        404,
        "ServiceNotFound",
    )
    assert_error(await hall.book(999999), 404, "SlotNotFound")


async def test_one_customers_bookings_at_once_still_keep_the_weekly_limit(api: Api) -> None:
    hall = await booking_hall(api)
    await hall.booked("2025-11-24", "10:00", phone="13800004444")  # next week: a known customer
    days = ("2025-11-21", "2025-11-22", "2025-11-23")  # Friday to Sunday: one week
    slots = [(await hall.slot(day, "10:00"))["id"] for day in days]
    responses = await asyncio.gather(*(hall.book(slot, phone="13800004444") for slot in slots))
    assert sorted(r.status_code for r in responses) == [201, 201, 409]
    assert [r.json()["error"] for r in responses if r.status_code == 409] == ["TooManyPending"]


async def test_a_new_phones_bookings_at_once_still_keep_the_weekly_limit(api: Api) -> None:
    """Staff booking for a phone the store does not know yet: the concurrent bookings must not
    each make their own customer (which would give each its own weekly limit)."""
    hall = await booking_hall(api)
    days = ("2025-11-21", "2025-11-22", "2025-11-23")  # Friday to Sunday: one week
    slots = [(await hall.slot(day, "10:00"))["id"] for day in days]
    responses = await asyncio.gather(*(hall.book(slot, phone="13800005555") for slot in slots))
    assert sorted(r.status_code for r in responses) == [201, 201, 409], [r.text for r in responses]
    assert [r.json()["error"] for r in responses if r.status_code == 409] == ["TooManyPending"]
    async with api.store.sessions() as session:
        customers = await session.scalar(
            select(func.count())
            .select_from(models.Customer)
            .where(models.Customer.phone == "13800005555")
        )
    assert customers == 1


async def test_a_mini_program_customers_bookings_at_once_keep_the_weekly_limit(api: Api) -> None:
    """The mini-program path locks the customer's row (``FOR UPDATE``) before counting."""
    hall = await booking_hall(api)
    login = await api.post("/mp/login", None, json={"code": "at-once"})
    customer = {"Authorization": f"Bearer {login.json()['token']}"}
    days = ("2025-11-21", "2025-11-22", "2025-11-23")  # Friday to Sunday: one week
    slots = [(await hall.slot(day, "10:00"))["id"] for day in days]
    responses = await asyncio.gather(
        *(api.post("/mp/bookings", customer, json={"branch": "b1", "slot": s}) for s in slots)
    )
    assert sorted(r.status_code for r in responses) == [201, 201, 409], [r.text for r in responses]
    assert [r.json()["error"] for r in responses if r.status_code == 409] == ["TooManyPending"]
    mine = (await api.get("/mp/bookings", customer)).json()
    assert len(mine) == 2
