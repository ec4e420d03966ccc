"""The live dashboard: waiting and longest wait per service, counters, today's figures, and each
alert: a wait over its SLA, an idle counter while its services have people waiting, a negative
rating just received, an overdue case. A rating is logged as a ``rating_received`` event."""

from __future__ import annotations

from typing import Any

import pytest

from app import dashboard
from app.auth import Role
from tests.api.conftest import Api, Headers, assert_error, make_branch


async def hall(api: Api) -> tuple[Headers, Headers, Headers]:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    manager = await api.user("manager", Role.MANAGER, "b1")
    clerk = await api.user("clerk", Role.CLERK, "b1")
    return admin, manager, clerk


async def board(api: Api, manager: Headers) -> Any:
    response = await api.get("/branches/b1/dashboard", manager)
    assert response.status_code == 200, response.text
    return response.json()


def kinds(body: Any) -> list[tuple[str, Any]]:
    return [(a["kind"], a["service"] or a["counter"] or a["case_id"]) for a in body["alerts"]]


async def test_a_wait_over_its_sla_is_a_critical_alert(api: Api) -> None:
    _, manager, clerk = await hall(api)
    changed = await api.put(
        "/branches/b1/services/A", manager, json={"code": "A", "name": "业务A", "sla_minutes": 10}
    )
    assert changed.status_code == 200, changed.text
    await api.issue(clerk)
    api.clock.advance(9 * 60)
    body = await board(api, manager)
    a = next(s for s in body["services"] if s["code"] == "A")
    assert (a["waiting"], a["longest_wait_seconds"], a["sla_seconds"], a["over_sla"]) == (
        1,
        540.0,
        600.0,
        False,
    )
    assert body["alerts"] == []
    api.clock.advance(2 * 60)
    body = await board(api, manager)
    assert kinds(body) == [("wait_over_sla", "A")]
    alert = body["alerts"][0]
    assert alert["severity"] == "critical"
    assert "11 分钟" in alert["message"]
    assert "10-minute" in alert["message_en"]


async def test_an_open_counter_idle_while_its_services_have_people_waiting(api: Api) -> None:
    _, manager, clerk = await hall(api)
    assert (await api.counter(clerk, 1, "open")).status_code == 200
    assert (await board(api, manager))["alerts"] == []  # nobody waits
    await api.issue(clerk, service="B")  # counter 1 serves B in its second tier
    body = await board(api, manager)
    assert kinds(body) == [("idle_counter", 1)]  # idle since it opened
    assert "1 人等候" in body["alerts"][0]["message"]
    called = await api.counter(clerk, 1, "call-next")
    assert called.status_code == 200
    await api.issue(clerk, service="A")
    body = await board(api, manager)
    counter = next(c for c in body["counters"] if c["number"] == 1)
    assert counter["ticket"]["number"] == "B001"
    assert counter["since"] == pytest.approx(api.clock.now, abs=0.001)
    assert body["alerts"] == []  # busy
    assert (await api.counter(clerk, 1, "finish")).status_code == 200
    api.clock.advance(dashboard.IDLE_GRACE_SECONDS - 1)
    assert (await board(api, manager))["alerts"] == []  # just finished: not idle yet
    api.clock.advance(2)
    assert kinds(await board(api, manager)) == [("idle_counter", 1)]
    assert (await api.counter(clerk, 1, "pause")).status_code == 200
    body = await board(api, manager)
    assert body["alerts"] == []  # a paused counter is not idle
    assert next(c for c in body["counters"] if c["number"] == 1)["state"] == "paused"


async def test_a_negative_rating_alerts_for_an_hour_and_is_logged_as_an_event(api: Api) -> None:
    _, manager, clerk = await hall(api)
    ticket = await api.issue(clerk)
    await api.counter(clerk, 1, "open")
    await api.counter(clerk, 1, "call-next")
    await api.counter(clerk, 1, "finish")
    rated = await api.post(
        f"/tickets/{ticket['token']}/rating", json={"level": "dissatisfied", "reason": "slow"}
    )
    assert rated.status_code == 201, rated.text
    body = await board(api, manager)
    assert kinds(body) == [("negative_rating", 1)]
    alert = body["alerts"][0]
    assert (alert["rating_id"], alert["case_id"]) == (rated.json()["id"], rated.json()["case"])
    assert alert["message"] == "A001 评价「不满意」（1号窗口）"
    today = body["today"]
    assert (today["served"], today["ratings"], today["satisfaction_rate"]) == (1, 1, 0.0)
    assert (today["cases_open"], today["cases_overdue"]) == (1, 0)
    events = (await api.get("/branches/b1/events", manager)).json()["events"]
    last = events[-1]
    assert last["type"] == "rating_received"
    assert last["seq"] == events[-2]["seq"] + 1
    assert last["at"] == pytest.approx(api.clock.now, abs=0.001)
    assert last["data"] == {
        "rating_id": rated.json()["id"],
        "ticket_id": ticket["id"],
        "number": "A001",
        "service": "A",
        "counter": 1,
        "clerk_id": rated.json()["clerk_id"],
        "level": "dissatisfied",
        "score": 1,
        "negative": True,
        "reason": "slow",
        "channel": "mobile",
        "case_id": rated.json()["case"],
    }
    api.clock.advance(dashboard.NEGATIVE_RATING_SECONDS + 1)
    assert [k for k, _ in kinds(await board(api, manager))] == []


async def test_an_open_case_past_its_deadline_is_a_critical_alert_until_closed(
    api: Api,
) -> None:
    _, manager, _ = await hall(api)
    opened = await api.post(
        "/branches/b1/cases", manager, json={"source": "phone", "description": "电话投诉"}
    )
    case_id = opened.json()["id"]
    assert (await board(api, manager))["alerts"] == []
    api.clock.advance(7 * 86400)  # well past two working days
    body = await board(api, manager)
    assert kinds(body) == [("overdue_case", case_id)]
    assert body["today"]["cases_overdue"] == 1
    closed = await api.post(
        f"/branches/b1/cases/{case_id}/close", manager, json={"resolution": "已回访"}
    )
    assert closed.status_code == 200, closed.text
    assert (await board(api, manager))["alerts"] == []


def test_alerts_come_critical_first_then_oldest_first() -> None:
    services = [dashboard.ServiceLine("A", "业务A", 3, 900.0, 600.0)]
    counters = [dashboard.CounterLine(2, "2号窗口", "open", False, frozenset({"A"}), 100.0)]
    ratings = [dashboard.NegativeRating(7, "A001", 2, "不满意", 950.0, 3)]
    cases = [dashboard.OverdueCase(3, "A001", 2, 990.0)]
    found = dashboard.alerts(services, counters, ratings, cases, now=1000.0)
    assert [(a.kind, a.at) for a in found] == [
        ("wait_over_sla", 700.0),
        ("overdue_case", 990.0),
        ("idle_counter", 100.0),
        ("negative_rating", 950.0),
    ]


async def test_only_managers_of_the_branch_see_its_dashboard(api: Api) -> None:
    _, _, clerk = await hall(api)
    assert_error(await api.get("/branches/b1/dashboard", clerk), 403, "Forbidden")


async def test_a_case_past_its_deadline_is_announced_once_as_an_event(api: Api) -> None:
    _, manager, _ = await hall(api)
    opened = await api.post(
        "/branches/b1/cases",
        manager,
        json={"source": "desk", "description": "窗口投诉", "ticket": "A001", "counter": 2},
    )
    case = opened.json()
    watch = api.app.state.overdue
    assert await watch.check() == 0  # not due yet
    api.clock.advance(case["deadline"] - api.clock.now + 1)
    assert await watch.check() == 1
    assert await watch.check() == 0  # once
    events = (await api.get("/branches/b1/events", manager)).json()["events"]
    overdue = [e for e in events if e["type"] == "case_overdue"]
    assert [
        (e["data"]["case_id"], e["data"]["ticket_number"], e["data"]["counter"]) for e in overdue
    ] == [(case["id"], "A001", 2)]
    assert overdue[0]["data"]["deadline"] == case["deadline"]
    assert overdue[0]["seq"] == events[-1]["seq"]
