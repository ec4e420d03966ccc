"""A whole morning through the API: configure, issue, call, serve, restart."""

from __future__ import annotations

from app.auth import Role

from .conftest import Api, make_branch


async def test_a_ticket_goes_from_kiosk_to_counter_and_back_to_the_customer(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    clerk = await api.user("clerk", Role.CLERK, "b1")

    issued = await api.post("/branches/b1/tickets", clerk, json={"service": "A"})
    assert issued.status_code == 201, issued.text
    ticket = issued.json()
    assert ticket["number"] == "A001"
    assert ticket["ahead"] == 0
    assert len(ticket["token"]) >= 22

    assert (await api.post("/branches/b1/counters/1/call-next", clerk)).status_code == 409
    assert (await api.post("/branches/b1/counters/1/open", clerk)).status_code == 200
    called = await api.post("/branches/b1/counters/1/call-next", clerk)
    assert called.status_code == 200, called.text
    assert called.json()["ticket"]["number"] == "A001"
    assert called.json()["reason"] == "tier"

    mine = await api.get(f"/tickets/{ticket['token']}")
    assert mine.status_code == 200
    assert mine.json()["state"] == "called"
    assert mine.json()["counter"] == 1

    assert (await api.post("/branches/b1/counters/1/start", clerk)).status_code == 200
    finished = await api.post("/branches/b1/counters/1/finish", clerk, json={"outcome": "办结"})
    assert finished.status_code == 200
    assert (await api.post("/branches/b1/counters/1/call-next", clerk)).status_code == 204

    queue = await api.get("/branches/b1/queue", clerk)
    assert queue.json()["recent_calls"][0]["number"] == "A001"
    events = await api.get("/branches/b1/events?since=0", clerk)
    types = [e["type"] for e in events.json()["events"]]
    assert types == [
        "ticket_issued",
        "counter_state_changed",
        "ticket_called",
        "service_started",
        "ticket_finished",
    ]
    assert [e["seq"] for e in events.json()["events"]] == [1, 2, 3, 4, 5]
