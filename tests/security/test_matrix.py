"""The rest of the access matrix: WebSockets (role x branch x endpoint, as data) and the
customer's ticket, whose only credential is its token: another customer's ticket is "not found"
(404, close 4404), never "forbidden", whoever asks and whatever credential they hold.

The HTTP matrix is ``tests/api/test_access.py`` (BRANCH_ROUTES, UNSCOPED_ROUTES); the test here
checks that the WebSocket table names every WebSocket route of the app.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from app.main import create_app
from app.settings import Settings
from tests.api.conftest import SECRET, Hall, assert_error, staffed_hall
from tests.api.test_access import EVERYONE, MANAGERS, PRINCIPALS, STAFF
from tests.realtime.conftest import HallServer, hall_server, token_of
from tests.security.routes import served_routes

# Who may listen where, for branch b1's principals; the path's branch is filled in.
WS_ROUTES: dict[str, frozenset[str]] = {
    "/ws/branches/{branch}/display": STAFF | {"display", "evaluator"},
    "/ws/branches/{branch}/counters/{number}": STAFF | {"counter"},
    "/ws/branches/{branch}/dashboard": MANAGERS,
}
# The customer's socket: the token in the path is the credential (tested below).
TICKET_SOCKET = "/ws/tickets/{token}"


def test_the_websocket_table_names_every_websocket_route_of_the_app() -> None:
    served = served_routes(create_app(Settings(secret_key=SECRET)))
    sockets = {path for kind, path in served if kind == "WEBSOCKET"}
    assert sockets == set(WS_ROUTES) | {TICKET_SOCKET}


@pytest.fixture
async def served(migrated: str) -> AsyncIterator[tuple[HallServer, Hall]]:
    async with hall_server(migrated, ws_hello_timeout_seconds=2.0) as server:
        yield server, await staffed_hall(server.api)


async def test_every_principal_listens_exactly_where_the_table_allows(
    served: tuple[HallServer, Hall],
) -> None:
    server, hall = served
    wrong = []
    for principal in PRINCIPALS:
        token = token_of(hall.own[principal])
        for template, allowed in WS_ROUTES.items():
            for branch in ("b1", "b2"):
                path = template.format(branch=branch, number=1)
                socket = await server.socket(path, token)
                expected_allowed = principal in allowed and (branch == "b1" or principal == "admin")
                if expected_allowed:
                    first = await socket.recv()
                    if first["type"] != "snapshot":
                        wrong.append(f"{principal} {path}: {first}")
                else:
                    code = await socket.close_code()
                    if code != 4403:
                        wrong.append(f"{principal} {path}: closed {code}, not 4403")
                await socket.connection.close()
    assert not wrong, "\n".join(wrong)
    assert set(PRINCIPALS) <= EVERYONE


async def test_a_socket_without_a_credential_is_closed_4401_everywhere_but_the_ticket(
    served: tuple[HallServer, Hall],
) -> None:
    server, _ = served
    for template in WS_ROUTES:
        socket = await server.socket(template.format(branch="b1", number=1))
        assert await socket.close_code() == 4401, template


def someone_elses_tokens() -> list[str]:
    """Well-formed tokens that are not this customer's: random, and look-alikes of a number."""
    return [secrets.token_urlsafe(24), "A001" * 8, "0" * 32, secrets.token_urlsafe(48)[:64]]


async def test_only_the_tickets_own_token_opens_it_over_http(
    served: tuple[HallServer, Hall],
) -> None:
    server, hall = served
    api = server.api
    mine = await api.issue(hall.clerk)
    theirs = await api.issue(hall.other["clerk"], "b2")
    for path in ("/tickets/{}", "/tickets/{}/rating"):
        assert (await api.get(path.format(mine["token"]))).status_code == 200
        assert (await api.get(path.format(theirs["token"]))).status_code == 200
        for token in someone_elses_tokens():
            for headers in ({}, hall.admin, hall.clerk, hall.own["kiosk"]):
                # A credential of any kind does not widen what a token reaches.
                assert_error(await api.get(path.format(token), headers), 404, "NotFound")
    for token in someone_elses_tokens():
        assert_error(await api.delete(f"/tickets/{token}"), 404, "NotFound")
        rated = await api.post(f"/tickets/{token}/rating", json={"level": "satisfied"})
        assert_error(rated, 404, "NotFound")
    # Nothing happened to the real tickets.
    queue = (await api.get("/branches/b1/queue", hall.clerk)).json()
    assert queue["waiting"] == 1


async def test_a_ticket_token_is_long_and_random_and_never_its_number(
    served: tuple[HallServer, Hall],
) -> None:
    server, hall = served
    tokens = {(await server.api.issue(hall.clerk))["token"] for _ in range(20)}
    assert len(tokens) == 20
    for token in tokens:
        assert len(token) >= 32  # 24 random bytes: 192 bits
        assert not token.startswith("A0")


async def test_only_the_tickets_own_token_opens_its_socket(
    served: tuple[HallServer, Hall],
) -> None:
    server, hall = served
    mine = await server.api.issue(hall.clerk)
    socket = await server.socket(TICKET_SOCKET.format(token=mine["token"]))
    assert (await socket.recv())["type"] == "snapshot"
    for token in someone_elses_tokens():
        for credential in (None, token_of(hall.admin)):
            socket = await server.socket(TICKET_SOCKET.format(token=token), credential)
            assert await socket.close_code() == 4404, token


async def test_screen_pages_of_an_unknown_branch_are_not_found(
    served: tuple[HallServer, Hall],
) -> None:
    server, _ = served
    client = server.api.client
    for path in (
        "/screens/display/nowhere",
        "/screens/counter/nowhere/1",
        "/screens/kiosk/nowhere",
        "/screens/evaluator/nowhere/1",
        f"/t/{secrets.token_urlsafe(24)}/qr.svg",
    ):
        assert_error(await client.get(path), 404)
