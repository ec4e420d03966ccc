"""A branch with bookable slots: service A every day 09:00-12:00 in 30-minute slots of 3 seats.
The app's clock starts at 09:00 on Thursday 2025-11-20 (Shanghai)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from app.auth import Role
from tests.api.conftest import (  # noqa: F401  (fixtures: a migrated store on both tiers)
    Api,
    Headers,
    api,
    clock,
    make_branch,
    migrated,
    postgresql_database,
    quick_password_hashing,
    rate_limits_in_the_middle_of_their_window,
    sqlite_template,
    store_url,
)

TODAY = "2025-11-20"
TOMORROW = "2025-11-21"


@dataclass
class Booking:
    api: Api
    admin: Headers
    manager: Headers
    clerk: Headers
    origin: float  # 09:00 today, where the app's clock starts

    def at(self, clock_time: str) -> None:
        """Move the app's clock to ``clock_time`` (HH:MM) today."""
        hours, minutes = (int(part) for part in clock_time.split(":"))
        self.api.clock.now = self.origin + (hours - 9) * 3600 + minutes * 60

    @property
    def jobs(self) -> Any:
        return self.api.app.state.services.appointments

    async def slots(self, day: str = TODAY, service: str = "A") -> list[dict[str, Any]]:
        response = await self.api.get(
            "/branches/b1/slots", self.clerk, params={"day": day, "service": service}
        )
        assert response.status_code == 200, response.text
        slots: list[dict[str, Any]] = response.json()
        return slots

    async def slot(self, day: str, start: str, service: str = "A") -> dict[str, Any]:
        return next(s for s in await self.slots(day, service) if s["start"] == start)

    async def book(
        self, slot: int, phone: str = "13800001111", name: str = "张三", **headers: str
    ) -> httpx.Response:
        return await self.api.post(
            "/branches/b1/bookings",
            {**self.clerk, **headers},
            json={"slot": slot, "phone": phone, "name": name},
        )

    async def booked(self, day: str, start: str, phone: str = "13800001111") -> dict[str, Any]:
        slot = await self.slot(day, start)
        response = await self.book(slot["id"], phone)
        assert response.status_code == 201, response.text
        booking: dict[str, Any] = response.json()
        return booking

    async def rules(self, **values: Any) -> None:
        response = await self.api.put("/branches/b1/booking-rules", self.manager, json=values)
        assert response.status_code == 200, response.text

    async def policy(self, **values: Any) -> None:
        response = await self.api.put("/branches/b1/policy", self.manager, json=values)
        assert response.status_code == 200, response.text


async def booking_hall(hall_api: Api, capacity: int = 3) -> Booking:
    admin = await hall_api.user("root", Role.ADMIN, None)
    await make_branch(hall_api, admin, "b1")
    manager = await hall_api.user("b1-manager", Role.MANAGER, "b1")
    clerk = await hall_api.user("b1-clerk", Role.CLERK, "b1")
    for weekday in range(7):
        response = await hall_api.post(
            "/branches/b1/slot-templates",
            manager,
            json={
                "service": "A",
                "weekday": weekday,
                "start": "09:00",
                "end": "12:00",
                "slot_minutes": 30,
                "capacity": capacity,
            },
        )
        assert response.status_code == 201, response.text
    return Booking(hall_api, admin, manager, clerk, hall_api.clock.now)
