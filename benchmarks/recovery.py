"""Restart recovery (issue #7, workload 5): time from process start to ready with 10k and 100k
open tickets, and the server's memory per waiting ticket.

* **Store.** A fresh PostgreSQL database migrated by Alembic, one branch ``hall`` with 20
  services (``A`` to ``T``) and 64 open counters serving ``A`` to ``E``, set up through the API
  of a running Queuehall (as :mod:`benchmarks.http` does). One waiting ticket of each of ``F``
  to ``T`` is issued through the API; the server is stopped.
* **Seeding.** With the server stopped, copies of those tickets are inserted straight into the
  ``tickets`` table (:func:`seed_waiting`, one ``INSERT … SELECT … generate_series`` per
  service): every column as the API wrote it, with a new id, token and number, and issue times
  a little earlier. Seeding through the API would take minutes; the rows are the same.
* **One measurement.** ``t0``, start ``uvicorn --factory app.main:create_app`` (one worker, as
  :mod:`benchmarks.http` runs it), poll ``GET /readyz`` every 10 ms; ready is its first 200.
  uvicorn binds its socket only after the application's start-up (store, every branch's engine
  rebuilt from the day's tickets) has finished, so the time covers the interpreter's start, the
  imports, the rebuild and the first answer. The server's RSS is read once ready; the waiting
  count is checked through ``GET /branches/hall/queue``.
* **Sizes.** 0 (the fixed cost), 10k and 100k open tickets (quick: 0, 1k, 10k).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from benchmarks.http import (
    ADMIN,
    REPO,
    Server,
    load_average,
    pg_run,
    prepared_store,
    uvicorn_argv,
)
from benchmarks.realtime import server_rss_bytes
from benchmarks.workload import SuiteContext, Verdict, WorkloadReport

BRANCH = "hall"
SERVICES = tuple(chr(ord("A") + i) for i in range(20))  # A … T
SERVED = SERVICES[:5]  # what every counter serves
OTHERS = SERVICES[5:]  # the 15 services nobody calls here
COUNTERS = 64
TARGET_SECONDS_100K = 3.0


@dataclass
class Queuehall:
    server: Server
    token: str
    ready_seconds: float

    @property
    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url + "/api/v1",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )

    def waiting(self) -> int:
        with self.client as client:
            reply = client.get(f"/branches/{BRANCH}/queue")
            reply.raise_for_status()
            return int(reply.json()["waiting"])


@contextlib.contextmanager
def serve(url: str, workdir: Path, name: str) -> Iterator[Queuehall]:
    """Start Queuehall on ``url``; yields once ``/readyz`` answers 200, with the time taken."""
    env = {
        "QUEUEHALL_DATABASE_URL": url,
        "QUEUEHALL_RATE_LIMIT_ISSUE": "1000000/minute",
        "QUEUEHALL_RATE_LIMIT_PUBLIC": "1000000/minute",
        "QUEUEHALL_LOG_LEVEL": "warning",
        "PYTHONPATH": str(REPO),
    }
    started = time.monotonic()
    server = Server(name, uvicorn_argv("app.main:create_app"), env, workdir / f"{name}.log")
    try:
        deadline = started + 120
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"{name} exited; see {server.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(server.url + "/readyz", timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not ready within 120 s")
            time.sleep(0.01)
        ready = time.monotonic() - started
        reply = httpx.post(
            server.url + "/api/v1/auth/token",
            data={"username": ADMIN[0], "password": ADMIN[1]},
            timeout=30,
        )
        reply.raise_for_status()
        yield Queuehall(server, reply.json()["access_token"], ready)
    finally:
        server.stop()


def configure(queuehall: Queuehall) -> None:
    """Branch, 20 services, 64 open counters serving A to E, one waiting ticket per other
    service (the templates :func:`seed_waiting` copies)."""
    with queuehall.client as client:
        client.post("/branches", json={"id": BRANCH, "name": "Bench"}).raise_for_status()
        for code in SERVICES:
            client.post(
                f"/branches/{BRANCH}/services",
                json={"code": code, "name": f"业务 {code}", "mean_service_minutes": 5},
            ).raise_for_status()
        for number in range(1, COUNTERS + 1):
            client.post(
                f"/branches/{BRANCH}/counters",
                json={"number": number, "name": f"{number}号窗口", "tiers": [list(SERVED)]},
            ).raise_for_status()
            client.post(f"/branches/{BRANCH}/counters/{number}/open").raise_for_status()
        for code in OTHERS:
            client.post(f"/branches/{BRANCH}/tickets", json={"service": code}).raise_for_status()


async def _seed(dsn: str, count: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        columns = [
            row["column_name"]
            for row in await connection.fetch(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'tickets' AND table_schema = current_schema() "
                "ORDER BY ordinal_position"
            )
        ]
        templates = await connection.fetch(
            "SELECT DISTINCT ON (service) id, prefix, business_day FROM tickets "
            "WHERE branch_id = $1 AND service = ANY($2::text[]) AND state = 'waiting' "
            "ORDER BY service, id",
            BRANCH,
            list(OTHERS),
        )
        if len(templates) != len(OTHERS):
            raise RuntimeError(f"expected {len(OTHERS)} template tickets, found {len(templates)}")
        changed = {
            "id": "$3::int + g",
            "token": "md5(random()::text || g::text)",
            "number": "$4::int + g",
            "issued_at": "t.issued_at - g * 0.001",
            "queued_at": "t.queued_at - g * 0.001",
            "key": "t.key - g * 0.001",
        }
        names = ", ".join(f'"{c}"' for c in columns)
        values = ", ".join(changed.get(c, f't."{c}"') for c in columns)
        statement = (
            f"INSERT INTO tickets ({names}) SELECT {values} FROM tickets t, "
            "generate_series(1, $5::int) g WHERE t.branch_id = $1 AND t.id = $2"
        )
        async with connection.transaction():
            for index, template in enumerate(templates):
                share = count // len(templates) + (1 if index < count % len(templates) else 0)
                max_id = await connection.fetchval(
                    "SELECT max(id) FROM tickets WHERE branch_id = $1", BRANCH
                )
                max_number = await connection.fetchval(
                    "SELECT max(number) FROM tickets WHERE branch_id = $1 AND prefix = $2 "
                    "AND business_day = $3",
                    BRANCH,
                    template["prefix"],
                    template["business_day"],
                )
                await connection.execute(
                    statement, BRANCH, template["id"], max_id, max_number, share
                )
        await connection.execute("VACUUM ANALYZE tickets")
    finally:
        await connection.close()


def seed_waiting(dsn: str, count: int) -> None:
    """Insert ``count`` more waiting tickets of services F to T (the server must be stopped)."""
    import asyncio

    asyncio.run(_seed(dsn, count))


def run(pg: str, workdir: Path, sizes: Sequence[int], log: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        url, dsn = prepared_store(stack, "postgresql", pg, workdir, "queuehall_bench_recovery")
        assert dsn is not None
        with serve(url, workdir, "recovery-setup") as queuehall:
            configure(queuehall)
        seeded = len(OTHERS)
        for size in sizes:
            if size > seeded:
                seed_waiting(dsn, size - seeded)
                seeded = size
            open_tickets = pg_run(
                dsn,
                "SELECT count(*) FROM tickets "
                "WHERE state NOT IN ('finished', 'cancelled', 'expired')",
            )[0][0]
            with serve(url, workdir, f"recovery-{size}") as queuehall:
                rss = server_rss_bytes(queuehall.server.pid)
                waiting = queuehall.waiting()
            row = {
                "open_tickets": open_tickets,
                "waiting_after_start": waiting,
                "ready_seconds": round(queuehall.ready_seconds, 3),
                "server_rss_bytes": rss,
                "load_average": load_average(),
            }
            log(
                f"  {open_tickets:>9,} open tickets: ready in {row['ready_seconds']:.2f} s, "
                f"RSS {rss / 2**20:.1f} MiB, {waiting:,} waiting"
            )
            rows.append(row)
    return rows


def per_ticket_rss(rows: Sequence[dict[str, Any]]) -> float | None:
    small, large = rows[-2], rows[-1]
    tickets = large["open_tickets"] - small["open_tickets"]
    if tickets <= 0:
        return None
    return (large["server_rss_bytes"] - small["server_rss_bytes"]) / tickets


def run_for_suite(context: SuiteContext) -> WorkloadReport:
    sizes = (0, 1_000, 10_000) if context.quick else (0, 10_000, 100_000)
    rows = run(context.pg, context.workdir, sizes, context.log)
    lines = [
        "| open tickets | process start → `/readyz` 200 | server RSS once ready |",
        "|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['open_tickets']:,} | {row['ready_seconds']:.2f} s "
            f"| {row['server_rss_bytes'] / 2**20:.1f} MiB |"
        )
    per_ticket = per_ticket_rss(rows)
    if per_ticket is not None:
        lines += [
            "",
            f"Server RSS growth per open ticket, {rows[-2]['open_tickets']:,} → "
            f"{rows[-1]['open_tickets']:,}: **{per_ticket:.0f} B** (engine, customer tokens, "
            "and whatever the allocator kept from the load's ORM rows).",
        ]
    largest = rows[-1]
    verdicts = [
        Verdict(
            f"recovery of {largest['open_tickets']:,} open tickets ≤ {TARGET_SECONDS_100K:.0f} s",
            f"{largest['ready_seconds']:.2f} s",
            largest["ready_seconds"] <= TARGET_SECONDS_100K,
        )
    ]
    return WorkloadReport(
        "Restart recovery (workload 5)",
        {"rows": rows, "server_rss_bytes_per_open_ticket": per_ticket},
        "\n".join(lines),
        verdicts,
    )


def main(argv: Sequence[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m benchmarks.recovery")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    sizes = (0, 1_000, 10_000) if args.quick else (0, 10_000, 100_000)
    with tempfile.TemporaryDirectory() as workdir:
        rows = run(args.pg, Path(workdir), sizes, print)
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
