"""Taking a ticket (a kiosk or staff) and the customer's view of it through its token alone."""

from __future__ import annotations

import secrets
from typing import Any

from app.auth import Role

from .conftest import Api, Headers, assert_error, make_branch


async def clerk_of_b1(api: Api) -> Headers:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    return await api.user("clerk", Role.CLERK, "b1")


async def test_a_ticket_has_a_number_a_place_and_an_unguessable_token(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    first = await api.issue(clerk, service="A")
    second = await api.issue(clerk, service="A", priority="care", channel="wechat")
    other = await api.issue(clerk, service="B")
    assert [first["number"], second["number"], other["number"]] == ["A001", "A002", "B001"]
    assert first["state"] == "waiting"
    assert (first["ahead"], other["ahead"]) == (0, 0)
    assert second["priority"] == "care"
    assert second["channel"] == "wechat"
    assert first["service_name"] == "业务A"
    assert first["branch"] == "b1"
    assert len({first["token"], second["token"], other["token"]}) == 3
    assert all(len(t["token"]) >= 32 for t in (first, second, other))


async def test_the_customer_sees_the_ticket_by_its_token_without_signing_in(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    await api.issue(clerk)
    mine = await api.issue(clerk)
    seen = await api.get(f"/tickets/{mine['token']}")
    assert seen.status_code == 200, seen.text
    ticket = seen.json()
    assert ticket["number"] == "A002"
    assert ticket["ahead"] == 1
    assert ticket["state"] == "waiting"
    assert "token" not in ticket
    await api.counter(clerk, 1, "open")
    await api.counter(clerk, 1, "call-next")
    assert (await api.get(f"/tickets/{mine['token']}")).json()["ahead"] == 0


async def test_another_customers_ticket_cannot_be_found_by_guessing(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    mine = await api.issue(clerk)
    token = mine["token"]
    one_off = token[:-1] + ("y" if token.endswith("x") else "x")  # never the token itself
    for guess in (secrets.token_urlsafe(24), one_off, "A001" * 4):
        assert_error(await api.get(f"/tickets/{guess}"), 404, "NotFound")
        assert_error(await api.delete(f"/tickets/{guess}"), 404, "NotFound")
    assert (await api.get(f"/tickets/{mine['token']}")).json()["state"] == "waiting"


async def test_a_malformed_token_is_invalid(api: Api) -> None:
    await clerk_of_b1(api)
    for token in ("short", "x" * 65, "has+plus+signs+in+it", "dots.are.not.allowed.here"):
        assert_error(await api.get(f"/tickets/{token}"), 422, "Invalid")


async def test_the_customer_cancels_a_waiting_ticket_once(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    ticket = await api.issue(clerk)
    behind = await api.issue(clerk)
    cancelled = await api.delete(f"/tickets/{ticket['token']}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert_error(await api.delete(f"/tickets/{ticket['token']}"), 409, "IllegalTransition")
    assert (await api.get(f"/tickets/{behind['token']}")).json()["ahead"] == 0
    queue = (await api.get("/branches/b1/queue", clerk)).json()
    assert queue["waiting"] == 1


async def test_a_called_customer_who_cancels_frees_the_counter(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    called = await api.issue(clerk)
    await api.issue(clerk)
    await api.counter(clerk, 1, "open")
    await api.counter(clerk, 1, "call-next")
    assert (await api.delete(f"/tickets/{called['token']}")).json()["state"] == "cancelled"
    queue = (await api.get("/branches/b1/queue", clerk)).json()
    assert queue["counters"][0]["ticket"] is None
    next_call = await api.counter(clerk, 1, "call-next")
    assert next_call.json()["ticket"]["number"] == "A002"


async def test_a_finished_ticket_cannot_be_cancelled(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    ticket = await api.issue(clerk)
    await api.counter(clerk, 1, "open")
    await api.counter(clerk, 1, "call-next")
    await api.counter(clerk, 1, "finish")
    assert_error(await api.delete(f"/tickets/{ticket['token']}"), 409, "IllegalTransition")
    assert (await api.get(f"/tickets/{ticket['token']}")).json()["state"] == "finished"


async def test_yesterdays_ticket_is_not_found_today(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    yesterday = await api.issue(clerk)
    api.clock.advance(24 * 3600)
    today = await api.issue(clerk)
    assert today["number"] == "A001"
    assert_error(await api.get(f"/tickets/{yesterday['token']}"), 404, "NotFound")
    assert (await api.get(f"/tickets/{today['token']}")).status_code == 200


async def test_taking_a_ticket_needs_a_kiosk_or_staff(api: Api) -> None:
    await clerk_of_b1(api)
    response = await api.post("/branches/b1/tickets", json={"service": "A"})
    assert_error(response, 401, "NotAuthenticated")
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_ticket_for_an_unknown_service_or_branch_is_404(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    missing = await api.post("/branches/b1/tickets", clerk, json={"service": "Z"})
    assert_error(missing, 404, "UnknownService")
    admin = await api.login("root", "pw-root-secret")
    nowhere = await api.post("/branches/nowhere/tickets", admin, json={"service": "A"})
    assert_error(nowhere, 404, "UnknownBranch")


BAD_TICKETS: list[Any] = [
    {},
    {"service": "a"},
    {"service": "AAAA"},
    {"service": "A", "priority": "appointment"},
    {"service": "A", "priority": "urgent"},
    {"service": "A", "channel": "Kiosk"},
    {"service": "A", "channel": "k" * 33},
    {"service": "A", "name": "张三"},
    {"service": 1},
    ["A"],
    "A",
    None,
]


async def test_a_ticket_with_any_bad_field_is_refused_422_and_nothing_is_issued(
    api: Api,
) -> None:
    clerk = await clerk_of_b1(api)
    for body in BAD_TICKETS:
        response = await api.post("/branches/b1/tickets", clerk, json=body)
        assert response.status_code == 422, (body, response.text)
        assert_error(response, 422, "Invalid")
    assert (await api.get("/branches/b1/queue", clerk)).json()["waiting"] == 0
    assert (await api.issue(clerk))["number"] == "A001"


async def test_the_issue_reply_shows_the_place_and_estimate_a_look_up_shows(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    await api.counter(clerk, 1, "open")
    await api.counter(clerk, 2, "open")
    for _ in range(2):
        await api.issue(clerk)
    await api.counter(clerk, 1, "call-next")
    issued = [await api.issue(clerk) for _ in range(3)]
    assert [t["ahead"] for t in issued] == [1, 2, 3]
    assert all(t["eta_minutes"] is not None for t in issued)
    assert issued[-1]["eta_minutes"] > 0
    for ticket in issued:
        seen = (await api.get(f"/tickets/{ticket['token']}")).json()
        assert (seen["ahead"], seen["eta_minutes"]) == (ticket["ahead"], ticket["eta_minutes"])
