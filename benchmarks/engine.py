"""Queue engine benchmark: issue and call-next cost, memory per waiting ticket, GC pauses.

Run from the repository root (after ``pip install -e '.[dev]'``)::

    python -m benchmarks.engine                  # full run: 10k, 100k and 1M waiting (minutes)
    python -m benchmarks.engine --quick          # smoke run: small sizes, few samples (seconds)
    python -m benchmarks.engine --json out.json  # also write every figure, unrounded, as JSON

What it measures, and how (docs/performance.md, "Queue engine", shows the results):

* **Latency.** For counters serving K = 1, 5 and 20 services (all in one tier, plus K = 20 split
  over two tiers), the engine is grown to 10k, 100k and 1M waiting tickets with a fixed mix of
  services and priority classes and an increasing clock. At each size, every sample times one
  command with ``time.perf_counter_ns``; the commands that keep the engine in a steady state run
  outside the timed region. A call-next sample is ``call_next`` timed, then ``finish`` and a
  replacement ``issue_ticket`` untimed; an issue sample is ``issue_ticket`` timed, then
  ``call_next`` and ``finish`` untimed. The waiting count therefore stays exactly at N. The
  garbage collector runs as it does in production (enabled, not frozen), so its pauses land in
  the samples; each cell reports how many full (generation 2) collections it contained.
  Samples are taken in chunks of 500 with a reading of a fixed pure-Python loop (the
  "yardstick") before and after each chunk; percentiles come from chunks that ran while the
  machine was quiet (see :func:`measure_cell`), since other load only ever adds time.
* **Memory per waiting ticket.** Resident set size (``/proc/self/statm``) before and after loading
  100k and 1M tickets into a fresh engine at the start of the process, divided by the count; and
  ``tracemalloc`` around a separate 100k load, which counts every byte Python allocated for the
  engine (ticket objects, keys, sorted-list slots, the arrival deque, the id lists) and shows
  where it went.
* **GC pauses.** With 1M live tickets: every collection during the 1M load, during a burst of
  commands without and with ``gc.freeze()``, and explicit full collections (fastest of
  three), timed with ``gc.callbacks``.

The engine is imported, never modified; the benchmark only uses its public commands.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from app.queue_engine import BranchConfig, CounterConfig, QueueEngine, ServiceConfig
from benchmarks.workload import SuiteContext, Verdict, WorkloadReport

BUSINESS_DAY = "2026-03-02"
START = 1_772_409_600.0  # 2026-03-02 08:00 (UTC+8) in epoch seconds
ARRIVAL_GAP = 0.01  # seconds between two commands: keeps the clock moving, as in a real hall
COUNTERS = 4
MEASURED_COUNTER = 1
PLAN_SIZE = 1 << 16  # the service/priority/channel mix repeats every 65,536 tickets
PRIORITY_MIX = (("normal", 88), ("vip", 8), ("care", 4))  # percent
CHANNEL_MIX = (("kiosk", 60), ("mobile", 30), ("wechat", 10))
SEED = 20260302
CHUNK = 500  # samples of each command between two yardstick readings
QUIET_FACTOR = 1.3  # a reading within 30% of the quietest one means nothing else ran
MAX_CHUNKS_FACTOR = 4  # stop after timing this many times the samples asked for
FORCED_COLLECTIONS = 3

TARGET_CALL_P50_US = 5.0
TARGET_CALL_P99_US = 20.0
TARGET_BYTES_PER_TICKET = 400.0
TARGET_MAX_GC_PAUSE_MS = 50.0


# --------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class Scenario:
    """A branch shape: K services, each counter serving all of them in one or two tiers."""

    services: int
    tiers: int = 1

    @property
    def name(self) -> str:
        tiers = "1 tier" if self.tiers == 1 else f"{self.tiers} tiers"
        return f"K={self.services} ({tiers})"


@dataclass(frozen=True)
class Settings:
    sizes: tuple[int, ...]
    samples: int
    warmup: int
    scenarios: tuple[Scenario, ...]
    memory_sizes: tuple[int, ...]  # RSS checkpoints of one load into a fresh engine
    tracemalloc_size: int
    memory_scenario: Scenario
    burst_rounds: int  # issue + call_next + finish per round

    @property
    def live_for_gc(self) -> int:
        return self.memory_sizes[-1]


FULL = Settings(
    sizes=(10_000, 100_000, 1_000_000),
    samples=20_000,
    warmup=2_000,
    scenarios=(Scenario(1), Scenario(5), Scenario(20), Scenario(20, tiers=2)),
    memory_sizes=(100_000, 1_000_000),
    tracemalloc_size=100_000,
    memory_scenario=Scenario(5),
    burst_rounds=30_000,
)

QUICK = Settings(
    sizes=(1_000, 10_000),
    samples=2_000,
    warmup=200,
    scenarios=(Scenario(1), Scenario(5), Scenario(20), Scenario(20, tiers=2)),
    memory_sizes=(10_000, 20_000),
    tracemalloc_size=10_000,
    memory_scenario=Scenario(5),
    burst_rounds=3_000,
)


def service_codes(count: int) -> list[str]:
    """``A``, ``B``, ... ``Z``, then two letters ``AA``, ``AB``, ..."""
    letters = [chr(ord("A") + i) for i in range(26)]
    codes = letters + [a + b for a in letters for b in letters]
    if count > len(codes):
        raise ValueError(f"At most {len(codes)} services.")
    return codes[:count]


def branch_config(scenario: Scenario) -> BranchConfig:
    codes = service_codes(scenario.services)
    per_tier = -(-len(codes) // scenario.tiers)
    tiers = tuple(tuple(codes[i : i + per_tier]) for i in range(0, len(codes), per_tier))
    return BranchConfig(
        services=tuple(ServiceConfig(code, f"业务 {code}", f"Service {code}") for code in codes),
        counters=tuple(CounterConfig(number, tiers) for number in range(1, COUNTERS + 1)),
    )


def ticket_plan(codes: Sequence[str], seed: int) -> list[tuple[str, str, str]]:
    """A fixed, repeating mix of (service, priority class, channel) for new tickets."""
    rng = random.Random(seed)
    priorities = rng.choices(
        [p for p, _ in PRIORITY_MIX], weights=[w for _, w in PRIORITY_MIX], k=PLAN_SIZE
    )
    channels = rng.choices(
        [c for c, _ in CHANNEL_MIX], weights=[w for _, w in CHANNEL_MIX], k=PLAN_SIZE
    )
    services = [rng.choice(codes) for _ in range(PLAN_SIZE)]
    return list(zip(services, priorities, channels, strict=True))


# --------------------------------------------------------------------------------------------
# Instruments


class GcPauses:
    """Times every collection while installed in ``gc.callbacks``."""

    def __init__(self) -> None:
        self.pauses_ns: dict[int, list[int]] = {0: [], 1: [], 2: []}
        self._started = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter_ns()
        else:
            self.pauses_ns[info["generation"]].append(time.perf_counter_ns() - self._started)

    @contextmanager
    def recording(self) -> Iterator[GcPauses]:
        gc.callbacks.append(self)
        try:
            yield self
        finally:
            gc.callbacks.remove(self)

    def summary(self) -> dict[str, Any]:
        """Per generation: how many collections, and the longest and total pause in ms."""
        return {
            f"gen{generation}": {
                "count": len(pauses),
                "max_ms": max(pauses) / 1e6 if pauses else 0.0,
                "total_ms": sum(pauses) / 1e6,
            }
            for generation, pauses in self.pauses_ns.items()
        }

    @property
    def max_ms(self) -> float:
        return max((max(p) for p in self.pauses_ns.values() if p), default=0) / 1e6


def rss_bytes() -> int | None:
    """Current resident set size (Linux), or None where /proc is not available."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def load_average() -> str | None:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return None


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    """Nearest-rank percentiles of nanosecond samples, in microseconds."""
    ordered = sorted(samples_ns)
    count = len(ordered)

    def at(fraction: float) -> float:
        return ordered[min(count - 1, max(0, round(fraction * count + 0.5) - 1))] / 1000

    return {
        "p50_us": at(0.50),
        "p90_us": at(0.90),
        "p99_us": at(0.99),
        "p999_us": at(0.999),
        "max_us": ordered[-1] / 1000,
        "mean_us": sum(ordered) / count / 1000,
        "samples": count,
    }


class _Probe:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def bump(self, step: int) -> int:
        self.value += step
        return self.value


def reference_ns(rounds: int = 21, iterations: int = 20_000) -> float:
    """Median ns per iteration of a fixed pure-Python loop (a method call, attribute updates).

    A yardstick for the machine's speed at that moment: on a shared or throttled machine it rises
    with the engine figures, while the CPU share may not show it (a busy sibling hyperthread).
    """
    probe = _Probe()
    bump = probe.bump
    timings = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for step in range(iterations):
            bump(step)
        timings.append((time.perf_counter_ns() - start) / iterations)
    timings.sort()
    return timings[len(timings) // 2]


class Yardstick:
    """Short readings of :func:`reference_ns`, judged against the quietest reading so far."""

    def __init__(self, calibration_readings: int = 30) -> None:
        self.quietest = math.inf
        for _ in range(calibration_readings):
            self.read()
            time.sleep(0.02)  # spread the readings over a moment of the machine's life

    def read(self) -> float:
        reading = reference_ns(rounds=3, iterations=2_000)
        self.quietest = min(self.quietest, reading)
        return reading

    def is_quiet(self, reading: float) -> bool:
        return reading <= QUIET_FACTOR * self.quietest


def timer_overhead_ns(rounds: int = 100_000) -> float:
    """Median cost of an empty timed region: what every sample includes besides the command."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(rounds):
        start = clock()
        samples.append(clock() - start)
    samples.sort()
    return float(samples[len(samples) // 2])


# --------------------------------------------------------------------------------------------
# Driving an engine


@dataclass
class Driver:
    """One engine with its counters open and a clock that only moves forward."""

    scenario: Scenario
    engine: QueueEngine = field(init=False)
    plan: list[tuple[str, str, str]] = field(init=False)
    now: float = START
    issued: int = 0

    def __post_init__(self) -> None:
        self.engine = QueueEngine(branch_config(self.scenario), BUSINESS_DAY)
        self.plan = ticket_plan(service_codes(self.scenario.services), SEED)
        for number in range(1, COUNTERS + 1):
            self.now += ARRIVAL_GAP
            self.engine.open_counter(number, now=self.now)

    @property
    def waiting(self) -> int:
        return sum(service.waiting for service in self.engine.snapshot(self.now).services)

    def load(self, count: int) -> float:
        """Issue ``count`` tickets; returns the seconds it took."""
        issue = self.engine.issue_ticket
        plan = self.plan
        now = self.now
        first = self.issued
        started = time.perf_counter()
        for index in range(first, first + count):
            now += ARRIVAL_GAP
            service, priority, channel = plan[index % PLAN_SIZE]
            issue(service, priority, channel, now=now)
        elapsed = time.perf_counter() - started
        self.now = now
        self.issued = first + count
        return elapsed

    def round_trip(self, rounds: int) -> None:
        """``rounds`` times: issue a ticket, call the next one and finish it (untimed)."""
        engine = self.engine
        plan = self.plan
        now = self.now
        for index in range(self.issued, self.issued + rounds):
            service, priority, channel = plan[index % PLAN_SIZE]
            engine.issue_ticket(service, priority, channel, now=now + ARRIVAL_GAP)
            engine.call_next(MEASURED_COUNTER, now=now + 2 * ARRIVAL_GAP)
            engine.finish(MEASURED_COUNTER, now=now + 3 * ARRIVAL_GAP)
            now += 3 * ARRIVAL_GAP
        self.now = now
        self.issued += rounds

    def time_call_next(self, samples: int) -> list[int]:
        """Time ``call_next``; finish and a replacement issue keep N waiting, untimed."""
        engine = self.engine
        call_next = engine.call_next
        finish = engine.finish
        issue = engine.issue_ticket
        plan = self.plan
        clock = time.perf_counter_ns
        counter = MEASURED_COUNTER
        timings = []
        now = self.now
        for index in range(self.issued, self.issued + samples):
            now += ARRIVAL_GAP
            start = clock()
            events = call_next(counter, now=now)
            timings.append(clock() - start)
            if not events:
                raise RuntimeError("call_next found nobody waiting; the benchmark is broken.")
            finish(counter, now=now + ARRIVAL_GAP)
            service, priority, channel = plan[index % PLAN_SIZE]
            issue(service, priority, channel, now=now + 2 * ARRIVAL_GAP)
            now += 2 * ARRIVAL_GAP
        self.now = now
        self.issued += samples
        return timings

    def time_issue(self, samples: int) -> list[int]:
        """Time ``issue_ticket``; a call and a finish keep N waiting, untimed."""
        engine = self.engine
        call_next = engine.call_next
        finish = engine.finish
        issue = engine.issue_ticket
        plan = self.plan
        clock = time.perf_counter_ns
        counter = MEASURED_COUNTER
        timings = []
        now = self.now
        for index in range(self.issued, self.issued + samples):
            now += ARRIVAL_GAP
            service, priority, channel = plan[index % PLAN_SIZE]
            start = clock()
            issue(service, priority, channel, now=now)
            timings.append(clock() - start)
            call_next(counter, now=now + ARRIVAL_GAP)
            finish(counter, now=now + 2 * ARRIVAL_GAP)
            now += 2 * ARRIVAL_GAP
        self.now = now
        self.issued += samples
        return timings


# --------------------------------------------------------------------------------------------
# The three measurements


def measure_cell(driver: Driver, samples: int, yardstick: Yardstick) -> dict[str, Any]:
    """Timed issues and timed calls at the driver's current size, in chunks.

    Other load on the machine only ever adds time, and arrives in bursts. A yardstick reading
    before and after each chunk tells whether the chunk ran on a quiet machine; the percentiles
    come from the quiet chunks (all chunks are kept in ``all_samples`` for comparison).
    """
    kept_issue: list[int] = []
    kept_call: list[int] = []
    all_issue: list[int] = []
    all_call: list[int] = []
    chunks = kept_chunks = 0
    pauses = GcPauses()
    wall, cpu = time.perf_counter(), time.process_time()
    with pauses.recording():
        while len(kept_call) < samples and chunks * CHUNK < MAX_CHUNKS_FACTOR * samples:
            before = yardstick.read()
            issue = driver.time_issue(CHUNK)
            call = driver.time_call_next(CHUNK)
            after = yardstick.read()
            chunks += 1
            all_issue += issue
            all_call += call
            if yardstick.is_quiet(before) and yardstick.is_quiet(after):
                kept_chunks += 1
                kept_issue += issue
                kept_call += call
    disturbed = len(kept_call) < samples // 2  # too few quiet chunks: report every sample
    return {
        "issue": percentiles(all_issue if disturbed else kept_issue),
        "call_next": percentiles(all_call if disturbed else kept_call),
        "disturbed": disturbed,
        "chunks": chunks,
        "quiet_chunks": kept_chunks,
        "all_samples": {"issue": percentiles(all_issue), "call_next": percentiles(all_call)},
        "gc_during_cell": pauses.summary(),
        # Below 1.0, the process waited for a CPU during the cell.
        "cpu_share": (time.process_time() - cpu) / (time.perf_counter() - wall),
    }


def measure_latency(
    settings: Settings, yardstick: Yardstick, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = []
    for scenario in settings.scenarios:
        driver = Driver(scenario)
        loaded = 0
        for size in settings.sizes:
            seconds = driver.load(size - loaded)
            load = {
                "tickets": size - loaded,
                "seconds": seconds,
                "tickets_per_second": (size - loaded) / seconds,
            }
            loaded = size
            driver.round_trip(settings.warmup)
            measured = measure_cell(driver, settings.samples, yardstick)
            waiting = driver.waiting
            if waiting != size:
                raise RuntimeError(f"Expected {size} waiting, found {waiting}.")
            cell = {
                "scenario": scenario.name,
                "services": scenario.services,
                "tiers": scenario.tiers,
                "waiting": size,
                **measured,
                "load": load,
            }
            cells.append(cell)
            issue, call = measured["issue"], measured["call_next"]
            log(
                f"{scenario.name:<15} {size:>9,}  issue p50 {issue['p50_us']:6.1f} "
                f"p99 {issue['p99_us']:6.1f}  call p50 {call['p50_us']:6.1f} "
                f"p99 {call['p99_us']:6.1f} max {call['max_us']:9.1f} µs  "
                f"load {load['tickets_per_second']:8,.0f}/s  "
                f"full GCs {measured['gc_during_cell']['gen2']['count']}  "
                f"quiet chunks {measured['quiet_chunks']}/{measured['chunks']}"
                + ("  DISTURBED: all samples" if measured["disturbed"] else "")
            )
        del driver
        gc.collect()
    return cells


def measure_memory_and_gc(settings: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    """RSS per waiting ticket on one growing load, then GC pauses with that engine live.

    Must run first in the process, so that RSS growth is not hidden by memory freed earlier.
    """
    gc.collect()
    driver = Driver(settings.memory_scenario)
    gc.collect()
    base = rss_bytes()
    loaded = 0
    rss_points = []
    load_pauses = GcPauses()
    with load_pauses.recording():
        for size in settings.memory_sizes:
            seconds = driver.load(size - loaded)
            loaded = size
            now_rss = rss_bytes()
            point: dict[str, Any] = {
                "waiting": size,
                "load_seconds": seconds,
                "rss_bytes_per_ticket": (
                    (now_rss - base) / size if now_rss is not None and base is not None else None
                ),
            }
            rss_points.append(point)
            per_ticket = point["rss_bytes_per_ticket"]
            log(
                f"memory (RSS)   {size:>9,} waiting: "
                + (f"{per_ticket:6.0f} bytes/ticket" if per_ticket is not None else "n/a")
            )
    log(
        f"GC during the {loaded:,}-ticket load: max pause {load_pauses.max_ms:.1f} ms, "
        f"{load_pauses.summary()['gen2']['count']} full collections"
    )

    bursts: dict[str, Any] = {}
    for frozen in (False, True):
        label = "frozen" if frozen else "not_frozen"
        if frozen:
            gc.collect()
            gc.freeze()
        burst = GcPauses()
        clock = time.perf_counter_ns
        started = clock()
        with burst.recording():
            driver.round_trip(settings.burst_rounds)
        burst_ns = clock() - started
        tracked = len(gc.get_objects())  # what a full collection must traverse (not frozen)
        forced = GcPauses()
        with forced.recording():
            for _ in range(FORCED_COLLECTIONS):
                gc.collect()
        # The fastest of a few: each traverses the same objects, other load only adds time.
        forced_ms = min(forced.pauses_ns[2]) / 1e6
        bursts[label] = {
            "rounds": settings.burst_rounds,
            "commands": 3 * settings.burst_rounds,
            "seconds": burst_ns / 1e9,
            "collections": burst.summary(),
            "max_pause_ms": burst.max_ms,
            "forced_full_collection_ms": forced_ms,
            "forced_full_collections_ms": [ns / 1e6 for ns in forced.pauses_ns[2]],
            "tracked_objects": tracked,
            "frozen_objects": gc.get_freeze_count(),
            "full_collection_ns_per_tracked_object": forced_ms * 1e6 / tracked,
        }
        log(
            f"GC burst, {'gc.freeze()' if frozen else 'no freeze  '}: "
            f"{3 * settings.burst_rounds:,} commands with {loaded:,} live, "
            f"max pause {burst.max_ms:6.2f} ms "
            f"(gen0 {len(burst.pauses_ns[0])}, gen1 {len(burst.pauses_ns[1])}, "
            f"gen2 {len(burst.pauses_ns[2])} collections); "
            f"forced full collection {forced_ms:.1f} ms over {tracked:,} tracked objects "
            f"({gc.get_freeze_count():,} frozen)"
        )
    gc.unfreeze()
    del driver
    gc.collect()
    return {
        "scenario": settings.memory_scenario.name,
        "rss": rss_points,
        "gc_during_load": load_pauses.summary(),
        "gc_bursts": bursts,
    }


def measure_tracemalloc(settings: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    """Bytes Python allocated for ``size`` waiting tickets, and which lines allocated them."""
    size = settings.tracemalloc_size
    gc.collect()
    driver = Driver(settings.memory_scenario)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    traced_before = tracemalloc.get_traced_memory()[0]
    driver.load(size)
    traced_after = tracemalloc.get_traced_memory()[0]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    by_line = []
    for stat in after.compare_to(before, "lineno")[:8]:
        frame = stat.traceback[0]
        by_line.append(
            {
                "where": f"{_short_path(frame.filename)}:{frame.lineno}",
                "bytes_per_ticket": stat.size_diff / size,
                "blocks_per_ticket": stat.count_diff / size,
            }
        )
    per_ticket = (traced_after - traced_before) / size
    log(f"memory (tracemalloc) {size:,} waiting: {per_ticket:.0f} bytes/ticket")
    for line in by_line:
        log(f"    {line['bytes_per_ticket']:6.1f} B  {line['where']}")
    del driver
    gc.collect()
    return {"waiting": size, "bytes_per_ticket": per_ticket, "by_line": by_line}


def _short_path(filename: str) -> str:
    for marker in ("/app/", "/site-packages/", "/lib/python"):
        if marker in filename:
            return filename[filename.index(marker) + 1 :]
    return filename


# --------------------------------------------------------------------------------------------
# Report


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "unknown"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sortedcontainers": metadata.version("sortedcontainers"),
        "gc_thresholds": gc.get_threshold(),
        "load_average_at_start": load_average(),
    }


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured figure that decides it (at the largest size measured)."""
    largest = max(cell["waiting"] for cell in results["latency"])
    cells = [c for c in results["latency"] if c["waiting"] == largest and c["services"] <= 20]
    worst_p50 = max(c["call_next"]["p50_us"] for c in cells)
    worst_p99 = max(c["call_next"]["p99_us"] for c in cells)
    memory = max(p["rss_bytes_per_ticket"] or 0.0 for p in results["memory_and_gc"]["rss"])
    memory = max(memory, results["tracemalloc"]["bytes_per_ticket"])
    bursts = results["memory_and_gc"]["gc_bursts"]
    gc_not_frozen = max(
        bursts["not_frozen"]["max_pause_ms"], bursts["not_frozen"]["forced_full_collection_ms"]
    )
    gc_frozen = max(bursts["frozen"]["max_pause_ms"], bursts["frozen"]["forced_full_collection_ms"])
    gc_load = results["memory_and_gc"]["gc_during_load"]
    gc_load_max = max(gen["max_ms"] for gen in gc_load.values())
    rows = [
        ("call_next p50, worst K at " + f"{largest:,}", worst_p50, TARGET_CALL_P50_US, "µs"),
        ("call_next p99, worst K at " + f"{largest:,}", worst_p99, TARGET_CALL_P99_US, "µs"),
        ("memory per waiting ticket (worst measure)", memory, TARGET_BYTES_PER_TICKET, "B"),
        (
            "GC pause, growing to " + f"{largest:,} (no freeze)",
            gc_load_max,
            TARGET_MAX_GC_PAUSE_MS,
            "ms",
        ),
        (
            "GC pause, burst + full collection, no freeze",
            gc_not_frozen,
            TARGET_MAX_GC_PAUSE_MS,
            "ms",
        ),
        ("GC pause, burst + full collection, gc.freeze()", gc_frozen, TARGET_MAX_GC_PAUSE_MS, "ms"),
    ]
    return [
        {"target": name, "measured": value, "limit": limit, "unit": unit, "met": value <= limit}
        for name, value, limit, unit in rows
    ]


def print_table(results: dict[str, Any]) -> None:
    print()
    print("Latency in µs (p50 / p99), one command per sample; load rate in tickets/s")
    header = (
        f"{'scenario':<15} {'waiting':>9} | {'issue p50':>9} {'p99':>6} | "
        f"{'call p50':>8} {'p99':>6} {'max':>9} | {'load/s':>8} | {'full GCs':>8} | "
        f"{'quiet chunks':>12}"
    )
    print(header)
    print("-" * len(header))
    for cell in results["latency"]:
        issue, call = cell["issue"], cell["call_next"]
        print(
            f"{cell['scenario']:<15} {cell['waiting']:>9,} | {issue['p50_us']:>9.1f} "
            f"{issue['p99_us']:>6.1f} | {call['p50_us']:>8.1f} {call['p99_us']:>6.1f} "
            f"{call['max_us']:>9.1f} | {cell['load']['tickets_per_second']:>8,.0f} | "
            f"{cell['gc_during_cell']['gen2']['count']:>8} | "
            f"{cell['quiet_chunks']:>5}/{cell['chunks']:<4}"
            + (" DISTURBED" if cell["disturbed"] else "")
        )
    print()
    print("Targets")
    for verdict in results["verdicts"]:
        print(
            f"  {'MET   ' if verdict['met'] else 'MISSED'} {verdict['target']}: "
            f"{verdict['measured']:.1f} {verdict['unit']} (target ≤ {verdict['limit']:g})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.engine", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, few samples")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write all figures as JSON")
    parser.add_argument("--samples", type=int, help="samples per latency cell")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.samples:
        settings = replace(settings, samples=args.samples)

    def log(line: str) -> None:
        print(line, flush=True)

    info = machine()
    log(
        f"Machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable); "
        f"{info['implementation']} {info['python']}; sortedcontainers {info['sortedcontainers']}; "
        f"gc thresholds {info['gc_thresholds']}; load average {info['load_average_at_start']}"
    )
    overhead = timer_overhead_ns()
    yardstick = Yardstick()
    log(f"Timer overhead (empty timed region, median): {overhead:.0f} ns, included in every sample")
    log(
        f"Yardstick (a fixed pure-Python loop, ns per iteration; lower is faster): "
        f"quietest {yardstick.quietest:.0f} ns of {reference_ns():.0f} ns now"
    )
    started = time.perf_counter()
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "machine": info,
        "timer_overhead_ns": overhead,
        "yardstick_quietest_ns_at_start": yardstick.quietest,
        "settings": asdict(settings),
    }
    results["memory_and_gc"] = measure_memory_and_gc(settings, log)
    results["tracemalloc"] = measure_tracemalloc(settings, log)
    results["latency"] = measure_latency(settings, yardstick, log)
    results["yardstick_quietest_ns"] = yardstick.quietest
    results["verdicts"] = verdicts(results)
    results["seconds"] = time.perf_counter() - started
    results["load_average_at_end"] = load_average()
    print_table(results)
    log(
        f"\nTotal time: {results['seconds']:.0f} s; "
        f"load average at the end {results['load_average_at_end']}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        log(f"Wrote {args.json}")
    return 0


# --------------------------------------------------------------------------------------------
# In the benchmark suite (benchmarks/suite.py)

SUITE = replace(
    FULL, samples=5_000, warmup=1_000, scenarios=(Scenario(1), Scenario(5), Scenario(20))
)
SUITE_QUICK = replace(
    QUICK,
    sizes=(10_000,),
    samples=1_000,
    scenarios=(Scenario(1), Scenario(5), Scenario(20)),
    memory_sizes=(10_000, 50_000),
)


def run_for_suite(context: SuiteContext) -> WorkloadReport:
    """Workload 1: engine call-next and issue p50/p99 at 10k, 100k and 1M waiting, K = 1, 5,
    20; memory per waiting ticket; GC pauses (5,000 quiet samples per cell in the suite)."""
    settings = SUITE_QUICK if context.quick else SUITE
    yardstick = Yardstick()
    results: dict[str, Any] = {"settings": asdict(settings), "machine": machine()}
    results["memory_and_gc"] = measure_memory_and_gc(settings, context.log)
    results["tracemalloc"] = measure_tracemalloc(settings, context.log)
    results["latency"] = measure_latency(settings, yardstick, context.log)
    results["verdicts"] = verdicts(results)
    lines = [
        "| counter serves | waiting | call-next p50 µs | call-next p99 µs | issue p50 µs "
        "| issue p99 µs | quiet chunks |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for cell in results["latency"]:
        call, issue = cell["call_next"], cell["issue"]
        lines.append(
            f"| {cell['scenario']} | {cell['waiting']:,} | {call['p50_us']:.1f} "
            f"| {call['p99_us']:.1f} | {issue['p50_us']:.1f} | {issue['p99_us']:.1f} "
            f"| {cell['quiet_chunks']}/{cell['chunks']}"
            + (" (disturbed: all samples)" if cell["disturbed"] else "")
            + " |"
        )
    rss = results["memory_and_gc"]["rss"]
    bursts = results["memory_and_gc"]["gc_bursts"]
    lines += [
        "",
        "Memory per waiting ticket (engine alone): "
        + ", ".join(f"{p['rss_bytes_per_ticket']:.0f} B (RSS, {p['waiting']:,})" for p in rss)
        + f", {results['tracemalloc']['bytes_per_ticket']:.0f} B (tracemalloc, "
        f"{results['tracemalloc']['waiting']:,}). Full collection with "
        f"{rss[-1]['waiting']:,} live: {bursts['not_frozen']['forced_full_collection_ms']:.0f} ms "
        f"without `gc.freeze()`, {bursts['frozen']['forced_full_collection_ms']:.1f} ms after it.",
    ]
    found = [
        Verdict(
            f"engine: {v['target']} ≤ {v['limit']:g} {v['unit']}",
            f"{v['measured']:.1f} {v['unit']}",
            bool(v["met"]),
        )
        for v in results["verdicts"]
        if "memory" in v["target"] or "call_next p50" in v["target"]
    ]
    return WorkloadReport("Engine only (workload 1)", results, "\n".join(lines), found)


if __name__ == "__main__":
    raise SystemExit(main())
