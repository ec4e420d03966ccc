"""Resuming: the events a client missed come from the log in seq order, then the live stream,
with no gap and no duplicate between them; a snapshot when a replay cannot be trusted."""

from __future__ import annotations

import asyncio

from tests.api.conftest import Clock, Hall, staffed_hall
from tests.realtime.conftest import (
    HallServer,
    hall_server,
    issue_many,
    latest_seq,
    logged_events,
    open_counter,
    serve_many,
    token_of,
)


async def test_a_display_that_drops_out_during_calls_gets_every_missed_event_in_order(
    hall: tuple[HallServer, Hall],
) -> None:
    server, people = hall
    await issue_many(server.api, people.clerk, 40)
    await open_counter(server.api, people.clerk, 1)
    await open_counter(server.api, people.clerk, 2)
    token = token_of(people.own["display"])
    display = await server.socket("/ws/branches/b1/display", token)
    snapshot = await display.recv()
    assert snapshot["type"] == "snapshot"
    start = snapshot["seq"]

    stream = asyncio.create_task(serve_many(server.api, people.clerk, 30))
    before = await display.events_until(start + 10)
    assert [m["seq"] for m in before] == list(range(start + 1, start + 11))
    await display.connection.close()  # gone in the middle of the stream

    resumed = await server.socket("/ws/branches/b1/display", token, since=start + 10)
    await stream
    final = await latest_seq(server.api, people.clerk)
    assert final >= start + 60
    after = await resumed.events_until(final)
    assert [m["seq"] for m in after] == list(range(start + 11, final + 1))
    logged = await logged_events(server.api, people.clerk, start + 10)
    assert [m["type"] for m in after] == [e["type"] for e in logged]
    assert [m["data"].get("number") for m in after] == [e["data"].get("number") for e in logged]


async def test_clients_joining_during_a_stream_see_no_gap_and_no_duplicate(
    hall: tuple[HallServer, Hall],
) -> None:
    server, people = hall
    await issue_many(server.api, people.clerk, 60)
    await open_counter(server.api, people.clerk, 1)
    await open_counter(server.api, people.clerk, 2)
    stream = asyncio.create_task(serve_many(server.api, people.clerk, 40))
    joined = []
    for i in range(8):
        since = max(0, await latest_seq(server.api, people.clerk) - 5 * i)
        path = ("/ws/branches/b1/counters/1", "/ws/branches/b1/dashboard")[i % 2]
        headers = (people.clerk, people.manager)[i % 2]
        joined.append((since, await server.socket(path, token_of(headers), since=since)))
        await asyncio.sleep(0.05)
    await stream
    final = await latest_seq(server.api, people.clerk)
    logged = {e["seq"]: e for e in await logged_events(server.api, people.clerk, 0)}
    for since, socket in joined:
        events = await socket.events_until(final)
        assert [m["seq"] for m in events] == list(range(since + 1, final + 1))
        assert all(m["data"] == logged[m["seq"]]["data"] for m in events)  # staff: as logged


async def test_a_client_too_far_behind_gets_a_snapshot_and_a_near_one_a_replay(
    migrated: str,
) -> None:
    async with hall_server(migrated, ws_max_replay=5) as server:
        people = await staffed_hall(server.api)
        await issue_many(server.api, people.clerk, 8)
        final = await latest_seq(server.api, people.clerk)
        token = token_of(people.own["display"])

        far = await server.socket("/ws/branches/b1/display", token, since=final - 6)
        snapshot = await far.recv()
        assert snapshot["type"] == "snapshot"
        assert snapshot["reason"] == "too_far_behind"
        assert snapshot["seq"] == final
        assert snapshot["data"] == snapshot["state"]
        assert snapshot["state"]["waiting"] == 8

        near = await server.socket("/ws/branches/b1/display", token, since=final - 3)
        replayed = await near.events_until(final)
        assert [m["seq"] for m in replayed] == [final - 2, final - 1, final]
        assert {m["type"] for m in replayed} == {"ticket_issued"}

        ahead = await server.socket("/ws/branches/b1/display", token, since=final + 100)
        assert (await ahead.recv())["reason"] == "unknown_seq"


async def test_a_client_from_yesterday_gets_a_snapshot_of_today(migrated: str) -> None:
    clock = Clock()
    async with hall_server(migrated, clock) as server:
        people = await staffed_hall(server.api)
        await issue_many(server.api, people.clerk, 2)
        yesterday = await latest_seq(server.api, people.clerk)
        clock.advance(24 * 3600)
        await server.api.issue(people.clerk)
        token = token_of(people.own["display"])

        stale = await server.socket("/ws/branches/b1/display", token, since=yesterday)
        snapshot = await stale.recv()
        assert snapshot["type"] == "snapshot"
        assert snapshot["reason"] == "day_changed"
        assert snapshot["state"]["business_day"] == "2025-11-21"
        assert snapshot["state"]["waiting"] == 1

        day_start = next(
            e["seq"]
            for e in await logged_events(server.api, people.clerk, yesterday)
            if e["type"] == "business_day_started"
        )
        today = await server.socket("/ws/branches/b1/display", token, since=day_start)
        assert (await today.recv())["type"] == "ticket_issued"


async def test_a_first_connection_gets_the_full_state_on_staff_sockets(
    hall: tuple[HallServer, Hall],
) -> None:
    server, people = hall
    await issue_many(server.api, people.clerk, 3)
    counter = await server.socket("/ws/branches/b1/counters/1", token_of(people.clerk))
    snapshot = await counter.recv()
    queue = (await server.api.get("/branches/b1/queue", people.clerk)).json()
    state = snapshot["state"]
    assert snapshot["seq"] == queue["seq"] == state["seq"]
    assert state["services"] == queue["services"]
    assert state["counters"] == queue["counters"]
    assert (await counter.recv())["type"] == "queue_status"
