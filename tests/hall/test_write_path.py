"""The hall runtime's write path: durable before acknowledged, group commit, rebuild on failure,
publish only what is committed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.bus import EventBus
from app.db.store import Batch, Store
from app.hall import HallRuntime, Reply, StoreUnavailable
from app.queue_engine import CounterNotOpen, Event, QueueEngine, TicketState

from .conftest import add_branch

# 09:00 on 2025-11-20 in Shanghai
MORNING = datetime(2025, 11, 20, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


class Clock:
    def __init__(self, start: float = MORNING) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def events_reply(engine: QueueEngine, events: list[Event]) -> Reply:
    return 200, [event.to_dict() for event in events]


def issue(service: str = "A", priority: str = "normal") -> Callable[[QueueEngine, float], Any]:
    return lambda engine, now: engine.issue_ticket(service, priority, now=now)


async def runtime_for(store: Store, bus: EventBus | None = None, **kwargs: Any) -> HallRuntime:
    runtime = HallRuntime(store, bus or EventBus(), await store.load_branch("b1"), **kwargs)
    runtime.start()
    return runtime


async def test_a_restarted_runtime_has_the_same_state_and_next_call(store: Store) -> None:
    await add_branch(store)
    clock = Clock()
    first = await runtime_for(store, clock=clock)
    for code in "AABAB":
        await first.run(issue(code), events_reply)
    await first.run(lambda e, now: e.open_counter(1, now=now), events_reply)
    await first.run(lambda e, now: e.call_next(1, now=now), events_reply)
    await first.run(lambda e, now: e.transfer(1, service="B", now=now), events_reply)
    await first.run(lambda e, now: e.call_next(1, now=now), events_reply)
    await first.run(lambda e, now: e.park(1, now=now), events_reply)
    await first.run(lambda e, now: e.open_counter(2, now=now), events_reply)
    await first.stop()

    second = await runtime_for(store, clock=Clock(clock.now))
    assert second.engine.records() == first.engine.records()
    assert second.engine.snapshot(clock.now) == first.engine.snapshot(clock.now)
    for counter in (1, 2):
        assert second.engine.peek_next(counter, now=clock.now + 5) == first.engine.peek_next(
            counter, now=clock.now + 5
        )
    assert second.tokens == first.tokens
    assert second.next_seq == first.next_seq
    await second.stop()


async def test_events_get_gap_free_sequence_numbers_in_the_store(store: Store) -> None:
    await add_branch(store)
    runtime = await runtime_for(store, clock=Clock())
    await asyncio.gather(*(runtime.run(issue(), events_reply) for _ in range(50)))
    await runtime.stop()
    loaded = await store.load_branch("b1")
    assert loaded.next_seq == 51
    assert sorted(t.number for t in loaded.tickets) == list(range(1, 51))


async def test_commands_arriving_during_a_commit_share_the_next_one(store: Store) -> None:
    await add_branch(store)
    runtime = await runtime_for(store, clock=Clock())
    await asyncio.gather(*(runtime.run(issue(), events_reply) for _ in range(200)))
    assert runtime.committed_commands == 200
    assert runtime.commits < 200 / 4  # many commands per transaction
    await runtime.stop()


async def test_a_domain_error_changes_nothing_and_writes_nothing(store: Store) -> None:
    await add_branch(store)
    runtime = await runtime_for(store, clock=Clock())
    await runtime.run(issue(), events_reply)
    with pytest.raises(CounterNotOpen):
        await runtime.run(lambda e, now: e.call_next(1, now=now), events_reply)
    await runtime.stop()
    assert (await store.load_branch("b1")).next_seq == 2


class FailingStore(Store):
    """A store whose next ``failures`` batch writes fail as if the database went away."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.engine)
        self.failures = 0

    async def write_batch(self, branch_id: str, batch: Batch) -> None:
        if self.failures:
            self.failures -= 1
            await asyncio.sleep(0.01)
            raise ConnectionError("database went away")
        await super().write_batch(branch_id, batch)


async def test_a_failed_commit_fails_its_commands_publishes_nothing_and_rebuilds(
    store: Store,
) -> None:
    await add_branch(store)
    failing = FailingStore(store)
    bus = EventBus()
    runtime = await runtime_for(failing, bus, clock=Clock())
    await runtime.run(issue(), events_reply)
    async with bus.subscribe("b1") as subscription:
        failing.failures = 1
        results = await asyncio.gather(
            *(runtime.run(issue(), events_reply) for _ in range(10)), return_exceptions=True
        )
        assert all(isinstance(r, StoreUnavailable) for r in results)
        assert subscription.queue.empty()
        # Memory was rebuilt from the store: the failed tickets do not exist.
        assert [t.number for t in runtime.engine.tickets()] == [1]
        await runtime.run(issue(), events_reply)
        published = subscription.queue.get_nowait()
        assert published["seq"] == 2
        assert published["data"]["number"] == "A002"
    await runtime.stop()


async def test_a_new_business_day_expires_yesterdays_tickets_in_the_store(store: Store) -> None:
    await add_branch(store)
    clock = Clock()
    runtime = await runtime_for(store, clock=clock)
    await runtime.run(issue(), events_reply)
    await runtime.run(lambda e, now: e.open_counter(1, now=now), events_reply)
    await runtime.run(lambda e, now: e.call_next(1, now=now), events_reply)
    await runtime.run(issue(), events_reply)
    clock.now += 24 * 3600
    await runtime.tick()
    await runtime.stop()
    loaded = await store.load_branch("b1")
    assert loaded.business_day == "2025-11-21"
    assert loaded.tickets == ()
    async with store.sessions() as session:
        from sqlalchemy import select

        from app.db import models

        states = (await session.scalars(select(models.Ticket.state))).all()
    assert sorted(states) == [TicketState.EXPIRED, TicketState.EXPIRED]
