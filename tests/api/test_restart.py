"""Stopping the app and starting a new one on the same store changes nothing a client can see:
the same queue, the same tickets, the same event log, the same configuration, the same next call,
the same answers to retried requests, and the old credentials still work."""

from __future__ import annotations

import asyncio
from typing import Any

from app.auth import Role
from app.db.store import Batch, Store

from .conftest import Api, Clock, Headers, make_branch, running_app


async def a_busy_morning(api: Api) -> tuple[Headers, list[str]]:
    """Issue, call, transfer, park, no-show, with a changed policy. Returns the admin's headers
    and the customers' tokens."""
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    await api.put(
        "/branches/b1/policy", admin, json={"head_start_seconds": {"vip": 120, "care": 900}}
    )
    changes: list[tuple[str, str, Any]] = [
        ("POST", "/branches/b1/services", {"code": "C", "name": "理财", "sla_minutes": 15}),
        ("POST", "/branches/b1/counters", {"number": 3, "tiers": [["C"], ["A"]], "backup": 1}),
        ("PUT", "/branches/b1/counters/2", {"number": 2, "tiers": [["B"], ["A", "C"]]}),
        ("PUT", "/branches/b1/services/A", {"code": "A", "name": "个人", "daily_quota": 99}),
    ]
    for method, path, body in changes:
        response = await api.request(method, path, admin, json=body)
        assert response.status_code in (200, 201), response.text
    tokens = []
    for service, priority in [("A", "normal"), ("B", "normal"), ("A", "vip"), ("A", "normal")]:
        tokens.append((await api.issue(admin, service=service, priority=priority))["token"])
        api.clock.advance(45)
    for service, priority in [("B", "care"), ("C", "normal"), ("B", "normal"), ("A", "care")]:
        tokens.append((await api.issue(admin, service=service, priority=priority))["token"])
        api.clock.advance(20)
    for number in (1, 2, 3):
        assert (await api.counter(admin, number, "open")).status_code == 200
    steps: list[tuple[int, str, Any]] = [
        (1, "call-next", None),
        (1, "transfer", {"service": "B", "position": "last"}),
        (1, "call-next", None),
        (1, "start", None),
        (1, "park", None),
        (1, "call-next", None),
        (1, "finish", {"outcome": "办结"}),
        (2, "call-next", None),
        (2, "transfer", {"counter": 1, "position": "keep"}),
        (2, "call-next", None),
        (2, "no-show", None),
    ]
    for number, command, body in steps:
        response = await api.counter(admin, number, command, json=body)
        assert response.status_code == 200, (number, command, response.text)
        api.clock.advance(30)
    return admin, tokens


async def everything_visible(api: Api, admin: Headers, tokens: list[str]) -> dict[str, Any]:
    return {
        "queue": (await api.get("/branches/b1/queue", admin)).json(),
        "branch": (await api.get("/branches/b1", admin)).json(),
        "events": (await api.get("/branches/b1/events?limit=1000", admin)).json(),
        "tickets": [(await api.get(f"/tickets/{token}")).json() for token in tokens],
    }


def next_calls(api: Api) -> dict[int, str | None]:
    """The ticket each counter would call now, read from the running engine."""
    runtime = api.app.state.services.halls.get("b1")
    calls = {}
    for number in (1, 2, 3):
        record = runtime.engine.peek_next(number, now=api.clock.now)
        calls[number] = record.display if record is not None else None
    return calls


async def test_a_restarted_app_shows_the_same_queue_and_calls_the_same_next_ticket(
    migrated: str,
) -> None:
    clock = Clock()
    async with running_app(migrated, clock) as api:
        admin, tokens = await a_busy_morning(api)
        before = await everything_visible(api, admin, tokens)
        expected_calls = next_calls(api)
    assert len(before["queue"]["counters"][0]["parked"]) == 1
    assert before["queue"]["counters"][0]["direct_waiting"] == 1
    assert None not in expected_calls.values()  # every counter has someone to call

    async with running_app(migrated, clock) as api:
        after = await everything_visible(api, admin, tokens)
        assert after == before
        for number, expected in expected_calls.items():
            called = await api.counter(admin, number, "call-next")
            assert called.status_code == 200, called.text
            assert called.json()["ticket"]["number"] == expected
        events = (await api.get("/branches/b1/events?limit=1000", admin)).json()["events"]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_a_retried_request_gets_the_first_answer_after_a_restart(migrated: str) -> None:
    clock = Clock()
    async with running_app(migrated, clock) as api:
        admin = await api.user("root", Role.ADMIN, None)
        await make_branch(api, admin)
        keyed = {**admin, "Idempotency-Key": "before-restart"}
        issued = await api.post("/branches/b1/tickets", keyed, json={"service": "A"})
        await api.counter(admin, 1, "open")
        called = await api.counter({**admin, "Idempotency-Key": "call"}, 1, "call-next")
    async with running_app(migrated, clock) as api:
        again = await api.post("/branches/b1/tickets", keyed, json={"service": "A"})
        assert again.status_code == 201
        assert again.json() == issued.json()
        recalled = await api.counter({**admin, "Idempotency-Key": "call"}, 1, "call-next")
        assert recalled.json() == called.json()
        other = await api.post("/branches/b1/tickets", keyed, json={"service": "B"})
        assert other.status_code == 422
        queue = (await api.get("/branches/b1/queue", admin)).json()
        assert queue["seq"] == 3  # issued, opened, called: nothing twice


async def test_staff_and_device_tokens_survive_a_restart_and_revocations_too(
    migrated: str,
) -> None:
    clock = Clock()
    async with running_app(migrated, clock) as api:
        admin = await api.user("root", Role.ADMIN, None)
        await make_branch(api, admin)
        kiosk = await api.device(admin, "b1", "kiosk", "kept")
        display = await api.device(admin, "b1", "display", "revoked")
        devices = (await api.get("/branches/b1/devices", admin)).json()
        revoked = next(d["id"] for d in devices if d["name"] == "revoked")
        assert (await api.delete(f"/branches/b1/devices/{revoked}", admin)).status_code == 204
    async with running_app(migrated, clock) as api:
        assert (await api.get("/branches/b1/queue", admin)).status_code == 200
        issued = await api.post("/branches/b1/tickets", kiosk, json={"service": "A"})
        assert issued.status_code == 201
        assert (await api.get("/branches/b1/queue", display)).status_code == 401


async def test_a_restart_after_midnight_keeps_only_the_new_days_queue(migrated: str) -> None:
    clock = Clock()
    async with running_app(migrated, clock) as api:
        admin = await api.user("root", Role.ADMIN, None)
        await make_branch(api, admin)
        yesterday = await api.issue(admin)
        clock.advance(24 * 3600)
        today = await api.issue(admin, service="B")
        before = (await api.get("/branches/b1/queue", admin)).json()
    async with running_app(migrated, clock) as api:
        after = (await api.get("/branches/b1/queue", admin)).json()
        assert after == before
        assert after["business_day"] == "2025-11-21"
        assert after["waiting"] == 1
        assert (await api.get(f"/tickets/{yesterday['token']}")).status_code == 404
        assert (await api.get(f"/tickets/{today['token']}")).json()["number"] == "B001"
        assert (await api.issue(admin))["number"] == "A001"


class SlowStore:
    """The real store, taking its time over each batch, so that commands pile up behind it and
    share the next commit (group commit)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def write_batch(self, branch_id: str, batch: Batch) -> None:
        await asyncio.sleep(0.3)
        await self.store.write_batch(branch_id, batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_a_counter_opened_in_the_commit_that_creates_it_is_open_after_a_restart(
    migrated: str,
) -> None:
    clock = Clock()
    async with running_app(migrated, clock) as api:
        admin = await api.user("root", Role.ADMIN, None)
        await make_branch(api, admin)
        runtime = api.app.state.services.halls.get("b1")
        runtime.store = SlowStore(runtime.store)
        writing = asyncio.create_task(api.issue(admin))  # keeps the writer busy
        await asyncio.sleep(0.05)
        creating = asyncio.create_task(
            api.post("/branches/b1/counters", admin, json={"number": 3, "tiers": [["A"]]})
        )
        while not any(c.number == 3 for c in runtime.engine.config.counters):
            await asyncio.sleep(0.01)  # decided, not yet committed
        assert (await api.counter(admin, 3, "open")).status_code == 200
        assert (await creating).status_code == 201
        await writing
        before = (await api.get("/branches/b1/queue", admin)).json()
    assert before["counters"][2]["state"] == "open"
    async with running_app(migrated, clock) as api:
        after = (await api.get("/branches/b1/queue", admin)).json()
    assert after["counters"][2]["state"] == "open"
