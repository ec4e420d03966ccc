"""The engine's call-next against the baseline's call-next statement, per call (issue #7).

Target: the engine's ``call_next`` at least 100 times faster than the PostgreSQL-only queue's
call-next statement (``benchmarks/baselines/pg_queue.py``, ``CALL_NEXT``), per call, at the
median, with the same number of tickets waiting.

* **Baseline statement.** A fresh database with the baseline's schema (its partial index on
  waiting tickets included), N waiting tickets over services A, B, C inserted in one statement,
  then ``ANALYZE``. One asyncpg connection (local TCP), the statement prepared once, counter 1
  serving A, B, C. Each sample times one execution of the prepared statement, which finishes
  the counter's previous ticket and calls the next one; a replacement ticket is then issued
  untimed so N stay waiting. Two forms are timed:
  - ``autocommit``: what the baseline does per request: one statement, one transaction, a
    durable commit (``synchronous_commit`` as the server is configured);
  - ``in a transaction, rolled back``: the statement alone, without the commit's WAL flush.
* **Engine.** :class:`benchmarks.engine.Driver` with one tier of 3 services, loaded to the same
  N, timed with :func:`benchmarks.engine.measure_cell` (quiet chunks only).

Both run in the same process, one after the other, so the ratio is from the same minutes.

    python -m benchmarks.call_statement            # 100k and 1M waiting
    python -m benchmarks.call_statement --quick    # 10k
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from benchmarks.baselines.pg_queue import CALL_NEXT, HEAD_START_SECONDS, ISSUE, SCHEMA
from benchmarks.engine import Driver, Scenario, Yardstick, measure_cell
from benchmarks.http import fresh_pg_database, load_average
from benchmarks.workload import SuiteContext, Verdict, WorkloadReport

TARGET_RATIO = 100.0
SERVICES = ["A", "B", "C"]


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(fraction * len(ordered) + 0.999999) - 1))]


async def time_statement(dsn: str, waiting: int, samples: int, warmup: int) -> dict[str, Any]:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(SCHEMA)
        await connection.execute("INSERT INTO counters VALUES ('hall', 1, $1::text[])", SERVICES)
        # Older than anything issued later; the same mix of services as the engine's driver.
        await connection.execute(
            "INSERT INTO tickets (branch, service, priority, key) "
            "SELECT 'hall', ($2::text[])[1 + g % 3], 'normal', "
            "extract(epoch FROM now()) - 86400 + g * 0.001 FROM generate_series(1, $1) g",
            waiting,
            SERVICES,
        )
        await connection.execute("VACUUM ANALYZE tickets")
        call = await connection.prepare(CALL_NEXT)
        issue = await connection.prepare(ISSUE)
        clock = time.perf_counter_ns
        autocommit: list[float] = []
        for index in range(warmup + samples):
            started = clock()
            row = await call.fetchrow("hall", 1, SERVICES)
            elapsed = clock() - started
            if row is None:
                raise RuntimeError("the baseline's call-next found nobody waiting")
            await issue.fetchrow(
                "hall", SERVICES[index % 3], "normal", HEAD_START_SECONDS["normal"]
            )
            if index >= warmup:
                autocommit.append(elapsed / 1000)
        rolled_back: list[float] = []
        for index in range(warmup + samples):
            await connection.execute("BEGIN")
            started = clock()
            row = await call.fetchrow("hall", 1, SERVICES)
            elapsed = clock() - started
            await connection.execute("ROLLBACK")
            if index >= warmup:
                rolled_back.append(elapsed / 1000)
        still = await connection.fetchval("SELECT count(*) FROM tickets WHERE state = 'waiting'")
    finally:
        await connection.close()
    return {
        "waiting": waiting,
        "waiting_after": still,
        "autocommit_us": {
            "p50": round(nearest_rank(autocommit, 0.5), 1),
            "p99": round(nearest_rank(autocommit, 0.99), 1),
            "mean": round(statistics.fmean(autocommit), 1),
        },
        "rolled_back_us": {
            "p50": round(nearest_rank(rolled_back, 0.5), 1),
            "p99": round(nearest_rank(rolled_back, 0.99), 1),
            "mean": round(statistics.fmean(rolled_back), 1),
        },
        "samples": samples,
    }


def time_engine(waiting: int, samples: int) -> dict[str, Any]:
    driver = Driver(Scenario(3))
    driver.load(waiting)
    driver.round_trip(1_000)
    cell = measure_cell(driver, samples, Yardstick())
    del driver
    gc.collect()
    return {
        "waiting": waiting,
        "call_next_us": {k: round(cell["call_next"][k], 2) for k in ("p50_us", "p99_us")},
        "quiet_chunks": f"{cell['quiet_chunks']}/{cell['chunks']}",
        "disturbed": cell["disturbed"],
    }


def run(pg: str, sizes: Sequence[int], samples: int, log: Any) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        with fresh_pg_database(pg, "pg_queue_bench_statement") as dsn:
            statement = asyncio.run(time_statement(dsn, size, samples, warmup=100))
        engine = time_engine(size, max(samples, 5_000))
        ratio = statement["autocommit_us"]["p50"] / engine["call_next_us"]["p50_us"]
        ratio_rolled = statement["rolled_back_us"]["p50"] / engine["call_next_us"]["p50_us"]
        row = {
            "waiting": size,
            "statement": statement,
            "engine": engine,
            "ratio_p50": round(ratio, 1),
            "ratio_p50_without_commit": round(ratio_rolled, 1),
            "load_average": load_average(),
        }
        log(
            f"  {size:>9,} waiting: statement p50 {statement['autocommit_us']['p50']:.0f} µs "
            f"(no commit {statement['rolled_back_us']['p50']:.0f} µs), engine p50 "
            f"{engine['call_next_us']['p50_us']:.2f} µs: {ratio:.0f}x ({ratio_rolled:.0f}x)"
        )
        rows.append(row)
    return rows


def run_for_suite(context: SuiteContext) -> WorkloadReport:
    sizes = (10_000,) if context.quick else (100_000, 1_000_000)
    rows = run(context.pg, sizes, 500 if context.quick else 2_000, context.log)
    lines = [
        "| waiting | baseline statement p50 / p99 µs (autocommit) | same, rolled back "
        "(no commit) | engine call-next p50 / p99 µs | ratio at p50 (without commit) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        st, en = row["statement"], row["engine"]
        lines.append(
            f"| {row['waiting']:,} | {st['autocommit_us']['p50']:.0f} / "
            f"{st['autocommit_us']['p99']:.0f} | {st['rolled_back_us']['p50']:.0f} / "
            f"{st['rolled_back_us']['p99']:.0f} | {en['call_next_us']['p50_us']:.2f} / "
            f"{en['call_next_us']['p99_us']:.2f} | **{row['ratio_p50']:.0f}×** "
            f"({row['ratio_p50_without_commit']:.0f}×) |"
        )
    verdicts = [
        Verdict(
            f"engine call-next ≥ {TARGET_RATIO:.0f}× faster than the baseline statement (p50, "
            f"{row['waiting']:,} waiting)",
            f"{row['ratio_p50']:.0f}× ({row['ratio_p50_without_commit']:.0f}× without the commit)",
            row["ratio_p50"] >= TARGET_RATIO,
        )
        for row in rows
    ]
    return WorkloadReport(
        "Engine call-next against the baseline's call-next statement",
        {"rows": rows},
        "\n".join(lines),
        verdicts,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.call_statement")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    sizes = (10_000,) if args.quick else (100_000, 1_000_000)
    rows = run(args.pg, sizes, 500 if args.quick else 2_000, print)
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
