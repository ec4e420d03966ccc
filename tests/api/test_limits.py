"""Limits: public ticket issuing and look-ups per client address and per device (429 with
Retry-After), request body size (413), unknown fields and malformed bodies (422, never a 500),
ids beyond what the store holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.auth import Role

from .conftest import Api, Headers, assert_error, make_branch, running_app


@pytest.fixture
async def limited(migrated: str) -> AsyncIterator[Api]:
    """An app that allows three ticket issues and three look-ups a minute."""
    async with running_app(
        migrated, rate_limit_issue="3/minute", rate_limit_public="3/minute"
    ) as api:
        yield api


async def manager_of_b1(api: Api) -> Headers:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    return await api.user("boss", Role.MANAGER, "b1")


async def issue(api: Api, headers: Headers) -> httpx.Response:
    return await api.post("/branches/b1/tickets", headers, json={"service": "A"})


def assert_limited(response: httpx.Response) -> None:
    assert_error(response, 429, "TooManyRequests")
    assert 1 <= int(response.headers["Retry-After"]) <= 60


# --------------------------------------------------------------------------------------------
# Rate limits


async def test_ticket_issuing_is_limited_per_client_address(limited: Api) -> None:
    manager = await manager_of_b1(limited)
    kiosk = await limited.device(manager, "b1", "kiosk", "one")
    other_kiosk = await limited.device(manager, "b1", "kiosk", "two")
    hall = await limited.at("10.0.0.1")
    for _ in range(3):
        assert (await issue(hall, kiosk)).status_code == 201
    assert_limited(await issue(hall, other_kiosk))
    assert_limited(await issue(hall, manager))
    elsewhere = await limited.at("10.0.0.2")
    assert (await issue(elsewhere, other_kiosk)).status_code == 201


async def test_ticket_issuing_is_limited_per_device_whatever_its_address(limited: Api) -> None:
    manager = await manager_of_b1(limited)
    kiosk = await limited.device(manager, "b1", "kiosk")
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        assert (await issue(await limited.at(address), kiosk)).status_code == 201
    assert_limited(await issue(await limited.at("10.0.0.4"), kiosk))
    queue = (await limited.get("/branches/b1/queue", manager)).json()
    assert queue["waiting"] == 3


async def test_ticket_look_ups_are_limited_per_client_address(limited: Api) -> None:
    manager = await manager_of_b1(limited)
    token = (await issue(limited, manager)).json()["token"]
    phone = await limited.at("172.16.0.9")
    assert (await phone.get(f"/tickets/{token}")).status_code == 200
    assert_error(await phone.get("/tickets/" + "x" * 32), 404)  # a miss counts too
    assert (await phone.get(f"/tickets/{token}")).status_code == 200
    assert_limited(await phone.get(f"/tickets/{token}"))
    assert_limited(await phone.delete(f"/tickets/{token}"))
    other_phone = await limited.at("172.16.0.10")
    assert (await other_phone.get(f"/tickets/{token}")).status_code == 200


async def test_a_refused_caller_does_not_use_up_the_limit(limited: Api) -> None:
    manager = await manager_of_b1(limited)
    display = await limited.device(manager, "b1", "display")
    for _ in range(5):
        assert_error(await issue(limited, display), 403)
        assert_error(await limited.post("/branches/b1/tickets", json={"service": "A"}), 401)
    assert (await issue(limited, manager)).status_code == 201


# --------------------------------------------------------------------------------------------
# Bodies


async def test_a_body_announced_larger_than_the_limit_is_refused_413(api: Api) -> None:
    manager = await manager_of_b1(api)
    limit = api.settings.max_body_bytes
    padding = "x" * limit
    response = await api.post("/branches/b1/tickets", manager, json={"service": "A", "p": padding})
    assert_error(response, 413, "BodyTooLarge")
    assert_error(await api.post("/auth/token", data={"username": "boss", "password": padding}), 413)
    assert (await api.get("/branches/b1/queue", manager)).json()["waiting"] == 0


async def test_a_streamed_body_over_the_limit_is_refused_413(api: Api) -> None:
    manager = await manager_of_b1(api)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"service": "A", "padding": "'
        for _ in range(api.settings.max_body_bytes // 1024 + 1):
            yield b"x" * 1024
        yield b'"}'

    response = await api.post(
        "/branches/b1/tickets",
        {**manager, "Content-Type": "application/json"},
        content=chunks(),
    )
    assert_error(response, 413, "BodyTooLarge")


async def test_a_streamed_body_over_the_limit_is_refused_and_changes_nothing(api: Api) -> None:
    """Whatever its status, the streamed case is an error with our body, and issues nothing."""
    manager = await manager_of_b1(api)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(api.settings.max_body_bytes // 1024 + 1):
            yield b" " * 1024
        yield b'{"service": "A"}'

    response = await api.post(
        "/branches/b1/tickets",
        {**manager, "Content-Type": "application/json"},
        content=chunks(),
    )
    assert response.status_code in (400, 413)
    assert_error(response, response.status_code)
    assert (await api.get("/branches/b1/queue", manager)).json()["waiting"] == 0


MALFORMED_BODIES: list[tuple[str, str]] = [
    ("not json", "service=A"),
    ("truncated json", '{"service": "A"'),
    ("a list", '["A"]'),
    ("a string", '"A"'),
    ("null", "null"),
    ("NaN", '{"service": NaN}'),
    ("nested deeply", "[" * 5000 + "]" * 5000),
    ("huge number", '{"service": "A", "priority": 1e999}'),
    ("invalid utf-8", '{"service": "\xff\xfe"}'),
    ("lone surrogate", '{"service": "\\ud800"}'),
]

BODY_ROUTES: list[tuple[str, str]] = [
    ("POST", "/branches"),
    ("PUT", "/branches/b1/policy"),
    ("POST", "/branches/b1/services"),
    ("PUT", "/branches/b1/services/A"),
    ("POST", "/branches/b1/counters"),
    ("PUT", "/branches/b1/counters/1"),
    ("POST", "/branches/b1/staff"),
    ("PUT", "/branches/b1/staff/1"),
    ("POST", "/branches/b1/devices"),
    ("POST", "/devices/pair"),
    ("POST", "/branches/b1/tickets"),
    ("POST", "/branches/b1/counters/1/call"),
    ("POST", "/branches/b1/counters/1/finish"),
    ("POST", "/branches/b1/counters/1/transfer"),
    ("POST", "/branches/b1/counters/1/unpark"),
    ("POST", "/branches/b1/counters/1/return"),
]


async def test_no_malformed_body_on_any_route_gets_a_500(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    headers = {**admin, "Content-Type": "application/json"}
    for method, path in BODY_ROUTES:
        for name, raw in MALFORMED_BODIES:
            content = raw.encode("latin-1") if name == "invalid utf-8" else raw.encode()
            response = await api.request(method, path, headers, content=content)
            assert 400 <= response.status_code < 500, (method, path, name, response.text)
            assert_error(response, response.status_code)
    assert (await api.get("/branches/b1/queue", admin)).json()["waiting"] == 0


UNKNOWN_FIELDS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/branches", {"id": "b9", "name": "x", "secret": 1}),
    ("PUT", "/branches/b1/policy", {"colour": "red"}),
    ("POST", "/branches/b1/services", {"code": "C", "name": "x", "prefix": "C"}),
    ("POST", "/branches/b1/counters", {"number": 3, "tiers": [["A"]], "open": True}),
    (
        "POST",
        "/branches/b1/staff",
        {"username": "abc", "password": "x" * 8, "role": "clerk", "x": 1},
    ),
    ("PUT", "/branches/b1/staff/1", {"token_version": 0}),
    ("POST", "/branches/b1/devices", {"kind": "kiosk", "name": "x", "branch": "b2"}),
    ("POST", "/devices/pair", {"code": "ABCDEFGH", "kind": "counter"}),
    ("POST", "/branches/b1/tickets", {"service": "A", "number": "A999"}),
    ("POST", "/branches/b1/counters/1/call", {"ticket": "A001", "force": True}),
    ("POST", "/branches/b1/counters/1/finish", {"outcome": "ok", "rating": 5}),
    ("POST", "/branches/b1/counters/1/transfer", {"service": "B", "note": "x"}),
]


async def test_unknown_fields_are_refused_422_everywhere(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    for method, path, body in UNKNOWN_FIELDS:
        response = await api.request(method, path, admin, json=body)
        assert response.status_code == 422, (method, path, response.text)
        assert_error(response, 422, "Invalid")
        assert "extra" in response.json()["detail"].lower(), response.text


async def test_a_body_that_is_not_json_is_told_so(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    headers = {**admin, "Content-Type": "application/json"}
    response = await api.post("/branches", headers, content=b'{"id": "b1",')
    assert_error(response, 422, "Invalid")
    assert response.json()["detail"].startswith("The body is not valid JSON: ")
    assert response.json()["detail"].endswith(" at character 12.")


async def test_a_validation_error_names_the_field_in_a_sentence(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    response = await api.post("/branches", admin, json={"id": "UPPER", "name": ""})
    detail = response.json()["detail"]
    assert detail.startswith("id: ")
    assert "name: " in detail
    assert detail.endswith(".")


async def test_ids_beyond_what_the_store_holds_are_invalid_not_a_server_error(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    for ident in ("0", "-1", str(2**31), str(2**63), "99999999999999999999"):
        for method, path, body in (
            ("PUT", f"/branches/b1/staff/{ident}", {"display_name": "x"}),
            ("DELETE", f"/branches/b1/staff/{ident}", None),
            ("DELETE", f"/branches/b1/devices/{ident}", None),
        ):
            response = await api.request(method, path, admin, json=body)
            assert response.status_code == 422, (method, path, response.text)
            assert_error(response, 422, "Invalid")
    assert_error(await api.delete(f"/branches/b1/staff/{2**31 - 1}", admin), 404, "NotFound")


async def test_an_unknown_route_and_a_wrong_method_answer_with_the_error_body(api: Api) -> None:
    assert_error(await api.get("/nothing-here"), 404, "NotFound")
    assert_error(await api.delete("/branches"), 405, "MethodNotAllowed")
