"""Skewed counters (issue #7, workload 3): call-next when the counters serve 5 of 20 services
while the other 15 hold 100k waiting tickets, against the same counters with nothing else
waiting (the "uniform" case), on Queuehall and on the PostgreSQL-only baseline.

Shapes, the same on both systems: branch ``hall``, services ``A`` to ``T``, 64 counters all
serving ``A`` to ``E``; tickets of ``A`` to ``E`` are issued through each system's API (wrk, as
:mod:`benchmarks.http` tops up). The skewed case adds 100k waiting tickets of ``F`` to ``T``
(quick: 10k), all issued earlier than any ticket of ``A`` to ``E``, so they sit in front of the
baseline's ``ORDER BY key`` on its partial index of waiting tickets:

* Queuehall: copies of API-issued tickets inserted into its ``tickets`` table while the server is
  stopped (:func:`benchmarks.recovery.seed_waiting`), then the server is started again and
  rebuilds its engine from them;
* baseline: one ``INSERT … SELECT … generate_series`` into its table, then ``VACUUM ANALYZE``
  (so the planner knows about them; see docs/performance.md, run E).

Each case is :func:`benchmarks.http.measure` at 64 and at 1 in flight: Queuehall's connections
send ``POST …/counters/{n}/next`` (finish and call in one request), the baseline's its call-next
(finish and call in one statement). Durable on both sides.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import httpx

from benchmarks import recovery
from benchmarks.http import (
    Measurement,
    Plan,
    Server,
    System,
    fresh_pg_database,
    measure,
    pg_run,
    prepared_store,
    uvicorn_argv,
)
from benchmarks.workload import SuiteContext, Verdict, WorkloadReport

SERVED = recovery.SERVED
OTHERS = recovery.OTHERS
TARGET_RATIO = 3.0

FULL = Plan(seconds=5, warmup_seconds=2, concurrencies=(64, 1), across_concurrency=0, backlog=5_000)
QUICK = Plan(
    seconds=1, warmup_seconds=1, concurrencies=(64, 1), across_concurrency=0, backlog=1_000
)


def _calls(system: System, plan: Plan, case: str) -> list[Measurement]:
    return [
        measure(
            system,
            plan,
            workload=f"call-next, {case}",
            mode=system.call_mode,
            branches=[recovery.BRANCH],
            connections=connections,
            services=SERVED,
        )
        for connections in plan.concurrencies
    ]


def queuehall_rows(context: SuiteContext, plan: Plan, others: int) -> list[Measurement]:
    rows: list[Measurement] = []
    with contextlib.ExitStack() as stack:
        url, dsn = prepared_store(
            stack, "postgresql", context.pg, context.workdir, "queuehall_bench_skew"
        )
        assert dsn is not None
        for case in ("uniform", "skewed"):
            if case == "skewed":
                recovery.seed_waiting(dsn, others - len(OTHERS))
            with recovery.serve(url, context.workdir, f"skew-{case}") as queuehall:
                if case == "uniform":
                    recovery.configure(queuehall)
                unserved = pg_run(
                    dsn,
                    "SELECT count(*) FROM tickets WHERE state = 'waiting' "
                    f"AND service = ANY(ARRAY{list(OTHERS)!r})",
                )[0][0]

                def waiting(
                    branch: str, hall: recovery.Queuehall = queuehall, n: int = unserved
                ) -> int:
                    return hall.waiting() - n

                system = System(
                    key="queuehall-postgresql",
                    name=f"Queuehall, PostgreSQL ({case})",
                    server=queuehall.server,
                    prefix="/api/v1",
                    call_mode="next",
                    token=queuehall.token,
                    pg_dsn=dsn,
                    waiting=waiting,
                    notes={"unserved_waiting": unserved},
                )
                context.log(f"Queuehall, {case}: {unserved:,} waiting for services nobody calls")
                rows += _calls(system, plan, case)
    return rows


@contextlib.contextmanager
def baseline_server(context: SuiteContext) -> Iterator[tuple[Server, str]]:
    with contextlib.ExitStack() as stack:
        dsn = stack.enter_context(fresh_pg_database(context.pg, "pg_queue_bench_skew"))
        server = Server(
            "PostgreSQL-only queue (skew)",
            uvicorn_argv("benchmarks.baselines.pg_queue:create_app"),
            {"PGQUEUE_DSN": dsn, "PGQUEUE_POOL_SIZE": "16"},
            context.workdir / "pg-queue-skew.log",
        )
        stack.callback(server.stop)
        server.wait_ready("/healthz")
        yield server, dsn


def baseline_rows(context: SuiteContext, plan: Plan, others: int) -> list[Measurement]:
    rows: list[Measurement] = []
    with (
        baseline_server(context) as (server, dsn),
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        for number in range(1, recovery.COUNTERS + 1):
            client.put(
                f"/branches/{recovery.BRANCH}/counters/{number}", json={"services": list(SERVED)}
            ).raise_for_status()
        unserved = [0]

        def waiting(branch: str) -> int:
            reply = client.get(f"/branches/{branch}/waiting")
            reply.raise_for_status()
            return int(reply.json()["waiting"]) - unserved[0]

        system = System(
            key="pg-queue",
            name="PostgreSQL-only queue (baseline)",
            server=server,
            prefix="",
            call_mode="call",
            pg_dsn=dsn,
            waiting=waiting,
        )
        for case in ("uniform", "skewed"):
            if case == "skewed":
                pg_run(
                    dsn,
                    "INSERT INTO tickets (branch, service, priority, key) "
                    f"SELECT '{recovery.BRANCH}', (ARRAY{list(OTHERS)!r})[1 + g % {len(OTHERS)}], "
                    "'normal', extract(epoch FROM now()) - 86400 + g * 0.001 "
                    f"FROM generate_series(1, {others}) g",
                    "VACUUM ANALYZE tickets",
                )
                unserved[0] = others
            context.log(f"Baseline, {case}: {unserved[0]:,} waiting for services nobody calls")
            rows += _calls(system, plan, case)
    return rows


def run_for_suite(context: SuiteContext) -> WorkloadReport:
    plan = QUICK if context.quick else FULL
    others = 10_000 if context.quick else 100_000
    rows = queuehall_rows(context, plan, others) + baseline_rows(context, plan, others)

    def find(system: str, case: str, in_flight: int) -> Measurement:
        for row in rows:
            if (row.system, row.workload, row.in_flight) == (
                system,
                f"call-next, {case}",
                in_flight,
            ):
                return row
        raise LookupError((system, case, in_flight))

    lines = [
        "| system | case | in flight | calls/s | p50 ms | p99 ms | server CPU ms/call "
        "| cores server / PostgreSQL / other |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.system} | {row.workload.removeprefix('call-next, ')} | {row.in_flight} "
            f"| {row.per_second:,.0f} | {row.p50_ms:.2f} | {row.p99_ms:.2f} "
            f"| {row.server_cpu_ms_per_request:.2f} | {row.cpu['server_cores']:.2f} / "
            f"{row.cpu['postgres_cores']:.2f} / {row.cpu['other_cores']:.2f} |"
        )
    top = max(plan.concurrencies)
    skewed, base = find("queuehall-postgresql", "skewed", top), find("pg-queue", "skewed", top)
    uniform = find("queuehall-postgresql", "uniform", top)
    ratio = skewed.per_second / max(1e-9, base.per_second)
    kept = skewed.per_second / max(1e-9, uniform.per_second)
    verdicts = [
        Verdict(
            f"skewed counters: call-next at {top} in flight ≥ {TARGET_RATIO:.0f}× the baseline",
            f"{skewed.per_second:,.0f}/s against {base.per_second:,.0f}/s: {ratio:.1f}×",
            ratio >= TARGET_RATIO,
        ),
        Verdict(
            "skewed counters: no loss against the uniform case (Queuehall)",
            f"{skewed.per_second:,.0f}/s skewed, {uniform.per_second:,.0f}/s uniform: "
            f"{kept:.2f}× (within ±10% counts as no loss on this shared machine)",
            kept >= 0.9,
        ),
    ]
    figures: dict[str, Any] = {
        "plan": asdict(plan),
        "unserved_waiting": others,
        "measurements": [asdict(row) for row in rows],
    }
    return WorkloadReport("Skewed counters (workload 3)", figures, "\n".join(lines), verdicts)
