"""HTTP benchmark (issue #3): durable ticket issue and call-next over HTTP, one uvicorn worker.

Run from the repository root, with PostgreSQL at ``--pg`` (trust auth) and ``wrk`` installed
(Debian: ``apt-get install wrk``)::

    python -m benchmarks.http                      # full run: 10 s per measurement, ~5 minutes
    python -m benchmarks.http --quick              # smoke run: 2 s per measurement, ~2 minutes
    python -m benchmarks.http --json out.json      # also write every figure as JSON

What it measures, and how (docs/performance.md, "HTTP server (issue #3)", shows the results):

* **Systems.** Three real servers, each a subprocess on a free 127.0.0.1 port, each one
  uvicorn worker (uvloop, httptools), started on a fresh store: Queuehall
  (``uvicorn --factory app.main:create_app``) on a new PostgreSQL database, Queuehall on a new
  SQLite file, and the PostgreSQL-only baseline (:mod:`benchmarks.baselines.pg_queue`) on a new
  PostgreSQL database. Queuehall's schema comes from its migrations; an administrator is
  created with :func:`app.bootstrap.create_user` and signs in through ``/api/v1/auth/token``;
  branches, services and counters are created and counters opened through the API. Every
  command is durable before it is answered in all three (PostgreSQL ``synchronous_commit``
  as configured, SQLite WAL with ``synchronous=FULL``).
* **Load.** ``wrk`` (a closed loop: each connection sends its next request when the previous
  reply has arrived, so connections = requests in flight) with ``benchmarks/http_load.lua``,
  one connection per wrk thread so the script can time each request and keep per-connection
  state. Each measurement is a warm-up run (discarded) and a measured run.
* **Issue.** ``POST /branches/{b}/tickets`` with services A, B, C in turn and 5% vip, 5% care
  tickets; on one branch at 1, 8 and 64 in flight, and across 4 branches at 64 in flight
  (connection i issues at branch i mod 4).
* **Call-next.** On one branch with 64 counters serving A, B, C, each connection works its own
  counter. A Queuehall counter must be free before it calls again. By default each Queuehall
  connection sends ``POST .../counters/{n}/next``, which finishes the counter's ticket and calls
  the next one in one request and one command (``--queuehall-call next``). With
  ``--queuehall-call finish-call`` (and always for ``--before-root``, whose tree may not have
  ``next``) it alternates ``finish`` and ``call-next`` instead: two requests, two commands per
  call; only call-next is counted and timed, the finishes still load the server. The baseline
  finishes the counter's previous ticket inside its call-next statement, so each baseline
  connection sends call-next only. The branch is topped up through the issue endpoint before
  each call-next warm-up and again before the measured run, to 1.5 times what the warm-up's
  pace would consume, so no call finds an empty queue (any 204, or a ``next`` that called
  nobody, is reported as an unexpected reply).
* **Figures.** Throughput is measured requests with the expected status per second of the
  measured run; p50 and p99 are nearest-rank percentiles of their latencies (wrk's send to
  reply parsed). Server CPU per request (the server's user + system time over the measured
  run / measured requests) is the figure least disturbed by other jobs on the machine. CPU
  use of the server process, of all PostgreSQL processes, of wrk and of
  everything else on the machine is sampled from /proc around each measured run; on PostgreSQL,
  transaction commits and WAL flushes (``pg_stat_database``, ``pg_stat_wal``) show how many
  commands share a commit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from benchmarks.workload import SuiteContext, Verdict, WorkloadReport

REPO = Path(__file__).resolve().parents[1]
LOAD_SCRIPT = Path(__file__).with_name("http_load.lua")
PYTHON = sys.executable

SERVICES = ("A", "B", "C")
CALL_BRANCH = "hall"
ISSUE_BRANCHES = ("east", "west", "north", "south")
CALL_COUNTERS = 64  # counters on the call branch: one per connection at the most in flight
COUNTERS_PER_ISSUE_BRANCH = 4
ADMIN = ("bench-admin", secrets.token_urlsafe(12))

TARGET_ISSUE_ONE_BRANCH = 1500.0
TARGET_ISSUE_ACROSS_BRANCHES = 3000.0
TARGET_CALL_RATIO = 1.5
IN_FLIGHT_MARGIN = 2 * CALL_COUNTERS


@dataclass(frozen=True)
class Plan:
    seconds: int  # measured run (wrk takes whole seconds)
    warmup_seconds: int  # discarded run before it, same load
    concurrencies: tuple[int, ...]
    across_concurrency: int
    # Waiting tickets on the call branch before a call-next warm-up; before the measured run it
    # is topped up to 1.5 times what the warm-up's pace would consume, so no call finds nobody.
    backlog: int


FULL = Plan(
    seconds=10, warmup_seconds=2, concurrencies=(1, 8, 64), across_concurrency=64, backlog=5_000
)
QUICK = Plan(
    seconds=2, warmup_seconds=1, concurrencies=(1, 8, 64), across_concurrency=64, backlog=2_000
)


def log(line: str) -> None:
    print(line, flush=True)


# --------------------------------------------------------------------------------------------
# Machine and processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # without guest time, which is already in user
    return total - idle, total


def process_user_system_ticks(pid: int) -> tuple[int, int]:
    """(utime, stime) of one process (all its threads), zeros when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0, 0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]), int(fields[12])


def process_ticks(pid: int) -> int:
    """utime + stime of one process, 0 when it is gone."""
    return sum(process_user_system_ticks(pid))


def postgres_ticks() -> dict[int, int]:
    """CPU of every PostgreSQL process (postmaster, backends, WAL writer, ...) by pid."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() == "postgres":
                ticks[int(entry.name)] = process_ticks(int(entry.name))
    return ticks


@dataclass
class CpuSample:
    wall: float
    busy: int
    total: int
    server_user: int
    server_system: int
    postgres: dict[int, int]

    @property
    def server(self) -> int:
        return self.server_user + self.server_system

    @staticmethod
    def take(server_pid: int) -> CpuSample:
        busy, total = machine_busy_ticks()
        user, system = process_user_system_ticks(server_pid)
        return CpuSample(time.monotonic(), busy, total, user, system, postgres_ticks())


def cpu_use(before: CpuSample, after: CpuSample, wrk_ticks: int) -> dict[str, float]:
    """Cores used during the interval by the server, PostgreSQL, wrk and everything else."""
    wall = after.wall - before.wall
    cores = os.cpu_count() or 1
    machine = (after.busy - before.busy) / max(1, after.total - before.total) * cores
    server = (after.server - before.server) / CLOCK_TICKS / wall
    # A backend that exited during the interval is missed; one that started counts from zero.
    postgres_delta = sum(t - before.postgres.get(pid, 0) for pid, t in after.postgres.items())
    postgres = postgres_delta / CLOCK_TICKS / wall
    load = wrk_ticks / CLOCK_TICKS / wall
    return {
        "machine_cores": round(machine, 2),
        "server_cores": round(server, 2),
        "postgres_cores": round(postgres, 2),
        "wrk_cores": round(load, 2),
        "other_cores": round(max(0.0, machine - server - postgres - load), 2),
    }


class Server:
    """A server subprocess on a free loopback port, stopped (and waited for) on exit."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path = REPO
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [*argv, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


def uvicorn_argv(factory: str) -> list[str]:
    return [
        PYTHON,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


# --------------------------------------------------------------------------------------------
# PostgreSQL


def pg_url(admin_dsn: str, database: str) -> str:
    base, _, _ = admin_dsn.rpartition("/")
    return f"{base}/{database}"


def pg_run(dsn: str, *statements: str) -> list[Any]:
    async def go() -> list[Any]:
        connection = await asyncpg.connect(dsn)
        try:
            return [await connection.fetchrow(s) for s in statements]
        finally:
            await connection.close()

    return asyncio.run(go())


@contextlib.contextmanager
def fresh_pg_database(admin_dsn: str, name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards. Yields its asyncpg DSN. The name
    gets this process's id, so that two benchmark runs on one cluster never drop each other's."""
    name = f"{name}_{os.getpid()}"
    pg_run(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(admin_dsn, name)
    finally:
        pg_run(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepared_store(
    stack: contextlib.ExitStack, store: str, admin_dsn: str, workdir: Path, name: str
) -> tuple[str, str | None]:
    """A fresh store named ``name``, migrated, with the benchmark's administrator: its
    SQLAlchemy URL and, on PostgreSQL, its plain DSN (dropped when ``stack`` closes)."""
    from app.auth import Role
    from app.bootstrap import create_user
    from app.db.migrate import upgrade_sync
    from app.db.session import create_engine
    from app.db.store import Store

    pg_dsn = None
    if store == "postgresql":
        pg_dsn = stack.enter_context(fresh_pg_database(admin_dsn, name))
        url = pg_dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    else:
        path = workdir / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
    upgrade_sync(url)

    async def admin() -> None:
        engine = create_engine(url)
        try:
            await create_user(Store(engine), *ADMIN, Role.ADMIN, None)
        finally:
            await engine.dispose()

    asyncio.run(admin())
    return url, pg_dsn


def pg_counters(dsn: str) -> dict[str, int]:
    """Commits of this database and WAL flushes of the cluster, as PostgreSQL counts them."""
    commits, wal = pg_run(
        dsn,
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        "SELECT wal_sync, wal_write, wal_records FROM pg_stat_wal",
    )
    return {
        "commits": int(commits[0]),
        "wal_syncs": int(wal["wal_sync"]),
        "wal_writes": int(wal["wal_write"]),
        "wal_records": int(wal["wal_records"]),
    }


def pg_settings(dsn: str) -> dict[str, str]:
    names = (
        "server_version",
        "fsync",
        "synchronous_commit",
        "wal_sync_method",
        "shared_buffers",
        "commit_delay",
        "max_connections",
    )
    rows = pg_run(dsn, *(f"SHOW {name}" for name in names))
    return {name: row[0] for name, row in zip(names, rows, strict=True)}


# --------------------------------------------------------------------------------------------
# The systems under test


@dataclass
class System:
    key: str
    name: str
    server: Server
    prefix: str  # API path prefix
    call_mode: str  # "next" or "finish-call" (Queuehall), "call" (baseline)
    token: str = ""
    pg_dsn: str | None = None  # for commit counts
    waiting: Callable[[str], int] = field(default=lambda branch: 0)
    notes: dict[str, Any] = field(default_factory=dict)


def queuehall_configure(client: httpx.Client) -> None:
    """Branches, services and open counters, all through the API."""
    branches = {CALL_BRANCH: CALL_COUNTERS}
    branches.update(dict.fromkeys(ISSUE_BRANCHES, COUNTERS_PER_ISSUE_BRANCH))
    for branch, counters in branches.items():
        client.post("/branches", json={"id": branch, "name": f"Bench {branch}"}).raise_for_status()
        for code in SERVICES:
            client.post(
                f"/branches/{branch}/services",
                json={"code": code, "name": f"业务 {code}", "mean_service_minutes": 5},
            ).raise_for_status()
        for number in range(1, counters + 1):
            client.post(
                f"/branches/{branch}/counters",
                json={"number": number, "name": f"{number}号窗口", "tiers": [list(SERVICES)]},
            ).raise_for_status()
            client.post(f"/branches/{branch}/counters/{number}/open").raise_for_status()


@contextlib.contextmanager
def queuehall(
    store: str,
    admin_dsn: str,
    workdir: Path,
    app_root: Path,
    *,
    call_mode: str = "next",
    key_suffix: str = "",
) -> Iterator[System]:
    with contextlib.ExitStack() as stack:
        url, pg_dsn = prepared_store(
            stack, store, admin_dsn, workdir, f"queuehall_bench_http{key_suffix.replace('-', '_')}"
        )
        env = {
            "QUEUEHALL_DATABASE_URL": url,
            "QUEUEHALL_RATE_LIMIT_ISSUE": "1000000/minute",
            "QUEUEHALL_RATE_LIMIT_PUBLIC": "1000000/minute",
            "QUEUEHALL_LOG_LEVEL": "warning",
            "PYTHONPATH": str(app_root),
        }
        server = Server(
            f"Queuehall ({store}{key_suffix})",
            uvicorn_argv("app.main:create_app"),
            env,
            workdir / f"queuehall-{store}{key_suffix}.log",
            cwd=app_root,
        )
        stack.callback(server.stop)
        server.wait_ready("/healthz")
        api = server.url + "/api/v1"
        reply = httpx.post(
            api + "/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]}, timeout=30
        )
        reply.raise_for_status()
        token = reply.json()["access_token"]
        client = stack.enter_context(
            httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        )
        queuehall_configure(client)

        def waiting(branch: str) -> int:
            reply = client.get(f"/branches/{branch}/queue")
            reply.raise_for_status()
            return int(reply.json()["waiting"])

        label = "PostgreSQL" if store == "postgresql" else "SQLite"
        yield System(
            key=f"queuehall-{store}{key_suffix}",
            name=f"Queuehall, {label}{' (' + str(app_root) + ')' if key_suffix else ''}",
            server=server,
            prefix="/api/v1",
            call_mode=call_mode,
            token=token,
            pg_dsn=pg_dsn,
            waiting=waiting,
            notes={"database_url": url.split("@")[-1]},
        )


@contextlib.contextmanager
def baseline(admin_dsn: str, workdir: Path, pool_size: int) -> Iterator[System]:
    with contextlib.ExitStack() as stack:
        dsn = stack.enter_context(fresh_pg_database(admin_dsn, "pg_queue_bench_http"))
        server = Server(
            "PostgreSQL-only queue",
            uvicorn_argv("benchmarks.baselines.pg_queue:create_app"),
            {"PGQUEUE_DSN": dsn, "PGQUEUE_POOL_SIZE": str(pool_size)},
            workdir / "pg-queue.log",
        )
        stack.callback(server.stop)
        server.wait_ready("/healthz")
        client = stack.enter_context(httpx.Client(base_url=server.url, timeout=30))
        branches = {CALL_BRANCH: CALL_COUNTERS}
        branches.update(dict.fromkeys(ISSUE_BRANCHES, COUNTERS_PER_ISSUE_BRANCH))
        for branch, counters in branches.items():
            for number in range(1, counters + 1):
                client.put(
                    f"/branches/{branch}/counters/{number}", json={"services": list(SERVICES)}
                ).raise_for_status()

        def waiting(branch: str) -> int:
            reply = client.get(f"/branches/{branch}/waiting")
            reply.raise_for_status()
            return int(reply.json()["waiting"])

        yield System(
            key="pg-queue",
            name="PostgreSQL-only queue (baseline)",
            server=server,
            prefix="",
            call_mode="call",
            pg_dsn=dsn,
            waiting=waiting,
            notes={"pool_size": pool_size},
        )


# --------------------------------------------------------------------------------------------
# Load


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class WrkRun:
    seconds: float
    tallies: dict[str, int]
    samples: dict[str, str]  # first body of each unexpected reply
    latencies_us: list[float]
    socket_errors: dict[str, int]
    wrk_ticks: int


def run_wrk(
    system: System,
    *,
    mode: str,
    branches: Sequence[str],
    connections: int,
    seconds: int,
    quota: int = 0,
    stop_when: Callable[[], bool] | None = None,
    services: Sequence[str] = SERVICES,
) -> WrkRun:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = Path(out.name)
    env = {
        **os.environ,
        "BENCH_MODE": mode,
        "BENCH_PREFIX": system.prefix,
        "BENCH_TOKEN": system.token,
        "BENCH_BRANCHES": ",".join(branches),
        "BENCH_SERVICES": ",".join(services),
        "BENCH_COUNTER_BASE": "1",
        "BENCH_QUOTA": str(quota),
        "BENCH_OUT": str(out_path),
    }
    argv = [
        "wrk",
        "-t",
        str(connections),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LOAD_SCRIPT),
        system.server.url,
    ]
    try:
        process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + seconds + 60
        while os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            # wrk sleeps for its whole duration even when every thread has stopped: end it
            # (SIGINT: it still reports) once the caller has what it wanted.
            if stop_when is not None and stop_when():
                process.send_signal(signal.SIGINT)
                stop_when = None
            if time.monotonic() > deadline:
                process.kill()
            time.sleep(0.05 if stop_when is None else 0.5)
        wrk_ticks = process_ticks(process.pid)  # read while a zombie: exited, not yet reaped
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"wrk failed ({process.returncode}): {(stdout + stderr).decode()}")
        raw = json.loads(out_path.read_text())
    finally:
        out_path.unlink(missing_ok=True)
    tallies: dict[str, int] = {}
    samples: dict[str, str] = {}
    latencies: list[float] = []
    for thread in raw["threads"]:
        for name, count in thread["tallies"].items():
            tallies[name] = tallies.get(name, 0) + count
        for name, text in thread["samples"].items():
            samples.setdefault(name, text)
        latencies.extend(thread["latencies_us"])
    return WrkRun(
        raw["duration_us"] / 1e6, tallies, samples, latencies, raw["socket_errors"], wrk_ticks
    )


@dataclass
class Measurement:
    system: str
    workload: str  # "issue, one branch", "issue, 4 branches", "call-next, one branch"
    in_flight: int
    seconds: float
    requests: int  # measured requests with the expected status
    per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_ms_per_request: float  # server process CPU time / measured requests
    server_system_share: float  # of that CPU time, the part spent in the kernel
    tallies: dict[str, int]
    unexpected_replies: dict[str, str]
    socket_errors: dict[str, int]
    cpu: dict[str, float]
    load_average: list[float]
    waiting_before: int | None = None
    postgres: dict[str, float] | None = None


def measure(
    system: System,
    plan: Plan,
    *,
    workload: str,
    mode: str,
    branches: Sequence[str],
    connections: int,
    services: Sequence[str] = SERVICES,
) -> Measurement:
    """One warm-up and one measured wrk run; ``services`` are issued in turn (top-ups too)."""
    waiting_before = None
    if mode != "issue":
        top_up(system, plan.backlog, services)
        waiting_before = system.waiting(CALL_BRANCH)
    warmup = run_wrk(
        system,
        mode=mode,
        branches=branches,
        connections=connections,
        seconds=plan.warmup_seconds,
        services=services,
    )
    if mode != "issue":
        pace = len(warmup.latencies_us) / warmup.seconds
        top_up(system, max(plan.backlog, math.ceil(1.5 * pace * plan.seconds)), services)
        waiting_before = system.waiting(CALL_BRANCH)
    pg_before = pg_counters(system.pg_dsn) if system.pg_dsn else None
    cpu_before = CpuSample.take(system.server.pid)
    run = run_wrk(
        system,
        mode=mode,
        branches=branches,
        connections=connections,
        seconds=plan.seconds,
        services=services,
    )
    cpu_after = CpuSample.take(system.server.pid)
    postgres = None
    if system.pg_dsn and pg_before is not None:
        time.sleep(1.2)  # backends report their statistics at most once a second
        pg_after = pg_counters(system.pg_dsn)
        delta = {name: pg_after[name] - pg_before[name] for name in pg_after}
        commands = len(run.latencies_us) * (2 if mode == "finish-call" else 1)
        postgres = {
            **delta,
            "commands_per_commit": round(commands / max(1, delta["commits"]), 2),
            "commands_per_wal_sync": round(commands / max(1, delta["wal_syncs"]), 2),
        }
    ordered = sorted(run.latencies_us)
    result = Measurement(
        system=system.key,
        workload=workload,
        in_flight=connections,
        seconds=round(run.seconds, 3),
        requests=len(ordered),
        per_second=round(len(ordered) / run.seconds, 1),
        p50_ms=round(percentile(ordered, 0.50) / 1000, 3),
        p90_ms=round(percentile(ordered, 0.90) / 1000, 3),
        p99_ms=round(percentile(ordered, 0.99) / 1000, 3),
        max_ms=round(ordered[-1] / 1000, 3) if ordered else math.nan,
        server_cpu_ms_per_request=round(
            (cpu_after.server - cpu_before.server) / CLOCK_TICKS * 1000 / max(1, len(ordered)), 3
        ),
        server_system_share=round(
            (cpu_after.server_system - cpu_before.server_system)
            / max(1, cpu_after.server - cpu_before.server),
            2,
        ),
        tallies=run.tallies,
        unexpected_replies=run.samples,
        socket_errors=run.socket_errors,
        cpu=cpu_use(cpu_before, cpu_after, run.wrk_ticks),
        load_average=load_average(),
        waiting_before=waiting_before,
        postgres=postgres,
    )
    unexpected = {
        name: count
        for name, count in run.tallies.items()
        if name not in ("issue 201", "call-next 200", "finish 200")
    }
    log(
        f"  {workload:<24} {connections:>3} in flight: {result.per_second:>8,.0f}/s  "
        f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
        f"server cpu {result.server_cpu_ms_per_request:.2f} ms/req "
        f"({result.server_system_share:.0%} kernel)  cores {result.cpu}"
        + (f"  per commit {postgres['commands_per_commit']}" if postgres else "")
        + (f"  other replies {unexpected} {run.samples}" if unexpected else "")
    )
    return result


def top_up(system: System, target: int, services: Sequence[str] = SERVICES) -> int:
    """Issue tickets of ``services`` on the call branch until ``target`` wait (as
    ``system.waiting`` counts them); returns the waiting count."""
    waiting = system.waiting(CALL_BRANCH)
    missing = target - waiting
    if missing > 0:
        connections = 32
        # A margin over what is missing: calls of the previous wrk run still in flight may take
        # a few tickets after the count, and the run below stops only once ``target`` wait.
        quota = -(-(missing + IN_FLIGHT_MARGIN) // connections)
        run_wrk(
            system,
            mode="issue",
            branches=[CALL_BRANCH],
            connections=connections,
            seconds=300,
            quota=quota,
            stop_when=lambda: system.waiting(CALL_BRANCH) >= target,
            services=services,
        )
        waiting = system.waiting(CALL_BRANCH)
    return waiting


def benchmark(
    system: System, plan: Plan, workloads: Sequence[str] = ("issue", "call")
) -> list[Measurement]:
    log(f"{system.name}")
    rows = []
    for connections in plan.concurrencies if "issue" in workloads else ():
        rows.append(
            measure(
                system,
                plan,
                workload="issue, one branch",
                mode="issue",
                branches=[CALL_BRANCH],
                connections=connections,
            )
        )
    if "issue" in workloads:
        rows.append(
            measure(
                system,
                plan,
                workload=f"issue, {len(ISSUE_BRANCHES)} branches",
                mode="issue",
                branches=ISSUE_BRANCHES,
                connections=plan.across_concurrency,
            )
        )
    for connections in plan.concurrencies if "call" in workloads else ():
        rows.append(
            measure(
                system,
                plan,
                workload="call-next, one branch",
                mode=system.call_mode,
                branches=[CALL_BRANCH],
                connections=connections,
            )
        )
    return rows


# --------------------------------------------------------------------------------------------
# Report


def find(rows: Sequence[Measurement], system: str, workload: str, in_flight: int) -> Measurement:
    for row in rows:
        if (row.system, row.workload, row.in_flight) == (system, workload, in_flight):
            return row
    raise LookupError((system, workload, in_flight))


def verdicts(rows: Sequence[Measurement], plan: Plan) -> list[dict[str, Any]]:
    top = max(plan.concurrencies)
    across = f"issue, {len(ISSUE_BRANCHES)} branches"
    results = []

    def check(target: str, measured: str, met: bool) -> None:
        results.append({"target": target, "measured": measured, "met": met})

    for store in ("postgresql", "sqlite"):
        system = f"queuehall-{store}"
        one = max(
            (find(rows, system, "issue, one branch", c) for c in plan.concurrencies),
            key=lambda row: row.per_second,
        )
        check(
            f"issue on one branch ({store}) >= {TARGET_ISSUE_ONE_BRANCH:,.0f}/s",
            f"{one.per_second:,.0f}/s at {one.in_flight} in flight",
            one.per_second >= TARGET_ISSUE_ONE_BRANCH,
        )
        many = find(rows, system, across, plan.across_concurrency)
        check(
            f"issue across branches ({store}) >= {TARGET_ISSUE_ACROSS_BRANCHES:,.0f}/s",
            f"{many.per_second:,.0f}/s at {many.in_flight} in flight",
            many.per_second >= TARGET_ISSUE_ACROSS_BRANCHES,
        )
        call = find(rows, system, "call-next, one branch", top)
        base = find(rows, "pg-queue", "call-next, one branch", top)
        ratio = call.per_second / base.per_second
        check(
            f"call-next at {top} in flight ({store}) >= {TARGET_CALL_RATIO}x baseline",
            f"{call.per_second:,.0f}/s vs {base.per_second:,.0f}/s = {ratio:.2f}x",
            ratio >= TARGET_CALL_RATIO,
        )
        call1 = find(rows, system, "call-next, one branch", 1)
        base1 = find(rows, "pg-queue", "call-next, one branch", 1)
        check(
            f"call-next p50 at 1 in flight ({store}) <= baseline",
            f"{call1.p50_ms:.2f} ms vs {base1.p50_ms:.2f} ms",
            call1.p50_ms <= base1.p50_ms,
        )
    return results


def print_table(rows: Sequence[Measurement], checks: Sequence[dict[str, Any]]) -> None:
    log("")
    log(
        f"{'system':<28} {'workload':<24} {'in flight':>9} {'req/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'cpu ms':>6} {'server':>6} {'pg':>5} {'other':>5}"
    )
    for row in rows:
        log(
            f"{row.system:<28} {row.workload:<24} {row.in_flight:>9} {row.per_second:>9,.0f} "
            f"{row.p50_ms:>8.2f} {row.p99_ms:>8.2f} {row.server_cpu_ms_per_request:>6.2f} "
            f"{row.cpu['server_cores']:>6.2f} "
            f"{row.cpu['postgres_cores']:>5.2f} {row.cpu['other_cores']:>5.2f}"
        )
    log("")
    log("Targets")
    for check in checks:
        log(f"  {'MET   ' if check['met'] else 'MISSED'} {check['target']}: {check['measured']}")


def filesystem_of(path: Path) -> str:
    """Device and type of the filesystem holding ``path`` (where the SQLite file lives)."""
    best = ("", "unknown", "unknown")
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, kind = line.split()[:3]
            if str(path.resolve()).startswith(mount) and len(mount) >= len(best[0]):
                best = (mount, device, kind)
    return f"{best[1]} ({best[2]})"


def machine(admin_dsn: str) -> dict[str, Any]:
    versions = {}
    for package in (
        "fastapi",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "sqlalchemy",
        "asyncpg",
        "aiosqlite",
        "pydantic",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "app"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": pg_settings(admin_dsn),
        "sqlite": __import__("sqlite3").sqlite_version,
        "packages": versions,
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "",
        "commit": commit,
        "app_changes_uncommitted": dirty[1::2],
        "load_average_at_start": load_average(),
        "temp_filesystem": filesystem_of(Path(tempfile.gettempdir())),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.http", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="2 s measurements (smoke run)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write all figures as JSON")
    parser.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL database to connect to for creating and dropping the bench databases",
    )
    parser.add_argument("--pool-size", type=int, default=16, help="the baseline's pool size")
    parser.add_argument(
        "--app-root",
        type=Path,
        default=REPO,
        help="serve Queuehall from this source tree instead (to measure a patch on a copy)",
    )
    parser.add_argument(
        "--queuehall-call",
        choices=("next", "finish-call"),
        default="next",
        help="how a Queuehall connection calls: one 'next' request, or 'finish' then 'call-next'",
    )
    parser.add_argument(
        "--before-root",
        type=Path,
        help="also measure Queuehall on PostgreSQL served from this tree (key "
        "queuehall-postgresql-before, finish then call-next), first, for a before/after in one run",
    )
    parser.add_argument(
        "--before-call",
        choices=("next", "finish-call"),
        default="finish-call",
        help="how the --before-root tree is called (default finish-call: older trees have no "
        "'next'; use next when it has one)",
    )
    parser.add_argument(
        "--only",
        choices=("queuehall-postgresql", "queuehall-sqlite", "pg-queue"),
        action="append",
        help="run only these systems (repeatable); targets are then not judged",
    )
    parser.add_argument(
        "--workload",
        choices=("issue", "call"),
        action="append",
        help="run only these workloads (repeatable); targets are then not judged",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    info = machine(args.pg)
    log(
        f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}; "
        f"PostgreSQL {info['postgresql']['server_version']}; SQLite {info['sqlite']}; "
        f"{info['wrk']}; load average {info['load_average_at_start']}"
    )
    started = time.monotonic()
    rows: list[Measurement] = []
    wanted = args.only or ["queuehall-postgresql", "queuehall-sqlite", "pg-queue"]
    if args.before_root is not None:
        wanted = ["queuehall-postgresql-before", *wanted]
    # Outside the repository (a clean of the work tree must not pull the SQLite file away); on
    # this machine the same ext4 disk, so SQLite's fsyncs are real.
    with tempfile.TemporaryDirectory(prefix="queuehall-http-") as tmp:
        workdir = Path(tmp)
        for key in wanted:
            if key == "pg-queue":
                context = baseline(args.pg, workdir, args.pool_size)
            elif key == "queuehall-postgresql-before":
                context = queuehall(
                    "postgresql",
                    args.pg,
                    workdir,
                    args.before_root.resolve(),
                    call_mode=args.before_call,
                    key_suffix="-before",
                )
            else:
                context = queuehall(
                    key.removeprefix("queuehall-"),
                    args.pg,
                    workdir,
                    args.app_root.resolve(),
                    call_mode=args.queuehall_call,
                )
            with context as system:
                rows.extend(benchmark(system, plan, args.workload or ("issue", "call")))
    checks = verdicts(rows, plan) if not (args.only or args.workload) else []
    print_table(rows, checks)
    seconds = time.monotonic() - started
    log(f"\nTotal time: {seconds:.0f} s; load average at the end {load_average()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        results = {
            "mode": "quick" if args.quick else "full",
            "command": "python -m benchmarks.http "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "machine": info,
            "plan": asdict(plan),
            "baseline_pool_size": args.pool_size,
            "app_root": str(args.app_root),
            "before_root": str(args.before_root) if args.before_root else None,
            "queuehall_call": args.queuehall_call,
            "measurements": [asdict(row) for row in rows],
            "verdicts": checks,
            "seconds": round(seconds),
        }
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        log(f"Wrote {args.json}")
    return 0


# --------------------------------------------------------------------------------------------
# In the benchmark suite (benchmarks/suite.py)

SUITE = Plan(
    seconds=5, warmup_seconds=2, concurrencies=(1, 8, 64), across_concurrency=64, backlog=5_000
)
SUITE_QUICK = Plan(
    seconds=1, warmup_seconds=1, concurrencies=(1, 64), across_concurrency=64, backlog=1_000
)


def markdown_rows(rows: Sequence[Measurement]) -> list[str]:
    lines = [
        "| system | workload | in flight | req/s | p50 ms | p99 ms | server CPU ms/req "
        "| cores server / PostgreSQL / other |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.system} | {row.workload} | {row.in_flight} | {row.per_second:,.0f} "
            f"| {row.p50_ms:.2f} | {row.p99_ms:.2f} | {row.server_cpu_ms_per_request:.2f} "
            f"| {row.cpu['server_cores']:.2f} / {row.cpu['postgres_cores']:.2f} / "
            f"{row.cpu['other_cores']:.2f} |"
        )
    return lines


def run_for_suite(context: SuiteContext) -> WorkloadReport:
    """Workload 2: durable issue and call-next over HTTP at 1, 8 and 64 in flight, Queuehall on
    PostgreSQL against the baseline (5 s measured runs in the suite; SQLite only standalone)."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    plan = SUITE_QUICK if context.quick else SUITE
    rows: list[Measurement] = []
    for key in ("queuehall-postgresql", "pg-queue"):
        if key == "pg-queue":
            system_context = baseline(context.pg, context.workdir, 16)
        else:
            system_context = queuehall("postgresql", context.pg, context.workdir, REPO)
        with system_context as system:
            rows.extend(benchmark(system, plan))
    found: list[Verdict] = []
    top = max(plan.concurrencies)
    one = max(
        (find(rows, "queuehall-postgresql", "issue, one branch", c) for c in plan.concurrencies),
        key=lambda row: row.per_second,
    )
    found.append(
        Verdict(
            f"durable issue, one branch ≥ {TARGET_ISSUE_ONE_BRANCH:,.0f}/s",
            f"{one.per_second:,.0f}/s at {one.in_flight} in flight",
            one.per_second >= TARGET_ISSUE_ONE_BRANCH,
        )
    )
    many = find(rows, "queuehall-postgresql", f"issue, {len(ISSUE_BRANCHES)} branches", top)
    found.append(
        Verdict(
            f"durable issue across 4 branches ≥ {TARGET_ISSUE_ACROSS_BRANCHES:,.0f}/s",
            f"{many.per_second:,.0f}/s",
            many.per_second >= TARGET_ISSUE_ACROSS_BRANCHES,
        )
    )
    call = find(rows, "queuehall-postgresql", "call-next, one branch", top)
    base = find(rows, "pg-queue", "call-next, one branch", top)
    ratio = call.per_second / max(1e-9, base.per_second)
    found.append(
        Verdict(
            f"call-next at {top} in flight ≥ {TARGET_CALL_RATIO}× the baseline",
            f"{call.per_second:,.0f}/s against {base.per_second:,.0f}/s: {ratio:.2f}×",
            ratio >= TARGET_CALL_RATIO,
        )
    )
    call1 = find(rows, "queuehall-postgresql", "call-next, one branch", 1)
    base1 = find(rows, "pg-queue", "call-next, one branch", 1)
    found.append(
        Verdict(
            "call-next p50 at 1 in flight ≤ the baseline's",
            f"{call1.p50_ms:.2f} ms against {base1.p50_ms:.2f} ms",
            call1.p50_ms <= base1.p50_ms,
        )
    )
    return WorkloadReport(
        "HTTP: durable issue and call-next (workload 2)",
        {"plan": asdict(plan), "measurements": [asdict(row) for row in rows]},
        "\n".join(markdown_rows(rows)),
        found,
    )


if __name__ == "__main__":
    raise SystemExit(main())
