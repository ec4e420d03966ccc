"""Check-in (签到) windows, the too-late policy, the no-show job, and fair ordering with
walk-ins. Default policy: check-in opens 60 minutes before the slot and closes 15 minutes
after its start; appointments have a 15-minute head start."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.conftest import Api, assert_error

from .conftest import TODAY, TOMORROW, Booking, booking_hall


async def check_in(hall: Booking, code: str, headers: dict[str, str] | None = None) -> Any:
    return await hall.api.post("/branches/b1/check-in", headers or hall.clerk, json={"code": code})


async def test_too_early_is_refused_and_the_booking_can_check_in_later(api: Api) -> None:
    hall = await booking_hall(api)
    booking = await hall.booked(TODAY, "11:00")
    refused = await check_in(hall, booking["code"])
    assert_error(refused, 409, "CheckInTooEarly")
    assert "60" in refused.json()["detail"]
    hall.at("10:00")
    ticket = await check_in(hall, booking["code"])
    assert ticket.status_code == 201, ticket.text
    assert ticket.json()["priority"] == "appointment"


async def test_early_on_time_and_late_within_the_window_give_appointment_tickets(
    api: Api,
) -> None:
    hall = await booking_hall(api)
    early = await hall.booked(TODAY, "11:00", phone="13100000001")
    on_time = await hall.booked(TODAY, "10:00", phone="13100000002")
    late = await hall.booked(TODAY, "10:30", phone="13100000003")
    hall.at("10:05")
    for booking in (early, on_time):
        response = await check_in(hall, booking["code"])
        assert response.status_code == 201, response.text
        assert (response.json()["priority"], response.json()["late_check_in"]) == (
            "appointment",
            False,
        )
    hall.at("10:44")  # 14 minutes after 10:30
    response = await check_in(hall, late["code"])
    assert response.json()["priority"] == "appointment"
    listed = (await hall.api.get("/branches/b1/bookings", hall.clerk)).json()
    assert {b["state"] for b in listed} == {"checked_in"}
    token = response.json()["token"]
    mine = next(b for b in listed if b["code"] == late["code"])
    assert mine["ticket_token"] == token
    customer_view = await hall.api.get(f"/tickets/{token}")
    assert customer_view.json()["state"] == "waiting"


async def test_too_late_becomes_a_walk_in_by_default(api: Api) -> None:
    hall = await booking_hall(api)
    booking = await hall.booked(TODAY, "10:00")
    hall.at("10:16")
    response = await check_in(hall, booking["code"])
    assert response.status_code == 201, response.text
    assert (response.json()["priority"], response.json()["late_check_in"]) == ("normal", True)


async def test_too_late_is_refused_when_the_policy_says_so(api: Api) -> None:
    hall = await booking_hall(api)
    await hall.policy(appointment_late_action="refuse")
    booking = await hall.booked(TODAY, "10:00")
    hall.at("10:16")
    refused = await check_in(hall, booking["code"], {**hall.clerk, "Accept-Language": "en"})
    assert_error(refused, 409, "CheckInTooLate")
    assert refused.json()["detail"].startswith("Check-in closed 15 minutes after the slot")
    state = (await hall.api.get(f"/branches/b1/bookings/{booking['code']}", hall.clerk)).json()
    assert state["state"] == "booked"


async def test_checking_in_twice_gives_the_same_ticket(api: Api) -> None:
    hall = await booking_hall(api)
    booking = await hall.booked(TODAY, "10:00")
    first = await check_in(hall, booking["code"])
    again = await check_in(hall, booking["code"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["token"] == first.json()["token"]


async def test_two_check_ins_at_once_make_one_ticket(api: Api) -> None:
    hall = await booking_hall(api)
    kiosk = await hall.api.device(hall.manager, "b1", "kiosk")
    booking = await hall.booked(TODAY, "10:00")
    responses = await asyncio.gather(
        check_in(hall, booking["code"]), check_in(hall, booking["code"], kiosk)
    )
    assert sorted(r.status_code for r in responses) in ([200, 201], [201, 409])
    engine = hall.api.app.state.services.halls.get("b1").engine
    assert [t.appointment_id for t in engine.tickets()] == [booking["code"]]


async def test_a_booking_of_another_day_or_state_cannot_check_in(api: Api) -> None:
    hall = await booking_hall(api)
    tomorrow = await hall.booked(TOMORROW, "10:00")
    assert_error(await check_in(hall, tomorrow["code"]), 409, "CheckInNotToday")
    today = await hall.booked(TODAY, "10:00")
    await hall.api.post(f"/branches/b1/bookings/{today['code']}/cancel", hall.clerk, json={})
    assert_error(await check_in(hall, today["code"]), 409, "NotPending")
    assert_error(await check_in(hall, "ZZZZ9999"), 404, "BookingNotFound")


async def test_the_kiosk_checks_in_and_shows_the_customer_masked(api: Api) -> None:
    hall = await booking_hall(api)
    kiosk = await hall.api.device(hall.manager, "b1", "kiosk")
    booking = await hall.booked(TODAY, "10:00", phone="13912345678")
    response = await check_in(hall, booking["code"].lower(), kiosk)
    assert response.status_code == 201, response.text
    assert response.json()["customer"] == {"name": "张*", "phone": "139****5678"}
    assert response.json()["booking"] == booking["code"]


async def test_bookings_not_checked_in_after_the_slot_and_grace_become_no_shows(
    api: Api,
) -> None:
    hall = await booking_hall(api)
    booking = await hall.booked(TODAY, "10:00")
    hall.at("10:44")
    await hall.jobs.tick()
    path = f"/branches/b1/bookings/{booking['code']}"
    assert (await hall.api.get(path, hall.clerk)).json()["state"] == "booked"
    hall.at("10:46")
    await hall.jobs.tick()
    assert (await hall.api.get(path, hall.clerk)).json()["state"] == "no_show"
    assert_error(await check_in(hall, booking["code"]), 409, "NotPending")


async def test_an_appointment_goes_before_walk_ins_who_came_after_its_head_start(
    api: Api,
) -> None:
    hall = await booking_hall(api)
    booking = await hall.booked(TODAY, "11:00")
    hall.at("10:40")
    before = await hall.api.issue(hall.clerk)  # walked in before 10:45 (slot - head start)
    hall.at("10:50")
    after = [await hall.api.issue(hall.clerk) for _ in range(2)]
    hall.at("10:55")
    appointment = (await check_in(hall, booking["code"])).json()
    assert (await hall.api.counter(hall.clerk, 1, "open")).status_code == 200
    called = []
    for _ in range(4):
        response = await hall.api.counter(hall.clerk, 1, "next")
        assert response.status_code == 200, response.text
        called.append(response.json()["ticket"]["number"])
    assert called == [before["number"], appointment["number"], *(t["number"] for t in after)]


async def test_a_booked_customer_still_checks_in_while_the_service_is_paused(api: Api) -> None:
    """暂停取号 stops new walk-in and phone tickets; a booking was promised a seat, so its
    check-in is honoured (docs/quality.md)."""
    hall = await booking_hall(api)
    booking = await hall.booked(TODAY, "10:00")
    paused = await hall.api.post("/branches/b1/services/A/pause", hall.manager, json={})
    assert paused.status_code == 200, paused.text
    hall.at("09:55")
    assert_error(
        await hall.api.post("/branches/b1/tickets", hall.clerk, json={"service": "A"}),
        409,
        "ServicePaused",
    )
    ticket = await check_in(hall, booking["code"])
    assert ticket.status_code == 201, ticket.text
    assert ticket.json()["priority"] == "appointment"
