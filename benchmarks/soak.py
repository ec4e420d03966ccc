"""The long reliability run of issue #8 (durability, races, realtime faults); figures in
docs/reliability.md.

    make soak    # or: .venv/bin/python -m benchmarks.soak --json artifacts/soak.json

Bounded at 13 minutes. Four parts, each the scenario of a fast test in ``tests/reliability/``
(or ``tests/realtime/``) made bigger, each checking the same invariants (any broken one stops
the run with an AssertionError):

* crash: a real ``queuehall serve`` on a fresh PostgreSQL database, five branches of kiosks and
  clerks over loopback HTTP, SIGKILLed ``--kills`` times at a random moment 1 to 3 s into each
  load; after every restart nothing acknowledged is lost or duplicated, no ticket is called
  twice, each branch's seq is gap-free and ``GET /queue`` equals a rebuild from the store.
  Figures: time from spawning the process to ``/readyz`` answering 200, requests acknowledged.
* races: ``--clicks`` simultaneous "next"/"call-next" clicks over 2 and then 10 counters of one
  branch (in-process app, PostgreSQL), and 1,000 keyed presses each sent 5 times at once.
* outage: a private PostgreSQL cluster (``initdb`` under /tmp, a free port) stopped with
  ``pg_ctl -m fast`` under load ``--outages`` times for 3 s each, then kept up while every
  session is cut every 0.2 s for 5 s (``pg_terminate_backend``, commits in flight included).
  Figures: slowest 503, slowest answer during the outage, time from the store accepting again
  to the first commit.
* faults (``benchmarks/soak_faults.py``): an offline display resuming 1,000 missed events, a
  reconnect storm of 300 clients, a silent network to the store, and the server-level
  Hypothesis stateful test with restarts on PostgreSQL.

The shared PostgreSQL server named by ``--database-url`` (default
``QUEUEHALL_TEST_DATABASE_URL``) only hosts the databases this run creates and drops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import auth
from app.db.migrate import upgrade
from app.db.session import create_engine
from benchmarks.soak_faults import add_arguments, faults
from tests.reliability.harness import (
    Ledger,
    add_branches,
    check_served_state,
    check_store,
    client,
    load_until_killed,
    prepare_store,
    server_environment,
    sign_in,
    start,
)
from tests.reliability.outage import Timeline, run_outage
from tests.reliability.private_postgres import PrivatePostgres
from tests.reliability.test_races import retried_presses, simultaneous_clicks

BRANCHES = ["b01", "b02", "b03", "b04", "b05"]


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    name = f"qh_soak_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "min": round(ordered[0], 3),
        "median": round(statistics.median(ordered), 3),
        "p90": round(ordered[math.ceil(0.9 * len(ordered)) - 1], 3),  # nearest rank
        "max": round(ordered[-1], 3),
    }


async def crash(server_url: str, kills: int, workdir: Path) -> dict[str, Any]:
    rng = random.Random(808)
    async with fresh_database(server_url) as url:
        await prepare_store(url)
        env = server_environment(url)
        ledger = Ledger()
        started = await start(env, workdir, "crash-0")
        ready: list[float] = []
        loaded = 0.0
        try:
            token = await sign_in(started.server)
            async with client(started.server, token) as http:
                await add_branches(http, BRANCHES)
            for kill in range(1, kills + 1):
                seconds = rng.uniform(1.0, 3.0)
                loaded += seconds
                await load_until_killed(
                    started.server,
                    token,
                    BRANCHES,
                    ledger,
                    seconds=seconds,
                    kiosks_per_branch=4,
                    rng=rng,
                )
                started = await start(env, workdir, f"crash-{kill}")
                ready.append(started.ready_seconds)
                facts = await check_store(url, ledger)
                await check_served_state(started.server, token, url, BRANCHES)
                print(f"  kill {kill}/{kills}: ready in {started.ready_seconds:.2f} s, {facts}")
        finally:
            await started.server.kill()
    assert set(ledger.statuses) <= {200, 201}, ledger.statuses
    return {
        "kills": kills,
        "branches": len(BRANCHES),
        "load_seconds": round(loaded, 1),
        "acknowledged": ledger.acknowledged,
        "acknowledged_per_second": round(ledger.acknowledged / loaded),
        "tickets_acknowledged": sum(len(t) for t in ledger.issued.values()),
        "calls_acknowledged": sum(len(c) for c in ledger.calls.values()),
        "store": vars(facts),
        "lost": 0,
        "duplicated": 0,
        "called_twice": 0,
        "ready_seconds": spread(ready),
    }


async def races(server_url: str, clicks: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for counters in (2, 10):
        async with fresh_database(server_url) as url:
            await upgrade(url)
            results[f"clicks_{counters}_counters"] = await simultaneous_clicks(
                url, counters, clicks
            )
            print(f"  {results[f'clicks_{counters}_counters']}")
    async with fresh_database(server_url) as url:
        await upgrade(url)
        results["idempotency"] = await retried_presses(url, presses=1000, copies=5, counters=10)
        print(f"  {results['idempotency']}")
    return results


async def outages(count: int, workdir: Path) -> dict[str, Any]:
    postgres = PrivatePostgres()
    figures = []
    keys = 0
    try:
        await postgres.create()
        await postgres.start()
        await prepare_store(postgres.url)
        started = await start(server_environment(postgres.url), workdir, "outage")
        try:
            token = await sign_in(started.server)
            async with client(started.server, token) as http:
                await add_branches(http, BRANCHES[:2])
            ledger = Ledger()
            for number in range(1, count + 1):
                timeline = Timeline()
                result = await run_outage(
                    started.server,
                    token,
                    postgres,
                    BRANCHES[:2],
                    ledger,
                    timeline,
                    before=2.0,
                    outage=3.0,
                    after=3.0,
                    tag=f"outage{number}-",
                )
                assert timeline.hangs == 0, timeline.hangs
                assert timeline.unexpected == [], timeline.unexpected[:5]
                assert timeline.ready_during_outage == [503]
                for key, answers in timeline.keyed.items():
                    assert len({a["token"] for a in answers}) == 1, key
                keys += len(timeline.keyed)
                facts = await check_store(postgres.url, ledger)
                assert facts.tickets == keys, (facts, keys)
                await check_served_state(started.server, token, postgres.url, BRANCHES[:2])
                figures.append(result)
                print(f"  outage {number}/{count}: {result}")
            # Then the cluster stays up and every session is cut, commits in flight included.
            timeline = Timeline()
            cut = await run_outage(
                started.server,
                token,
                postgres,
                BRANCHES[:2],
                ledger,
                timeline,
                before=1.0,
                outage=5.0,
                after=2.0,
                tag="cut-",
                fault="terminate",
            )
            assert timeline.hangs == 0, timeline.hangs
            assert timeline.unexpected == [], timeline.unexpected[:5]
            for key, answers in timeline.keyed.items():
                assert len({a["token"] for a in answers}) == 1, key
            keys += len(timeline.keyed)
            facts = await check_store(postgres.url, ledger)
            assert facts.tickets == keys, (facts, keys)
            await check_served_state(started.server, token, postgres.url, BRANCHES[:2])
            print(f"  sessions cut for 5 s: {cut}, {timeline.terminated} sessions ended")
        finally:
            await started.server.kill()
    finally:
        await postgres.remove()
    return {
        "outages": count,
        "outage_seconds": round(statistics.mean(f.outage_seconds for f in figures), 2),
        "answers": sum(f.answers for f in figures),
        "answers_503": sum(f.answers_503 for f in figures),
        "answers_500": 0,
        "slowest_503_seconds": round(max(f.slowest_503_seconds for f in figures), 3),
        "slowest_answer_during_outage_seconds": round(
            max(f.slowest_answer_during_outage_seconds for f in figures), 3
        ),
        "resume_seconds": spread([f.resume_seconds for f in figures]),
        "keys": keys,
        "tickets": keys,
        "sessions_cut": {
            "seconds": round(cut.outage_seconds, 2),
            "sessions_ended": timeline.terminated,
            "answers": cut.answers,
            "answers_503": cut.answers_503,
            "answers_500": 0,
            "slowest_503_seconds": round(cut.slowest_503_seconds, 3),
        },
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    # The lowest Argon2 cost for the accounts this run makes (the hash carries its parameters).
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    began = time.monotonic()
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), "
        f"Python {platform.python_version()}",
    }
    with tempfile.TemporaryDirectory(prefix="queuehall-soak-") as folder:
        workdir = Path(folder)
        print(f"crash: {args.kills} SIGKILLs under load")
        report["crash"] = await crash(args.database_url, args.kills, workdir)
        print(f"races: {args.clicks} simultaneous clicks")
        report["races"] = await races(args.database_url, args.clicks)
        print(f"outage: {args.outages} PostgreSQL stops")
        report["outage"] = await outages(args.outages, workdir)
    report["faults"] = await faults(args.database_url, args)
    report["seconds"] = round(time.monotonic() - began)
    return report


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--database-url", default=os.environ.get("QUEUEHALL_TEST_DATABASE_URL"))
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--clicks", type=int, default=10_000)
    parser.add_argument("--outages", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("name a PostgreSQL server: --database-url or QUEUEHALL_TEST_DATABASE_URL")
    return args


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    figures = asyncio.run(asyncio.wait_for(main(arguments), 780))
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    if arguments.json:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
