"""The hall runtime: one per branch, the only place with side effects.

Every command follows the write path of ARCHITECTURE.md:

1. Under the branch's ``asyncio.Lock`` the engine decides and applies the command in memory and
   the reply is shaped from the engine's state; a domain error changes nothing.
2. The command's writes (events with the branch's next ``seq``, ticket rows, counter states,
   estimates, its idempotency key) join the pending batch and the lock is released at once.
3. One writer task per branch commits pending batches, each in one transaction; commands that
   arrive during a commit form the next batch (group commit).
4. Only after the commit does the caller get its reply and do the events reach the bus.
5. If a commit fails, that batch and every command queued behind it (decided on top of it) fail
   with :class:`StoreUnavailable` or :class:`StoreConflict`, nothing of them is published, and the
   engine is rebuilt from the store before the next command runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from app.aio import stop_task, wait_event
from app.bus import Envelope, EventBus
from app.db import models
from app.db.store import Batch, ExtraWrite, LoadedBranch, Store, event_envelope
from app.heap import HeapFreezer
from app.metrics import TICKET_EVENTS
from app.queue_engine import (
    TRANSITIONS,
    BranchConfig,
    BranchSnapshot,
    BusinessDayStarted,
    CounterStateChanged,
    Event,
    QueueEngine,
    TicketEvent,
    TicketExpired,
    TicketFinished,
    TicketIssued,
    TicketRecord,
    TicketState,
    TicketTransferred,
)

log = logging.getLogger("queuehall.hall")

Command = Callable[[QueueEngine, float], list[Event]]
Reply = tuple[int, Any]  # HTTP status and JSON body
ReplyBuilder = Callable[[QueueEngine, list[Event]], Reply]


class RuntimeFailure(Exception):
    """The command was decided but could not be made durable; nothing of it happened."""

    status = 503

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or (self.__doc__ or "").strip()
        super().__init__(self.detail)


class StoreUnavailable(RuntimeFailure):
    """The store is unavailable right now; nothing was changed. Please try again."""


class StoreConflict(RuntimeFailure):
    """The store refused the change (a constraint); nothing was changed."""

    status = 409


class IdempotencyMismatch(Exception):
    """This Idempotency-Key was already used with a different request."""


class IdempotencyInFlight(Exception):
    """A request with this Idempotency-Key is still being processed."""


@dataclass(frozen=True)
class Idempotency:
    key: str
    request_hash: str

    @staticmethod
    def of(key: str, *parts: Any) -> Idempotency:
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
        return Idempotency(key, digest)


@dataclass
class _Pending:
    future: asyncio.Future[None]
    batch: Batch
    envelopes: list[Envelope]
    idempotency_key: str | None


_IN_FLIGHT = object()
SILENCE_BACKOFF_SECONDS = 1.0


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a failure as seen when its caller has gone (cancelled request)."""
    if not future.cancelled():
        future.exception()


def business_day(timezone: str, now: float) -> str:
    return datetime.fromtimestamp(now, ZoneInfo(timezone)).date().isoformat()


def new_token() -> str:
    """A customer's handle on a ticket: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


class HallRuntime:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        loaded: LoadedBranch,
        *,
        clock: Callable[[], float] = time.time,
        max_batch: int = 512,
        recent_keys: int = 10_000,
        heap: HeapFreezer | None = None,
    ) -> None:
        self.store = store
        self.heap = heap
        self.bus = bus
        self.clock = clock
        self.max_batch = max_batch
        self.branch_id = loaded.branch_id
        self.lock = asyncio.Lock()
        self._pending: list[_Pending] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stale = False
        self._silent_until = 0.0  # see _note_silence
        self._keys: OrderedDict[str, Any] = OrderedDict()  # recent idempotency keys
        self._recent_keys = recent_keys
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0
        self.committed_commands = 0
        self._install(loaded)

    # ------------------------------------------------------------------------------------
    # Lifecycle

    def _install(self, loaded: LoadedBranch) -> None:
        self.loaded = loaded
        self.name = loaded.name
        self.timezone = loaded.timezone
        self.almost_turn_ahead = loaded.almost_turn_ahead
        self.engine = QueueEngine.rebuild(
            loaded.config,
            loaded.business_day,
            loaded.tickets,
            loaded.counters,
            estimates=loaded.estimates,
            next_ticket_id=loaded.next_ticket_id if not loaded.tickets else None,
            last_now=loaded.last_now,
        )
        self.loaded_day = loaded.business_day
        self.tokens: dict[int, str] = dict(loaded.tokens)
        self.by_token: dict[str, int] = {token: tid for tid, token in self.tokens.items()}
        self.next_seq = loaded.next_seq

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name=f"writer-{self.branch_id}")

    async def stop(self) -> None:
        await self.drain()
        if self._writer is not None:
            await stop_task(self._writer)
            self._writer = None

    async def drain(self) -> None:
        """Wait until every queued command is committed or failed."""
        while self._pending or not self._idle.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)

    async def settled_snapshot(self) -> tuple[int, BranchSnapshot]:
        """The branch's state and the ``seq`` of the last event it includes, taken when every
        decided command is committed and published, so that the state is exactly the log up to
        ``seq`` (memory may be one commit ahead of the log otherwise).

        Holds the branch lock (no new command is decided) while the commit in flight finishes;
        the wait is bounded so that a failing commit, which needs the lock to rebuild, can take
        it.
        """
        while True:
            async with self.lock:
                if self._stale:
                    with contextlib.suppress(Exception):
                        await self.reload()
                else:
                    await wait_event(self._idle, 0.5)
                    if self._idle.is_set() and not self._pending:
                        return self.next_seq - 1, self.engine.snapshot(self.clock())
            await asyncio.sleep(0.01)

    async def reload(self) -> None:
        """Rebuild the engine from the store (under the lock)."""
        loaded = await self.store.load_branch(self.branch_id)
        self._install(loaded)
        self._stale = False

    # ------------------------------------------------------------------------------------
    # Commands

    async def run(
        self,
        command: Command,
        reply: ReplyBuilder,
        *,
        idempotency: Idempotency | None = None,
        reconfigure: Callable[[BranchConfig], BranchConfig] | None = None,
        extra: Iterable[ExtraWrite] = (),
        publish: bool = True,
        finished_by: int | None = None,
    ) -> Reply:
        """Apply ``command`` and return its reply once it is durable.

        ``reconfigure`` maps the current configuration to a new one, applied first under the
        lock (the caller stores the new rows through ``extra``). ``finished_by``, a staff id, is
        stored on the tickets the command finishes. Raises the engine's domain
        errors, :class:`RuntimeFailure`, or the idempotency errors.
        """
        if idempotency is not None:
            stored = await self._stored_reply(idempotency)
            if stored is not None:
                return stored
        async with self.lock:
            if self._stale:
                if time.monotonic() < self._silent_until:  # the store timed out just now
                    raise StoreUnavailable()
                try:
                    await self.reload()
                except Exception as error:
                    self._note_silence(error)
                    raise StoreUnavailable() from error
            if idempotency is not None:
                remembered = self._keys.get(idempotency.key)
                if remembered is _IN_FLIGHT:
                    raise IdempotencyInFlight()
                if remembered is not None:
                    request_hash, answer = remembered
                    if request_hash != idempotency.request_hash:
                        raise IdempotencyMismatch()
                    return answer  # type: ignore[no-any-return]
            now = self.clock()
            self._roll_day(now)
            previous_engine = None
            try:
                if reconfigure is not None:
                    previous_engine = self.engine
                    self.engine = self.engine.reconfigured(reconfigure(self.engine.config))
                events = command(self.engine, now)
            except BaseException:
                if previous_engine is not None:
                    self.engine = previous_engine
                raise
            self._assign_tokens(events)
            try:
                answer = reply(self.engine, events)
            except BaseException:
                self._stale = True  # memory changed but nothing will be stored: reload
                raise
            if self._stale:  # a commit failed while this command was being decided
                raise StoreUnavailable()
            batch = self._batch_of(events)
            batch.extra.extend(extra)
            if finished_by is not None:
                for event in events:
                    if isinstance(event, TicketFinished):
                        batch.finished_by[event.ticket_id] = finished_by
            if idempotency is not None:
                batch.idempotency.append(
                    models.IdempotencyKey(
                        branch_id=self.branch_id,
                        key=idempotency.key,
                        request_hash=idempotency.request_hash,
                        status_code=answer[0],
                        response={"body": answer[1]},
                        created_at=now,
                    )
                )
                self._keys[idempotency.key] = _IN_FLIGHT
            pending = self._enqueue(
                batch, publish=publish, key=idempotency.key if idempotency else None
            )
        try:
            await asyncio.shield(pending.future)
        except RuntimeFailure:
            if idempotency is not None:
                self._keys.pop(idempotency.key, None)
            raise
        if idempotency is not None:
            self._remember(idempotency.key, (idempotency.request_hash, answer))
        return answer

    async def tick(self) -> None:
        """Start a new business day when the branch's clock has passed midnight."""
        async with self.lock:
            if self._stale:
                with contextlib.suppress(Exception):
                    await self.reload()
                return
            now = self.clock()
            pending = self._roll_day(now)
        if pending is not None:
            with contextlib.suppress(RuntimeFailure):
                await asyncio.shield(pending.future)

    def today(self, now: float | None = None) -> str:
        return business_day(self.timezone, self.clock() if now is None else now)

    # ------------------------------------------------------------------------------------
    # Internals

    def _roll_day(self, now: float) -> _Pending | None:
        day = self.today(now)
        if day == self.engine.business_day:
            return None
        open_tickets = {t.id: t for t in self.engine.tickets() if t.state in TRANSITIONS["expire"]}
        events = self.engine.start_day(day, now=now)
        self._assign_tokens(events)
        batch = self._batch_of(events, expired=open_tickets, day=self.loaded_day)
        self.loaded_day = day
        self.tokens.clear()
        self.by_token.clear()
        return self._enqueue(batch, publish=True, key=None)

    def _batch_of(
        self,
        events: list[Event],
        *,
        expired: dict[int, TicketRecord] | None = None,
        day: str | None = None,
    ) -> Batch:
        batch = Batch()
        engine = self.engine
        day = day or engine.business_day
        for event in events:
            batch.events.append((self.next_seq, event))
            self.next_seq += 1
            if isinstance(event, TicketExpired) and expired is not None:
                record = replace(expired[event.ticket_id], state=TicketState.EXPIRED)
                batch.tickets[event.ticket_id] = (record, self.tokens[event.ticket_id], day)
            elif isinstance(event, TicketEvent):
                record = engine.ticket(event.ticket_id)
                batch.tickets.pop(event.ticket_id, None)
                batch.tickets[event.ticket_id] = (record, self.tokens[event.ticket_id], day)
                if isinstance(event, TicketFinished | TicketTransferred):
                    estimates = engine.estimates()
                    code = (
                        event.service if isinstance(event, TicketFinished) else (event.from_service)
                    )
                    batch.estimates[code] = estimates[code]
            if isinstance(event, CounterStateChanged):
                batch.counters[event.counter] = event.state
            if isinstance(event, BusinessDayStarted):
                batch.business_day = event.business_day
        return batch

    def _assign_tokens(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, TicketIssued):
                token = new_token()
                self.tokens[event.ticket_id] = token
                self.by_token[token] = event.ticket_id

    def _enqueue(self, batch: Batch, *, publish: bool, key: str | None) -> _Pending:
        envelopes = (
            [event_envelope(self.branch_id, seq, event) for seq, event in batch.events]
            if publish
            else []
        )
        pending = _Pending(asyncio.get_running_loop().create_future(), batch, envelopes, key)
        self._pending.append(pending)
        self._idle.clear()
        self._wake.set()
        return pending

    def _remember(self, key: str, value: Any) -> None:
        self._keys[key] = value
        self._keys.move_to_end(key)
        while len(self._keys) > self._recent_keys:
            oldest, remembered = next(iter(self._keys.items()))
            if remembered is _IN_FLIGHT:
                break
            del self._keys[oldest]

    async def _stored_reply(self, idempotency: Idempotency) -> Reply | None:
        remembered = self._keys.get(idempotency.key)
        if remembered is _IN_FLIGHT:
            raise IdempotencyInFlight()
        if remembered is not None:
            request_hash, answer = remembered
            if request_hash != idempotency.request_hash:
                raise IdempotencyMismatch()
            return answer  # type: ignore[no-any-return]
        try:
            row = await self.store.idempotency_key(self.branch_id, idempotency.key)
        except Exception as error:
            raise StoreUnavailable() from error
        if row is None:
            return None
        if row.request_hash != idempotency.request_hash:
            raise IdempotencyMismatch()
        return row.status_code, row.response["body"]

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                items = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                batch = Batch()
                for item in items:
                    batch.merge(item.batch)
                try:
                    await self.store.write_batch(self.branch_id, batch)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    await self._fail(items, error)
                    continue
                self.commits += 1
                self.committed_commands += len(items)
                for item in items:
                    if not item.future.done():
                        item.future.set_result(None)
                for item in items:
                    if item.envelopes:
                        self.bus.publish(self.branch_id, item.envelopes)
                issued = 0
                for _, event in batch.events:
                    TICKET_EVENTS.labels(self.branch_id, event.type).inc()
                    issued += isinstance(event, TicketIssued)
                if self.heap is not None:
                    if batch.business_day is not None:
                        self.heap.day_changed(batch.business_day)
                    elif issued:
                        self.heap.issued(issued)
            self._idle.set()

    async def _fail(self, items: list[_Pending], error: Exception) -> None:
        failure: RuntimeFailure
        if isinstance(error, IntegrityError):
            failure = StoreConflict()
            log.error("branch %s: the store refused a batch: %s", self.branch_id, error)
        else:
            failure = StoreUnavailable()
            log.warning("branch %s: commit failed: %r", self.branch_id, error)
        # Commands queued behind the batch were decided on top of it: they fail too.
        failed = items + self._pending
        self._pending = []
        self._stale = True
        for item in failed:
            if item.idempotency_key is not None:
                self._keys.pop(item.idempotency_key, None)
        # Rebuild before answering, so that nobody who saw the error reads the failed state;
        # except after a timeout (a silent network): a rebuild would wait as long again, so
        # the callers get their 503 at once and the next command rebuilds first.
        self._note_silence(error)
        async with self.lock:
            if self._stale and time.monotonic() >= self._silent_until:
                try:
                    await self.reload()
                except Exception as reload_error:  # store down: retried before the next command
                    self._note_silence(reload_error)
                    log.warning("branch %s: reload failed: %r", self.branch_id, reload_error)
        for item in failed:
            if not item.future.done():
                item.future.set_exception(failure)
                item.future.add_done_callback(_retrieve)

    def _note_silence(self, error: BaseException) -> None:
        """After a store timeout, commands fail at once for a second instead of each waiting
        for a timeout of its own behind the branch lock."""
        if isinstance(error, TimeoutError):
            self._silent_until = time.monotonic() + SILENCE_BACKOFF_SECONDS


class UnknownBranch(LookupError):
    """No such branch."""


class Halls:
    """Every branch's runtime in this process, and the clock that rolls business days."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        *,
        clock: Callable[[], float] = time.time,
        max_batch: int = 512,
        tick_seconds: float = 30.0,
        heap: HeapFreezer | None = None,
    ) -> None:
        self.store = store
        self.heap = heap
        self.bus = bus
        self.clock = clock
        self.max_batch = max_batch
        self.tick_seconds = tick_seconds
        self._runtimes: dict[str, HallRuntime] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._adding = asyncio.Lock()

    async def start(self) -> None:
        for branch_id in await self.store.branch_ids():
            await self.load(branch_id)
        if self.heap is not None:
            self.heap.started()
        self._ticker = asyncio.create_task(self._tick_loop(), name="business-day-ticker")

    async def stop(self) -> None:
        if self._ticker is not None:
            await stop_task(self._ticker)
        for runtime in self._runtimes.values():
            await runtime.stop()

    async def load(self, branch_id: str) -> HallRuntime:
        async with self._adding:
            existing = self._runtimes.get(branch_id)
            if existing is not None:
                return existing
            runtime = HallRuntime(
                self.store,
                self.bus,
                await self.store.load_branch(branch_id),
                clock=self.clock,
                max_batch=self.max_batch,
                heap=self.heap,
            )
            runtime.start()
            self._runtimes[branch_id] = runtime
            return runtime

    def get(self, branch_id: str) -> HallRuntime:
        runtime = self._runtimes.get(branch_id)
        if runtime is None:
            raise UnknownBranch(f"Branch {branch_id!r} does not exist.")
        return runtime

    def __iter__(self) -> Iterator[HallRuntime]:
        return iter(tuple(self._runtimes.values()))

    def __len__(self) -> int:
        return len(self._runtimes)

    def ticket_by_token(self, token: str) -> tuple[HallRuntime, int] | None:
        for runtime in self._runtimes.values():
            ticket_id = runtime.by_token.get(token)
            if ticket_id is not None:
                return runtime, ticket_id
        return None

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            for runtime in self:
                try:
                    await runtime.tick()
                except Exception:  # one branch's trouble never stops the others' day change
                    log.exception("branch %s: business day tick failed", runtime.branch_id)
