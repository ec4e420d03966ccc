"""Flow control and liveness: a client that stops reading is closed with 4008 and never holds
up the others; the server pings, answers pings, and closes a silent client."""

from __future__ import annotations

import asyncio
import time

from tests.api.conftest import staffed_hall
from tests.realtime.conftest import (
    hall_server,
    issue_many,
    latest_seq,
    token_of,
)


async def test_a_client_that_stops_reading_is_closed_4008_while_a_healthy_one_keeps_receiving(
    migrated: str,
) -> None:
    # A queue longer than one commit's burst (50 tickets), far shorter than what is sent.
    async with hall_server(migrated, send_buffer=8192, ws_outbound_queue=64) as server:
        people = await staffed_hall(server.api)
        slow = await server.stalled_socket("/ws/branches/b1/counters/1", token_of(people.clerk))
        healthy = await server.socket(  # reads all the time (the test reads it later)
            "/ws/branches/b1/display", token_of(people.own["display"]), max_queue=None
        )
        assert (await healthy.recv())["type"] == "snapshot"

        # Enough events to fill the slow client's socket buffers and its queue many times.
        for _ in range(30):
            await issue_many(server.api, people.clerk, 50)
            if _closed(server):
                break
        final = await latest_seq(server.api, people.clerk)
        events = await healthy.events_until(final)
        assert [m["seq"] for m in events] == list(range(1, final + 1))

        assert await slow.close_code() == 4008


def _closed(server: object) -> bool:
    hub = server.api.app.state.realtime  # type: ignore[attr-defined]
    return any(c.closing is not None for c in hub.connections)


async def test_the_server_pings_and_keeps_a_client_that_answers(migrated: str) -> None:
    async with hall_server(
        migrated, ws_ping_seconds=0.2, ws_silence_seconds=1.0, ws_check_seconds=0.05
    ) as server:
        people = await staffed_hall(server.api)
        socket = await server.socket("/ws/branches/b1/display", token_of(people.own["display"]))
        pings = 0
        deadline = time.monotonic() + 2.5  # longer than the silence limit
        while time.monotonic() < deadline:
            message = await socket.recv()
            if message["type"] == "ping":
                pings += 1
                assert set(message) == {"seq", "type", "at", "data"}
                await socket.send({"type": "pong"})
        assert pings >= 3
        await socket.send({"type": "ping"})
        answer = await socket.until(lambda m: m["type"] == "pong")
        assert answer[-1]["type"] == "pong"


async def test_a_silent_client_is_closed(migrated: str) -> None:
    async with hall_server(
        migrated, ws_ping_seconds=0.2, ws_silence_seconds=1.0, ws_check_seconds=0.05
    ) as server:
        people = await staffed_hall(server.api)
        socket = await server.socket("/ws/branches/b1/display", token_of(people.own["display"]))
        assert await socket.close_code() == 4408


async def test_stopping_the_server_tells_clients_to_come_back(migrated: str) -> None:
    async with hall_server(migrated) as server:
        people = await staffed_hall(server.api)
        socket = await server.socket("/ws/branches/b1/display", token_of(people.own["display"]))
        assert (await socket.recv())["type"] == "snapshot"
        hub = server.api.app.state.realtime
        await asyncio.wait_for(hub.stop(), 10)
        assert await socket.close_code() == 1001
