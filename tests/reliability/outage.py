"""The store goes away under load and comes back: the clients of :mod:`.harness` made patient.

Kiosks issue every ticket under its own ``Idempotency-Key`` and retry it (on 503, on 409 while
the key is in flight) until it is answered 201, as a kiosk that must not print two tickets does;
clerks press "next" and press again after a 503. Every answer is timed. :func:`run_outage` stops
the private PostgreSQL cluster in the middle of it, starts it again, and returns the figures."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text

from app.db.session import create_engine
from tests.test_serve import Server

from .harness import COUNTERS, REQUEST_SECONDS, Ledger, client
from .private_postgres import PrivatePostgres

EXPECTED = {200, 201, 503}  # and 409 IdempotencyInFlight, checked by name


@dataclass
class Timeline:
    """Answers as (sent, answered, status), and what the run measured."""

    answers: list[tuple[float, float, int]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    hangs: int = 0
    keyed: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    open_keys: dict[str, str] = field(default_factory=dict)  # key -> branch, not yet answered
    ready_during_outage: list[int] = field(default_factory=list)
    terminated: int = 0  # sessions ended by ``terminate_sessions``

    def answered(self, sent: float, response: httpx.Response) -> None:
        self.answers.append((sent, time.monotonic(), response.status_code))
        if response.status_code == 409:
            if response.json().get("error") != "IdempotencyInFlight":
                self.unexpected.append(response.text)
        elif response.status_code not in EXPECTED:
            self.unexpected.append(f"{response.status_code} {response.text[:200]}")


async def timed_post(
    http: httpx.AsyncClient, timeline: Timeline, url: str, **kwargs: Any
) -> httpx.Response | None:
    sent = time.monotonic()
    try:
        response = await http.post(url, **kwargs)
    except httpx.TimeoutException:
        timeline.hangs += 1
        return None
    except httpx.TransportError as error:
        timeline.unexpected.append(f"transport error {error!r}")
        return None
    timeline.answered(sent, response)
    return response


async def issue_until_answered(
    http: httpx.AsyncClient,
    branch: str,
    key: str,
    ledger: Ledger,
    timeline: Timeline,
    tries: int = 1000,
) -> bool:
    for _ in range(tries):
        response = await timed_post(
            http,
            timeline,
            f"/api/v1/branches/{branch}/tickets",
            json={"service": "A"},
            headers={"Idempotency-Key": key},
        )
        if response is not None and response.status_code == 201:
            ticket = response.json()
            timeline.keyed[key].append(ticket)
            ledger.issued[branch][ticket["token"]] = ticket
            timeline.open_keys.pop(key, None)
            return True
        await asyncio.sleep(0.05)
    return False


async def patient_kiosk(
    http: httpx.AsyncClient,
    branch: str,
    name: str,
    ledger: Ledger,
    timeline: Timeline,
    stop: asyncio.Event,
) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        key = f"{name}-{number}"
        timeline.open_keys[key] = branch
        while not stop.is_set():
            if await issue_until_answered(http, branch, key, ledger, timeline, tries=1):
                break


async def patient_clerk(
    http: httpx.AsyncClient,
    branch: str,
    number: int,
    ledger: Ledger,
    timeline: Timeline,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        response = await timed_post(
            http, timeline, f"/api/v1/branches/{branch}/counters/{number}/next"
        )
        if response is not None and response.status_code == 200 and response.json()["ticket"]:
            ledger.calls[branch].append((number, response.json()["ticket"]))
        else:
            await asyncio.sleep(0.05)


async def terminate_sessions(postgres: PrivatePostgres, seconds: float) -> int:
    """End every other client session of the cluster every 0.2 s for ``seconds``."""
    engine = create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    ended = 0
    try:
        deadline = time.monotonic() + seconds
        async with engine.connect() as connection:
            while time.monotonic() < deadline:
                result = await connection.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                        "FROM pg_stat_activity WHERE backend_type = 'client backend' "
                        "AND pid <> pg_backend_pid()"
                    )
                )
                ended += int(result.scalar_one())
                await asyncio.sleep(0.2)
    finally:
        await engine.dispose()
    return ended


@dataclass
class OutageFigures:
    outage_seconds: float
    answers: int
    answers_503: int
    slowest_503_seconds: float
    slowest_answer_during_outage_seconds: float
    resume_seconds: float  # from the store accepting again to the first 2xx that needed a commit
    acknowledged: int


async def run_outage(
    server: Server,
    token: str,
    postgres: PrivatePostgres,
    branches: list[str],
    ledger: Ledger,
    timeline: Timeline,
    *,
    before: float,
    outage: float,
    after: float,
    kiosks_per_branch: int = 3,
    tag: str = "",
    fault: str = "stop",
) -> OutageFigures:
    """``fault``: ``stop`` stops the cluster for ``outage`` seconds; ``terminate`` keeps it up
    and ends every session of the server (commits in flight included) every 0.2 s for that
    long, as a failing network or a DBA's ``pg_terminate_backend`` does. ``tag`` keeps the keys
    of one run apart from an earlier run's on the same server (a reused key is answered with
    its first ticket, as it should be)."""
    stop = asyncio.Event()
    async with client(server, token) as http:
        tasks = [
            asyncio.create_task(
                patient_kiosk(http, b, f"{tag}{b}-kiosk{k}", ledger, timeline, stop)
            )
            for b in branches
            for k in range(kiosks_per_branch)
        ] + [
            asyncio.create_task(patient_clerk(http, b, n, ledger, timeline, stop))
            for b in branches
            for n in COUNTERS
        ]
        try:
            await asyncio.sleep(before)
            down = time.monotonic()
            if fault == "terminate":
                timeline.terminated = await terminate_sessions(postgres, outage)
            else:
                await postgres.stop("fast")
                down = time.monotonic()
                await asyncio.sleep(outage / 2)
                sent = time.monotonic()
                ready = await http.get("/readyz")
                timeline.ready_during_outage.append(ready.status_code)
                timeline.answers.append((sent, time.monotonic(), ready.status_code))
                await asyncio.sleep(outage / 2)
                await postgres.start()
            back = time.monotonic()
            await asyncio.sleep(after)
        finally:
            stop.set()
            done, pending = await asyncio.wait(tasks, timeout=REQUEST_SECONDS * 3)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert not pending, "clients still waiting long after the load stopped"
        for task in done:
            task.result()
        # Every kiosk's last ticket gets its answer now: each key ends with exactly one ticket.
        for key, branch in list(timeline.open_keys.items()):
            assert await issue_until_answered(http, branch, key, ledger, timeline, tries=200), key

    during = [a for a in timeline.answers if down <= a[0] < back]
    refused = [answered - sent for sent, answered, status in timeline.answers if status == 503]
    resumed = [
        answered
        for sent, answered, status in timeline.answers
        if status in (200, 201) and answered >= back
    ]
    return OutageFigures(
        outage_seconds=back - down,
        answers=len(timeline.answers),
        answers_503=len(refused),
        slowest_503_seconds=max(refused, default=0.0),
        slowest_answer_during_outage_seconds=max((b - a for a, b, _ in during), default=0.0),
        resume_seconds=min(resumed, default=float("inf")) - back,
        acknowledged=ledger.acknowledged,
    )
