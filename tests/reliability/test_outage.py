"""PostgreSQL stopped under load (``pg_ctl stop -m fast``, which also cuts commits in flight),
on a private cluster of the test's own: every request is answered (503 while the store is away,
never a 500, never a hang), nothing acknowledged is lost, the server serves again by itself once
the store is back, and a kiosk retrying under one ``Idempotency-Key`` gets exactly one ticket.
The same holds when the cluster stays up and every session is cut again and again
(``pg_terminate_backend``), commits in flight included.

Part of the PostgreSQL tier: it runs when ``QUEUEHALL_TEST_DATABASE_URL`` is set (the shared
server is not used; the server binaries are). The figures are printed (``-s``);
``python -m benchmarks.soak`` records them in docs/reliability.md."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.test_serve import Server

from .harness import (
    REQUEST_SECONDS,
    Ledger,
    add_branches,
    check_served_state,
    check_store,
    client,
    prepare_store,
    server_environment,
    sign_in,
    start,
)
from .outage import Timeline, run_outage
from .private_postgres import PrivatePostgres

BRANCHES = ["north", "south"]


@pytest.fixture
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    postgres = PrivatePostgres()
    try:
        await postgres.create()
        await postgres.start()
        yield postgres
    finally:
        await postgres.remove()


@asynccontextmanager
async def serving_branches(
    postgres: PrivatePostgres, tmp_path: Path
) -> AsyncIterator[tuple[Server, str]]:
    """A real server on the private cluster with the test branches and an admin's token; on
    exit it is killed and its log must hold no traceback."""
    await prepare_store(postgres.url)
    started = await start(server_environment(postgres.url), tmp_path, "serve")
    try:
        token = await sign_in(started.server)
        async with client(started.server, token) as http:
            await add_branches(http, BRANCHES)
        yield started.server, token
    finally:
        await started.server.kill()
    log = (tmp_path / "serve.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


if os.environ.get("QUEUEHALL_TEST_DATABASE_URL"):

    async def test_a_store_outage_under_load_answers_503_loses_nothing_and_heals_itself(
        private_postgres: PrivatePostgres, tmp_path: Path
    ) -> None:
        async with serving_branches(private_postgres, tmp_path) as (server, token):
            ledger, timeline = Ledger(), Timeline()
            figures = await run_outage(
                server,
                token,
                private_postgres,
                BRANCHES,
                ledger,
                timeline,
                before=1.5,
                outage=3.0,
                after=4.0,
            )
            print(f"\n{figures}")

            assert timeline.hangs == 0, (
                f"{timeline.hangs} requests unanswered after {REQUEST_SECONDS} s"
            )
            assert timeline.unexpected == []
            assert figures.answers_503 > 0, "the outage was not noticed"
            assert timeline.ready_during_outage == [503]
            assert figures.resume_seconds < 30, "no 2xx after the store came back"
            for key, answers in timeline.keyed.items():
                assert len({a["token"] for a in answers}) == 1, key
            facts = await check_store(private_postgres.url, ledger)
            assert facts.tickets == len(timeline.keyed), "a key made two tickets, or one none"
            await check_served_state(server, token, private_postgres.url, BRANCHES)
            async with client(server) as http:
                assert (await http.get("/readyz")).status_code == 200

    async def test_sessions_cut_mid_commit_answer_503_and_a_retried_key_makes_one_ticket(
        private_postgres: PrivatePostgres, tmp_path: Path
    ) -> None:
        async with serving_branches(private_postgres, tmp_path) as (server, token):
            ledger, timeline = Ledger(), Timeline()
            figures = await run_outage(
                server,
                token,
                private_postgres,
                BRANCHES,
                ledger,
                timeline,
                before=1.0,
                outage=3.0,
                after=2.0,
                fault="terminate",
            )
            print(f"\n{figures}, {timeline.terminated} sessions ended")

            assert timeline.terminated > 0
            assert timeline.hangs == 0
            assert timeline.unexpected == []
            for key, answers in timeline.keyed.items():
                assert len({a["token"] for a in answers}) == 1, key
            facts = await check_store(private_postgres.url, ledger)
            assert facts.tickets == len(timeline.keyed), "a key made two tickets, or one none"
            await check_served_state(server, token, private_postgres.url, BRANCHES)
