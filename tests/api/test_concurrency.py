"""Many clerks calling at once on one branch: no ticket is called twice, no counter holds two
tickets, and the event log's sequence numbers stay gap-free."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any

from app.auth import Role

from .conftest import Api, Clock, Headers, make_branch, running_app

TICKETS = 200
COUNTERS = (1, 2, 3, 4, 5)
CLERKS_PER_COUNTER = 2


async def all_events(api: Api, headers: Headers) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    since = 0
    while True:
        page = (await api.get(f"/branches/b1/events?since={since}&limit=1000", headers)).json()
        events.extend(page["events"])
        since = page["next_since"]
        if not page["more"]:
            return events


async def serve_until_nobody_waits(api: Api, clerk: Headers, number: int) -> list[str]:
    """One clerk's loop at a counter: call, finish, again; another clerk at the same counter
    races for the same calls. Returns the tickets this clerk called."""
    called: list[str] = []
    while True:
        response = await api.counter(clerk, number, "call-next")
        if response.status_code == 204:
            return called
        if response.status_code == 409:  # the other clerk of this counter holds a ticket
            assert response.json()["error"] == "CounterBusy", response.text
            await asyncio.sleep(0)
            continue
        assert response.status_code == 200, response.text
        called.append(response.json()["ticket"]["number"])
        finished = await api.counter(clerk, number, "finish")
        assert finished.status_code == 200, finished.text


async def test_concurrent_calls_never_call_a_ticket_twice_or_give_a_counter_two(
    migrated: str,
) -> None:
    async with running_app(migrated, Clock(step=0.001)) as api:
        admin = await api.user("root", Role.ADMIN, None)
        await make_branch(api, admin)
        for number in COUNTERS[2:]:
            await api.post(
                "/branches/b1/counters", admin, json={"number": number, "tiers": [["A", "B"]]}
            )
        clerk = await api.user("clerk", Role.CLERK, "b1")
        issued = await asyncio.gather(
            *(api.issue(clerk, service="AB"[i % 2]) for i in range(TICKETS))
        )
        assert len({t["number"] for t in issued}) == TICKETS
        for number in COUNTERS:
            await api.counter(clerk, number, "open")

        loops = await asyncio.gather(
            *(
                serve_until_nobody_waits(api, clerk, number)
                for number in COUNTERS
                for _ in range(CLERKS_PER_COUNTER)
            )
        )

        called = [number for loop in loops for number in loop]
        assert sorted(called) == sorted(t["number"] for t in issued)
        events = await all_events(api, admin)
        queue = (await api.get("/branches/b1/queue", admin)).json()

    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    types = Counter(e["type"] for e in events)
    assert types["ticket_issued"] == types["ticket_called"] == types["ticket_finished"] == TICKETS
    calls_per_ticket = Counter(
        e["data"]["ticket_id"] for e in events if e["type"] == "ticket_called"
    )
    assert set(calls_per_ticket.values()) == {1}
    holding: dict[int, int | None] = defaultdict(lambda: None)
    for event in events:
        if event["type"] == "ticket_called":
            counter = event["data"]["counter"]
            assert holding[counter] is None, f"counter {counter} called while holding a ticket"
            holding[counter] = event["data"]["ticket_id"]
        elif event["type"] == "ticket_finished":
            counter = event["data"]["counter"]
            assert holding[counter] == event["data"]["ticket_id"]
            holding[counter] = None
    assert queue["waiting"] == 0
    assert all(c["ticket"] is None for c in queue["counters"])
    assert len({n for loop in loops for n in loop}) == TICKETS


async def press_next_until_nobody_waits(api: Api, clerk: Headers, number: int) -> list[str]:
    """One clerk pressing "next" at a counter (finish and call in one request) while another
    clerk presses it at the same counter. Returns the tickets this clerk called."""
    called: list[str] = []
    while True:
        response = await api.counter(clerk, number, "next")
        assert response.status_code == 200, response.text
        ticket = response.json()["ticket"]
        if ticket is None:
            return called
        called.append(ticket["number"])


async def test_concurrent_next_presses_finish_and_call_every_ticket_exactly_once(
    migrated: str,
) -> None:
    async with running_app(migrated, Clock(step=0.001)) as api:
        admin = await api.user("root", Role.ADMIN, None)
        await make_branch(api, admin)
        for number in COUNTERS[2:]:
            await api.post(
                "/branches/b1/counters", admin, json={"number": number, "tiers": [["A", "B"]]}
            )
        clerk = await api.user("clerk", Role.CLERK, "b1")
        issued = await asyncio.gather(
            *(api.issue(clerk, service="AB"[i % 2]) for i in range(TICKETS))
        )
        for number in COUNTERS:
            await api.counter(clerk, number, "open")
        loops = await asyncio.gather(
            *(
                press_next_until_nobody_waits(api, clerk, number)
                for number in COUNTERS
                for _ in range(CLERKS_PER_COUNTER)
            )
        )
        events = await all_events(api, admin)
        queue = (await api.get("/branches/b1/queue", admin)).json()

    called = [number for loop in loops for number in loop]
    assert sorted(called) == sorted(t["number"] for t in issued)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    types = Counter(e["type"] for e in events)
    assert types["ticket_issued"] == types["ticket_called"] == types["ticket_finished"] == TICKETS
    holding: dict[int, int | None] = defaultdict(lambda: None)
    for event in events:
        counter = event["data"].get("counter")
        if event["type"] == "ticket_called":
            assert holding[counter] is None, f"counter {counter} called while holding a ticket"
            holding[counter] = event["data"]["ticket_id"]
        elif event["type"] == "ticket_finished":
            assert holding[counter] == event["data"]["ticket_id"]
            holding[counter] = None
    assert queue["waiting"] == 0
    assert all(c["ticket"] is None for c in queue["counters"])
