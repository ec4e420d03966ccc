"""Scrolling notices: managers create, change and withdraw them; a display gets the ones meant
for it with their times (the window is honoured by the clock, without a restart or an event);
each change is logged as a ``notices_changed`` event that displays hear."""

from __future__ import annotations

from typing import Any

from app.auth import Role
from tests.api.conftest import Api, Headers, assert_error, make_branch


async def hall(api: Api) -> tuple[Headers, Headers, Headers, Headers, int]:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    manager = await api.user("manager", Role.MANAGER, "b1")
    left = await api.device(manager, "b1", "display", "左屏")
    right = await api.device(manager, "b1", "display", "右屏")
    devices = (await api.get("/branches/b1/devices", manager)).json()
    right_id = next(d["id"] for d in devices if d["name"] == "右屏")
    return admin, manager, left, right, right_id


async def shown(api: Api, display: Headers) -> list[str]:
    """The texts a display would show now: its notices whose window holds at ``now``."""
    body: dict[str, Any] = (await api.get("/branches/b1/notices/current", display)).json()
    now = body["now"]
    return [
        n["text"]
        for n in body["notices"]
        if n["starts_at"] <= now and (n["ends_at"] is None or now < n["ends_at"])
    ]


async def test_a_notice_is_shown_from_its_start_to_its_end(api: Api) -> None:
    _, manager, left, _, _ = await hall(api)
    now = api.clock.now
    created = await api.post(
        "/branches/b1/notices",
        manager,
        json={
            "text": "今天下午系统升级，暂停对公业务",
            "text_en": "Business services pause this afternoon for an upgrade",
            "starts_at": now + 600,
            "ends_at": now + 3600,
        },
    )
    assert created.status_code == 201, created.text
    notice = created.json()
    assert (notice["active"], notice["displays"], notice["source"]) == (False, None, "manual")
    assert await shown(api, left) == []
    api.clock.advance(600)
    assert await shown(api, left) == ["今天下午系统升级，暂停对公业务"]
    listed = (await api.get("/branches/b1/notices", manager)).json()
    assert [(n["id"], n["active"]) for n in listed] == [(notice["id"], True)]
    api.clock.advance(3000)
    assert await shown(api, left) == []
    assert (await api.get("/branches/b1/notices", manager)).json() == []
    ended = (await api.get("/branches/b1/notices?ended=true", manager)).json()
    assert [n["id"] for n in ended] == [notice["id"]]


async def test_a_notice_for_chosen_displays_reaches_only_them(api: Api) -> None:
    _, manager, left, right, right_id = await hall(api)
    for body in ({"text": "全部屏幕"}, {"text": "只给右屏", "displays": [right_id]}):
        assert (await api.post("/branches/b1/notices", manager, json=body)).status_code == 201
    assert await shown(api, left) == ["全部屏幕"]
    assert await shown(api, right) == ["全部屏幕", "只给右屏"]
    assert await shown(api, manager) == ["全部屏幕", "只给右屏"]  # staff see every display's


async def test_changing_and_withdrawing_a_notice_is_logged_for_the_displays(api: Api) -> None:
    _, manager, left, _, _ = await hall(api)
    created = (await api.post("/branches/b1/notices", manager, json={"text": "旧"})).json()
    changed = await api.put(
        f"/branches/b1/notices/{created['id']}", manager, json={"text": "新", "text_en": "New"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["text"], changed.json()["text_en"]) == ("新", "New")
    assert await shown(api, left) == ["新"]
    withdrawn = await api.delete(f"/branches/b1/notices/{created['id']}", manager)
    assert withdrawn.status_code == 204
    assert await shown(api, left) == []
    events = (await api.get("/branches/b1/events", manager)).json()["events"]
    logged = [(e["type"], e["data"]["notice_id"]) for e in events if e["type"] == "notices_changed"]
    assert logged == [("notices_changed", created["id"])] * 3
    assert_error(await api.delete(f"/branches/b1/notices/{created['id']}", manager), 404)


async def test_a_notice_needs_text_a_window_that_ends_after_it_starts_and_known_displays(
    api: Api,
) -> None:
    _, manager, _, _, _ = await hall(api)
    now = api.clock.now
    for body in (
        {"text": ""},
        {"text": "x" * 501},
        {"text": "公告", "starts_at": now + 60, "ends_at": now},
        {"text": "公告", "displays": []},
        {"text": "公告", "displays": [99999]},
        {"text": "公告", "colour": "red"},
        {"text": "公告\u0007"},
    ):
        assert_error(await api.post("/branches/b1/notices", manager, json=body), 422)
