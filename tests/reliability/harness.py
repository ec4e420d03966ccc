"""A real ``queuehall serve`` process under load, the replies its clients got, and the checks that
hold after it is killed: shared by the fast tests in this folder and ``python -m benchmarks.soak``.

The load is what a busy city's halls send: on every branch, kiosks issue tickets while clerks
press "next" at every counter, over real HTTP on loopback. A reply is *acknowledged* when the
client received a 2xx; the :class:`Ledger` keeps those. After a crash, :func:`check_store` proves
from the store itself that every acknowledged ticket and call is there exactly once, that no
ticket was called twice and that each branch's event log has no gap; :func:`check_served_state`
that the restarted server shows the state a fresh rebuild from the store gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from sqlalchemy import select

from app import auth
from app.auth import Role
from app.bootstrap import create_user
from app.bus import EventBus
from app.db import models
from app.db.migrate import upgrade
from app.db.session import create_engine
from app.db.store import Store
from app.hall import HallRuntime
from tests.test_serve import Server, environment

ADMIN = ("reliability-admin", "reliability-admin-password")
SECRET = "reliability-secret-key-long-enough-for-hs256"
REQUEST_SECONDS = 10.0  # protocol timeout: a request that takes longer counts as a hang
COUNTERS = (1, 2, 3)


def server_environment(database_url: str) -> dict[str, str]:
    env = environment(database_url)
    env.update(
        QUEUEHALL_SECRET_KEY=SECRET,
        QUEUEHALL_RATE_LIMIT_ISSUE="1000000/minute",
        QUEUEHALL_RATE_LIMIT_PUBLIC="1000000/minute",
        QUEUEHALL_LOG_LEVEL="warning",
    )
    return env


async def prepare_store(database_url: str) -> None:
    """Migrate and add the administrator (lowest Argon2 cost: the hash carries its parameters,
    so the server checks it just as quickly)."""
    await upgrade(database_url)
    engine = create_engine(database_url)
    saved = auth._hasher
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    try:
        await create_user(Store(engine), *ADMIN, Role.ADMIN, None)
    finally:
        auth._hasher = saved
        await engine.dispose()


@dataclass
class Started:
    server: Server
    ready_seconds: float  # from spawning the process to the first 200 from /readyz


async def start(env: dict[str, str], cwd: Path, name: str) -> Started:
    server = Server(env, cwd, cwd / f"{name}.log")
    began = time.monotonic()
    await server.start()
    return Started(server, time.monotonic() - began)


def client(server: Server, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        base_url=server.url,
        headers=headers,
        timeout=REQUEST_SECONDS,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
    )


async def sign_in(server: Server) -> str:
    async with client(server) as http:
        response = await http.post(
            "/api/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]}
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


async def add_branches(http: httpx.AsyncClient, branches: list[str]) -> None:
    """Each branch: services A and B, counters 1 to 3 serving both, open."""
    for branch in branches:
        created = await http.post("/api/v1/branches", json={"id": branch, "name": f"网点{branch}"})
        assert created.status_code == 201, created.text
        for code in ("A", "B"):
            response = await http.post(
                f"/api/v1/branches/{branch}/services", json={"code": code, "name": f"业务{code}"}
            )
            assert response.status_code == 201, response.text
        for number in COUNTERS:
            response = await http.post(
                f"/api/v1/branches/{branch}/counters",
                json={"number": number, "tiers": [["A", "B"]]},
            )
            assert response.status_code == 201, response.text
            opened = await http.post(f"/api/v1/branches/{branch}/counters/{number}/open")
            assert opened.status_code == 200, opened.text


@dataclass
class Ledger:
    """What clients were told: acknowledged tickets and calls, and every other answer."""

    issued: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    calls: dict[str, list[tuple[int, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0

    @property
    def acknowledged(self) -> int:
        return sum(len(t) for t in self.issued.values()) + sum(len(c) for c in self.calls.values())


async def kiosk(http: httpx.AsyncClient, branch: str, ledger: Ledger, rng: random.Random) -> None:
    """Issue tickets until the server goes away."""
    while True:
        try:
            response = await http.post(
                f"/api/v1/branches/{branch}/tickets", json={"service": rng.choice("AB")}
            )
        except httpx.TransportError:
            ledger.transport_errors += 1
            return
        ledger.statuses[response.status_code] += 1
        if response.status_code == 201:
            ticket = response.json()
            assert ticket["token"] not in ledger.issued[branch], "one token given twice"
            ledger.issued[branch][ticket["token"]] = ticket


async def clerk(http: httpx.AsyncClient, branch: str, number: int, ledger: Ledger) -> None:
    """Press "next" at a counter until the server goes away."""
    while True:
        try:
            response = await http.post(f"/api/v1/branches/{branch}/counters/{number}/next")
        except httpx.TransportError:
            ledger.transport_errors += 1
            return
        ledger.statuses[response.status_code] += 1
        if response.status_code == 200 and response.json()["ticket"] is not None:
            ledger.calls[branch].append((number, response.json()["ticket"]))
        elif response.status_code == 200:
            await asyncio.sleep(0.01)  # nobody waits


async def load_until_killed(
    server: Server,
    token: str,
    branches: list[str],
    ledger: Ledger,
    *,
    seconds: float,
    kiosks_per_branch: int,
    rng: random.Random,
) -> None:
    """Run the load for ``seconds``, SIGKILL the server in the middle of it, and wait until every
    client has noticed (bounded: each request has its own timeout)."""
    async with client(server, token) as http:
        tasks = [
            asyncio.create_task(kiosk(http, branch, ledger, rng))
            for branch in branches
            for _ in range(kiosks_per_branch)
        ] + [
            asyncio.create_task(clerk(http, branch, number, ledger))
            for branch in branches
            for number in COUNTERS
        ]
        try:
            await asyncio.sleep(seconds)
            assert server.process is not None
            server.process.kill()  # SIGKILL, no goodbye
            await server.process.wait()
            done, pending = await asyncio.wait(tasks, timeout=REQUEST_SECONDS * 3)
            assert not pending, "clients still waiting on a killed server"
            for task in done:
                task.result()  # an assertion inside a client fails the test here
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class StoreFacts:
    tickets: int
    calls: int
    events: int


async def check_store(database_url: str, ledger: Ledger) -> StoreFacts:
    """Every acknowledged ticket and call is in the store exactly once; no ticket was called twice;
    the event log of each branch is gap-free from 1."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            tickets = (await connection.execute(select(models.Ticket))).all()
            events = (
                await connection.execute(
                    select(
                        models.BranchEvent.branch_id,
                        models.BranchEvent.seq,
                        models.BranchEvent.type,
                        models.BranchEvent.data,
                    ).order_by(models.BranchEvent.branch_id, models.BranchEvent.seq)
                )
            ).all()
    finally:
        await engine.dispose()

    by_token = {row.token: row for row in tickets}
    assert len(by_token) == len(tickets)
    numbers = Counter((t.branch_id, t.business_day, t.prefix, t.number) for t in tickets)
    assert max(numbers.values(), default=1) == 1, "a display number given twice"
    for branch, issued in ledger.issued.items():
        for token, ticket in issued.items():
            row = by_token.get(token)
            assert row is not None, f"acknowledged ticket {ticket['number']} of {branch} lost"
            assert (row.branch_id, row.id) == (branch, ticket["id"])
            assert f"{row.prefix}{row.number:03d}" == ticket["number"]
        shown = Counter(ticket["number"] for ticket in issued.values())
        assert max(shown.values(), default=1) == 1, f"{branch}: one number acknowledged twice"

    by_id = {(t.branch_id, t.id): t for t in tickets}
    for branch, calls in ledger.calls.items():
        called = Counter(ticket["id"] for _, ticket in calls)
        assert max(called.values(), default=1) == 1, f"{branch}: a ticket called twice"
        for number, ticket in calls:
            row = by_id.get((branch, ticket["id"]))
            assert row is not None, f"acknowledged call of {ticket['number']} lost"
            assert row.state in ("called", "serving", "finished"), (ticket, row.state)
            assert row.counter == number

    seqs: dict[str, list[int]] = defaultdict(list)
    called_events: Counter[tuple[str, int]] = Counter()
    for branch, seq, kind, data in events:
        seqs[branch].append(seq)
        if kind == "ticket_called":
            called_events[(branch, data["ticket_id"])] += 1
    for branch, found in seqs.items():
        assert found == list(range(1, len(found) + 1)), f"{branch}: event seq has a gap"
    assert max(called_events.values(), default=1) == 1, "a ticket called twice in the log"
    active = Counter((t.branch_id, t.counter) for t in tickets if t.state in ("called", "serving"))
    assert max(active.values(), default=1) == 1, "a counter holds two tickets"
    return StoreFacts(len(tickets), sum(called_events.values()), len(events))


def served_view(queue: dict[str, Any]) -> dict[str, Any]:
    """The parts of ``GET /queue`` that depend on the store, not on the clock."""
    return {
        "business_day": queue["business_day"],
        "seq": queue["seq"],
        "waiting": queue["waiting"],
        "services": [(s["code"], s["waiting"], s["issued_today"]) for s in queue["services"]],
        "counters": [
            (c["number"], c["state"], c["ticket"]["id"] if c["ticket"] else None)
            for c in queue["counters"]
        ],
        "recent_calls": [(r["number"], r["counter"]) for r in queue["recent_calls"]],
    }


async def rebuilt_view(database_url: str, branch: str) -> dict[str, Any]:
    """What a runtime rebuilt from the store right now shows, in :func:`served_view`'s form."""
    engine = create_engine(database_url)
    try:
        runtime = HallRuntime(Store(engine), EventBus(), await Store(engine).load_branch(branch))
    finally:
        await engine.dispose()
    snapshot = runtime.engine.snapshot(time.time())
    return {
        "business_day": snapshot.business_day,
        "seq": runtime.next_seq - 1,
        "waiting": snapshot.waiting,
        "services": [(s.code, s.waiting, s.issued_today) for s in snapshot.services],
        "counters": [
            (c.number, c.state.value, c.ticket.id if c.ticket else None) for c in snapshot.counters
        ],
        "recent_calls": [(r.number, r.counter) for r in snapshot.recent_calls],
    }


async def check_served_state(
    server: Server, token: str, database_url: str, branches: list[str]
) -> None:
    async with client(server, token) as http:
        for branch in branches:
            response = await http.get(f"/api/v1/branches/{branch}/queue")
            assert response.status_code == 200, response.text
            assert served_view(response.json()) == await rebuilt_view(database_url, branch)


@contextlib.asynccontextmanager
async def killed_on_exit(server: Server) -> Any:
    try:
        yield server
    finally:
        await server.kill()


def cpu_note() -> str:
    return f"{os.cpu_count()} CPU(s)"
