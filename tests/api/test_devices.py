"""Devices: a manager adds one and gets a pairing code; the code buys one device token, once,
within ten minutes; revoking the device refuses its very next request."""

from __future__ import annotations

from app.auth import PAIRING_SECONDS, Role

from .conftest import Api, Headers, assert_error, make_branch


async def manager_of_b1(api: Api) -> Headers:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    return await api.user("boss", Role.MANAGER, "b1")


async def pair(api: Api, code: str) -> Headers | None:
    response = await api.post("/devices/pair", json={"code": code})
    if response.status_code == 401:
        assert_error(response, 401, "NotAuthenticated")
        return None
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['device_token']}"}


async def test_adding_a_device_returns_a_ten_minute_one_time_code(api: Api) -> None:
    manager = await manager_of_b1(api)
    created = await api.post("/branches/b1/devices", manager, json={"kind": "kiosk", "name": "1F"})
    assert created.status_code == 201, created.text
    device = created.json()
    assert device["expires_in"] == PAIRING_SECONDS == 600
    assert len(device["pairing_code"]) == 10
    assert not set(device["pairing_code"]) & set("0O1IL")
    assert device["paired"] is False
    assert device["revoked"] is False
    assert device["kind"] == "kiosk"


async def test_a_pairing_code_gives_a_token_for_one_branch_and_one_kind(api: Api) -> None:
    manager = await manager_of_b1(api)
    code = await api.pairing_code(manager, "b1", "kiosk", "大厅取号机")
    response = await api.post("/devices/pair", json={"code": code})
    assert response.status_code == 200, response.text
    paired = response.json()
    assert paired["branch"] == "b1"
    assert paired["kind"] == "kiosk"
    assert paired["paired"] is True
    kiosk = {"Authorization": f"Bearer {paired['device_token']}"}
    assert (await api.post("/branches/b1/tickets", kiosk, json={"service": "A"})).status_code == 201
    listed = (await api.get("/branches/b1/devices", manager)).json()
    assert [(d["name"], d["paired"]) for d in listed] == [("大厅取号机", True)]


async def test_a_pairing_code_is_accepted_in_lower_case_and_with_spaces(api: Api) -> None:
    manager = await manager_of_b1(api)
    code = await api.pairing_code(manager, "b1", "display")
    assert await pair(api, f"  {code.lower()} ") is not None


async def test_a_pairing_code_works_once(api: Api) -> None:
    manager = await manager_of_b1(api)
    code = await api.pairing_code(manager, "b1", "kiosk")
    assert await pair(api, code) is not None
    assert await pair(api, code) is None


async def test_a_pairing_code_expires_after_ten_minutes(api: Api) -> None:
    manager = await manager_of_b1(api)
    in_time = await api.pairing_code(manager, "b1", "kiosk", "in time")
    late = await api.pairing_code(manager, "b1", "kiosk", "late")
    api.clock.advance(PAIRING_SECONDS - 1)
    assert await pair(api, in_time) is not None
    api.clock.advance(2)
    assert await pair(api, late) is None
    listed = {
        d["name"]: d["paired"] for d in (await api.get("/branches/b1/devices", manager)).json()
    }
    assert listed == {"in time": True, "late": False}


async def test_an_expired_code_stays_spent(api: Api) -> None:
    manager = await manager_of_b1(api)
    code = await api.pairing_code(manager, "b1", "kiosk")
    api.clock.advance(PAIRING_SECONDS + 1)
    assert await pair(api, code) is None
    api.clock.advance(-PAIRING_SECONDS)  # even if the clock were turned back
    assert await pair(api, code) is None


async def test_an_unknown_code_is_refused_and_a_malformed_one_is_invalid(api: Api) -> None:
    await manager_of_b1(api)
    assert await pair(api, "ABCDEFGHJK") is None
    assert_error(await api.post("/devices/pair", json={"code": "abc"}), 422, "Invalid")
    assert_error(await api.post("/devices/pair", json={"code": "x" * 33}), 422, "Invalid")
    assert_error(await api.post("/devices/pair", json={}), 422, "Invalid")


async def test_pairing_attempts_are_rate_limited_per_client_address(api: Api) -> None:
    await manager_of_b1(api)
    for _ in range(10):
        assert await pair(api, "ABCDEFGHJK") is None
    limited = await api.post("/devices/pair", json={"code": "ABCDEFGHJK"})
    assert_error(limited, 429, "TooManyRequests")
    assert int(limited.headers["Retry-After"]) >= 1
    elsewhere = await api.at("10.1.2.3")
    assert await pair(elsewhere, "ABCDEFGHJK") is None


async def test_revoking_a_device_refuses_its_next_request(api: Api) -> None:
    manager = await manager_of_b1(api)
    display = await api.device(manager, "b1", "display")
    assert (await api.get("/branches/b1/queue", display)).status_code == 200
    device_id = (await api.get("/branches/b1/devices", manager)).json()[0]["id"]
    assert (await api.delete(f"/branches/b1/devices/{device_id}", manager)).status_code == 204
    assert_error(await api.get("/branches/b1/queue", display), 401, "NotAuthenticated")
    listed = (await api.get("/branches/b1/devices", manager)).json()
    assert listed[0]["revoked"] is True
    assert (await api.delete(f"/branches/b1/devices/{device_id}", manager)).status_code == 204


async def test_revoking_a_device_before_pairing_spends_its_code(api: Api) -> None:
    manager = await manager_of_b1(api)
    code = await api.pairing_code(manager, "b1", "kiosk")
    device_id = (await api.get("/branches/b1/devices", manager)).json()[0]["id"]
    await api.delete(f"/branches/b1/devices/{device_id}", manager)
    assert await pair(api, code) is None


async def test_revoking_an_unknown_device_is_404(api: Api) -> None:
    manager = await manager_of_b1(api)
    assert_error(await api.delete("/branches/b1/devices/999", manager), 404, "NotFound")


async def test_a_device_needs_a_known_kind_and_a_short_name(api: Api) -> None:
    manager = await manager_of_b1(api)
    for body in (
        {"kind": "printer", "name": "x"},
        {"kind": "kiosk", "name": ""},
        {"kind": "kiosk", "name": "x" * 101},
        {"kind": "kiosk", "name": "x", "branch": "b2"},
    ):
        assert_error(await api.post("/branches/b1/devices", manager, json=body), 422, "Invalid")


async def test_a_device_for_an_unknown_branch_is_404(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    response = await api.post(
        "/branches/nowhere/devices", admin, json={"kind": "kiosk", "name": "x"}
    )
    assert_error(response, 404, "UnknownBranch")


async def test_each_kind_of_device_does_only_its_own_job(api: Api) -> None:
    manager = await manager_of_b1(api)
    kiosk, display, counter, evaluator = [
        await api.device(manager, "b1", kind)
        for kind in ("kiosk", "display", "counter", "evaluator")
    ]
    assert (await api.post("/branches/b1/tickets", kiosk, json={"service": "A"})).status_code == 201
    for device in (display, counter, evaluator):
        assert_error(await api.post("/branches/b1/tickets", device, json={"service": "A"}), 403)
    assert (await api.counter(counter, 1, "open")).status_code == 200
    assert (await api.counter(counter, 1, "call-next")).status_code == 200
    for device in (kiosk, display, evaluator):
        assert_error(await api.counter(device, 1, "finish"), 403)
    for device in (kiosk, display, counter, evaluator):
        assert (await api.get("/branches/b1/queue", device)).status_code == 200
        assert_error(await api.get("/branches/b1/events", device), 403)
        # A device reads its branch's configuration (a kiosk shows the services' materials),
        # never its staff or devices.
        assert (await api.get("/branches/b1", device)).status_code == 200
        assert_error(await api.get("/branches/b1/staff", device), 403)
        assert_error(await api.get("/branches/b1/devices", device), 403)
