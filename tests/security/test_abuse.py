"""Abuse: one kiosk or one address flooding ticket issue, many addresses or many devices, token
look-ups from many addresses, pairing-code and password guessing. The limits hold (429 with
``Retry-After``, nothing issued beyond them) and a legitimate customer is still served.

Addresses are the ASGI client address (``Api.at``): the app keys its limits on
``request.client.host``, which uvicorn takes from ``X-Forwarded-For`` only when the connection
comes from a trusted proxy (uvicorn's ``forwarded_allow_ips``, 127.0.0.1 by default; see
docs/security.md).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from app.auth import Role
from tests.api.conftest import Api, Headers, assert_error, make_branch, password_of, running_app
from tests.realtime.conftest import hall_server

LIMIT = 5


@pytest.fixture
async def limited(migrated: str) -> AsyncIterator[Api]:
    async with running_app(
        migrated,
        rate_limit_issue=f"{LIMIT}/minute",
        rate_limit_public=f"{LIMIT}/minute",
        rate_limit_login_failures=f"{LIMIT}/minute",
    ) as api:
        yield api


async def manager_of_b1(api: Api) -> Headers:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    return await api.user("boss", Role.MANAGER, "b1")


async def issue(api: Api, kiosk: Headers) -> httpx.Response:
    return await api.post("/branches/b1/tickets", kiosk, json={"service": "A"})


def assert_limited(response: httpx.Response) -> None:
    assert_error(response, 429, "TooManyRequests")
    assert 1 <= int(response.headers["Retry-After"]) <= 60


async def waiting(api: Api, manager: Headers) -> int:
    count: int = (await api.get("/branches/b1/queue", manager)).json()["waiting"]
    return count


async def test_a_flooding_kiosk_is_held_at_its_limit_and_the_hall_is_still_served(
    limited: Api,
) -> None:
    manager = await manager_of_b1(limited)
    flooding = await limited.device(manager, "b1", "kiosk", "flooding")
    honest = await limited.device(manager, "b1", "kiosk", "honest")
    spammer = await limited.at("10.0.0.66")
    tickets = [await issue(spammer, flooding) for _ in range(LIMIT)]
    assert all(t.status_code == 201 for t in tickets)
    for _ in range(30):
        assert_limited(await issue(spammer, flooding))
    assert await waiting(limited, manager) == LIMIT
    # Another kiosk at another address, and a customer's phone, are served as usual.
    served = await issue(await limited.at("10.0.0.7"), honest)
    assert served.status_code == 201, served.text
    phone = await limited.at("172.16.0.20")
    assert (await phone.get(f"/tickets/{served.json()['token']}")).status_code == 200
    assert await waiting(limited, manager) == LIMIT + 1


async def test_one_kiosk_spread_over_many_addresses_is_held_at_its_device_limit(
    limited: Api,
) -> None:
    manager = await manager_of_b1(limited)
    kiosk = await limited.device(manager, "b1", "kiosk")
    statuses = [
        (await issue(await limited.at(f"10.1.0.{n}"), kiosk)).status_code for n in range(1, 21)
    ]
    assert statuses == [201] * LIMIT + [429] * (20 - LIMIT)
    assert await waiting(limited, manager) == LIMIT


async def test_many_kiosks_behind_one_address_share_its_limit(limited: Api) -> None:
    manager = await manager_of_b1(limited)
    kiosks = [await limited.device(manager, "b1", "kiosk", f"k{n}") for n in range(10)]
    hall = await limited.at("10.2.0.1")
    statuses = [(await issue(hall, kiosk)).status_code for kiosk in kiosks]
    assert statuses == [201] * LIMIT + [429] * (10 - LIMIT)
    assert await waiting(limited, manager) == LIMIT


async def test_token_guessing_from_many_addresses_does_not_lock_the_owner_out(
    limited: Api,
) -> None:
    manager = await manager_of_b1(limited)
    kiosk = await limited.device(manager, "b1", "kiosk")
    token = (await issue(limited, kiosk)).json()["token"]
    for n in range(1, 11):
        guesser = await limited.at(f"10.3.0.{n}")
        for _ in range(LIMIT):
            assert_error(await guesser.get(f"/tickets/{secrets.token_urlsafe(24)}"), 404)
        assert_limited(await guesser.get(f"/tickets/{token}"))  # even the right token, now
    owner = await limited.at("172.16.0.21")
    assert (await owner.get(f"/tickets/{token}")).status_code == 200


async def test_pairing_code_guessing_is_limited_per_address(limited: Api) -> None:
    manager = await manager_of_b1(limited)
    code = await limited.pairing_code(manager, "b1", "kiosk")
    guesser = await limited.at("10.4.0.1")
    for _ in range(10):
        assert_error(await guesser.post("/devices/pair", json={"code": "ABCDEFGHJK"}), 401)
    assert_limited(await guesser.post("/devices/pair", json={"code": code}))
    paired = await (await limited.at("10.4.0.2")).post("/devices/pair", json={"code": code})
    assert paired.status_code == 200, paired.text


async def test_password_spraying_from_one_address_is_limited_and_others_sign_in(
    limited: Api,
) -> None:
    """Each account slows down after its own failures; one address trying one password on many
    accounts is held at its failure limit, before its password is even checked."""
    await manager_of_b1(limited)
    for n in range(LIMIT + 3):
        await limited.user(f"clerk{n}", Role.CLERK, "b1")
    sprayer = await limited.at("10.5.0.1")
    statuses = []
    for n in range(LIMIT + 3):
        attempt = await sprayer.sign_in(f"clerk{n}", "Password123")
        statuses.append(attempt.status_code)
    assert statuses == [401] * LIMIT + [429] * 3
    assert_limited(await sprayer.sign_in("clerk0", "Password123"))
    # Even the right password waits: the limit is checked before the password.
    assert_limited(await sprayer.sign_in("clerk1", password_of("clerk1")))
    # The staff of the hall, at their own address, sign in as usual.
    hall = await limited.at("10.5.0.2")
    assert (await hall.sign_in("clerk1", password_of("clerk1"))).status_code == 200


async def test_successful_sign_ins_do_not_count_against_the_address(limited: Api) -> None:
    await manager_of_b1(limited)
    for _ in range(3 * LIMIT):
        assert (await limited.sign_in("boss", password_of("boss"))).status_code == 200


async def test_behind_the_trusted_proxy_each_forwarded_address_has_its_own_limit(
    migrated: str,
) -> None:
    """Under uvicorn, a connection from a trusted proxy (127.0.0.1 unless FORWARDED_ALLOW_IPS
    says otherwise) is counted under the address it forwards (X-Forwarded-For)."""
    async with hall_server(migrated, rate_limit_public=f"{LIMIT}/minute") as server:
        client = server.api.client
        token = secrets.token_urlsafe(24)

        async def look_up(address: str) -> int:
            response = await client.get(
                f"/api/v1/tickets/{token}", headers={"X-Forwarded-For": address}
            )
            return response.status_code

        assert [await look_up("203.0.113.5") for _ in range(LIMIT + 1)] == [404] * LIMIT + [429]
        assert await look_up("203.0.113.6") == 404  # another customer, still served
