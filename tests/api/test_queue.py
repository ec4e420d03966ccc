"""The live queue of a branch and its event log, page by page."""

from __future__ import annotations

import pytest

from app.auth import Role

from .conftest import Api, Headers, assert_error, make_branch


async def clerk_of_b1(api: Api) -> Headers:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    return await api.user("clerk", Role.CLERK, "b1")


async def test_the_queue_shows_waiting_per_service_counters_and_recent_calls(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    for service in "AAB":
        await api.issue(clerk, service=service)
        api.clock.advance(60)
    await api.counter(clerk, 1, "open")
    await api.counter(clerk, 1, "call-next")
    api.clock.advance(30)
    queue = (await api.get("/branches/b1/queue", clerk)).json()
    assert queue["branch"] == "b1"
    assert queue["business_day"] == "2025-11-20"
    assert queue["waiting"] == 2
    services = {s["code"]: s for s in queue["services"]}
    assert services["A"]["waiting"] == 1
    assert services["A"]["issued_today"] == 2
    assert services["A"]["open_counters"] == 1
    assert services["A"]["longest_wait_seconds"] == 150.0  # A002, issued 2.5 minutes ago
    assert services["B"]["waiting"] == 1
    assert services["B"]["open_counters"] == 1  # counter 1 serves B in its second tier
    first, second = queue["counters"]
    assert (first["number"], first["state"], first["ticket"]["number"]) == (1, "open", "A001")
    assert first["tiers"] == [["A"], ["B"]]
    assert (second["state"], second["ticket"]) == ("closed", None)
    assert [(c["number"], c["counter"]) for c in queue["recent_calls"]] == [("A001", 1)]
    assert queue["seq"] == 5  # three issued, one counter opened, one called


async def test_the_event_log_pages_by_sequence_number(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    for _ in range(5):
        await api.issue(clerk)
    first = (await api.get("/branches/b1/events?limit=2", clerk)).json()
    assert [e["seq"] for e in first["events"]] == [1, 2]
    assert first["more"] is True
    assert first["next_since"] == 2
    rest = (await api.get(f"/branches/b1/events?since={first['next_since']}", clerk)).json()
    assert [e["seq"] for e in rest["events"]] == [3, 4, 5]
    assert rest["more"] is False
    event = rest["events"][0]
    assert event["branch"] == "b1"
    assert event["type"] == "ticket_issued"
    assert event["data"]["number"] == "A003"
    assert event["at"] == pytest.approx(api.clock.now, abs=0.001)
    empty = (await api.get("/branches/b1/events?since=5", clerk)).json()
    assert empty == {"events": [], "next_since": 5, "more": False}


async def test_event_log_paging_out_of_range_is_invalid(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    for query in (
        "since=-1",
        "since=x",
        f"since={2**31}",
        f"since={2**63}",
        "since=99999999999999999999",
        "limit=0",
        "limit=1001",
    ):
        response = await api.get(f"/branches/b1/events?{query}", clerk)
        assert response.status_code == 422, (query, response.text)
        assert_error(response, 422, "Invalid")
    assert (await api.get(f"/branches/b1/events?since={2**31 - 1}", clerk)).status_code == 200
