"""The mini-program's tests: an app whose identity provider and notification adapter talk to a
fake WeChat server (a real HTTP server on 127.0.0.1), on both stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.api.conftest import (  # noqa: F401  (fixtures: a migrated store on both tiers)
    Api,
    Clock,
    Headers,
    api,
    clock,
    migrated,
    postgresql_database,
    quick_password_hashing,
    rate_limits_in_the_middle_of_their_window,
    running_app,
    sqlite_template,
    store_url,
)
from tests.appointments.conftest import Booking, booking_hall

from .fake_wechat import APP_ID, APP_SECRET, FakeWeChat, fake_wechat


@pytest.fixture
async def wechat() -> AsyncIterator[FakeWeChat]:
    async with fake_wechat() as fake:
        yield fake


def wechat_settings(fake: FakeWeChat, **overrides: Any) -> dict[str, Any]:
    return {
        "mp_identity_provider": "wechat",
        "wechat_api_base": fake.url,
        "wechat_app_id": APP_ID,
        "wechat_app_secret": APP_SECRET,
        "wechat_timeout_seconds": 0.5,
        "notify_adapter": "wechat",
        "notify_backoff_seconds": 10.0,
        "wechat_template_ids": {
            "booking_confirmed": "tmpl-booked",
            "booking_cancelled": "tmpl-cancelled",
            "almost_turn": "tmpl-almost",
            "ticket_called": "tmpl-called",
            "please_rate": "tmpl-rate",
        },
        # The tests run the jobs by hand (tick, run_once); the background tick stays quiet.
        "appointments_tick_seconds": 3600.0,
        **overrides,
    }


@pytest.fixture
async def mp(migrated: str, clock: Clock, wechat: FakeWeChat) -> AsyncIterator[Api]:  # noqa: F811
    async with running_app(migrated, clock, **wechat_settings(wechat)) as running:
        yield running


async def login(client: Api, code: str) -> Headers:
    response = await client.post("/mp/login", json={"code": code})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def eventually(check: Callable[[], Awaitable[bool]], attempts: int = 500) -> None:
    """Wait until ``check`` holds (background tasks run after the reply); fail if it never does."""
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


__all__ = ["Booking", "booking_hall", "eventually", "login"]
