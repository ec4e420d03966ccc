"""Abuse of bookings: guessing check-in codes at a kiosk, and flooding booking creation from one
address or for one customer (staff on the phone, or a mini-program customer). The limits hold
(429 with ``Retry-After``, nothing done beyond them) and legitimate customers are still served.

Addresses are the ASGI client address (``Api.at``), as in ``test_abuse.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.conftest import Api, Clock, Headers, assert_error, running_app
from tests.appointments.conftest import TODAY, TOMORROW, Booking, booking_hall
from tests.security.test_abuse import assert_limited

LIMIT = 5
# One customer may hold one booking per service and day: a slot on each of these days.
DAYS = [TOMORROW, *(f"2025-11-{day}" for day in range(22, 27))]
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


@pytest.fixture
async def limited(migrated: str, clock: Clock) -> AsyncIterator[Api]:
    async with running_app(
        migrated,
        clock,
        rate_limit_check_in_failures=f"{LIMIT}/minute",
        rate_limit_booking_address=f"{LIMIT}/minute",
        rate_limit_booking_customer="2/minute",
    ) as api:
        yield api


def guessed_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


async def check_in(api: Api, headers: Headers, code: str) -> httpx.Response:
    return await api.post("/branches/b1/check-in", headers, json={"code": code})


async def state_of(hall: Booking, code: str) -> str:
    response = await hall.api.get(f"/branches/b1/bookings/{code}", hall.clerk)
    state: str = response.json()["state"]
    return state


async def test_guessing_check_in_codes_is_held_and_customers_are_still_checked_in(
    limited: Api,
) -> None:
    hall = await booking_hall(limited)
    mine = await hall.booked(TODAY, "10:00", phone="13800000001")
    theirs = await hall.booked(TODAY, "10:00", phone="13800000002")
    guessing = await limited.device(hall.manager, "b1", "kiosk", "guessing")
    honest = await limited.device(hall.manager, "b1", "kiosk", "honest")
    lobby = await limited.at("10.0.0.66")
    for _ in range(LIMIT):
        assert_error(await check_in(lobby, guessing, guessed_code()), 404, "BookingNotFound")
    for _ in range(20):
        assert_limited(await check_in(lobby, guessing, guessed_code()))
    # Past the limit a right code is refused too (a lucky guess gains nothing) ...
    assert_limited(await check_in(lobby, guessing, mine["code"]))
    # ... from that kiosk wherever it moves, and from that address whatever kiosk it uses.
    assert_limited(await check_in(await limited.at("10.0.0.67"), guessing, mine["code"]))
    assert_limited(await check_in(lobby, honest, mine["code"]))
    assert await state_of(hall, mine["code"]) == "booked"
    # Another kiosk at another address checks customers in as usual; the right codes of the
    # guessing kiosk did not count as failures.
    served = await check_in(await limited.at("10.0.0.7"), honest, mine["code"])
    assert served.status_code == 201, served.text
    assert served.json()["customer"] == {"name": "张*", "phone": "138****0001"}
    counter = await limited.at("10.0.0.8")
    assert (await check_in(counter, hall.clerk, theirs["code"])).status_code == 201


async def test_booking_is_limited_per_customer_and_per_address(limited: Api) -> None:
    hall = await booking_hall(limited)
    await hall.rules(max_pending_per_week=10)
    slots = [(await hall.slot(day, "10:00"))["id"] for day in DAYS]
    # One phone: two bookings, then 429 from any address, while another phone is served.
    assert (await hall.book(slots[0], phone="13900000001")).status_code == 201
    assert (await hall.book(slots[1], phone="13900000001")).status_code == 201
    assert_limited(await hall.book(slots[2], phone="13900000001"))
    elsewhere = await limited.at("10.0.0.9")
    again = await elsewhere.post(
        "/branches/b1/bookings", hall.clerk, json={"slot": slots[2], "phone": "139-0000-0001"}
    )
    assert_limited(again)
    assert (await hall.book(slots[2], phone="13900000002")).status_code == 201
    # One address: five bookings in all (the refused one counts), then 429 for a new phone too.
    assert (await hall.book(slots[3], phone="13900000003")).status_code == 201
    assert_limited(await hall.book(slots[4], phone="13900000004"))
    served = await elsewhere.post(
        "/branches/b1/bookings", hall.clerk, json={"slot": slots[4], "phone": "13900000004"}
    )
    assert served.status_code == 201, served.text
    listed = (await limited.get("/branches/b1/bookings", hall.clerk)).json()
    assert len(listed) == 5


async def mp_login(api: Api, code: str) -> Headers:
    response = await api.post("/mp/login", None, json={"code": code})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_a_mini_program_customer_is_limited_over_many_addresses(limited: Api) -> None:
    hall = await booking_hall(limited)
    await hall.rules(max_pending_per_week=10)
    slots = [(await hall.slot(day, "10:00"))["id"] for day in DAYS]
    eager = await mp_login(limited, "eager")
    other = await mp_login(limited, "other")
    phones = [await limited.at(f"172.16.0.{n}") for n in range(1, 5)]

    async def book(api: Api, customer: Headers, slot: int) -> httpx.Response:
        return await api.post("/mp/bookings", customer, json={"branch": "b1", "slot": slot})

    assert (await book(phones[0], eager, slots[0])).status_code == 201
    assert (await book(phones[1], eager, slots[1])).status_code == 201
    assert_limited(await book(phones[2], eager, slots[2]))
    taken = await phones[2].post("/mp/tickets", eager, json={"branch": "b1", "service": "A"})
    assert_limited(taken)
    assert (await book(phones[2], other, slots[2])).status_code == 201
    mine = (await phones[3].get("/mp/bookings", eager)).json()
    assert len(mine) == 2
