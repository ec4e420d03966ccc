"""Pausing a service's ticket issuing (暂停取号): walk-in tickets are refused with a sentence,
waiting tickets are still called, the pause survives a restart, and an automatic notice goes to
the displays until the service is resumed."""

from __future__ import annotations

from typing import Any

from app.auth import Role

from .conftest import Api, Clock, assert_error, running_app, staffed_hall


async def notices_of(api: Api, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await api.get("/branches/b1/notices/current", headers)
    assert response.status_code == 200, response.text
    notices: list[dict[str, Any]] = response.json()["notices"]
    return notices


async def test_a_paused_service_refuses_new_tickets_and_still_calls_the_waiting(api: Api) -> None:
    hall = await staffed_hall(api)
    waiting = await api.issue(hall.own["kiosk"])
    paused = await api.post(
        "/branches/b1/services/A/pause",
        hall.manager,
        json={"reason": "系统升级", "reason_en": "system upgrade"},
    )
    assert paused.status_code == 200, paused.text
    assert (paused.json()["paused"], paused.json()["pause_reason"]) == (True, "系统升级")

    refused = await api.post("/branches/b1/tickets", hall.own["kiosk"], json={"service": "A"})
    assert_error(refused, 409, "ServicePaused")
    assert refused.json()["detail"] == "A 业务（业务A）暂停取号：系统升级。"
    english = await api.post(
        "/branches/b1/tickets",
        {**hall.clerk, "Accept-Language": "en-US,en;q=0.9"},
        json={"service": "A"},
    )
    assert_error(english, 409, "ServicePaused")
    assert (
        english.json()["detail"] == "Service A (业务A) is not issuing tickets now: system upgrade."
    )
    assert (await api.issue(hall.clerk, service="B"))["number"] == "B001"  # B is not paused

    queue = (await api.get("/branches/b1/queue", hall.clerk)).json()
    assert {s["code"]: s["paused"] for s in queue["services"]} == {"A": True, "B": False}
    kiosk_view = (await api.get("/branches/b1", hall.own["kiosk"])).json()
    assert [s["paused"] for s in kiosk_view["services"]] == [True, False]

    assert (await api.counter(hall.clerk, 1, "open")).status_code == 200
    called = await api.counter(hall.clerk, 1, "call-next")
    assert called.status_code == 200, called.text
    assert called.json()["ticket"]["number"] == waiting["number"]

    resumed = await api.post("/branches/b1/services/A/resume", hall.manager)
    assert resumed.status_code == 200, resumed.text
    assert (resumed.json()["paused"], resumed.json()["pause_reason"]) == (False, "")
    assert (await api.issue(hall.own["kiosk"]))["number"] == "A002"
    assert_error(await api.post("/branches/b1/services/A/resume", hall.manager), 409)


async def test_pausing_publishes_an_automatic_notice_and_resuming_withdraws_it(api: Api) -> None:
    hall = await staffed_hall(api)
    display = hall.own["display"]
    paused = await api.post(
        "/branches/b1/services/A/pause", hall.manager, json={"reason": "网络故障"}
    )
    assert paused.status_code == 200, paused.text
    [notice] = await notices_of(api, display)
    assert notice["id"] == paused.json()["pause_notice_id"]
    assert (notice["source"], notice["active"], notice["displays"]) == ("auto", True, None)
    assert notice["text"] == "A 业务（业务A）暂停取号：网络故障。"
    assert notice["text_en"] == "Service A (业务A) is paused: 网络故障."

    # Pausing again changes the reason: one notice, the new one.
    again = await api.post(
        "/branches/b1/services/A/pause",
        hall.manager,
        json={"reason": "网络抢修中", "reason_en": "network repair"},
    )
    [changed] = await notices_of(api, display)
    assert changed["id"] == again.json()["pause_notice_id"]
    assert changed["text_en"] == "Service A (业务A) is paused: network repair."

    events = (await api.get("/branches/b1/events?limit=100", hall.manager)).json()["events"]
    assert [e["type"] for e in events].count("notices_changed") == 3  # new, withdrawn, new

    assert (await api.post("/branches/b1/services/A/resume", hall.manager)).status_code == 200
    assert await notices_of(api, display) == []

    quiet = await api.post("/branches/b1/services/B/pause", hall.manager, json={"notice": False})
    assert quiet.status_code == 200, quiet.text
    assert quiet.json()["pause_notice_id"] is None
    assert await notices_of(api, display) == []
    assert_error(
        await api.post("/branches/b1/tickets", hall.clerk, json={"service": "B"}),
        409,
        "ServicePaused",
    )


async def test_only_managers_of_the_branch_pause_and_resume(api: Api) -> None:
    hall = await staffed_hall(api)
    for headers in (hall.clerk, hall.own["kiosk"], hall.own["display"], hall.other["manager"]):
        assert_error(await api.post("/branches/b1/services/A/pause", headers, json={}), 403)
        assert_error(await api.post("/branches/b1/services/A/resume", headers), 403)
    assert_error(await api.post("/branches/b1/services/A/pause", json={}), 401)
    assert_error(await api.post("/branches/b1/services/Z/pause", hall.manager, json={}), 404)
    too_long = await api.post(
        "/branches/b1/services/A/pause", hall.manager, json={"reason": "长" * 101}
    )
    assert_error(too_long, 422)
    assert_error(
        await api.post("/branches/b1/services/A/pause", hall.manager, json={"why": "x"}), 422
    )
    assert (await api.issue(hall.clerk))["number"] == "A001"  # nothing was paused
    assert (await api.post("/branches/b1/services/A/pause", hall.admin)).status_code == 200


async def test_the_pause_survives_a_restart_and_a_change_of_the_service(migrated: str) -> None:
    clock = Clock()
    async with running_app(migrated, clock) as api:
        hall = await staffed_hall(api)
        await api.post("/branches/b1/services/A/pause", hall.manager, json={"reason": "暂停"})
        changed = await api.put(
            "/branches/b1/services/A", hall.manager, json={"code": "A", "name": "个人业务"}
        )
        assert (changed.json()["paused"], changed.json()["pause_reason"]) == (True, "暂停")
        notice_id = changed.json()["pause_notice_id"]
    async with running_app(migrated, clock) as api:
        service = (await api.get("/branches/b1/services/A", hall.manager)).json()
        assert (service["paused"], service["pause_reason"]) == (True, "暂停")
        refused = await api.post("/branches/b1/tickets", hall.clerk, json={"service": "A"})
        assert_error(refused, 409, "ServicePaused")
        assert refused.json()["detail"] == "A 业务（个人业务）暂停取号：暂停。"
        resumed = await api.post("/branches/b1/services/A/resume", hall.manager)
        assert resumed.status_code == 200, resumed.text
        assert [n["id"] for n in await notices_of(api, hall.manager)] == []
        assert notice_id is not None
        admin = await api.user("root2", Role.ADMIN, None)
        assert (await api.issue(admin))["number"] == "A001"
