"""Customer data is purged after its retention period, except tickets still waiting or called."""

from __future__ import annotations

from sqlalchemy import select

from app.db import bookings as db
from app.db import models
from tests.api.conftest import Api

from .conftest import TOMORROW, booking_hall

DAY = 86400.0


async def test_old_bookings_tickets_and_their_customers_are_purged(api: Api) -> None:
    hall = await booking_hall(api)
    await api.put("/branches/b1/services/A/remote", hall.manager, json={"enabled": True})
    await api.counter(hall.clerk, 1, "open")
    booking = await hall.booked(TOMORROW, "10:00", phone="13800009999")
    await api.post(f"/branches/b1/bookings/{booking['code']}/cancel", hall.clerk, json={})
    waiting_login = await api.post("/mp/login", json={"code": "waiting"})
    served_login = await api.post("/mp/login", json={"code": "served"})
    for login in (served_login, waiting_login):
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        taken = await api.post("/mp/tickets", headers, json={"branch": "b1", "service": "A"})
        assert taken.status_code == 201, taken.text
    await api.counter(hall.clerk, 1, "next")
    await api.counter(hall.clerk, 1, "finish")  # the "served" customer's ticket

    async def customers() -> set[int]:
        async with api.store.sessions() as session:
            return set((await session.scalars(select(models.Customer.id))).all())

    before = await customers()
    assert len(before) == 3
    # 31 days on: tickets past their 30 days go, the booking (90 days) stays.
    removed = await db.purge(api.store, api.clock.now + 31 * DAY, booking_days=90, ticket_days=30)
    assert removed == {"bookings": 0, "remote_tickets": 1, "customers": 1}
    async with api.store.sessions() as session:
        left = (await session.scalars(select(models.RemoteTicket))).all()
    assert [r.customer_id for r in left] == [waiting_login.json()["customer"]["id"]]
    # 92 days on: the booking and its customer go too; the waiting ticket stays.
    removed = await db.purge(api.store, api.clock.now + 92 * DAY, booking_days=90, ticket_days=30)
    assert removed == {"bookings": 1, "remote_tickets": 0, "customers": 1}
    assert await customers() == {waiting_login.json()["customer"]["id"]}
