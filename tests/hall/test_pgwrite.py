"""PostgreSQL writes a batch in one statement (app.db.pgwrite); what it stores must be what the
general path stores. Two branches live through the same commands, one written each way, and
every row they leave is compared."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import select

from app.bus import EventBus
from app.db import models
from app.db.pgwrite import TICKET_FIELDS
from app.db.session import create_engine
from app.db.store import TICKET_COLUMNS, Batch, Store
from app.hall import HallRuntime, Idempotency
from app.queue_engine import QueueEngine

from .conftest import STORES, add_branch
from .test_write_path import Clock, events_reply, issue


def test_the_statement_writes_every_ticket_column() -> None:
    assert set(TICKET_FIELDS) == {
        *TICKET_COLUMNS,
        "token",
        "business_day",
        "finished_by",
    }


async def live_a_day(store: Store, branch: str) -> tuple[HallRuntime, Clock]:
    """Every kind of write the hot commands make; the runtime is left running."""
    clock = Clock()
    runtime = HallRuntime(store, EventBus(), await store.load_branch(branch), clock=clock)
    runtime.start()

    async def run(command: Any, **kwargs: Any) -> None:
        await runtime.run(command, events_reply, **kwargs)

    for number, code in enumerate("AABABA"):
        key = Idempotency(key=f"k{number}", request_hash=f"h{number}") if number % 2 else None
        await run(issue(code, "vip" if number == 3 else "normal"), idempotency=key)
    await run(lambda e, now: e.open_counter(1, now=now))
    await run(lambda e, now: e.open_counter(2, now=now))
    await run(lambda e, now: e.call_next(1, now=now))
    await run(lambda e, now: e.call_next(2, now=now))
    await run(lambda e, now: e.recall(1, now=now))
    await run(lambda e, now: e.finish(1, now=now, outcome="办结"), finished_by=7)
    await run(lambda e, now: e.finish_and_call_next(2, now=now, outcome=None), finished_by=8)
    await run(lambda e, now: e.call_next(1, now=now))
    await run(lambda e, now: e.transfer(1, service="B", now=now))
    await run(lambda e, now: e.finish_and_call_next(2, now=now, outcome=None))
    await run(lambda e, now: e.park(2, now=now))
    await run(lambda e, now: e.close_counter(1, now=now))

    def several(engine: QueueEngine, now: float) -> list[Any]:
        return [*engine.issue_ticket("A", "normal", now=now), *engine.call_next(2, now=now)]

    await run(several, finished_by=9)
    return runtime, clock


async def next_day(runtime: HallRuntime, clock: Clock) -> None:
    """The day changes: waiting tickets expire, counters close."""
    clock.now += 24 * 3600
    await runtime.tick()
    await runtime.stop()


async def rows_of(store: Store, branch: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the branch has, without ids the database makes and without the random
    customer tokens (their presence and length are kept)."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    async with store.sessions() as session:

        async def rows(model: Any, order: str) -> Any:
            query = select(model).where(model.branch_id == branch).order_by(order)
            return (await session.scalars(query)).all()

        tables["tickets"] = [
            tuple(
                len(getattr(t, name)) if name == "token" else getattr(t, name)
                for name in TICKET_FIELDS
            )
            for t in await rows(models.Ticket, "id")
        ]
        tables["events"] = [
            (e.seq, e.type, e.at, _without_tokens(e.data))
            for e in await rows(models.BranchEvent, "seq")
        ]
        tables["counters"] = [(c.number, c.state) for c in await rows(models.Counter, "number")]
        tables["estimates"] = [
            (e.service, e.mean_seconds, e.samples)
            for e in await rows(models.ServiceEstimate, "service")
        ]
        tables["keys"] = [
            (k.key, k.request_hash, k.status_code, _without_tokens(k.response), k.created_at)
            for k in await rows(models.IdempotencyKey, "key")
        ]
        day = await session.scalar(
            select(models.Branch.business_day).where(models.Branch.id == branch)
        )
        tables["day"] = [(day,)]
    return tables


def _without_tokens(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<token>" if k == "token" else _without_tokens(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_tokens(v) for v in value]
    return value


# Only PostgreSQL has the one statement (the tier runs when a server is named, as in CI).
@pytest.mark.parametrize(
    "database_url", [store for store in STORES if store == "postgresql"], indirect=True
)
async def test_one_statement_stores_what_the_general_path_stores(store: Store) -> None:
    assert store.one_statement_writes
    await add_branch(store, "b1")
    await add_branch(store, "b2")
    general = Store(store.engine)
    general.one_statement_writes = False
    one, clock_one = await live_a_day(store, "b1")
    other, clock_other = await live_a_day(general, "b2")
    fast, slow = await rows_of(store, "b1"), await rows_of(general, "b2")
    assert len(fast["events"]) > 20
    assert any(row[-1] is not None for row in fast["tickets"])  # finished_by was stored
    assert {state for _, state in fast["counters"]} != {"closed"}
    assert fast == slow
    await next_day(one, clock_one)
    await next_day(other, clock_other)
    fast, slow = await rows_of(store, "b1"), await rows_of(general, "b2")
    assert fast["day"] == [("2025-11-21",)]
    assert fast == slow


@pytest.mark.parametrize(
    "database_url", [store for store in STORES if store == "postgresql"], indirect=True
)
async def test_a_refused_batch_leaves_its_connection_usable(
    store: Store, database_url: str
) -> None:
    """A constraint refuses a batch: the transaction is ended before the connection goes back
    to the pool, so the next batch, on the same connection, is stored."""
    await add_branch(store)
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    one_connection = Store(engine)
    try:
        runtime = HallRuntime(one_connection, EventBus(), await store.load_branch("b1"))
        runtime.start()
        issued: list[Any] = []

        def command(engine: QueueEngine, now: float) -> list[Any]:
            events = engine.issue_ticket("A", "normal", now=now)
            issued.extend(events)
            return events

        await runtime.run(command, events_reply)
        await runtime.stop()
        seq = runtime.next_seq - 1
        with pytest.raises(asyncpg.UniqueViolationError):
            await one_connection.write_batch("b1", Batch(events=[(seq, issued[0])]))
        await one_connection.write_batch("b1", Batch(events=[(seq + 1, issued[0])]))
        rows = await rows_of(store, "b1")
        assert [row[0] for row in rows["events"]][-2:] == [seq, seq + 1]
    finally:
        await engine.dispose()
