"""The long realtime-fault and stateful runs of issue #8, part of ``python -m benchmarks.soak``
(or alone: ``python -m benchmarks.soak_faults``). Each is a fast test made bigger, on
PostgreSQL, with the same checks (an AssertionError stops the run):

* offline display: a display offline while ``--offline-events`` events are logged resumes with
  ``since``: every missed event exactly once and in order (the log's seqs and types), then the
  live stream; figure: seconds from the hello to the last missed event
  (``tests/realtime/test_faults.py``).
* reconnect storm: ``--storm-clients`` counter terminals dropped (half of them without a close
  handshake) and resuming ``--storm-rounds`` times while calls go on: no gap, no duplicate; then
  no socket or task left and ``/metrics`` back to 0; figures: connections made, RSS before and
  after.
* silent network: the store behind a black-holing proxy (``tests/reliability/
  test_silent_network.py``) with the default store timeouts: the slowest 503 and the time to the
  first commit once traffic passes.
* stateful: the whole server against the reference model with restarts
  (``tests/reliability/test_server_stateful.py``), ``--stateful-examples`` random sequences on
  PostgreSQL, each on a fresh database copied from a migrated template.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import auth
from app.auth import Role
from app.db.migrate import upgrade
from app.db.session import create_engine
from app.settings import Settings
from tests.api.conftest import make_branch, running_app, staffed_hall
from tests.realtime.conftest import (
    hall_server,
    issue_many,
    latest_seq,
    logged_events,
    open_counter,
    token_of,
)
from tests.realtime.test_faults import StormClient, calls, released, ws_connections_metric
from tests.reliability.blackhole import BlackholeProxy
from tests.reliability.test_server_stateful import run_machine
from tests.reliability.test_silent_network import through_the_dark


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def run_sql(server_url: str, *statements: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await admin.dispose()


class Databases:
    """Fresh databases on the shared server, copied from one migrated template."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.template = f"qh_soakt_{uuid.uuid4().hex[:10]}"
        self.made: list[str] = []

    def url(self, name: str) -> str:
        return make_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    async def prepare(self) -> None:
        await run_sql(self.server_url, f'CREATE DATABASE "{self.template}"')
        await upgrade(self.url(self.template))

    async def fresh(self) -> str:
        name = f"qh_soakf_{uuid.uuid4().hex[:10]}"
        await run_sql(self.server_url, f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.made.append(name)
        return self.url(name)

    async def drop(self, name: str) -> None:
        await run_sql(self.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def remove(self) -> None:
        for name in [*self.made, self.template]:
            await self.drop(name)


async def offline_display(url: str, events: int) -> dict[str, Any]:
    async with hall_server(url) as server:
        people = await staffed_hall(server.api)
        token = token_of(people.own["display"])
        display = await server.socket("/ws/branches/b1/display", token)
        seen = (await display.recv())["seq"]
        await display.connection.close()
        await issue_many(server.api, people.clerk, events // 2)
        await open_counter(server.api, people.clerk, 1)
        await open_counter(server.api, people.clerk, 2)
        await calls(server, people, (events - events // 2) // 2)
        final = await latest_seq(server.api, people.clerk)
        missed = final - seen
        live = asyncio.create_task(calls(server, people, 20))  # the seam: live while resuming
        began = time.monotonic()
        resumed = await server.socket("/ws/branches/b1/display", token, since=seen)
        replayed = await resumed.events_until(final, timeout=60)
        seconds = time.monotonic() - began
        await live
        end = await latest_seq(server.api, people.clerk)
        after = await resumed.events_until(end, timeout=60)
        got = replayed + after
        logged: list[dict[str, Any]] = []
        while len(logged) < end - seen:
            logged += await logged_events(server.api, people.clerk, seen + len(logged))
        assert [m["seq"] for m in got] == list(range(seen + 1, end + 1)), "gap or duplicate"
        assert [m["type"] for m in got] == [e["type"] for e in logged]
        return {
            "missed_events": missed,
            "replay_seconds": round(seconds, 3),
            "then_live": len(after),
        }


async def storm(url: str, clients: int, rounds: int) -> dict[str, Any]:
    async with hall_server(url) as server:
        people = await staffed_hall(server.api)
        await issue_many(server.api, people.clerk, 600)
        await open_counter(server.api, people.clerk, 1)
        await open_counter(server.api, people.clerk, 2)
        address = server.url + "/ws/branches/b1/counters/1"
        rng = random.Random(88)
        await StormClient(address, token_of(people.clerk)).session(None, rng)
        await released(server, 10_000, 30)
        baseline_tasks, rss_before = len(asyncio.all_tasks()), rss_mib()
        storm_clients = [StormClient(address, token_of(people.clerk)) for _ in range(clients)]
        began = time.monotonic()
        await asyncio.gather(*(c.session(None, rng) for c in storm_clients))
        live = asyncio.create_task(calls(server, people, 150))
        for _ in range(rounds):
            await asyncio.gather(*(c.session(None, rng) for c in storm_clients))
        await live
        final = await latest_seq(server.api, people.clerk)
        await asyncio.gather(*(c.session(final, rng) for c in storm_clients))
        seconds = time.monotonic() - began
        for client in storm_clients:
            assert client.first is not None
            assert client.seqs == list(range(client.first + 1, final + 1)), "gap or duplicate"
        release = await released(server, baseline_tasks, 30)
        assert await ws_connections_metric(server) == 0
        return {
            "clients": clients,
            "connections": sum(c.connections for c in storm_clients),
            "events_each": final - (storm_clients[0].first or 0),
            "seconds": round(seconds, 1),
            "released_after_seconds": round(release, 3),
            "rss_mib_before_after": [rss_before, rss_mib()],
        }


async def silent_network(url: str) -> dict[str, Any]:
    address = make_url(url)
    proxy = BlackholeProxy(address.host or "127.0.0.1", address.port or 5432)
    await proxy.start()
    try:
        proxied = address.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False
        )
        async with running_app(proxied) as api:
            admin = await api.user("root", Role.ADMIN, None)
            await make_branch(api, admin)
            answers, recovery = await through_the_dark(api, proxy, admin)
    finally:
        await proxy.stop()
    defaults = Settings()
    return {
        "timeouts": [
            defaults.store_connect_timeout_seconds,
            defaults.store_command_timeout_seconds,
        ],
        "slowest_503_seconds": round(max(s for _, s in answers), 3),
        "first_commit_after_seconds": round(recovery, 3),
    }


def stateful(databases: Databases, examples: int) -> int:
    def new_store() -> tuple[str, Callable[[], None]]:
        url = asyncio.run(databases.fresh())
        name = make_url(url).database or ""
        return url, lambda: asyncio.run(databases.drop(name))

    run_machine(new_store, examples=examples, steps=50, derandomize=False)
    return examples


async def faults(server_url: str, args: argparse.Namespace) -> dict[str, Any]:
    databases = Databases(server_url)
    await databases.prepare()
    report: dict[str, Any] = {}
    try:
        print(f"offline display: {args.offline_events} events missed")
        report["offline_display"] = await offline_display(
            await databases.fresh(), args.offline_events
        )
        print(f"  {report['offline_display']}")
        print(f"reconnect storm: {args.storm_clients} clients x {args.storm_rounds} rounds")
        report["storm"] = await storm(
            await databases.fresh(), args.storm_clients, args.storm_rounds
        )
        print(f"  {report['storm']}")
        print("silent network between the server and PostgreSQL")
        report["silent_network"] = await silent_network(await databases.fresh())
        print(f"  {report['silent_network']}")
        print(f"stateful: {args.stateful_examples} random sequences with restarts")
        began = time.monotonic()
        loop = asyncio.get_running_loop()
        # The machine runs its own event loop per example: off this loop's thread.
        await loop.run_in_executor(None, stateful, databases, args.stateful_examples)
        report["stateful"] = {
            "examples": args.stateful_examples,
            "steps_at_most": 50,
            "seconds": round(time.monotonic() - began, 1),
        }
        print(f"  {report['stateful']}")
    finally:
        await databases.remove()
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--offline-events", type=int, default=1000)
    parser.add_argument("--storm-clients", type=int, default=300)
    parser.add_argument("--storm-rounds", type=int, default=5)
    parser.add_argument("--stateful-examples", type=int, default=10)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    began = time.monotonic()
    report = await faults(args.database_url, args)
    report["seconds"] = round(time.monotonic() - began)
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak_faults", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--database-url", default=os.environ.get("QUEUEHALL_TEST_DATABASE_URL"))
    parser.add_argument("--json", type=Path)
    add_arguments(parser)
    arguments = parser.parse_args(sys.argv[1:])
    if not arguments.database_url:
        parser.error("name a PostgreSQL server: --database-url or QUEUEHALL_TEST_DATABASE_URL")
    figures = asyncio.run(asyncio.wait_for(main(arguments), 420))
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    if arguments.json:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
