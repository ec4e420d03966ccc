from __future__ import annotations

from tests.api.conftest import Hall
from tests.realtime.conftest import HallServer, token_of


async def test_a_display_gets_a_snapshot_then_the_call(hall: tuple[HallServer, Hall]) -> None:
    server, people = hall
    api = server.api
    display = await server.socket("/ws/branches/b1/display", token_of(people.own["display"]))
    snapshot = await display.recv()
    print(snapshot)
    assert snapshot["type"] == "snapshot"
    ticket = await api.issue(people.clerk)
    assert (await api.counter(people.clerk, 1, "open")).status_code == 200
    called = await api.counter(people.clerk, 1, "call-next")
    assert called.status_code == 200, called.text
    messages = await display.until(lambda m: m["type"] == "ticket_called")
    print(messages)
    assert messages[-1]["data"]["number"] == ticket["number"]
