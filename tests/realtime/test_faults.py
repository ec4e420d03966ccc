"""Realtime under faults (issue #8), on a real uvicorn server with real websockets clients:

* a display offline while calls go on resumes with every missed event exactly once and in
  order, with no gap and no duplicate where the replay meets the live stream;
* beyond the replay window, and across a day change, it gets a snapshot equal to what a runtime
  rebuilt from the store shows;
* a reconnect storm (many clients dropped and reconnecting while events flow) leaves no gap, no
  duplicate, and no connection or task behind (``/metrics`` counts back to zero);
* half-open and silent clients are released within the documented timeouts, and oversized,
  malformed and flooding clients get their close codes while a healthy client keeps receiving.

The bigger versions (1,000 events, hundreds of clients, timings) are in ``benchmarks.soak``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.bus import EventBus
from app.db.session import create_engine
from app.db.store import Store
from app.hall import HallRuntime
from app.realtime import views
from tests.api.conftest import Clock, Hall, staffed_hall
from tests.realtime.conftest import (
    NON_EVENTS,
    ORIGIN,
    WAIT,
    HallServer,
    hall_server,
    issue_many,
    latest_seq,
    logged_events,
    open_counter,
    serve_many,
    serve_next,
    token_of,
)


async def rebuilt_public_state(server: HallServer, database_url: str, clock: Clock) -> Any:
    """What a display shows of a runtime rebuilt from the store right now."""
    engine = create_engine(database_url)
    try:
        store = Store(engine)
        runtime = HallRuntime(store, EventBus(), await store.load_branch("b1"), clock=clock)
    finally:
        await engine.dispose()
    snapshot = runtime.engine.snapshot(clock())
    return views.public_state(runtime, snapshot, runtime.next_seq - 1)


async def test_a_display_offline_during_calls_gets_each_missed_event_once_in_order(
    hall: tuple[HallServer, Hall],
) -> None:
    server, people = hall
    await issue_many(server.api, people.clerk, 80)
    await open_counter(server.api, people.clerk, 1)
    await open_counter(server.api, people.clerk, 2)
    token = token_of(people.own["display"])
    display = await server.socket("/ws/branches/b1/display", token)
    seen = (await display.recv())["seq"]
    await display.connection.close()

    await serve_many(server.api, people.clerk, 25)  # offline for all of these
    # and these go on while it resumes
    live = asyncio.create_task(serve_many(server.api, people.clerk, 15))
    resumed = await server.socket("/ws/branches/b1/display", token, since=seen)
    await live
    final = await latest_seq(server.api, people.clerk)
    events = await resumed.events_until(final)
    logged = await logged_events(server.api, people.clerk, seen)
    assert (
        [m["seq"] for m in events] == [e["seq"] for e in logged] == list(range(seen + 1, final + 1))
    )
    assert [(m["type"], m["data"]["number"]) for m in events] == [
        (e["type"], e["data"]["number"]) for e in logged
    ]
    await serve_next(server.api, people.clerk, 1)  # and the live stream goes on after the seam
    more = await resumed.events_until(final + 2)
    assert [m["seq"] for m in more] == [final + 1, final + 2]


async def test_beyond_the_replay_window_or_the_day_a_display_gets_the_stores_state(
    migrated: str,
) -> None:
    clock = Clock()
    async with hall_server(migrated, clock, ws_max_replay=10) as server:
        people = await staffed_hall(server.api)
        await issue_many(server.api, people.clerk, 30)
        await open_counter(server.api, people.clerk, 1)
        await open_counter(server.api, people.clerk, 2)
        token = token_of(people.own["display"])
        display = await server.socket("/ws/branches/b1/display", token)
        seen = (await display.recv())["seq"]
        await display.connection.close()
        await serve_many(server.api, people.clerk, 8)  # 16 events: more than the window

        behind = await server.socket("/ws/branches/b1/display", token, since=seen)
        snapshot = await behind.recv()
        assert snapshot["type"] == "snapshot"
        assert snapshot["reason"] == "too_far_behind"
        assert snapshot["state"] == await rebuilt_public_state(server, migrated, clock)
        assert snapshot["seq"] == await latest_seq(server.api, people.clerk)
        assert len(snapshot["state"]["recent_calls"]) > 0
        yesterday = snapshot["seq"]
        await behind.connection.close()

        clock.advance(24 * 3600)
        await server.api.issue(people.clerk)  # the first command of the day starts it
        await server.api.issue(people.clerk)
        stale = await server.socket("/ws/branches/b1/display", token, since=yesterday)
        snapshot = await stale.recv()
        assert snapshot["type"] == "snapshot"
        assert snapshot["reason"] == "day_changed"
        state = snapshot["state"]
        assert state == await rebuilt_public_state(server, migrated, clock)
        assert (state["business_day"], state["waiting"]) == ("2025-11-21", 2)
        assert snapshot["seq"] == await latest_seq(server.api, people.clerk)


class StormClient:
    """A counter-terminal client that keeps the highest ``seq`` it saw and resumes from it."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.seqs: list[int] = []  # every event seq received, over all its connections
        self.first: int | None = None  # the snapshot's seq on the first connection
        self.connections = 0

    @property
    def last(self) -> int | None:
        return self.seqs[-1] if self.seqs else self.first

    async def session(self, until_seq: int | None, rng: random.Random) -> None:
        """One connection: resume, read a few events (or up to ``until_seq``), then drop."""
        async with connect(
            self.url,
            origin=ORIGIN,  # type: ignore[arg-type]
            open_timeout=WAIT,
            close_timeout=WAIT,
            ping_interval=None,
            max_queue=None,  # a client leaving with messages unread still sees the close frame
        ) as connection:
            self.connections += 1
            await connection.send(
                json.dumps({"type": "hello", "token": self.token, "since": self.last})
            )
            wanted = rng.randint(1, 6)
            patience = WAIT  # for the first message (a join can be slow under load)
            while True:
                if until_seq is not None and self.last is not None and self.last >= until_seq:
                    break
                try:
                    text = await asyncio.wait_for(connection.recv(), patience)
                except TimeoutError:
                    assert patience < WAIT, "nothing received after joining"
                    break
                patience = WAIT if until_seq is not None else 0.2
                self.take(json.loads(text))
                if until_seq is None and len(self.seqs) >= wanted and rng.random() < 0.3:
                    break
            if rng.random() < 0.5:
                abort(connection)  # dropped, no close handshake

    def take(self, message: dict[str, Any]) -> None:
        if message["type"] == "snapshot":
            assert self.first is None, "a resuming client got a snapshot"
            self.first = message["seq"]
        elif message["type"] not in NON_EVENTS:
            self.seqs.append(message["seq"])


def abort(connection: ClientConnection) -> None:
    connection.transport.abort()


async def released(server: HallServer, baseline_tasks: int, within: float) -> float:
    """Wait (bounded) until no socket is open and the task count is back to the baseline; the
    seconds it took."""
    hub = server.api.app.state.realtime
    started = time.monotonic()
    while time.monotonic() - started < within:
        if not hub.connections and len(asyncio.all_tasks()) <= baseline_tasks:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"{len(hub.connections)} sockets and {len(asyncio.all_tasks())} tasks "
        f"(baseline {baseline_tasks}) after {within} s"
    )


async def ws_connections_metric(server: HallServer) -> int:
    """Open sockets as ``/metrics`` counts them (all audiences)."""
    text = (await server.api.client.get("/metrics")).text
    counts = [
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("queuehall_ws_connections{")
    ]
    assert len(counts) == 4, text  # one per audience
    return sum(counts)


async def test_a_reconnect_storm_leaves_no_gap_no_duplicate_and_no_leak(
    hall: tuple[HallServer, Hall],
) -> None:
    server, people = hall
    await issue_many(server.api, people.clerk, 200)
    await open_counter(server.api, people.clerk, 1)
    await open_counter(server.api, people.clerk, 2)
    url = server.url + "/ws/branches/b1/counters/1"
    warm = StormClient(url, token_of(people.clerk))  # the branch feed exists before the baseline
    await warm.session(None, random.Random(0))
    await released(server, 10_000, WAIT)
    baseline = len(asyncio.all_tasks())
    assert await ws_connections_metric(server) == 0

    rng = random.Random(8)
    clients = [StormClient(url, token_of(people.clerk)) for _ in range(100)]
    await asyncio.gather(*(c.session(None, rng) for c in clients))
    assert all(c.first is not None for c in clients)
    live = asyncio.create_task(serve_many(server.api, people.clerk, 40))
    for _round in range(3):
        await asyncio.gather(*(c.session(None, rng) for c in clients))
    await live
    final = await latest_seq(server.api, people.clerk)
    await asyncio.gather(*(c.session(final, rng) for c in clients))

    for client in clients:
        assert client.first is not None
        assert client.seqs == list(range(client.first + 1, final + 1)), "gap or duplicate"
    assert sum(c.connections for c in clients) >= 500
    await released(server, baseline, WAIT)
    assert await ws_connections_metric(server) == 0


QUICK = {
    "ws_ping_seconds": 0.2,
    "ws_silence_seconds": 1.0,
    "ws_check_seconds": 0.05,
    "ws_outbound_queue": 64,
}


async def test_half_open_and_silent_clients_are_released_while_a_healthy_one_keeps_receiving(
    migrated: str,
) -> None:
    async with hall_server(migrated, send_buffer=4096, **QUICK) as server:
        people = await staffed_hall(server.api)
        await issue_many(server.api, people.clerk, 60)
        await open_counter(server.api, people.clerk, 1)
        await open_counter(server.api, people.clerk, 2)
        hub = server.api.app.state.realtime
        baseline = await warmed_up(server, people)

        # Half-open: the handshake and hello done, then it neither reads nor writes (a tiny
        # receive buffer, so that the server's frames, and at last its close frame, back up).
        half_open = await server.stalled_socket(
            "/ws/branches/b1/counters/1", token_of(people.clerk)
        )
        # Silent: reads everything, never answers a ping.
        silent = await server.socket("/ws/branches/b1/display", token_of(people.own["display"]))
        healthy = Healthy(await server.socket("/ws/branches/b1/counters/2", token_of(people.clerk)))
        await healthy.started.wait()
        await serve_many(server.api, people.clerk, 25)
        assert await silent.close_code() == 4408
        await until(lambda: len(hub.connections) == 1, "the half-open socket is still held")
        assert await half_open.close_code() in (4008, 4408)  # whichever came first
        await serve_next(server.api, people.clerk, 1)  # the healthy one still hears the branch
        final = await latest_seq(server.api, people.clerk)
        await until(lambda: healthy.last >= final, "the healthy client fell behind")
        healthy.check_complete(final)
        await healthy.stop()
        await released(server, baseline, WAIT)
        assert await ws_connections_metric(server) == 0


async def test_oversized_malformed_and_flooding_clients_get_their_codes_and_no_one_else(
    migrated: str,
) -> None:
    async with hall_server(migrated, send_buffer=4096, **QUICK) as server:
        people = await staffed_hall(server.api)
        await issue_many(server.api, people.clerk, 20)
        await open_counter(server.api, people.clerk, 1)
        await open_counter(server.api, people.clerk, 2)
        baseline = await warmed_up(server, people)
        display = token_of(people.own["display"])
        healthy = Healthy(await server.socket("/ws/branches/b1/display", display))
        await healthy.started.wait()
        assert await ws_connections_metric(server) == 1

        oversized = await server.socket("/ws/branches/b1/display", display)
        await oversized.send({"type": "ping", "pad": "x" * (64 * 1024)})
        malformed = await server.socket("/ws/branches/b1/display", display)
        await malformed.connection.send("{not json")
        unknown = await server.socket("/ws/branches/b1/display", display)
        await unknown.send({"type": "subscribe", "everything": True})
        # Flooding: pings as fast as it can write, never reading the pongs.
        flooding = await server.stalled_socket("/ws/branches/b1/display", display)
        for _ in range(50):
            for _ in range(100):
                flooding.protocol.send_text(b'{"type": "ping"}')
            await flooding.flush()
        live = asyncio.create_task(serve_many(server.api, people.clerk, 10))
        assert await oversized.close_code() == 1009
        assert await malformed.close_code() == 4400
        assert await unknown.close_code() == 4400
        assert await flooding.close_code() == 4008
        await live
        final = await latest_seq(server.api, people.clerk)
        await until(lambda: healthy.last >= final, "the healthy client fell behind")
        healthy.check_complete(final)
        await healthy.stop()
        await released(server, baseline, WAIT)


async def warmed_up(server: HallServer, people: Hall) -> int:
    """Open and close one display so that the branch feed runs; the task count then."""
    warm = await server.socket("/ws/branches/b1/display", token_of(people.own["display"]))
    assert (await warm.recv())["type"] == "snapshot"
    await warm.connection.close()
    await released(server, 10_000, WAIT)
    return len(asyncio.all_tasks())


async def until(condition: Any, failure: str, within: float = WAIT) -> None:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, failure
        await asyncio.sleep(0.05)


class Healthy:
    """A client that reads everything and answers every ping, in a task of its own."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.first = -1
        self.seqs: list[int] = []
        self.started = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    @property
    def last(self) -> int:
        return self.seqs[-1] if self.seqs else self.first

    async def _run(self) -> None:
        while True:
            message = await self.socket.recv()
            if message["type"] == "snapshot":
                self.first = message["seq"]
                self.started.set()
            elif message["type"] == "ping":
                await self.socket.send({"type": "pong"})
            elif message["type"] not in NON_EVENTS:
                self.seqs.append(message["seq"])

    def check_complete(self, final: int) -> None:
        assert not self.task.done(), self.task
        assert self.seqs == list(range(self.first + 1, final + 1)), "gap or duplicate"

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.socket.connection.close()


async def test_a_store_that_does_not_answer_a_resume_closes_1013_and_the_next_one_works(
    hall: tuple[HallServer, Hall], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, people = hall
    await issue_many(server.api, people.clerk, 5)
    token = token_of(people.own["display"])
    first = await server.socket("/ws/branches/b1/display", token)
    assert (await first.recv())["type"] == "snapshot"
    hub = server.api.app.state.realtime

    def silent(*_: Any, **__: Any) -> Any:
        raise TimeoutError  # what a statement timeout raises

    monkeypatch.setattr(hub.store, "sessions", silent)
    resuming = await server.socket("/ws/branches/b1/display", token, since=1)
    assert await resuming.close_code() == 1013  # try again later
    monkeypatch.undo()
    again = await server.socket("/ws/branches/b1/display", token, since=1)
    events = await again.events_until(await latest_seq(server.api, people.clerk))
    assert [m["seq"] for m in events] == list(range(2, events[-1]["seq"] + 1))
