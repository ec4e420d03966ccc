"""The asyncio shell of the realtime protocol: connections, branch feeds, the hub.

* :class:`Connection`: one WebSocket, one bounded outbound queue of encoded frames and one writer
  task that sends them. Live frames are offered without waiting; when the queue is full the
  client is not reading and is closed with 4008, so it never slows a branch or another client.
  Frames sent while catching up (replay) wait for room instead.
* :class:`BranchFeed`: the one bus subscription of a branch in this process. It encodes each
  committed event once per audience (staff, public) and hands the frame to every connection of
  the branch; it follows customer tickets (state changes at once, positions at most once a
  second) and sends ``queue_status`` (at most once a second, after the events). A feed
  that falls behind the bus closes its branch's connections with 4009 (reconnect and resume
  from the log).
* :class:`Hub`: the feeds and connections of the app, and one maintenance task that pings,
  drops silent clients, and re-checks every connection's credential in two queries, so that a
  revoked device or a disabled user is closed within ``ws_credential_check_seconds`` plus one
  query.

Joining (:meth:`Hub.join`): the connection is attached to its feed *before* the log is read,
holding live frames aside while it replays; then the held frames are passed through the
connection's :class:`~app.realtime.protocol.Cursor`, which drops duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from starlette.websockets import WebSocket

from app.aio import start_eagerly, stop_task
from app.bus import Envelope, EventBus, Subscription
from app.db import models
from app.db.store import Store
from app.hall import HallRuntime, Halls
from app.queue_engine import BranchSnapshot
from app.settings import Settings

from . import views
from .protocol import (
    CloseCode,
    Cursor,
    Heartbeat,
    MessageType,
    Replay,
    Verdict,
    encode,
    plan_resume,
    snapshot_frame,
)
from .ticket_watch import TicketWatch

log = logging.getLogger("queuehall.realtime")

REPLAY_PAGE = 500
FEED_QUEUE = 65_536  # events a feed may lag behind the bus before it resynchronises
# How long sending the close frame may wait behind unread data before the socket is dropped
# without one (a client that stopped reading may start again and still learn why: 4008).
CLOSE_SECONDS = 30.0


@dataclass(frozen=True)
class Credential:
    """Who holds a connection, as re-checked by the hub: staff ``ver`` or a device id."""

    kind: str  # "staff" or "device"
    id: int
    version: int | None
    expires_at: float


class Connection:
    """One client socket of any audience; the endpoint reads, the writer task sends."""

    def __init__(
        self,
        websocket: WebSocket,
        audience: views.Audience,
        *,
        queue_size: int,
        heartbeat: Heartbeat,
    ) -> None:
        self.websocket = websocket
        self.audience = audience
        self.outbound: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.heartbeat = heartbeat
        self.cursor = Cursor(0)
        self.holding: list[tuple[int, str | None]] | None = []
        self.hold_limit = queue_size
        self.credential: Credential | None = None
        self.feed: BranchFeed | None = None
        self.ticket_id: int | None = None
        self.closing: CloseCode | None = None
        self.closed = asyncio.Event()
        self._room = asyncio.Event()
        self._waiting_for_room = False
        self._writer: asyncio.Task[None] | None = None
        # The writer waits on an empty queue: a live frame can be sent at once, in the feed's
        # step (``offer``), without waking a task per socket.
        self._writer_idle = False
        # A send started at once that had to wait (the client reads slowly): later frames
        # queue behind it.
        self._sending: asyncio.Task[Any] | None = None
        self._closer: asyncio.Task[None] | None = None
        # The task reading the socket (the endpoint): cancelled when the close cannot be sent.
        self.reader = asyncio.current_task()

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop())

    # The feed's side ---------------------------------------------------------------------

    def offer(self, frame: str) -> None:
        """Send a live frame now when nothing is ahead of it, else queue it without waiting;
        a full queue closes the connection (4008)."""
        if self.closing is not None:
            return
        if self._writer_idle and self._sending is None and self.outbound.empty():
            self._send_now(frame)
            return
        try:
            self.outbound.put_nowait(frame)
        except asyncio.QueueFull:
            self.close(CloseCode.SLOW_CONSUMER, "The client is not reading its messages.")

    def _send_now(self, frame: str) -> None:
        """The frame into the socket in this step (a thousand displays cost a thousand task
        wake-ups otherwise); when the transport has no room, a task finishes the send."""
        try:
            sending = start_eagerly(self.websocket.send_text(frame))
        except Exception:  # the socket went away; the reader sees the disconnect
            self._gone()
            return
        if sending is not None:
            self._sending = sending
            sending.add_done_callback(self._sent)

    def _sent(self, sending: asyncio.Task[Any]) -> None:
        self._sending = None
        if not sending.cancelled() and sending.exception() is not None:
            self._gone()

    def _gone(self) -> None:
        if self.closing is None:
            self.closing = CloseCode.GOING_AWAY
            self._room.set()
            if self.feed is not None:
                self.feed.detach(self)

    def push_event(self, seq: int, frame: str | None) -> None:
        """A live event (``frame`` None: one this audience does not see, but its ``seq`` still
        advances the cursor)."""
        if self.closing is not None:
            return
        if self.holding is not None:
            if len(self.holding) >= self.hold_limit:
                self.close(CloseCode.SLOW_CONSUMER, "The client is not reading its messages.")
                return
            self.holding.append((seq, frame))
            return
        verdict = self.cursor.accept(seq)
        if verdict is Verdict.SEND:
            if frame is not None:
                self.offer(frame)
        elif verdict is Verdict.GAP:
            self.close(CloseCode.RESYNC, "Events were lost; reconnect and resume.")

    # The joining side --------------------------------------------------------------------

    async def put(self, frame: str) -> None:
        """Queue a frame, waiting for room (catching up); returns at once when closing."""
        while self.closing is None:
            try:
                self.outbound.put_nowait(frame)
                return
            except asyncio.QueueFull:
                self._room.clear()
                self._waiting_for_room = True
                await self._room.wait()

    async def put_event(self, seq: int, frame: str | None) -> bool:
        """A replayed event through the cursor; False when the stream broke (a gap)."""
        verdict = self.cursor.accept(seq)
        if verdict is Verdict.GAP:
            self.close(CloseCode.RESYNC, "Events were lost; reconnect and resume.")
            return False
        if verdict is Verdict.SEND and frame is not None:
            await self.put(frame)
        return True

    async def release(self) -> None:
        """Stop holding live events: send the held ones that the replay did not cover."""
        while self.holding:
            held, self.holding = self.holding, []
            for seq, frame in held:
                if not await self.put_event(seq, frame):
                    return
        self.holding = None

    # Closing -----------------------------------------------------------------------------

    def close(self, code: CloseCode, reason: str = "", *, flush: bool = False) -> None:
        """Stop taking messages and close the socket with ``code`` (at most once, never
        waits); with ``flush`` the messages already queued are sent first (for a while)."""
        if self.closing is not None:
            return
        self.closing = code
        self._room.set()
        if self.feed is not None:
            self.feed.detach(self)
        if self._writer is not None and not flush:
            self._writer.cancel()
        self._closer = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        writer = self._writer
        if writer is not None and not writer.done():
            for _ in range(200):  # flushing: at most two seconds
                if self.outbound.empty():
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0)  # the writer sends what it took last
            writer.cancel()
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await self.websocket.close(code, reason[:120])
        except TimeoutError:
            if self.reader is not None and not self.reader.done():
                self.reader.cancel()  # the endpoint returns and the server drops the socket
        except Exception:  # already gone
            pass
        finally:
            self.closed.set()

    async def finish(self) -> None:
        """The socket is gone (the client left or the server closed it): release everything."""
        if self.feed is not None:
            self.feed.detach(self)
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await stop_task(self._writer)
        if self._sending is not None:
            with contextlib.suppress(Exception):
                await stop_task(self._sending)
        if self._closer is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_SECONDS):
                    await asyncio.shield(self._closer)

    async def _write_loop(self) -> None:
        send = self.websocket.send_text
        outbound = self.outbound
        try:
            while True:
                if outbound.empty():
                    self._writer_idle = True
                    try:
                        frame = await outbound.get()
                    finally:
                        self._writer_idle = False
                else:
                    frame = outbound.get_nowait()
                if self._sending is not None:  # a frame sent at once is still on its way
                    await asyncio.wait({self._sending})
                if self._waiting_for_room:
                    self._waiting_for_room = False
                    self._room.set()
                await send(frame)
                if not outbound.empty():
                    # Let the other writers send their first frame (a call) before this one
                    # sends its second (a status): every screen hears of a call first.
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away; the reader sees the disconnect
            self._gone()


class _TicketFollowers:
    __slots__ = ("connections", "token", "watch")

    def __init__(self, token: str, watch: TicketWatch) -> None:
        self.token = token
        self.watch = watch
        self.connections: set[Connection] = set()


class BranchFeed:
    """The branch's live events for every connection to it in this process."""

    def __init__(self, hub: Hub, runtime: HallRuntime) -> None:
        self.hub = hub
        self.runtime = runtime
        self.branch_id = runtime.branch_id
        self.staff: set[Connection] = set()
        self.public: set[Connection] = set()
        self.tickets: dict[int, _TicketFollowers] = {}
        self.last_seq = 0
        self.day_start_seq = 0
        self._status: dict[str, Any] | None = None
        self._status_timer: asyncio.TimerHandle | None = None
        self._last_status = float("-inf")
        self._ticket_pass: asyncio.TimerHandle | None = None
        self._last_ticket_pass = float("-inf")
        self._stack = AsyncExitStack()
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._subscription = await self._stack.enter_async_context(
            self.hub.bus.subscribe(self.branch_id, size=FEED_QUEUE)
        )
        self.last_seq = self.runtime.next_seq - 1
        self.day_start_seq = await self.hub.day_start_seq(self.branch_id)
        self._task = asyncio.create_task(self._run(), name=f"feed-{self.branch_id}")

    async def stop(self) -> None:
        for timer in (self._ticket_pass, self._status_timer):
            if timer is not None:
                timer.cancel()
        if self._task is not None:
            await stop_task(self._task)
        await self._stack.aclose()

    def attach(self, connection: Connection) -> None:
        connection.feed = self
        if connection.audience is views.Audience.DISPLAY:
            self.public.add(connection)
        elif connection.audience is not views.Audience.TICKET:
            self.staff.add(connection)

    def detach(self, connection: Connection) -> None:
        self.public.discard(connection)
        self.staff.discard(connection)
        if connection.ticket_id is not None:
            followers = self.tickets.get(connection.ticket_id)
            if followers is not None:
                followers.connections.discard(connection)
                if not followers.connections:
                    del self.tickets[connection.ticket_id]

    def connections(self) -> Iterable[Connection]:
        yield from tuple(self.staff)
        yield from tuple(self.public)
        for followers in tuple(self.tickets.values()):
            yield from tuple(followers.connections)

    # Customers ---------------------------------------------------------------------------

    def follow(self, connection: Connection, ticket_id: int, token: str) -> dict[str, Any]:
        """Attach a customer socket to its ticket; returns the ticket's current view."""
        connection.feed = self
        connection.ticket_id = ticket_id
        followers = self.tickets.get(ticket_id)
        view = views.ticket_view(self.runtime, ticket_id, token)
        if followers is None:
            watch = TicketWatch(view, min_interval=self.hub.settings.ws_ticket_update_seconds)
            followers = self.tickets[ticket_id] = _TicketFollowers(token, watch)
        followers.connections.add(connection)
        return view

    def _tell_tickets(self, causes: dict[int, str], *, positions: bool) -> None:
        """Tell followed tickets what changed: those in ``causes`` (an event about them) at
        once, and with ``positions`` every followed ticket whose position or estimate moved."""
        now = time.monotonic()
        if positions:
            followed = list(self.tickets.items())
        else:
            followed = [(t, self.tickets[t]) for t in causes if t in self.tickets]
        for ticket_id, followers in followed:
            cause = causes.get(ticket_id)
            try:
                view = views.ticket_view(self.runtime, ticket_id, followers.token)
            except Exception:  # the ticket left the engine: a new business day began
                self._end_ticket(followers)
                continue
            kind = followers.watch.update(view, now, cause)
            if kind is not None:
                frame = encode(self.last_seq, kind, self.runtime.clock(), view)
                for connection in tuple(followers.connections):
                    connection.offer(frame)
        if any(f.watch.pending for f in self.tickets.values()):
            self._schedule_ticket_pass()

    def _end_ticket(self, followers: _TicketFollowers) -> None:
        """The ticket expired with its day: say so (from its last view), then close."""
        if not followers.watch.final:
            last = followers.watch.view
            view = {
                **last,
                "state": "expired",
                "ahead": None,
                "eta_minutes": None,
                "almost_your_turn": False,
            }
            frame = encode(self.last_seq, "expired", self.runtime.clock(), view)
            for connection in tuple(followers.connections):
                connection.offer(frame)
        for connection in tuple(followers.connections):
            connection.close(CloseCode.NORMAL, "This ticket is over.", flush=True)

    def _schedule_ticket_pass(self) -> None:
        if self._ticket_pass is not None:
            return
        loop = asyncio.get_running_loop()
        interval = self.hub.settings.ws_ticket_update_seconds
        delay = max(0.0, self._last_ticket_pass + interval - time.monotonic())
        self._ticket_pass = loop.call_later(delay, self._run_ticket_pass)

    def _run_ticket_pass(self) -> None:
        self._ticket_pass = None
        self._last_ticket_pass = time.monotonic()
        self._tell_tickets({}, positions=True)

    # The live stream ---------------------------------------------------------------------

    async def _run(self) -> None:
        subscription = self._subscription
        assert subscription is not None
        while True:
            envelopes = [await subscription.get()]
            while not subscription.queue.empty():
                envelopes.append(subscription.queue.get_nowait())
            try:
                self._fan_out(envelopes)
            except Exception:  # never let one bad event stop a branch's screens
                log.exception("branch %s: fan-out failed", self.branch_id)
            if subscription.overflowed:
                await self._resynchronise()
                return

    async def _resynchronise(self) -> None:
        log.warning("branch %s: the realtime feed fell behind; clients resume", self.branch_id)
        for connection in tuple(self.connections()):
            connection.close(CloseCode.RESYNC, "The server fell behind; reconnect and resume.")
        self.hub.forget_feed(self)
        await self._stack.aclose()

    def _fan_out(self, envelopes: list[Envelope]) -> None:
        causes: dict[int, str] = {}
        staff = tuple(self.staff)
        public = tuple(self.public)
        for envelope in envelopes:
            seq: int = envelope["seq"]
            self.last_seq = max(self.last_seq, seq)
            kind: str = envelope["type"]
            at: float = envelope["at"]
            data: dict[str, Any] = envelope["data"]
            if kind == "business_day_started":
                self.day_start_seq = seq
            if staff:
                frame = encode(seq, kind, at, data)
                for connection in staff:
                    connection.push_event(seq, frame)
            if public:
                shown = views.public_data(kind, data)
                public_frame = None if shown is None else encode(seq, kind, at, shown)
                for connection in public:
                    connection.push_event(seq, public_frame)
            ticket_id = data.get("ticket_id")
            if ticket_id is not None and ticket_id in self.tickets:
                causes[ticket_id] = kind
        if staff or public:
            self._status_due()
        if self.tickets:
            if causes:
                self._tell_tickets(causes, positions=False)
            self._schedule_ticket_pass()  # positions: at most once per interval

    def _status_due(self) -> None:
        """Send ``queue_status`` now if the last one is old enough, else once it is: at most
        one per ``ws_status_seconds``, and never ahead of the events that changed it."""
        if self._status_timer is not None:
            return
        interval = self.hub.settings.ws_status_seconds
        delay = self._last_status + interval - time.monotonic()
        if delay <= 0:
            self._send_status()
        else:
            loop = asyncio.get_running_loop()
            self._status_timer = loop.call_later(delay, self._send_status_later)

    def _send_status_later(self) -> None:
        self._status_timer = None
        self._send_status()

    def _send_status(self) -> None:
        self._last_status = time.monotonic()
        snapshot = self.runtime.engine.snapshot(self.runtime.clock())
        status = views.queue_status(snapshot)
        if status == self._status:
            return
        self._status = status
        frame = encode(self.last_seq, MessageType.QUEUE_STATUS, self.runtime.clock(), status)
        for connection in (*self.staff, *self.public):
            if connection.holding is None:
                connection.offer(frame)

    def status_frame(self, snapshot: BranchSnapshot, seq: int) -> str:
        status = views.queue_status(snapshot)
        return encode(seq, MessageType.QUEUE_STATUS, self.runtime.clock(), status)


class Hub:
    def __init__(
        self, settings: Settings, store: Store, bus: EventBus, halls: Halls, secret: str
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.halls = halls
        self.secret = secret
        self.connections: set[Connection] = set()
        self._feeds: dict[str, BranchFeed] = {}
        self._adding = asyncio.Lock()
        self._maintenance: asyncio.Task[None] | None = None
        self._last_credential_check = 0.0
        self.stopping = False

    async def start(self) -> None:
        self._maintenance = asyncio.create_task(self._maintain(), name="realtime-maintenance")

    async def stop(self) -> None:
        self.stopping = True
        if self._maintenance is not None:
            await stop_task(self._maintenance)
        for connection in tuple(self.connections):
            connection.close(CloseCode.GOING_AWAY, "The server is restarting.", flush=True)
        for feed in tuple(self._feeds.values()):
            await feed.stop()
        self._feeds.clear()

    # Feeds -------------------------------------------------------------------------------

    async def feed(self, runtime: HallRuntime) -> BranchFeed:
        async with self._adding:
            feed = self._feeds.get(runtime.branch_id)
            if feed is None or feed.runtime is not runtime:
                if feed is not None:
                    await feed.stop()
                feed = BranchFeed(self, runtime)
                await feed.start()
                self._feeds[runtime.branch_id] = feed
            return feed

    def counts(self) -> dict[str, int]:
        """Open connections by audience and live branch feeds (``/metrics``)."""
        counts = {audience.value: 0 for audience in views.Audience}
        for connection in self.connections:
            counts[connection.audience.value] += 1
        return counts

    @property
    def feed_count(self) -> int:
        return len(self._feeds)

    def forget_feed(self, feed: BranchFeed) -> None:
        if self._feeds.get(feed.branch_id) is feed:
            del self._feeds[feed.branch_id]

    async def day_start_seq(self, branch_id: str) -> int:
        async with self.store.sessions() as session:
            seq = await session.scalar(
                select(models.BranchEvent.seq)
                .where(
                    models.BranchEvent.branch_id == branch_id,
                    models.BranchEvent.type == "business_day_started",
                )
                .order_by(models.BranchEvent.seq.desc())
                .limit(1)
            )
        return int(seq or 0)

    # Joining -----------------------------------------------------------------------------

    def connection(self, websocket: WebSocket, audience: views.Audience) -> Connection:
        settings = self.settings
        heartbeat = Heartbeat(
            time.monotonic(),
            ping_seconds=settings.ws_ping_seconds,
            silence_seconds=settings.ws_silence_seconds,
        )
        connection = Connection(
            websocket, audience, queue_size=settings.ws_outbound_queue, heartbeat=heartbeat
        )
        self.connections.add(connection)
        return connection

    def leave(self, connection: Connection) -> None:
        self.connections.discard(connection)

    async def join(self, connection: Connection, runtime: HallRuntime, since: int | None) -> None:
        """Bring a branch connection up to date (replay or snapshot), then live."""
        feed = await self.feed(runtime)
        feed.attach(connection)  # before reading the log: nothing can fall between
        connection.start()
        plan = plan_resume(
            since,
            latest_seq=runtime.next_seq - 1,
            day_start_seq=feed.day_start_seq,
            max_replay=self.settings.ws_max_replay,
        )
        public = connection.audience.public
        if isinstance(plan, Replay):
            connection.cursor = Cursor(plan.since)
            if not await self._replay(connection, runtime.branch_id, plan.since, public=public):
                return
            seq = plan.since
            snapshot = runtime.engine.snapshot(runtime.clock())  # counts only: memory will do
        else:
            seq, snapshot = await runtime.settled_snapshot()
            state = (views.public_state if public else views.full_state)(runtime, snapshot, seq)
            connection.cursor = Cursor(seq)
            await connection.put(snapshot_frame(seq, runtime.clock(), state, plan.reason))
        await connection.release()
        if connection.closing is None:
            await connection.put(feed.status_frame(snapshot, max(seq, connection.cursor.last)))

    async def _replay(
        self, connection: Connection, branch_id: str, since: int, *, public: bool
    ) -> bool:
        after = since
        while connection.closing is None:
            async with self.store.sessions() as session:
                rows = (
                    await session.execute(
                        select(
                            models.BranchEvent.seq,
                            models.BranchEvent.type,
                            models.BranchEvent.at,
                            models.BranchEvent.data,
                        )
                        .where(
                            models.BranchEvent.branch_id == branch_id,
                            models.BranchEvent.seq > after,
                        )
                        .order_by(models.BranchEvent.seq)
                        .limit(REPLAY_PAGE)
                    )
                ).all()
            for seq, kind, at, data in rows:
                shown = views.public_data(kind, data) if public else data
                frame = None if shown is None else encode(seq, kind, at, shown)
                if not await connection.put_event(seq, frame):
                    return False
                after = seq
            if len(rows) < REPLAY_PAGE:
                return connection.closing is None
        return False

    async def follow_ticket(
        self, connection: Connection, runtime: HallRuntime, ticket_id: int, token: str
    ) -> None:
        feed = await self.feed(runtime)
        view = feed.follow(connection, ticket_id, token)
        connection.holding = None
        connection.start()
        await connection.put(snapshot_frame(feed.last_seq, runtime.clock(), view, "ticket"))

    # Maintenance -------------------------------------------------------------------------

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.settings.ws_check_seconds)
            try:
                await self._check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("realtime maintenance failed")

    async def _check(self) -> None:
        now = time.monotonic()
        for connection in tuple(self.connections):
            if connection.closing is not None:
                continue
            due = connection.heartbeat.due(now)
            if due == "close":
                connection.close(CloseCode.SILENT, "Nothing heard from the client.")
            elif due == "ping":
                feed = connection.feed
                seq = connection.cursor.last
                if connection.ticket_id is not None and feed is not None:
                    seq = feed.last_seq
                connection.offer(encode(seq, MessageType.PING, self.halls.clock(), {}))
        if now - self._last_credential_check >= self.settings.ws_credential_check_seconds:
            self._last_credential_check = now
            await self.check_credentials()

    async def check_credentials(self) -> None:
        """Close every connection whose staff user was disabled (or signed out everywhere), whose
        device was revoked, or whose token expired: two queries for all of them."""
        held = [c for c in self.connections if c.credential is not None and c.closing is None]
        if not held:
            return
        staff_ids = {c.credential.id for c in held if c.credential and c.credential.kind == "staff"}
        device_ids = {
            c.credential.id for c in held if c.credential and c.credential.kind == "device"
        }
        staff: dict[int, tuple[bool, int]] = {}
        devices: dict[int, bool] = {}
        async with self.store.sessions() as session:
            if staff_ids:
                for user_id, active, version in await session.execute(
                    select(
                        models.StaffUser.id, models.StaffUser.active, models.StaffUser.token_version
                    ).where(models.StaffUser.id.in_(staff_ids))
                ):
                    staff[user_id] = (active, version)
            if device_ids:
                for device_id, revoked_at, paired_at in await session.execute(
                    select(
                        models.Device.id, models.Device.revoked_at, models.Device.paired_at
                    ).where(models.Device.id.in_(device_ids))
                ):
                    devices[device_id] = revoked_at is None and paired_at is not None
        wall = time.time()
        for connection in held:
            credential = connection.credential
            assert credential is not None
            if credential.kind == "staff":
                valid = staff.get(credential.id) == (True, credential.version)
            else:
                valid = devices.get(credential.id, False)
            if not valid or credential.expires_at <= wall:
                connection.close(CloseCode.NOT_AUTHENTICATED, "This sign-in is no longer valid.")
