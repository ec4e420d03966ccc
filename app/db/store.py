"""The durable store behind the hall runtime: loads a branch, writes batches of commands.

A :class:`Batch` is what one or more commands of one branch changed. :meth:`Store.write_batch`
writes it in one transaction with a handful of multi-row statements (events, ticket upserts,
counter states, learned estimates, idempotency keys, configuration rows). Repositories never
commit on their own; the batch is the transaction boundary.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.queue_engine import (
    AppointmentPolicy,
    BranchConfig,
    CounterConfig,
    CounterRecord,
    CounterState,
    Event,
    MissedTicketPolicy,
    PriorityPolicy,
    ServiceConfig,
    ServiceTimeEstimate,
    TicketRecord,
)
from app.queue_engine.config import LateCheckIn

from . import models, pgwrite
from .session import is_sqlite, sessionmaker

ExtraWrite = Callable[[AsyncSession], Awaitable[None]]

TICKET_COLUMNS = pgwrite.TICKET_COLUMNS


@dataclass
class Batch:
    """Writes of one or more commands, merged in command order."""

    events: list[tuple[int, Event]] = field(default_factory=list)
    # ticket id -> (record, customer token, business day); last write wins, in order
    tickets: dict[int, tuple[TicketRecord, str, str]] = field(default_factory=dict)
    counters: dict[int, CounterState] = field(default_factory=dict)
    estimates: dict[str, ServiceTimeEstimate] = field(default_factory=dict)
    business_day: str | None = None
    idempotency: list[models.IdempotencyKey] = field(default_factory=list)
    extra: list[ExtraWrite] = field(default_factory=list)
    # ticket id -> the staff member who finished it (``tickets.finished_by``)
    finished_by: dict[int, int] = field(default_factory=dict)

    def merge(self, other: Batch) -> None:
        self.events.extend(other.events)
        for ticket_id, record in other.tickets.items():
            # Re-insert at the end: rows are written in the order of their last change, so a
            # ticket leaving a counter is written before the one that takes its place.
            self.tickets.pop(ticket_id, None)
            self.tickets[ticket_id] = record
        self.counters.update(other.counters)
        self.estimates.update(other.estimates)
        if other.business_day is not None:
            self.business_day = other.business_day
        self.idempotency.extend(other.idempotency)
        self.extra.extend(other.extra)
        self.finished_by.update(other.finished_by)

    @property
    def empty(self) -> bool:
        return not (self.events or self.idempotency or self.extra)


@dataclass(frozen=True)
class LoadedBranch:
    branch_id: str
    name: str
    timezone: str
    business_day: str
    config: BranchConfig
    tickets: tuple[TicketRecord, ...]
    tokens: dict[int, str]
    counters: tuple[CounterRecord, ...]
    estimates: dict[str, ServiceTimeEstimate]
    next_ticket_id: int
    next_seq: int
    last_now: float | None
    almost_turn_ahead: int


def event_envelope(branch_id: str, seq: int, event: Event) -> dict[str, Any]:
    """The wire and log form of an event: ``{branch, seq, type, at, data}``."""
    data = event.to_dict()
    del data["type"], data["at"]
    return {"branch": branch_id, "seq": seq, "type": event.type, "at": event.at, "data": data}


def branch_config(
    policy: models.Policy | None,
    services: Sequence[models.Service],
    counters: Sequence[models.Counter],
) -> BranchConfig:
    """The engine configuration stored for a branch."""
    priority = PriorityPolicy()
    missed = MissedTicketPolicy()
    appointments = AppointmentPolicy()
    if policy is not None:
        priority = PriorityPolicy(
            head_start_seconds=dict(policy.head_start_seconds),
            strict_priority=policy.strict_priority,
        )
        missed = MissedTicketPolicy(
            grace_seconds=policy.missed_grace_seconds,
            reinsert_places=policy.missed_reinsert_places,
            max_returns=policy.missed_max_returns,
            auto_miss_after_recalls=policy.auto_miss_after_recalls,
        )
        appointments = AppointmentPolicy(
            early_seconds=policy.appointment_early_seconds,
            late_seconds=policy.appointment_late_seconds,
            late_action=LateCheckIn(policy.appointment_late_action),
        )
    return BranchConfig(
        services=tuple(
            ServiceConfig(
                code=s.code,
                name=s.name,
                name_en=s.name_en,
                sla_seconds=s.sla_minutes * 60 if s.sla_minutes is not None else None,
                daily_quota=s.daily_quota,
                mean_service_seconds=s.mean_service_minutes * 60,
                paused=s.paused,
                pause_reason=s.pause_reason,
                pause_reason_en=s.pause_reason_en,
            )
            for s in sorted(services, key=lambda s: s.code)
        ),
        counters=tuple(
            CounterConfig(
                number=c.number,
                name=c.name,
                tiers=tuple(tuple(tier) for tier in c.tiers),
                backup=c.backup,
            )
            for c in sorted(counters, key=lambda c: c.number)
        ),
        priority=priority,
        missed=missed,
        appointments=appointments,
    )


def _table(model: type[models.Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Store:
    """Reads through ``engine``; batches are written through ``writer`` when given (an engine
    without pool pre-ping: a dead connection fails one batch, which the hall runtime already
    answers with 503 and a rebuild, instead of a ``SELECT 1`` round trip on every batch)."""

    def __init__(self, engine: AsyncEngine, *, writer: AsyncEngine | None = None) -> None:
        self.engine = engine
        self.writer = writer
        self.sessions = sessionmaker(engine)
        self._writes = sessionmaker(writer) if writer is not None else self.sessions
        self._sqlite = is_sqlite(str(engine.url))
        # PostgreSQL: batches without configuration writes go in one statement.
        self.one_statement_writes = not self._sqlite
        # Built once: building an ``ON CONFLICT ... SET`` per batch (a column proxy per
        # ``excluded`` column, a fresh cache key) cost 15% of the CPU at one command per batch.
        # Core statements on the tables, not the ORM entities: executemany without the ORM's
        # bulk-insert bookkeeping.
        self._event_insert = insert(_table(models.BranchEvent))
        self._key_insert = insert(_table(models.IdempotencyKey))
        tickets = self._insert(_table(models.Ticket))
        self._ticket_upsert = tickets.on_conflict_do_update(
            index_elements=["branch_id", "id"],
            set_={name: tickets.excluded[name] for name in TICKET_COLUMNS if name != "id"},
        )
        # One executemany per batch (it was one ORM UPDATE per finishing command: a fifth of
        # the server's CPU for ``next`` at 64 requests in flight).
        tickets_table = _table(models.Ticket)
        self._finisher_update = (
            update(tickets_table)
            .where(
                tickets_table.c.branch_id == bindparam("b_branch"),
                tickets_table.c.id == bindparam("b_ticket"),
            )
            .values(finished_by=bindparam("b_staff"))
        )
        estimates = self._insert(_table(models.ServiceEstimate))
        self._estimate_upsert = estimates.on_conflict_do_update(
            index_elements=["branch_id", "service"],
            set_={
                "mean_seconds": estimates.excluded.mean_seconds,
                "samples": estimates.excluded.samples,
            },
        )

    async def ping(self) -> None:
        async with self.sessions() as session:
            await session.execute(select(1))

    async def branch_ids(self) -> list[str]:
        async with self.sessions() as session:
            return list((await session.scalars(select(models.Branch.id))).all())

    async def idempotency_key(self, branch_id: str, key: str) -> models.IdempotencyKey | None:
        async with self.sessions() as session:
            row: models.IdempotencyKey | None = await session.scalar(
                select(models.IdempotencyKey).where(
                    models.IdempotencyKey.branch_id == branch_id, models.IdempotencyKey.key == key
                )
            )
            return row

    async def load_branch(self, branch_id: str) -> LoadedBranch:
        async with self.sessions() as session:
            branch = await session.get(models.Branch, branch_id)
            if branch is None:
                raise LookupError(branch_id)
            policy = await session.get(models.Policy, branch_id)
            services = (
                await session.scalars(
                    select(models.Service).where(models.Service.branch_id == branch_id)
                )
            ).all()
            counters = (
                await session.scalars(
                    select(models.Counter).where(models.Counter.branch_id == branch_id)
                )
            ).all()
            # Plain rows, not ORM objects: a restart reads every ticket of the day, and ORM
            # instances cost about ten times as much per row (issue #7: 100k open tickets).
            ticket_table = _table(models.Ticket)
            ticket_rows = (
                await session.execute(
                    select(*(ticket_table.c[name] for name in TICKET_COLUMNS), ticket_table.c.token)
                    .where(
                        ticket_table.c.branch_id == branch_id,
                        ticket_table.c.business_day == branch.business_day,
                    )
                    .order_by(ticket_table.c.id)
                )
            ).all()
            estimates = (
                await session.scalars(
                    select(models.ServiceEstimate).where(
                        models.ServiceEstimate.branch_id == branch_id
                    )
                )
            ).all()
            max_id = await session.scalar(
                select(func.max(models.Ticket.id)).where(models.Ticket.branch_id == branch_id)
            )
            last_event = (
                await session.execute(
                    select(models.BranchEvent.seq, models.BranchEvent.at)
                    .where(models.BranchEvent.branch_id == branch_id)
                    .order_by(models.BranchEvent.seq.desc())
                    .limit(1)
                )
            ).first()
        return LoadedBranch(
            branch_id=branch.id,
            name=branch.name,
            timezone=branch.timezone,
            business_day=branch.business_day,
            config=branch_config(policy, services, counters),
            tickets=tuple(TicketRecord(*row[:-1]) for row in ticket_rows),
            tokens={row[0]: row[-1] for row in ticket_rows},
            counters=tuple(CounterRecord(c.number, CounterState(c.state)) for c in counters),
            estimates={
                e.service: ServiceTimeEstimate(e.mean_seconds, e.samples) for e in estimates
            },
            next_ticket_id=(max_id or 0) + 1,
            next_seq=(last_event[0] + 1) if last_event else 1,
            last_now=last_event[1] if last_event else None,
            almost_turn_ahead=policy.almost_turn_ahead if policy is not None else 3,
        )

    async def _write_in_one_statement(self, branch_id: str, batch: Batch) -> None:
        """PostgreSQL: the batch as one statement on the driver's connection (see
        :mod:`app.db.pgwrite`), inside BEGIN and COMMIT of its own.

        Not in autocommit: a statement that reaches the server after this side gave up (a
        network that held the packets past the command timeout) must not commit what the
        caller was told failed. Without COMMIT the server rolls it back when the connection,
        dropped here, goes away."""
        parameters = pgwrite.arguments(branch_id, batch, event_envelope)
        async with (self.writer or self.engine).connect() as connection:
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection  # asyncpg's Connection
            try:
                await driver.execute("BEGIN")
                await driver.execute(pgwrite.STATEMENT, *parameters)
                await driver.execute("COMMIT")
            except BaseException as error:
                # SQLAlchemy does not know this transaction: end it before the pool takes the
                # connection back when the server refused the batch (a constraint); drop the
                # connection when it is dead, silent or cut mid-protocol, or when even the
                # rollback fails, or the pool would hand it to the next batch.
                if isinstance(error, asyncpg.PostgresError):
                    try:
                        await driver.execute("ROLLBACK")
                    except BaseException:
                        await connection.invalidate()
                        raise error from None
                else:
                    await connection.invalidate()
                raise

    def _insert(self, table: Any) -> Any:
        return (sqlite.insert if self._sqlite else postgresql.insert)(table)

    async def _upsert_tickets(self, session: AsyncSession, branch_id: str, batch: Batch) -> None:
        rows = []
        for record, token, day in batch.tickets.values():
            row = {name: getattr(record, name) for name in TICKET_COLUMNS}
            row["branch_id"] = branch_id
            row["token"] = token
            row["business_day"] = day
            rows.append(row)
        await session.execute(self._ticket_upsert, rows)

    async def write_batch(self, branch_id: str, batch: Batch) -> None:
        """Write everything in ``batch`` in one transaction; raises on any failure."""
        if self.one_statement_writes and not batch.extra:
            await self._write_in_one_statement(branch_id, batch)
            return
        async with self._writes() as session, session.begin():
            if batch.events:
                await session.execute(
                    self._event_insert,
                    [
                        {
                            "branch_id": branch_id,
                            "seq": seq,
                            "type": event.type,
                            "at": event.at,
                            "data": event_envelope(branch_id, seq, event)["data"],
                        }
                        for seq, event in batch.events
                    ],
                )
            # Configuration rows first: a counter created in this batch must exist before the
            # batch's counter-state updates reach it.
            for write in batch.extra:
                await write(session)
            if batch.tickets:
                await self._upsert_tickets(session, branch_id, batch)
            if batch.finished_by:
                # After the upsert, which never writes ``finished_by``: a ticket issued, called
                # and finished within one batch has its row by now.
                await session.execute(
                    self._finisher_update,
                    [
                        {"b_branch": branch_id, "b_ticket": ticket, "b_staff": staff}
                        for ticket, staff in batch.finished_by.items()
                    ],
                )
            counters = _table(models.Counter)
            for number, state in batch.counters.items():
                await session.execute(
                    update(counters)
                    .where(counters.c.branch_id == branch_id, counters.c.number == number)
                    .values(state=state.value)
                )
            if batch.estimates:
                await session.execute(
                    self._estimate_upsert,
                    [
                        {
                            "branch_id": branch_id,
                            "service": code,
                            "mean_seconds": estimate.mean_seconds,
                            "samples": estimate.samples,
                        }
                        for code, estimate in batch.estimates.items()
                    ],
                )
            if batch.business_day is not None:
                branches = _table(models.Branch)
                await session.execute(
                    update(branches)
                    .where(branches.c.id == branch_id)
                    .values(business_day=batch.business_day)
                )
            if batch.idempotency:
                await session.execute(
                    self._key_insert,
                    [
                        {
                            "branch_id": key.branch_id,
                            "key": key.key,
                            "request_hash": key.request_hash,
                            "status_code": key.status_code,
                            "response": key.response,
                            "created_at": key.created_at,
                        }
                        for key in batch.idempotency
                    ],
                )
