"""A thousand "call next" clicks at once on one branch, over 2 and then 10 counters, and bursts
of retries under one ``Idempotency-Key``: no ticket is called twice, no counter ever holds two
tickets, the event log stays gap-free, and each key acts once and always answers the same.

``tests/api/test_concurrency.py`` runs clerks in loops (call, finish) on 5 counters; this file
fires every click at the same moment, mixes "next" with "call-next" (which a busy counter
refuses), and checks the store as well as the replies. ``python -m benchmarks.soak`` runs it with
10,000 clicks."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.auth import Role
from app.db import models
from tests.api.conftest import Api, Clock, Headers, make_branch, running_app
from tests.api.test_concurrency import all_events

CLICKS = 1000
UNLIMITED = {
    "rate_limit_issue": "1000000/minute",  # one clerk issues every ticket
    # Every click is a coroutine in the server's own event loop (in-process client): with
    # 10,000 of them a statement's answer waits seconds for the loop, which a 1 s statement
    # limit would count as a silent store. These tests are about contention, not timeouts.
    "store_command_timeout_seconds": 30.0,
    "store_connect_timeout_seconds": 30.0,
}
RETRY_LIMIT = 200  # a retry that still finds its key in flight after this many tries is a hang


async def branch_with_counters(api: Api, counters: int) -> tuple[Headers, Headers]:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)  # counters 1 and 2
    for number in range(3, counters + 1):
        created = await api.post(
            "/branches/b1/counters", admin, json={"number": number, "tiers": [["A", "B"]]}
        )
        assert created.status_code == 201, created.text
    clerk = await api.user("clerk", Role.CLERK, "b1")
    for number in range(1, counters + 1):
        opened = await api.counter(clerk, number, "open")
        assert opened.status_code == 200, opened.text
    return admin, clerk


async def issue_many(api: Api, clerk: Headers, count: int) -> list[dict[str, Any]]:
    issued: list[dict[str, Any]] = []
    for start in range(0, count, 100):
        issued += await asyncio.gather(
            *(api.issue(clerk, service="AB"[i % 2]) for i in range(start, min(count, start + 100)))
        )
    return issued


def replay_counters(events: list[dict[str, Any]]) -> dict[int, int | None]:
    """Walk the event log: a counter is only called while it holds nothing, and finishes only
    the ticket it holds. Returns what each counter holds at the end."""
    holding: dict[int, int | None] = defaultdict(lambda: None)
    for event in events:
        counter = event["data"].get("counter")
        if event["type"] == "ticket_called":
            assert holding[counter] is None, f"counter {counter} called while holding a ticket"
            holding[counter] = event["data"]["ticket_id"]
        elif event["type"] == "ticket_finished":
            assert holding[counter] == event["data"]["ticket_id"], event
            holding[counter] = None
    return dict(holding)


async def active_per_counter(api: Api) -> Counter[int | None]:
    async with api.store.sessions() as session:
        rows = await session.execute(
            select(models.Ticket.counter, func.count())
            .where(models.Ticket.state.in_(("called", "serving")))
            .group_by(models.Ticket.counter)
        )
        return Counter(dict(rows.all()))


async def click_everything_at_once(
    api: Api, clerk: Headers, counters: int, clicks: int, rng: random.Random
) -> list[tuple[int, httpx.Response]]:
    plan = [
        (rng.randint(1, counters), rng.choice(("next", "next", "call-next"))) for _ in range(clicks)
    ]
    responses = await asyncio.gather(*(api.counter(clerk, n, command) for n, command in plan))
    return [(number, response) for (number, _), response in zip(plan, responses, strict=True)]


@pytest.mark.parametrize("counters", [2, 10])
async def test_a_thousand_simultaneous_clicks_call_each_ticket_once_and_one_per_counter(
    migrated: str, counters: int
) -> None:
    await simultaneous_clicks(migrated, counters, CLICKS)


async def simultaneous_clicks(migrated: str, counters: int, clicks: int) -> dict[str, Any]:
    """``clicks`` tickets, then ``clicks`` clicks at once; checks everything, returns counts."""
    async with running_app(migrated, Clock(step=0.001), **UNLIMITED) as api:
        admin, clerk = await branch_with_counters(api, counters)
        issued = await issue_many(api, clerk, clicks)
        began = time.monotonic()
        answered = await click_everything_at_once(
            api, clerk, counters, clicks, random.Random(counters)
        )
        seconds = time.monotonic() - began
        events = await all_events(api, admin)
        queue = (await api.get("/branches/b1/queue", admin)).json()
        active = await active_per_counter(api)

    called: list[int] = []
    for number, response in answered:
        if response.status_code == 409:
            assert response.json()["error"] == "CounterBusy", response.text
            continue
        assert response.status_code in (200, 204), response.text
        if response.status_code == 200 and response.json()["ticket"] is not None:
            ticket = response.json()["ticket"]
            assert (ticket["counter"], ticket["state"]) == (number, "called")
            called.append(ticket["id"])
    assert len(called) == len(set(called)), "a ticket was called twice"
    assert called, "no click called anybody"

    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    calls = Counter(e["data"]["ticket_id"] for e in events if e["type"] == "ticket_called")
    assert set(calls.values()) == {1}
    assert sorted(calls) == sorted(called), "every call in the log was answered, and only those"
    holding = replay_counters(events)

    served = {c["number"]: c["ticket"]["id"] if c["ticket"] else None for c in queue["counters"]}
    assert served == {n: holding.get(n) for n in range(1, counters + 1)}
    assert max(active.values()) == 1, f"a counter holds two tickets in the store: {active}"
    assert sum(active.values()) == sum(t is not None for t in served.values())
    assert queue["waiting"] == len(issued) - len(called)
    statuses = Counter(response.status_code for _, response in answered)
    return {
        "counters": counters,
        "clicks": clicks,
        "seconds": round(seconds, 2),
        "called": len(called),
        "refused_busy": statuses[409],
        "events": len(events),
        "tickets_called_twice": 0,
        "counters_with_two_tickets": 0,
    }


def keyed(headers: Headers, key: str) -> Headers:
    return {**headers, "Idempotency-Key": key}


async def press_until_answered(api: Api, clerk: Headers, number: int, key: str) -> httpx.Response:
    """A terminal that retries its "next" under one key while the first try is in flight."""
    for _ in range(RETRY_LIMIT):
        response = await api.counter(keyed(clerk, key), number, "next")
        if response.status_code != 409:
            return response
        assert response.json()["error"] == "IdempotencyInFlight", response.text
        await asyncio.sleep(0.005)
    raise AssertionError(f"key {key} still in flight after {RETRY_LIMIT} tries")


async def test_concurrent_retries_under_each_key_act_once_and_answer_identically(
    migrated: str,
) -> None:
    await retried_presses(migrated, presses=100, copies=5, counters=4)


async def retried_presses(
    migrated: str, *, presses: int, copies: int, counters: int
) -> dict[str, Any]:
    """``presses`` keyed "next" presses, each sent ``copies`` times at once; returns counts."""
    async with running_app(migrated, Clock(step=0.001), **UNLIMITED) as api:
        admin, clerk = await branch_with_counters(api, counters)
        await issue_many(api, clerk, presses // 2)  # half the presses find nobody waiting
        rng = random.Random(5)
        plan = [(f"press-{i}", rng.randint(1, counters)) for i in range(presses)]
        sends = [(key, number) for key, number in plan for _ in range(copies)]
        rng.shuffle(sends)
        responses = await asyncio.gather(
            *(press_until_answered(api, clerk, number, key) for key, number in sends)
        )
        events = await all_events(api, admin)
        later = {key: await api.counter(keyed(clerk, key), number, "next") for key, number in plan}

    answers: dict[str, list[httpx.Response]] = defaultdict(list)
    for (key, _), response in zip(sends, responses, strict=True):
        answers[key].append(response)
    effects = 0
    for key, replies in answers.items():
        assert len(replies) == copies
        first = replies[0]
        assert first.status_code == 200, first.text
        for reply in [*replies[1:], later[key]]:
            assert (reply.status_code, reply.json()) == (200, first.json()), key
        effects += first.json()["ticket"] is not None
    calls = Counter(e["data"]["ticket_id"] for e in events if e["type"] == "ticket_called")
    assert set(calls.values()) == {1}
    assert sum(calls.values()) == effects == presses // 2
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    replay_counters(events)
    return {"keys": presses, "copies": copies, "effects": effects, "answers": len(responses)}
