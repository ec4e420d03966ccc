"""Service evaluation: who may rate which ticket, once, within the window, on the branch's
scale; reasons below "satisfied"; a dissatisfied rating opens a follow-up case at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.auth import Role
from app.db import models

from .conftest import Api, Headers, assert_error, make_branch

DAY = 86400.0


@dataclass
class RatingHall:
    admin: Headers
    manager: Headers
    clerk: Headers
    clerk_id: int
    evaluator: Headers


async def rating_hall(api: Api) -> RatingHall:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    manager = await api.user("manager", Role.MANAGER, "b1")
    clerk = await api.user("clerk", Role.CLERK, "b1")
    staff = (await api.get("/branches/b1/staff", manager)).json()
    clerk_id = next(u["id"] for u in staff if u["username"] == "clerk")
    evaluator = await api.device(manager, "b1", "evaluator")  # at counter 1
    return RatingHall(admin, manager, clerk, clerk_id, evaluator)


async def served(api: Api, clerk: Headers, counter: int = 1) -> dict[str, Any]:
    """A ticket issued, called and finished at ``counter`` by ``clerk``."""
    ticket = await api.issue(clerk)
    state = (await api.get(f"/branches/b1/counters/{counter}", clerk)).json()["state"]
    if state != "open":
        assert (await api.counter(clerk, counter, "open")).status_code == 200
    called = await api.counter(clerk, counter, "call-next")
    assert called.json()["ticket"]["number"] == ticket["number"], called.text
    finished = await api.counter(clerk, counter, "finish")
    assert finished.status_code == 200, finished.text
    return ticket


async def rate(api: Api, ticket: dict[str, Any], **body: Any) -> Any:
    return await api.post(f"/tickets/{ticket['token']}/rating", json=body)


async def test_a_customer_rates_a_served_ticket_and_the_rating_is_bound_to_who_served_it(
    api: Api,
) -> None:
    hall = await rating_hall(api)
    ticket = await served(api, hall.clerk)
    before = (await api.get(f"/tickets/{ticket['token']}/rating")).json()
    assert before["rateable"] is True
    assert before["scale"] == "four"
    assert [level["name"] for level in before["levels"]] == ["非常满意", "满意", "一般", "不满意"]
    assert {"code": "long_wait", "name": "等候时间太长", "name_en": "Waited too long"} in before[
        "reasons"
    ]
    response = await rate(api, ticket, level="very_satisfied", text="很好")
    assert response.status_code == 201, response.text
    rating = response.json()
    assert rating["ticket"] == ticket["number"]
    assert (rating["service"], rating["counter"], rating["clerk_id"]) == ("A", 1, hall.clerk_id)
    assert (rating["level"], rating["score"], rating["channel"]) == ("very_satisfied", 4, "mobile")
    assert rating["case"] is None
    after = (await api.get(f"/tickets/{ticket['token']}/rating")).json()
    assert after["rateable"] is False
    assert after["rating"]["id"] == rating["id"]


async def test_only_a_finished_ticket_can_be_rated(api: Api) -> None:
    hall = await rating_hall(api)
    waiting = await api.issue(hall.clerk)
    refused = await rate(api, waiting, level="satisfied")
    assert_error(refused, 409, "TicketNotServed")
    assert "waiting" in refused.json()["detail"]
    await api.counter(hall.clerk, 1, "open")
    await api.counter(hall.clerk, 1, "call-next")
    assert_error(await rate(api, waiting, level="satisfied"), 409, "TicketNotServed")
    cancelled = await api.issue(hall.clerk)
    assert (await api.delete(f"/tickets/{cancelled['token']}")).status_code == 200
    assert_error(await rate(api, cancelled, level="satisfied"), 409, "TicketNotServed")
    assert (await api.get(f"/tickets/{waiting['token']}/rating")).json()["rateable"] is False


async def test_a_ticket_is_rated_once(api: Api) -> None:
    hall = await rating_hall(api)
    ticket = await served(api, hall.clerk)
    assert (await rate(api, ticket, level="satisfied")).status_code == 201
    assert_error(await rate(api, ticket, level="very_satisfied"), 409, "AlreadyRated")
    listed = (await api.get("/branches/b1/ratings", hall.manager)).json()
    assert [r["level"] for r in listed] == ["satisfied"]


async def test_two_ratings_of_one_ticket_at_once_store_exactly_one(api: Api) -> None:
    hall = await rating_hall(api)
    ticket = await served(api, hall.clerk)
    answers = await asyncio.gather(
        *(rate(api, ticket, level=level) for level in ("satisfied", "very_satisfied") * 3)
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409, 409]
    for answer in answers:
        if answer.status_code == 409:
            assert_error(answer, 409, "AlreadyRated")
    async with api.store.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(models.Rating))
    assert count == 1


async def test_the_store_itself_refuses_a_second_rating_of_one_ticket(api: Api) -> None:
    hall = await rating_hall(api)
    ticket = await served(api, hall.clerk)
    assert (await rate(api, ticket, level="satisfied")).status_code == 201
    async with api.store.sessions() as session:
        first = await session.scalar(select(models.Rating))
        assert first is not None
        copy = {
            c.name: getattr(first, c.name)
            for c in models.Rating.__table__.columns
            if c.name != "id"
        }
    with pytest.raises(IntegrityError):
        async with api.store.sessions() as session, session.begin():
            session.add(models.Rating(**copy))


async def test_the_rating_window_closes_24_hours_after_the_service(api: Api) -> None:
    hall = await rating_hall(api)
    early, late = await served(api, hall.clerk), await served(api, hall.clerk)
    api.clock.advance(DAY - 1)
    assert (await rate(api, early, level="satisfied")).status_code == 201
    api.clock.advance(2)
    refused = await rate(api, late, level="satisfied")
    assert_error(refused, 409, "RatingWindowClosed")
    assert "24 hours" in refused.json()["detail"]
    assert (await api.get(f"/tickets/{late['token']}/rating")).json()["rateable"] is False


async def test_a_ticket_of_yesterday_is_still_rated_within_the_window(api: Api) -> None:
    hall = await rating_hall(api)
    ticket = await served(api, hall.clerk)
    api.clock.advance(20 * 3600)  # 05:00 the next day
    await api.issue(hall.clerk)  # the branch starts its new business day
    response = await rate(api, ticket, level="satisfied")
    assert response.status_code == 201, response.text
    assert response.json()["business_day"] == "2025-11-20"


async def test_the_window_is_a_branch_setting(api: Api) -> None:
    hall = await rating_hall(api)
    policy = await api.put("/branches/b1/policy", hall.manager, json={"rating_window_hours": 1})
    assert policy.status_code == 200, policy.text
    assert policy.json()["rating_window_hours"] == 1
    ticket = await served(api, hall.clerk)
    api.clock.advance(3601)
    assert_error(await rate(api, ticket, level="satisfied"), 409, "RatingWindowClosed")


async def test_below_satisfied_needs_a_reason_from_the_list(api: Api) -> None:
    hall = await rating_hall(api)
    ticket = await served(api, hall.clerk)
    refused = await rate(api, ticket, level="average")
    assert_error(refused, 422, "ReasonRequired")
    assert_error(await rate(api, ticket, level="average", reason="nope"), 422, "UnknownReason")
    assert_error(await rate(api, ticket, level="basically_satisfied"), 422, "UnknownLevel")
    assert_error(await rate(api, ticket, level="average", text="x" * 501), 422, "Invalid")
    assert_error(await rate(api, ticket, level="average", text="bell\x07"), 422, "Invalid")
    accepted = await rate(
        api, ticket, level="average", reason="long_wait", text="等了很久\n下次改进"
    )
    assert accepted.status_code == 201, accepted.text
    assert (accepted.json()["reason"], accepted.json()["text"]) == (
        "long_wait",
        "等了很久\n下次改进",
    )
    assert accepted.json()["case"] is None  # 一般 is the middle of the scale, not a complaint


async def test_a_dissatisfied_rating_opens_a_case_due_in_two_working_days(api: Api) -> None:
    hall = await rating_hall(api)
    ticket = await served(api, hall.clerk)
    rated = await rate(api, ticket, level="dissatisfied", reason="attitude", text="态度差")
    assert rated.status_code == 201, rated.text
    case_id = rated.json()["case"]
    case = (await api.get(f"/branches/b1/cases/{case_id}", hall.manager)).json()
    assert (case["source"], case["state"], case["rating"]) == ("rating", "open", rated.json()["id"])
    assert (case["ticket"], case["counter"], case["clerk_id"]) == ("A001", 1, hall.clerk_id)
    assert "服务态度不好" in case["description"]
    assert "态度差" in case["description"]
    # Thursday 2025-11-20 09:00 in Shanghai: two working days later is Monday 09:00.
    assert case["deadline"] == api.clock.now + 4 * DAY
    assert case["overdue"] is False
    negative = (await api.get("/branches/b1/ratings?negative=true", hall.manager)).json()
    assert [r["case"] for r in negative] == [case_id]


async def test_the_five_level_scale_and_its_own_reasons(api: Api) -> None:
    hall = await rating_hall(api)
    reasons = [{"code": "queue", "name": "排队久", "name_en": "Long queue"}]
    policy = await api.put(
        "/branches/b1/policy",
        hall.manager,
        json={"rating_scale": "five", "rating_reasons": reasons, "case_deadline_working_days": 1},
    )
    assert policy.status_code == 200, policy.text
    ticket, other = await served(api, hall.clerk), await served(api, hall.clerk)
    state = (await api.get(f"/tickets/{ticket['token']}/rating")).json()
    assert [level["name"] for level in state["levels"]] == [
        "非常满意",
        "满意",
        "基本满意",
        "不满意",
        "非常不满意",
    ]
    assert_error(await rate(api, ticket, level="average", reason="queue"), 422, "UnknownLevel")
    assert_error(
        await rate(api, ticket, level="very_dissatisfied", reason="long_wait"), 422, "UnknownReason"
    )
    rated = await rate(api, ticket, level="very_dissatisfied", reason="queue")
    assert rated.status_code == 201, rated.text
    assert (rated.json()["scale"], rated.json()["score"]) == ("five", 1)
    case = (await api.get(f"/branches/b1/cases/{rated.json()['case']}", hall.manager)).json()
    assert case["deadline"] == api.clock.now + DAY  # Thursday to Friday
    middle = await rate(api, other, level="basically_satisfied", reason="queue")
    assert middle.json()["case"] is None


async def test_the_policy_refuses_duplicate_reason_codes(api: Api) -> None:
    hall = await rating_hall(api)
    twice = [{"code": "a", "name": "甲"}, {"code": "a", "name": "乙"}]
    response = await api.put("/branches/b1/policy", hall.manager, json={"rating_reasons": twice})
    assert_error(response, 422, "Invalid")


async def test_the_evaluator_rates_the_ticket_its_counter_just_finished(api: Api) -> None:
    hall = await rating_hall(api)
    idle = (await api.get("/branches/b1/counters/1/rating", hall.evaluator)).json()
    assert (idle["ticket"], idle["rateable"]) == (None, False)
    assert_error(
        await api.post(
            "/branches/b1/counters/1/rating", hall.evaluator, json={"level": "satisfied"}
        ),
        404,
        "NothingToRate",
    )
    first = await served(api, hall.clerk)
    second = await served(api, hall.clerk)
    shown = (await api.get("/branches/b1/counters/1/rating", hall.evaluator)).json()
    assert (shown["ticket"], shown["rateable"]) == (second["number"], True)
    stale = await api.post(
        "/branches/b1/counters/1/rating",
        hall.evaluator,
        json={"level": "satisfied", "ticket_id": first["id"]},
    )
    assert_error(stale, 409, "NotLastFinished")
    rated = await api.post(
        "/branches/b1/counters/1/rating",
        hall.evaluator,
        json={"level": "very_satisfied", "ticket_id": second["id"]},
    )
    assert rated.status_code == 201, rated.text
    assert (rated.json()["ticket"], rated.json()["channel"]) == (second["number"], "evaluator")
    assert rated.json()["clerk_id"] == hall.clerk_id
    again = await api.post(
        "/branches/b1/counters/1/rating", hall.evaluator, json={"level": "satisfied"}
    )
    assert_error(again, 409, "AlreadyRated")
    assert (await api.get("/branches/b1/counters/1/rating", hall.evaluator)).json()[
        "rateable"
    ] is False


async def test_an_evaluator_rates_only_at_its_own_counter(api: Api) -> None:
    hall = await rating_hall(api)
    await served(api, hall.clerk, counter=2)
    for method in ("GET", "POST"):
        refused = await api.request(
            method, "/branches/b1/counters/2/rating", hall.evaluator, json={"level": "satisfied"}
        )
        assert_error(refused, 403, "Forbidden")
        assert "counter 1" in refused.json()["detail"]


async def test_an_evaluator_must_be_bound_to_an_existing_counter(api: Api) -> None:
    hall = await rating_hall(api)
    unbound = await api.post(
        "/branches/b1/devices", hall.manager, json={"kind": "evaluator", "name": "评价器"}
    )
    assert_error(unbound, 422, "Invalid")
    nowhere = await api.post(
        "/branches/b1/devices",
        hall.manager,
        json={"kind": "evaluator", "name": "评价器", "counter": 9},
    )
    assert_error(nowhere, 404, "NotFound")
    kiosk = await api.post(
        "/branches/b1/devices", hall.manager, json={"kind": "kiosk", "name": "k", "counter": 1}
    )
    assert_error(kiosk, 422, "Invalid")
    devices = (await api.get("/branches/b1/devices", hall.manager)).json()
    assert [d["counter"] for d in devices if d["kind"] == "evaluator"] == [1]


async def test_a_ticket_finished_by_a_counter_device_has_no_clerk(api: Api) -> None:
    hall = await rating_hall(api)
    terminal = await api.device(hall.manager, "b1", "counter")
    ticket = await api.issue(hall.clerk)
    for command in ("open", "call-next", "finish"):
        assert (await api.counter(terminal, 1, command)).status_code == 200
    rated = await rate(api, ticket, level="satisfied")
    assert rated.json()["clerk_id"] is None


async def test_next_binds_the_finished_ticket_to_the_clerk(api: Api) -> None:
    hall = await rating_hall(api)
    ticket = await api.issue(hall.clerk)
    await api.issue(hall.clerk)
    await api.counter(hall.clerk, 1, "open")
    await api.counter(hall.clerk, 1, "call-next")
    assert (await api.counter(hall.clerk, 1, "next")).status_code == 200
    rated = await rate(api, ticket, level="satisfied")
    assert rated.json()["clerk_id"] == hall.clerk_id


async def test_managers_filter_the_ratings(api: Api) -> None:
    hall = await rating_hall(api)
    one, two = await served(api, hall.clerk), await served(api, hall.clerk, counter=2)
    await rate(api, one, level="satisfied")
    api.clock.advance(60)
    await rate(api, two, level="dissatisfied", reason="slow", channel="miniprogram")

    async def levels(query: str) -> list[str]:
        response = await api.get(f"/branches/b1/ratings{query}", hall.manager)
        assert response.status_code == 200, response.text
        return [r["level"] for r in response.json()]

    assert await levels("") == ["dissatisfied", "satisfied"]
    assert await levels("?counter=1") == ["satisfied"]
    assert await levels("?channel=miniprogram") == ["dissatisfied"]
    assert await levels("?negative=false") == ["satisfied"]
    assert await levels(f"?clerk={hall.clerk_id}&level=satisfied") == ["satisfied"]
    assert await levels(f"?since={api.clock.now}") == ["dissatisfied"]
    assert await levels(f"?until={api.clock.now}") == ["satisfied"]
    assert await levels("?day=2025-11-21") == []
    assert await levels("?limit=1") == ["dissatisfied"]
    assert_error(await api.get("/branches/b1/ratings", hall.clerk), 403, "Forbidden")


async def test_an_unknown_ticket_link_is_404(api: Api) -> None:
    await rating_hall(api)
    missing = "x" * 32
    assert_error(await api.get(f"/tickets/{missing}/rating"), 404, "NotFound")
    assert_error(
        await api.post(f"/tickets/{missing}/rating", json={"level": "satisfied"}), 404, "NotFound"
    )
