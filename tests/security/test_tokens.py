"""Which credentials are refused, as one table checked on HTTP (401 with ``WWW-Authenticate``)
and on WebSockets (close 4401), against a real server: missing, expired, tampered, unsigned,
signed with another algorithm or key, for another audience or issuer, of an unknown type, and
tokens whose user was disabled, removed or changed password, or whose device was revoked. A
valid token of each kind is the control. Then the Origin allowlist of the WebSockets.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import jwt
import pytest
from websockets.exceptions import InvalidStatus

from app.auth import Role
from tests.api.conftest import SECRET, Api, Hall, assert_error, staffed_hall
from tests.realtime.conftest import HallServer, hall_server, token_of

ANOTHER_KEY = "another-key-that-is-long-enough-for-hs256-" * 2
DISPLAY = "/ws/branches/b1/display"


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def signed(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


async def staff_member(api: Api, hall: Hall, name: str) -> tuple[str, int]:
    """A new clerk of b1: its token and id."""
    headers = await api.user(name, Role.CLERK, "b1")
    staff = (await api.get("/branches/b1/staff", hall.manager)).json()
    return token_of(headers), next(u["id"] for u in staff if u["username"] == name)


async def disabled(api: Api, hall: Hall) -> str:
    token, ident = await staff_member(api, hall, "to-disable")
    changed = await api.put(f"/branches/b1/staff/{ident}", hall.manager, json={"active": False})
    assert changed.status_code == 200, changed.text
    return token


async def removed(api: Api, hall: Hall) -> str:
    token, ident = await staff_member(api, hall, "to-remove")
    assert (await api.delete(f"/branches/b1/staff/{ident}", hall.manager)).status_code == 204
    return token


async def password_changed(api: Api, hall: Hall) -> str:
    token, ident = await staff_member(api, hall, "to-change")
    body = {"password": "a-brand-new-password"}
    changed = await api.put(f"/branches/b1/staff/{ident}", hall.manager, json=body)
    assert changed.status_code == 200, changed.text
    return token


async def revoked(api: Api, hall: Hall) -> str:
    token = token_of(await api.device(hall.manager, "b1", "display", "doomed"))
    devices = (await api.get("/branches/b1/devices", hall.manager)).json()
    ident = next(d["id"] for d in devices if d["name"] == "doomed")
    assert (await api.delete(f"/branches/b1/devices/{ident}", hall.manager)).status_code == 204
    return token


def forged(**changes: Any) -> Callable[[Api, Hall], Awaitable[str]]:
    """A display device's claims with ``changes`` (None removes a claim), signed with our key."""

    async def make(api: Api, hall: Hall) -> str:
        claims = claims_of(token_of(hall.own["display"]))
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return signed(claims)

    return make


def resigned(key: str | None, algorithm: str) -> Callable[[Api, Hall], Awaitable[str]]:
    async def make(api: Api, hall: Hall) -> str:
        claims = claims_of(token_of(hall.own["display"]))
        return jwt.encode(claims, key, algorithm=algorithm)

    return make


async def tampered(api: Api, hall: Hall) -> str:
    """The display's token with its payload swapped for a staff admin's, signature kept."""
    header, _, signature = token_of(hall.own["display"]).split(".")
    payload = token_of(hall.admin).split(".")[1]
    return f"{header}.{payload}.{signature}"


async def bad_signature(api: Api, hall: Hall) -> str:
    token = token_of(hall.own["display"])
    return token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")


async def nothing(api: Api, hall: Hall) -> str:
    return ""


NOW = int(time.time())
REFUSED: dict[str, Callable[[Api, Hall], Awaitable[str]]] = {
    "missing": nothing,
    "not a JWT": lambda api, hall: _const("not.a.token"),
    "expired": forged(iat=NOW - 7200, exp=NOW - 3600),
    "no expiry": forged(exp=None),
    "tampered payload": tampered,
    "bad signature": bad_signature,
    "alg none": resigned(None, "none"),
    "HS512 with our key": resigned(SECRET, "HS512"),
    "HS384 with our key": resigned(SECRET, "HS384"),
    "HS256 with another key": resigned(ANOTHER_KEY, "HS256"),
    "another audience": forged(aud="another-app"),
    "another issuer": forged(iss="another-app"),
    "unknown type": forged(typ="refresh"),
    "subject not a number": forged(sub="root"),
    "no such device": forged(sub="999999"),
    "disabled staff": disabled,
    "removed staff": removed,
    "password changed": password_changed,
    "revoked device": revoked,
}


async def _const(value: str) -> str:
    return value


@pytest.fixture
async def served(migrated: str) -> AsyncIterator[tuple[HallServer, Hall]]:
    async with hall_server(migrated, ws_hello_timeout_seconds=2.0) as server:
        yield server, await staffed_hall(server.api)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_every_refused_credential_is_refused_on_http_and_websocket(
    served: tuple[HallServer, Hall],
) -> None:
    server, hall = served
    api = server.api
    wrong = []
    for name, make in REFUSED.items():
        token = await make(api, hall)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await api.get("/branches/b1/queue", headers)
        if response.status_code != 401:
            wrong.append(f"{name}: HTTP {response.status_code}")
        else:
            assert_error(response, 401, "NotAuthenticated")
        socket = await server.socket(DISPLAY, token or None)
        code = await socket.close_code()
        if code != 4401:
            wrong.append(f"{name}: WebSocket closed {code}")
    assert not wrong, "\n".join(wrong)


async def test_the_control_valid_tokens_of_each_kind_are_accepted_on_both(
    served: tuple[HallServer, Hall],
) -> None:
    server, hall = served
    for who in ("admin", "manager", "clerk", "display"):
        assert (await server.api.get("/branches/b1/queue", hall.own[who])).status_code == 200
        socket = await server.socket(DISPLAY, token_of(hall.own[who]))
        assert (await socket.recv())["type"] == "snapshot", who
    resigned_by_us = await forged()(server.api, hall)
    assert (
        await server.api.get("/branches/b1/queue", {"Authorization": f"Bearer {resigned_by_us}"})
    ).status_code == 200


async def test_a_password_change_closes_the_users_open_socket(migrated: str) -> None:
    async with hall_server(
        migrated, ws_check_seconds=0.1, ws_credential_check_seconds=0.2
    ) as server:
        hall = await staffed_hall(server.api)
        token, ident = await staff_member(server.api, hall, "on-shift")
        socket = await server.socket("/ws/branches/b1/counters/1", token)
        assert (await socket.recv())["type"] == "snapshot"
        body = {"password": "a-brand-new-password"}
        changed = await server.api.put(f"/branches/b1/staff/{ident}", hall.manager, json=body)
        assert changed.status_code == 200
        assert await socket.close_code(timeout=5.0) == 4401


# Origins a browser page elsewhere could send: none is listed, none is the server's own.
FOREIGN_ORIGINS = (
    "https://evil.example",
    "null",
    "http://localhost:8000.evil.example",
    "http://evil.example/http://localhost:8000",
    "https://localhost:8000",  # another scheme is another origin
    "http://localhost:8001",  # and so is another port
    "http://127.0.0.1:1",
)


async def test_a_websocket_from_an_origin_outside_the_allowlist_is_refused_403(
    served: tuple[HallServer, Hall],
) -> None:
    server, hall = served
    for origin in FOREIGN_ORIGINS:
        for path in (DISPLAY, "/ws/tickets/" + "x" * 32):
            with pytest.raises(InvalidStatus) as refused:
                await server.socket(path, token_of(hall.own["display"]), origin=origin)
            assert refused.value.response.status_code == 403, (origin, path)


async def test_http_cors_answers_only_the_listed_origins(served: tuple[HallServer, Hall]) -> None:
    server, _ = served
    client = server.api.client
    preflight = {"Access-Control-Request-Method": "POST"}
    listed = await client.options(
        "/api/v1/branches/b1/tickets", headers={**preflight, "Origin": "http://localhost:8000"}
    )
    assert listed.headers["access-control-allow-origin"] == "http://localhost:8000"
    for origin in FOREIGN_ORIGINS:
        refused = await client.options(
            "/api/v1/branches/b1/tickets", headers={**preflight, "Origin": origin}
        )
        assert "access-control-allow-origin" not in refused.headers, origin
        simple = await client.get("/api/v1/branches", headers={"Origin": origin})
        assert "access-control-allow-origin" not in simple.headers, origin
