"""Who may listen where: credentials, branches, roles, Origin, message size, revocation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from websockets.exceptions import InvalidStatus
from websockets.protocol import State

from tests.api.conftest import Hall, staffed_hall
from tests.realtime.conftest import HallServer, hall_server, issue_many, token_of


@pytest.fixture
async def quick(migrated: str) -> AsyncIterator[tuple[HallServer, Hall]]:
    """A server that waits half a second for a hello and re-checks credentials every 0.2 s."""
    async with hall_server(
        migrated,
        ws_hello_timeout_seconds=0.5,
        ws_check_seconds=0.1,
        ws_credential_check_seconds=0.2,
    ) as server:
        yield server, await staffed_hall(server.api)


async def test_a_client_that_says_nothing_is_closed_4401(quick: tuple[HallServer, Hall]) -> None:
    server, _ = quick
    socket = await server.socket("/ws/branches/b1/display", hello=False)
    assert await socket.close_code() == 4401


@pytest.mark.parametrize(
    "hello",
    [
        {"type": "hello", "token": "not-a-token", "since": None},
        {"type": "hello", "since": None},
        {"type": "pong"},
    ],
    ids=["bad token", "no token", "not a hello"],
)
async def test_a_hello_without_a_valid_credential_is_closed_4401(
    quick: tuple[HallServer, Hall], hello: dict[str, object]
) -> None:
    server, _ = quick
    socket = await server.socket("/ws/branches/b1/display", hello=False)
    await socket.send(hello)
    assert await socket.close_code() == 4401


async def test_a_malformed_hello_is_closed_4400(quick: tuple[HallServer, Hall]) -> None:
    server, people = quick
    socket = await server.socket("/ws/branches/b1/display", hello=False)
    await socket.connection.send("{not json")
    assert await socket.close_code() == 4400
    socket = await server.socket("/ws/branches/b1/display", hello=False)
    await socket.send({"type": "hello", "token": token_of(people.clerk), "since": -1})
    assert await socket.close_code() == 4400


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/ws/branches/b1/display", "other clerk"),
        ("/ws/branches/b1/display", "kiosk"),
        ("/ws/branches/b1/display", "counter"),
        ("/ws/branches/b1/counters/1", "display"),
        ("/ws/branches/b1/counters/1", "other clerk"),
        ("/ws/branches/b1/dashboard", "clerk"),
        ("/ws/branches/b1/dashboard", "display"),
        ("/ws/branches/b1/dashboard", "other manager"),
    ],
)
async def test_a_credential_for_another_branch_or_role_is_closed_4403(
    quick: tuple[HallServer, Hall], path: str, who: str
) -> None:
    server, people = quick
    headers = people.other[who.split()[1]] if who.startswith("other") else people.own[who]
    socket = await server.socket(path, token_of(headers))
    assert await socket.close_code() == 4403


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/ws/branches/b1/display", "display"),
        ("/ws/branches/b1/display", "clerk"),
        ("/ws/branches/b1/counters/2", "clerk"),
        ("/ws/branches/b1/counters/2", "counter"),
        ("/ws/branches/b1/counters/2", "manager"),
        ("/ws/branches/b1/dashboard", "manager"),
        ("/ws/branches/b1/dashboard", "branch-admin"),
        ("/ws/branches/b1/dashboard", "admin"),
    ],
)
async def test_the_right_credential_gets_a_snapshot(
    quick: tuple[HallServer, Hall], path: str, who: str
) -> None:
    server, people = quick
    socket = await server.socket(path, token_of(people.own[who]))
    assert (await socket.recv())["type"] == "snapshot"


@pytest.mark.parametrize(
    "path",
    ["/ws/branches/b1/counters/9", "/ws/branches/nowhere/display", "/ws/tickets/" + "x" * 32],
)
async def test_what_does_not_exist_is_closed_4404(
    quick: tuple[HallServer, Hall], path: str
) -> None:
    server, people = quick
    socket = await server.socket(path, token_of(people.admin))
    assert await socket.close_code() == 4404


async def test_an_origin_outside_the_allowlist_is_refused_before_the_socket_opens(
    quick: tuple[HallServer, Hall],
) -> None:
    server, people = quick
    with pytest.raises(InvalidStatus) as refused:
        await server.socket("/ws/branches/b1/display", origin="https://evil.example")
    assert refused.value.response.status_code == 403
    token = token_of(people.own["display"])
    for origin in ("http://localhost:8000", f"http://127.0.0.1:{server.port}", None):
        socket = await server.socket("/ws/branches/b1/display", token, origin=origin)
        assert (await socket.recv())["type"] == "snapshot", origin


async def test_a_frame_over_64_kib_is_closed_1009(quick: tuple[HallServer, Hall]) -> None:
    server, people = quick
    padding = "x" * (64 * 1024)
    socket = await server.socket("/ws/branches/b1/display", hello=False)
    await socket.send({"type": "hello", "token": padding, "since": None})
    assert await socket.close_code() == 1009
    socket = await server.socket("/ws/branches/b1/display", token_of(people.own["display"]))
    assert (await socket.recv())["type"] == "snapshot"
    await socket.connection.send(json.dumps({"type": "pong", "padding": padding}))
    assert await socket.close_code() == 1009


async def test_revoking_a_device_closes_its_socket_and_no_other(
    quick: tuple[HallServer, Hall],
) -> None:
    server, people = quick
    api = server.api
    doomed = await api.device(people.manager, "b1", "display", "doomed")
    doomed_socket = await server.socket("/ws/branches/b1/display", token_of(doomed))
    other = await server.socket("/ws/branches/b1/display", token_of(people.own["display"]))
    assert (await doomed_socket.recv())["type"] == "snapshot"
    assert (await other.recv())["type"] == "snapshot"
    devices = (await api.get("/branches/b1/devices", people.manager)).json()
    doomed_id = next(d["id"] for d in devices if d["name"] == "doomed")
    revoked = await api.delete(f"/branches/b1/devices/{doomed_id}", people.manager)
    assert revoked.status_code == 204
    assert await doomed_socket.close_code(timeout=5.0) == 4401  # the promise: within 5 s
    ticket = await api.issue(people.clerk)
    received = await other.until(lambda m: m["type"] == "ticket_issued")
    assert received[-1]["data"]["number"] == ticket["number"]


async def test_disabling_a_staff_member_closes_their_sockets(migrated: str) -> None:
    async with hall_server(migrated) as server:  # the default re-check interval
        people = await staffed_hall(server.api)
        api = server.api
        clerk = await api.get("/branches/b1/staff", people.manager)
        clerk_id = next(u["id"] for u in clerk.json() if u["username"] == "b1-clerk")
        socket = await server.socket("/ws/branches/b1/counters/1", token_of(people.clerk))
        assert (await socket.recv())["type"] == "snapshot"
        disabled = await api.put(
            f"/branches/b1/staff/{clerk_id}", people.manager, json={"active": False}
        )
        assert disabled.status_code == 200, disabled.text
        assert await socket.close_code(timeout=5.0) == 4401


async def test_customer_sockets_count_against_the_public_look_up_limit_of_their_address(
    migrated: str,
) -> None:
    async with hall_server(migrated, rate_limit_public="3/minute") as server:
        people = await staffed_hall(server.api)
        (ticket,) = await issue_many(server.api, people.clerk, 1)
        path = f"/ws/tickets/{ticket['token']}"
        first = await server.socket(path)
        assert (await first.recv())["type"] == "snapshot"
        lookup = await server.api.client.get(f"/api/v1/tickets/{ticket['token']}")
        assert lookup.status_code == 200
        second = await server.socket(path)
        assert (await second.recv())["type"] == "snapshot"
        refused = await server.socket(path, hello=False)
        assert await refused.close_code() == 4429
        lookup = await server.api.client.get(f"/api/v1/tickets/{ticket['token']}")
        assert lookup.status_code == 429
        assert first.connection.state is State.OPEN  # the sockets already open keep going
