"""The mini-program's branches, services, bookings, phone check-in and remote tickets."""

from __future__ import annotations

import asyncio

from tests.api.conftest import Api, Headers, assert_error

from .conftest import booking_hall, login

TOMORROW = "2025-11-21"
# The branch stands at People's Square, Shanghai; 31.2304 N 121.4737 E.
HERE = {"latitude": 31.2304, "longitude": 121.4737}
FAR = {"latitude": 31.2404, "longitude": 121.4737}  # about 1.1 km north


async def located(api: Api, manager: Headers) -> None:
    response = await api.put(
        "/branches/b1/profile",
        manager,
        json={**HERE, "address": "人民大道 200 号", "hours": "周一至周日 9:00-17:00"},
    )
    assert response.status_code == 200, response.text


async def test_branches_show_open_state_waiting_and_distance(api: Api) -> None:
    hall = await booking_hall(api)
    await located(api, hall.manager)
    customer = await login(api, "alice")
    closed = (await api.get("/mp/branches", customer, params=FAR)).json()
    assert [(b["id"], b["open"], b["distance_m"]) for b in closed] == [("b1", False, 1112)]
    await api.issue(hall.clerk)
    await api.counter(hall.clerk, 1, "open")
    branches = (await api.get("/mp/branches", customer)).json()
    assert branches[0]["open"] is True
    assert branches[0]["distance_m"] is None  # no location sent
    a = next(s for s in branches[0]["services"] if s["code"] == "A")
    assert (a["waiting"], a["open_counters"]) == (1, 1)
    assert a["eta_minutes"] is not None


async def test_services_show_materials_and_whether_phone_tickets_are_taken(api: Api) -> None:
    hall = await booking_hall(api)
    response = await api.put(
        "/branches/b1/services/A",
        hall.manager,
        json={
            "code": "A",
            "name": "个人业务",
            "materials": ["身份证", "户口簿"],
        },
    )
    assert response.status_code == 200, response.text
    await api.put("/branches/b1/services/A/remote", hall.manager, json={"enabled": True})
    customer = await login(api, "alice")
    services = {s["code"]: s for s in (await api.get("/mp/branches/b1/services", customer)).json()}
    assert services["A"]["materials"] == ["身份证", "户口簿"]
    assert (services["A"]["remote_ticket"], services["B"]["remote_ticket"]) == (True, False)


async def test_a_customer_books_reschedules_and_cancels_from_the_phone(api: Api) -> None:
    await booking_hall(api)
    customer = await login(api, "alice")
    slots = (
        await api.get("/mp/branches/b1/slots", customer, params={"day": TOMORROW, "service": "A"})
    ).json()
    booked = await api.post("/mp/bookings", customer, json={"branch": "b1", "slot": slots[0]["id"]})
    assert booked.status_code == 201, booked.text
    booking = booked.json()
    assert booking["channel"] == "miniprogram"
    moved = await api.post(
        f"/mp/bookings/{booking['id']}/reschedule", customer, json={"slot": slots[2]["id"]}
    )
    assert moved.json()["start"] == "10:00"
    mine = (await api.get("/mp/bookings", customer)).json()
    assert [b["code"] for b in mine] == [booking["code"]]
    cancelled = await api.post(f"/mp/bookings/{booking['id']}/cancel", customer)
    assert cancelled.json()["state"] == "cancelled"


async def test_another_customers_booking_is_not_found(api: Api) -> None:
    hall = await booking_hall(api)
    alice = await login(api, "alice")
    bob = await login(api, "bob")
    slot = (await hall.slot(TOMORROW, "10:00"))["id"]
    booking = (await api.post("/mp/bookings", alice, json={"branch": "b1", "slot": slot})).json()
    path = f"/mp/bookings/{booking['id']}"
    assert_error(await api.get(path, bob), 404, "BookingNotFound")
    assert_error(await api.post(f"{path}/cancel", bob), 404)
    assert_error(await api.post(f"{path}/reschedule", bob, json={"slot": slot}), 404)
    assert_error(await api.post(f"{path}/check-in", bob, json=HERE), 404)
    assert (await api.get("/mp/bookings", bob)).json() == []
    assert (await api.get(path, alice)).status_code == 200


async def test_phone_check_in_needs_the_customer_near_the_branch(api: Api) -> None:
    hall = await booking_hall(api)
    await located(api, hall.manager)
    customer = await login(api, "alice")
    slot = (await hall.slot("2025-11-20", "10:00"))["id"]
    booking = (await api.post("/mp/bookings", customer, json={"branch": "b1", "slot": slot})).json()
    path = f"/mp/bookings/{booking['id']}/check-in"
    assert_error(await api.post(path, customer, json={}), 422, "LocationRequired")
    assert_error(await api.post(path, customer, json=FAR), 409, "NotNearBranch")
    ticket = await api.post(path, customer, json=HERE)
    assert ticket.status_code == 201, ticket.text
    assert ticket.json()["priority"] == "appointment"
    followed = await api.get(f"/tickets/{ticket.json()['token']}")
    assert followed.json()["number"] == ticket.json()["number"]


async def remote_ready(api: Api, manager: Headers, clerk: Headers, **settings: object) -> None:
    response = await api.put(
        "/branches/b1/services/A/remote", manager, json={"enabled": True, **settings}
    )
    assert response.status_code == 200, response.text
    assert (await api.counter(clerk, 1, "open")).status_code == 200


async def test_a_remote_ticket_joins_the_queue_and_one_per_service_is_active(api: Api) -> None:
    hall = await booking_hall(api)
    customer = await login(api, "alice")
    assert_error(
        await api.post("/mp/tickets", customer, json={"branch": "b1", "service": "A"}),
        409,
        "RemoteDisabled",
    )
    await api.put("/branches/b1/services/A/remote", hall.manager, json={"enabled": True})
    assert_error(
        await api.post("/mp/tickets", customer, json={"branch": "b1", "service": "A"}),
        409,
        "BranchClosed",
    )
    await api.counter(hall.clerk, 1, "open")
    walk_in = await api.issue(hall.clerk)
    taken = await api.post("/mp/tickets", customer, json={"branch": "b1", "service": "A"})
    assert taken.status_code == 201, taken.text
    ticket = taken.json()
    assert (ticket["channel"], ticket["ahead"]) == ("miniprogram", 1)
    assert (await api.get(f"/tickets/{ticket['token']}")).json()["state"] == "waiting"
    refused = await api.post("/mp/tickets", customer, json={"branch": "b1", "service": "A"})
    assert_error(refused, 409, "RemoteTicketActive")
    assert ticket["number"] in refused.json()["detail"]
    mine = (await api.get("/mp/tickets", customer)).json()
    assert mine[0]["ticket"]["number"] == ticket["number"]
    # Served: the customer may take another.
    for expected in (walk_in["number"], ticket["number"]):
        called = await api.counter(hall.clerk, 1, "next")
        assert called.json()["ticket"]["number"] == expected
    await api.counter(hall.clerk, 1, "finish")
    again = await api.post("/mp/tickets", customer, json={"branch": "b1", "service": "A"})
    assert again.status_code == 201, again.text


async def test_two_remote_tickets_at_once_give_one(api: Api) -> None:
    hall = await booking_hall(api)
    await remote_ready(api, hall.manager, hall.clerk)
    customer = await login(api, "alice")
    responses = await asyncio.gather(
        *(
            api.post("/mp/tickets", customer, json={"branch": "b1", "service": "A"})
            for _ in range(5)
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    engine = api.app.state.services.halls.get("b1").engine
    assert len(engine.tickets()) == 1


async def test_the_daily_remote_quota(api: Api) -> None:
    hall = await booking_hall(api)
    await remote_ready(api, hall.manager, hall.clerk, daily_quota=1)
    first = await login(api, "alice")
    second = await login(api, "bob")
    taken = await api.post("/mp/tickets", first, json={"branch": "b1", "service": "A"})
    assert taken.status_code == 201
    refused = await api.post("/mp/tickets", second, json={"branch": "b1", "service": "A"})
    assert_error(refused, 409, "RemoteQuotaReached")
    assert (await api.issue(hall.clerk))["number"]  # the kiosk is not limited by it


async def test_a_ticket_not_confirmed_in_time_is_cancelled(api: Api) -> None:
    hall = await booking_hall(api)
    await located(api, hall.manager)
    await remote_ready(api, hall.manager, hall.clerk, arrive_within_minutes=30)
    alice = await login(api, "alice")
    bob = await login(api, "bob")
    kept = (await api.post("/mp/tickets", alice, json={"branch": "b1", "service": "A"})).json()
    lost = (await api.post("/mp/tickets", bob, json={"branch": "b1", "service": "A"})).json()
    assert kept["arrive_by"] == api.clock.now + 1800
    path = f"/mp/tickets/{kept['remote_id']}/arrive"
    assert_error(await api.post(path, alice, json=FAR), 409, "NotNearBranch")
    assert_error(await api.post(path, bob, json=HERE), 404)
    arrived = await api.post(path, alice, json=HERE)
    assert arrived.status_code == 200, arrived.text
    assert arrived.json()["arrived_at"] is not None
    api.clock.advance(31 * 60)
    await api.app.state.services.appointments.tick()
    assert (await api.get(f"/tickets/{kept['token']}")).json()["state"] == "waiting"
    assert (await api.get(f"/tickets/{lost['token']}")).json()["state"] == "cancelled"
    late = await api.post(f"/mp/tickets/{lost['remote_id']}/arrive", bob, json=HERE)
    assert_error(late, 409, "ArrivalTooLate")
    # The cancelled ticket no longer counts as the customer's active one.
    assert (
        await api.post("/mp/tickets", bob, json={"branch": "b1", "service": "A"})
    ).status_code == 201


async def test_the_remote_quota_holds_under_concurrent_taps(api: Api) -> None:
    hall = await booking_hall(api)
    await remote_ready(api, hall.manager, hall.clerk, daily_quota=2)
    customers = [await login(api, f"c{n}") for n in range(6)]
    responses = await asyncio.gather(
        *(api.post("/mp/tickets", c, json={"branch": "b1", "service": "A"}) for c in customers)
    )
    assert sorted(r.status_code for r in responses) == [201, 201, 409, 409, 409, 409]
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"RemoteQuotaReached"}


async def test_a_paused_service_shows_paused_and_takes_no_remote_ticket(api: Api) -> None:
    hall = await booking_hall(api)
    await remote_ready(api, hall.manager, hall.clerk)
    customer = await login(api, "alice")
    paused = await api.post(
        "/branches/b1/services/A/pause", hall.manager, json={"reason": "系统维护"}
    )
    assert paused.status_code == 200, paused.text
    branches = (await api.get("/mp/branches", customer)).json()
    assert {s["code"]: s["paused"] for s in branches[0]["services"]} == {"A": True, "B": False}
    listed = (await api.get("/mp/branches/b1/services", customer)).json()
    assert next(s for s in listed if s["code"] == "A")["paused"] is True
    refused = await api.post("/mp/tickets", customer, json={"branch": "b1", "service": "A"})
    assert_error(refused, 409, "ServicePaused")
    assert refused.json()["detail"] == "A 业务（业务A）暂停取号：系统维护。"
    assert (await api.get("/mp/tickets", customer)).json() == []  # no reservation left behind
    await api.post("/branches/b1/services/A/resume", hall.manager)
    taken = await api.post("/mp/tickets", customer, json={"branch": "b1", "service": "A"})
    assert taken.status_code == 201, taken.text
