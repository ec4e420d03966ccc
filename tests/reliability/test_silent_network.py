"""A silent network between the server and PostgreSQL (packets dropped, not refused): requests
that need the store answer 503 ``StoreUnavailable`` within the store timeouts
(``QUEUEHALL_STORE_*_TIMEOUT_SECONDS``) instead of hanging, and the server commits again once
the network passes traffic.

Part of the PostgreSQL tier (``QUEUEHALL_TEST_DATABASE_URL``): a :class:`BlackholeProxy` in the
test sits between the app and the test's own database. Times are printed (``-s``), not asserted
beyond "no hang" (10 s); ``python -m benchmarks.soak`` records them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from app.auth import Role
from tests.api.conftest import PG_URL, Api, empty_postgresql, make_branch, running_app

from .blackhole import BlackholeProxy

HANG = 10.0  # a request unanswered after this long counts as a hang


@pytest.fixture
async def proxied(postgresql_database: str) -> AsyncIterator[tuple[BlackholeProxy, str]]:
    await empty_postgresql(postgresql_database)
    url = make_url(postgresql_database)
    proxy = BlackholeProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        yield (
            proxy,
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        )
    finally:
        await proxy.stop()


async def timed(
    api: Api, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> tuple[int, float]:
    started = time.monotonic()
    request = asyncio.ensure_future(api.request(method, path, headers, **kwargs))
    done, _ = await asyncio.wait([request], timeout=HANG)
    assert done, f"{method} {path} unanswered after {HANG} s"  # left running: not cancelled
    return request.result().status_code, time.monotonic() - started


async def through_the_dark(
    api: Api, proxy: BlackholeProxy, admin: dict[str, str]
) -> tuple[list[tuple[int, float]], float]:
    """Commands and reads while the network is silent, then until the first commit after it
    passes traffic again: every answer in the dark (status, seconds), and the recovery time."""
    issue = ("POST", "/branches/b1/tickets")
    service = {"json": {"service": "A"}}
    assert (await timed(api, *issue, admin, **service))[0] == 201
    proxy.dark()
    try:
        answers = list(
            await asyncio.gather(*(timed(api, *issue, admin, **service) for _ in range(5)))
        )
        for _ in range(5):  # one after the other: none waits behind another's timeout
            answers.append(await timed(api, *issue, admin, **service))
        reads = await asyncio.gather(
            *(timed(api, "GET", "/branches/b1/events", admin) for _ in range(3))
        )
    finally:
        proxy.lit()
    assert {status for status, _ in answers} == {503}
    assert {status for status, _ in reads} <= {200, 503}
    lit = time.monotonic()
    while True:
        status, _ = await timed(api, *issue, admin, **service)
        if status == 201:
            break
        assert status == 503
        assert time.monotonic() - lit < 30, "no commit after the network came back"
        await asyncio.sleep(0.05)
    return answers + list(reads), time.monotonic() - lit


if PG_URL:

    async def test_a_silent_network_answers_503_in_time_and_the_server_recovers(
        proxied: tuple[BlackholeProxy, str],
    ) -> None:
        proxy, url = proxied
        async with running_app(url) as api:  # the default timeouts
            admin = await api.user("root", Role.ADMIN, None)
            await make_branch(api, admin)
            answers, recovery = await through_the_dark(api, proxy, admin)
            print(f"\nin the dark: {answers}; first commit {recovery:.2f} s after")
            queue = await api.get("/branches/b1/queue", admin)
            assert queue.status_code == 200
            assert queue.json()["waiting"] == 2  # the two acknowledged tickets, none of the 503s
