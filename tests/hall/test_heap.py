"""Freezing the long-lived heap: after start, every so many issued tickets, and a full
collection at the business-day change (a fake collector records what the runtime asks of it)."""

from __future__ import annotations

from app.bus import EventBus
from app.db.store import Store
from app.hall import Halls
from app.heap import YOUNG_THRESHOLD, HeapFreezer

from .conftest import add_branch
from .test_write_path import Clock, events_reply, issue, runtime_for


class FakeCollector:
    """Records calls instead of touching the process's real garbage collector."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.threshold = (700, 10, 10)

    def collect(self, generation: int = 2) -> int:
        self.calls.append(f"collect({generation})")
        return 0

    def freeze(self) -> None:
        self.calls.append("freeze")

    def unfreeze(self) -> None:
        self.calls.append("unfreeze")

    def get_threshold(self) -> tuple[int, int, int]:
        return self.threshold

    def set_threshold(self, threshold0: int, threshold1: int = 10, threshold2: int = 10) -> None:
        self.threshold = (threshold0, threshold1, threshold2)


def test_starting_collects_once_freezes_and_collects_the_young_generation_less_often() -> None:
    collector = FakeCollector()
    HeapFreezer(collector=collector).started()
    assert collector.calls == ["collect(2)", "freeze"]
    assert collector.threshold == (YOUNG_THRESHOLD, 10, 10)


def test_the_heap_is_frozen_again_every_so_many_issued_tickets() -> None:
    collector = FakeCollector()
    heap = HeapFreezer(refreeze_every=5, collector=collector)
    heap.issued(3)
    assert collector.calls == []
    heap.issued(2)
    assert collector.calls == ["collect(1)", "freeze"]
    heap.issued(4)
    assert collector.calls == ["collect(1)", "freeze"]


def test_a_new_day_unfreezes_and_collects_everything_once() -> None:
    collector = FakeCollector()
    heap = HeapFreezer(collector=collector)
    heap.day_changed("2025-11-21")
    heap.day_changed("2025-11-21")  # a second branch reaching the same day
    assert collector.calls == ["unfreeze", "collect(2)", "freeze"]


async def test_halls_freeze_after_loading_the_branches(store: Store) -> None:
    await add_branch(store)
    collector = FakeCollector()
    halls = Halls(store, EventBus(), heap=HeapFreezer(collector=collector))
    await halls.start()
    try:
        assert len(halls) == 1
        assert collector.calls == ["collect(2)", "freeze"]
    finally:
        await halls.stop()


async def test_the_runtime_counts_committed_tickets_and_reports_the_day_change(
    store: Store,
) -> None:
    await add_branch(store)
    clock = Clock()
    collector = FakeCollector()
    heap = HeapFreezer(refreeze_every=3, collector=collector)
    runtime = await runtime_for(store, clock=clock, heap=heap)
    for _ in range(2):
        await runtime.run(issue(), events_reply)
    await runtime.run(lambda e, now: e.open_counter(1, now=now), events_reply)
    assert collector.calls == []
    await runtime.run(issue(), events_reply)
    assert collector.calls == ["collect(1)", "freeze"]
    clock.now += 24 * 3600
    await runtime.tick()
    await runtime.stop()
    assert collector.calls[2:] == ["unfreeze", "collect(2)", "freeze"]
