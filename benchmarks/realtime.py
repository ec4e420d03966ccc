"""Realtime benchmark (issue #4): from the call-next request to the last of N display sockets
receiving the call, one uvicorn worker.

Run from the repository root, with PostgreSQL at ``--pg`` (trust auth)::

    python -m benchmarks.realtime                    # N = 100 and 1,000, 300 calls each
    python -m benchmarks.realtime --quick            # 60 calls each
    python -m benchmarks.realtime --store sqlite     # the embedded store instead
    python -m benchmarks.realtime --json out.json    # also write every figure

How (docs/performance.md, "Realtime (issue #4)", shows the results):

* **Server.** Queuehall as ``uvicorn --factory app.main:create_app``, one worker (uvloop,
  httptools, uvicorn's default WebSocket implementation), a subprocess on a free loopback port,
  on a fresh PostgreSQL database (or SQLite file) migrated by Alembic. An administrator signs in;
  one branch with services A, B, C, one counter, one paired display device, all through the API.
  uvicorn's own protocol-level keepalive and Queuehall's application ping are set to an hour so
  that the measuring clients need not answer them (they do not parse frames, see below).
* **Clients.** N WebSockets to ``/ws/branches/{b}/display`` in this process (uvloop), all
  with the display device's token. Each opens with the ``websockets`` library's sans-I/O client
  (handshake, hello, snapshot), then only scans the bytes it receives: the server's frames are
  unmasked JSON, so a socket has "received the call" at the first ``data_received`` whose bytes
  contain ``"ticket_called"``. The timestamp is taken first thing in the callback; the event
  loop runs ready sockets one after another, so the last socket's time includes the few
  microseconds each earlier socket's callback takes (about 2 µs; 2 ms for 1,000 sockets).
* **One measurement.** ``t0``, then ``POST .../counters/1/call-next`` (httpx, keep-alive); the
  latency is the latest of the N sockets' receive times minus ``t0``. The same is recorded for
  the median socket and for the HTTP reply. N = 0 measures the call-next reply alone: what the
  store and the HTTP path cost before any socket is involved. Then ``finish`` (not timed) and
  a wait until every socket has seen ``ticket_finished``, so each call starts on a quiet
  server. Warm-up calls are discarded. p50 and p99 are nearest-rank percentiles over the
  measured calls.
* **Machine.** Server, PostgreSQL and the N clients share the machine's cores (2 here), so the
  clients' own work competes with the server's; load average and CPU use are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.uri import parse_uri

from benchmarks.http import (
    ADMIN,
    PYTHON,
    REPO,
    Server,
    cpu_model,
    load_average,
    machine_busy_ticks,
    percentile,
    prepared_store,
    process_user_system_ticks,
)
from benchmarks.workload import SuiteContext, Verdict, WorkloadReport

BRANCH = "hall"
TARGETS_P99_MS = {100: 10.0, 1000: 40.0}
CALLED = b'"ticket_called"'
FINISHED = b'"ticket_finished"'


def log(line: str) -> None:
    print(line, flush=True)


class Display(asyncio.Protocol):
    """One display socket: sans-I/O handshake, then a byte scan for the awaited marker."""

    def __init__(self, url: str, token: str, board: Board) -> None:
        self.protocol = ClientProtocol(parse_uri(url))
        self.token = token
        self.board = board
        self.transport: Any = None
        self.ready = asyncio.get_running_loop().create_future()
        self.scanning = False
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport instances
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.scanning:
            chunk = self.tail + data
            self.tail = data[-32:]
            if self.board.marker in chunk:
                self.board.seen(self, now)
            return
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if getattr(event, "opcode", None) is not None and event.opcode.name == "TEXT":
                message = json.loads(event.data)
                if message["type"] == "queue_status" and not self.ready.done():
                    self.scanning = True  # joined: snapshot, then queue_status
                    self.ready.set_result(None)
        if self.protocol.state is State.OPEN and not self.ready.done() and not self.tail:
            self.tail = b"hello sent"
            hello = {"type": "hello", "token": self.token, "since": None}
            self.protocol.send_text(json.dumps(hello).encode())
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"display socket lost: {exc}"))
        self.board.lost += 1


class Board:
    """Which sockets have seen the awaited marker, and when."""

    def __init__(self) -> None:
        self.marker = CALLED
        self.times: dict[Display, float] = {}
        self.expected = 0
        self.complete = asyncio.Event()
        self.lost = 0

    def expect(self, marker: bytes, count: int) -> None:
        self.marker = marker
        self.times = {}
        self.expected = count
        self.complete.clear()

    def seen(self, display: Display, now: float) -> None:
        if display not in self.times:
            self.times[display] = now
            if len(self.times) >= self.expected:
                self.complete.set()


@dataclass
class Result:
    displays: int
    calls: int
    last_p50_ms: float
    last_p99_ms: float
    last_max_ms: float
    median_socket_p50_ms: float
    median_socket_p99_ms: float
    http_reply_p50_ms: float
    http_reply_p99_ms: float
    target_p99_ms: float
    meets_target: bool
    server_cpu_ms_per_call: float
    machine_busy_cores: float
    sockets_lost: int
    # Server RSS growth from before the sockets opened to after all had joined, per socket.
    server_rss_bytes_per_socket: float | None = None


async def measure(
    base_url: str, ws_url: str, token: str, device_token: str, count: int, calls: int, warmup: int
) -> Result:
    board = Board()
    loop = asyncio.get_running_loop()
    displays: list[Display] = []
    host, port = ws_url.split("//")[1].split("/")[0].split(":")
    rss_before = server_rss_bytes(SERVER_PID[0])
    for start in range(0, count, 100):
        batch = []
        for _ in range(min(100, count - start)):
            _, display = await loop.create_connection(
                lambda: Display(ws_url, device_token, board), host, int(port)
            )
            batch.append(display)
        await asyncio.wait_for(asyncio.gather(*(d.ready for d in batch)), 60)
        displays += batch
    headers = {"Authorization": f"Bearer {token}"}
    api = f"{base_url}/api/v1/branches/{BRANCH}/counters/1"
    last: list[float] = []
    median: list[float] = []
    reply: list[float] = []
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        await asyncio.sleep(0.5)
        rss_joined = server_rss_bytes(SERVER_PID[0])
        ticks_before = process_user_system_ticks(SERVER_PID[0])
        busy_before = machine_busy_ticks()
        for i in range(warmup + calls):
            board.expect(CALLED, count)
            t0 = time.perf_counter()
            answer = await client.post(f"{api}/call-next")
            t_reply = time.perf_counter()
            answer.raise_for_status()
            if count:
                await asyncio.wait_for(board.complete.wait(), 30)
            if i >= warmup:
                times = sorted(board.times.values()) or [t_reply]  # N = 0: the reply alone
                last.append((times[-1] - t0) * 1000)
                median.append((times[len(times) // 2] - t0) * 1000)
                reply.append((t_reply - t0) * 1000)
            board.expect(FINISHED, count)
            (await client.post(f"{api}/finish", json={})).raise_for_status()
            if count:
                await asyncio.wait_for(board.complete.wait(), 30)
        ticks_after = process_user_system_ticks(SERVER_PID[0])
        busy_after = machine_busy_ticks()
    for display in displays:
        if display.transport is not None:
            display.transport.close()
    hz = os.sysconf("SC_CLK_TCK")
    server_cpu = (sum(ticks_after) - sum(ticks_before)) / hz
    busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    last.sort()
    median.sort()
    reply.sort()
    target = TARGETS_P99_MS[count] if count in TARGETS_P99_MS else float("nan")
    p99 = percentile(last, 0.99)
    return Result(
        displays=count,
        calls=calls,
        last_p50_ms=round(percentile(last, 0.5), 2),
        last_p99_ms=round(p99, 2),
        last_max_ms=round(last[-1], 2),
        median_socket_p50_ms=round(percentile(median, 0.5), 2),
        median_socket_p99_ms=round(percentile(median, 0.99), 2),
        http_reply_p50_ms=round(percentile(reply, 0.5), 2),
        http_reply_p99_ms=round(percentile(reply, 0.99), 2),
        target_p99_ms=target,
        meets_target=count in TARGETS_P99_MS and p99 <= target,
        # Both calls and finishes load the server: its CPU over the run per measured cycle.
        server_cpu_ms_per_call=round(server_cpu / (warmup + calls) * 1000, 2),
        machine_busy_cores=round(busy * (os.cpu_count() or 1), 2),
        sockets_lost=board.lost,
        server_rss_bytes_per_socket=round((rss_joined - rss_before) / count) if count else None,
    )


def server_rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc/PID/statm."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


SERVER_PID = [0]


@contextlib.contextmanager
def queuehall(
    store: str, admin_dsn: str, workdir: Path, profile: Path | None = None
) -> Iterator[tuple[Server, str, str]]:
    with contextlib.ExitStack() as stack:
        url, _ = prepared_store(stack, store, admin_dsn, workdir, "queuehall_bench_realtime")
        env = {
            "QUEUEHALL_DATABASE_URL": url,
            "QUEUEHALL_RATE_LIMIT_ISSUE": "1000000/minute",
            "QUEUEHALL_LOG_LEVEL": "warning",
            "QUEUEHALL_WS_PING_SECONDS": "3600",
            "QUEUEHALL_WS_SILENCE_SECONDS": "7200",
            "PYTHONPATH": str(REPO),
        }
        profiling = ["-m", "cProfile", "-o", str(profile)] if profile else []
        argv = [
            PYTHON,
            *profiling,
            "-m",
            "uvicorn",
            "--factory",
            "app.main:create_app",
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
            "--ws-ping-interval",
            "3600",
            # As `queuehall serve` runs it (browsers would otherwise negotiate compression).
            "--ws-max-size",
            "65536",
            "--ws-per-message-deflate",
            "false",
        ]
        server = Server(f"Queuehall ({store})", argv, env, workdir / f"realtime-{store}.log")
        stack.callback(server.stop)
        server.wait_ready("/healthz")
        SERVER_PID[0] = server.pid
        api = server.url + "/api/v1"
        signed_in = httpx.post(
            api + "/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]}, timeout=30
        )
        signed_in.raise_for_status()
        token = signed_in.json()["access_token"]
        with httpx.Client(
            base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            client.post("/branches", json={"id": BRANCH, "name": "Bench"}).raise_for_status()
            for code in ("A", "B", "C"):
                client.post(
                    f"/branches/{BRANCH}/services", json={"code": code, "name": f"业务 {code}"}
                ).raise_for_status()
            client.post(
                f"/branches/{BRANCH}/counters",
                json={"number": 1, "name": "1号窗口", "tiers": [["A", "B", "C"]]},
            ).raise_for_status()
            client.post(f"/branches/{BRANCH}/counters/1/open").raise_for_status()
            code = client.post(
                f"/branches/{BRANCH}/devices", json={"kind": "display", "name": "lobby"}
            ).json()["pairing_code"]
            paired = client.post("/devices/pair", json={"code": code})
            paired.raise_for_status()
            device_token = paired.json()["device_token"]
        yield server, token, device_token


def issue(base_url: str, token: str, count: int) -> None:
    async def go() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
            for start in range(0, count, 50):
                replies = await asyncio.gather(
                    *(
                        client.post(f"/api/v1/branches/{BRANCH}/tickets", json={"service": "A"})
                        for _ in range(min(50, count - start))
                    )
                )
                for reply in replies:
                    reply.raise_for_status()

    asyncio.run(go())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.realtime", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="60 calls per N (smoke run)")
    parser.add_argument("--store", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--displays",
        type=int,
        nargs="+",
        default=[0, 100, 1000],
        help="numbers of display sockets (0: the call-next reply alone, for comparison)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write all figures as JSON")
    parser.add_argument(
        "--profile", type=Path, metavar="PATH", help="run the server under cProfile (N.PATH)"
    )
    args = parser.parse_args(argv)
    calls, warmup = (60, 10) if args.quick else (300, 30)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))

    import uvloop

    results: list[Result] = []
    started = load_average()
    with tempfile.TemporaryDirectory() as workdir:
        for count in args.displays:
            profile = None
            if args.profile:
                profile = args.profile.with_name(f"{count}.{args.profile.name}")
            with queuehall(args.store, args.pg, Path(workdir), profile) as (server, token, device):
                issue(server.url, token, warmup + calls + 10)
                ws_url = f"ws://127.0.0.1:{server.port}/ws/branches/{BRANCH}/display"
                log(f"{count} displays, {warmup} warm-up + {calls} measured calls ({args.store})")
                result = uvloop.run(
                    measure(server.url, ws_url, token, device, count, calls, warmup)
                )
                results.append(result)
                log(json.dumps(asdict(result)))
    report = {
        "store": args.store,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": started,
        "load_average_at_end": load_average(),
        "results": [asdict(r) for r in results],
    }
    log("")
    log(f"{'displays':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'target':>8}  verdict")
    for r in results:
        verdict = "meets" if r.meets_target else "MISSES"
        if r.displays not in TARGETS_P99_MS:
            verdict = "(no target)"
        log(
            f"{r.displays:>8} {r.last_p50_ms:>8} {r.last_p99_ms:>8} {r.last_max_ms:>8} "
            f"{r.target_p99_ms:>8}  {verdict}"
        )
    log(f"load average: start {started}, end {report['load_average_at_end']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


# --------------------------------------------------------------------------------------------
# In the benchmark suite (benchmarks/suite.py)


def run_for_suite(context: SuiteContext) -> WorkloadReport:
    """Workload 4 (call → display delivery, N = 0, 100, 1,000) and the memory per display
    socket of workload 6 (the server's RSS growth while the N sockets join)."""
    calls, warmup = (30, 5) if context.quick else (150, 20)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    import uvloop

    results: list[Result] = []
    for count in (0, 100, 1000):
        with queuehall("postgresql", context.pg, context.workdir) as (server, token, device):
            issue(server.url, token, warmup + calls + 10)
            ws_url = f"ws://127.0.0.1:{server.port}/ws/branches/{BRANCH}/display"
            context.log(f"  {count} displays, {warmup} warm-up + {calls} measured calls")
            result = uvloop.run(measure(server.url, ws_url, token, device, count, calls, warmup))
            results.append(result)
            context.log(
                f"    last socket p50 {result.last_p50_ms} ms, p99 {result.last_p99_ms} ms; "
                f"reply p50 {result.http_reply_p50_ms} ms; CPU/call {result.server_cpu_ms_per_call}"
                f" ms; RSS/socket {result.server_rss_bytes_per_socket}"
            )
    lines = [
        "| displays | last socket p50 ms | p99 ms | max ms | median socket p50 ms "
        "| HTTP reply p50 / p99 ms | server CPU ms per call + finish | server RSS per socket "
        "| sockets lost |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        per_socket = (
            f"{r.server_rss_bytes_per_socket / 1024:.1f} KiB"
            if r.server_rss_bytes_per_socket is not None
            else "–"
        )
        lines.append(
            f"| {r.displays:,} | {r.last_p50_ms} | {r.last_p99_ms} | {r.last_max_ms} "
            f"| {r.median_socket_p50_ms if r.displays else '–'} "
            f"| {r.http_reply_p50_ms} / {r.http_reply_p99_ms} | {r.server_cpu_ms_per_call} "
            f"| {per_socket} | {r.sockets_lost} |"
        )
    verdicts = [
        Verdict(
            f"{r.displays:,}-display delivery p99 ≤ {r.target_p99_ms:g} ms",
            f"{r.last_p99_ms} ms (p50 {r.last_p50_ms} ms)",
            r.meets_target,
        )
        for r in results
        if r.displays in TARGETS_P99_MS
    ]
    return WorkloadReport(
        "Call → display delivery, memory per display socket (workloads 4 and 6)",
        {"calls": calls, "warmup": warmup, "results": [asdict(r) for r in results]},
        "\n".join(lines),
        verdicts,
    )


if __name__ == "__main__":
    sys.exit(main())
