"""A customer's socket: their own ticket only, position at most once a second, "almost your
turn", the call to a counter, recall, and the link to rate once finished."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable

from tests.api.conftest import Hall
from tests.realtime.conftest import (
    WAIT,
    HallServer,
    Message,
    issue_many,
    open_counter,
    serve_next,
)

VIEW_KEYS = {
    "branch",
    "branch_name",
    "number",
    "service",
    "service_name",
    "service_name_en",
    "state",
    "issued_at",
    "ahead",
    "eta_minutes",
    "almost_your_turn",
    "counter",
    "counter_name",
    "called_at",
    "recalls",
    "rate_url",
}
POSITION_TYPES = {"position", "almost_your_turn"}


async def test_a_customer_follows_their_ticket_from_waiting_to_finished(
    hall: tuple[HallServer, Hall],
) -> None:
    server, people = hall
    api = server.api
    tickets = await issue_many(api, people.clerk, 6)
    mine = max(tickets, key=lambda t: t["number"])
    others = {t["number"] for t in tickets} - {mine["number"]}
    token = mine["token"]
    socket = await server.socket(f"/ws/tickets/{token}")
    received: list[tuple[float, str, Message]] = []
    arrived = asyncio.Event()

    async def collect() -> None:  # reads all the time, so arrival times are send times
        async for raw in socket.connection:
            received.append((time.monotonic(), str(raw), json.loads(raw)))
            arrived.set()

    collector = asyncio.create_task(collect())
    looked_at = 0

    async def until(predicate: Callable[[Message], bool]) -> Message:
        nonlocal looked_at
        for _ in range(1000):
            while looked_at < len(received):
                message = received[looked_at][2]
                looked_at += 1
                if predicate(message):
                    return message
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), WAIT)
        raise AssertionError("no such message")

    snapshot = await until(lambda m: True)
    assert snapshot["type"] == "snapshot"
    assert snapshot["state"]["number"] == mine["number"]
    assert snapshot["state"]["ahead"] == 5
    assert snapshot["state"]["almost_your_turn"] is False

    await open_counter(api, people.clerk, 1)
    for _ in range(5):  # far faster than one a second
        await serve_next(api, people.clerk, 1)
    await until(lambda m: m["data"]["ahead"] == 0)
    called = await api.counter(people.clerk, 1, "call-next")
    assert called.json()["ticket"]["number"] == mine["number"]
    message = await until(lambda m: m["type"] == "called")
    assert message["data"]["counter"] == 1
    assert message["data"]["counter_name"] == "1号窗口"
    await api.counter(people.clerk, 1, "recall")
    assert (await until(lambda m: m["type"] != "ping"))["type"] == "recalled"
    await api.counter(people.clerk, 1, "finish", json={"outcome": "客户张三 13800000000"})
    finished = await until(lambda m: m["type"] == "finished")
    assert finished["data"]["rate_url"] == f"/t/{token}"

    collector.cancel()
    kinds = [m["type"] for _, _, m in received]
    assert kinds.count("almost_your_turn") == 1
    aheads = [m["data"]["ahead"] for _, _, m in received if m["type"] in POSITION_TYPES]
    assert aheads == sorted(aheads, reverse=True)
    assert next(m for _, _, m in received if m["type"] == "almost_your_turn")["data"]["ahead"] <= 3
    told = [at for at, _, m in received if m["type"] in POSITION_TYPES]
    assert len(told) < 5  # five changes, throttled
    assert all(b - a >= 0.8 for a, b in itertools.pairwise(told)), told
    for _, raw, message in received:
        assert set(message) <= {"seq", "type", "at", "data", "state", "reason"}
        assert set(message["data"]) == VIEW_KEYS
        assert not others & set(re.findall(r"A\d{3}", raw)), raw
        assert "张三" not in raw
        assert "13800000000" not in raw


async def test_displays_see_numbers_and_counter_names_only(hall: tuple[HallServer, Hall]) -> None:
    server, people = hall
    api = server.api
    display = await server.socket("/ws/branches/b1/display", _token(people.own["display"]))
    await api.issue(people.clerk, priority="care")
    await open_counter(api, people.clerk, 1)
    await api.counter(people.clerk, 1, "call-next")
    await api.counter(people.clerk, 1, "finish", json={"outcome": "客户张三 13800000000"})
    messages = await display.until(lambda m: m["type"] == "ticket_finished")
    for message in messages:
        text = json.dumps(message, ensure_ascii=False)
        for secret in ("张三", "13800000000", "care", "priority", "outcome", "explanation"):
            assert secret not in text, (secret, message)
    called = next(m for m in messages if m["type"] == "ticket_called")
    assert called["data"] == {
        "number": "A001",
        "service": "A",
        "counter": 1,
        "counter_name": "1号窗口",
    }


async def test_a_finished_ticket_of_an_earlier_day_is_not_found(
    hall: tuple[HallServer, Hall],
) -> None:
    server, people = hall
    ticket = await server.api.issue(people.clerk)
    server.api.clock.advance(24 * 3600)
    await server.api.issue(people.clerk)  # the day changes on the next command
    socket = await server.socket(f"/ws/tickets/{ticket['token']}")
    assert await socket.close_code() == 4404


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def test_a_ticket_still_waiting_when_the_day_ends_is_told_it_expired(
    hall: tuple[HallServer, Hall],
) -> None:
    server, people = hall
    ticket = await server.api.issue(people.clerk)
    socket = await server.socket(f"/ws/tickets/{ticket['token']}")
    assert (await socket.recv())["type"] == "snapshot"
    server.api.clock.advance(24 * 3600)
    await server.api.issue(people.clerk)  # the day changes on the next command
    expired = (await socket.until(lambda m: m["type"] != "ping"))[-1]
    assert expired["type"] == "expired"
    assert expired["data"]["state"] == "expired"
    assert expired["data"]["number"] == ticket["number"]
    assert await socket.close_code() == 1000
