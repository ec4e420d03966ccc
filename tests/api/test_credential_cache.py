"""The credential cache (app.deps.CredentialCache): one store lookup per credential at a time,
whatever the number of requests that find the entry expired; forgetting wins over a lookup
already on its way; a caller that goes away does not take the others' answer with it."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any

import pytest

from app.db import models
from app.deps import CredentialCache


class SlowStore:
    """Stands in for the store: each session's ``get`` takes a while and answers ``row``."""

    def __init__(self) -> None:
        self.lookups = 0
        self.row: object = object()
        self.release = asyncio.Event()

    @asynccontextmanager
    async def _session(self) -> Any:
        store = self

        class Session:
            async def get(self, model: Any, ident: int) -> object:
                store.lookups += 1
                await store.release.wait()
                return store.row

        yield Session()

    def sessions(self) -> Any:
        return self._session()


@pytest.fixture
def store() -> SlowStore:
    return SlowStore()


async def test_concurrent_requests_share_one_lookup(store: SlowStore) -> None:
    cache = CredentialCache(store)  # type: ignore[arg-type]
    waiting = [asyncio.create_task(cache.staff(7)) for _ in range(64)]
    await asyncio.sleep(0.01)
    assert store.lookups == 1
    store.release.set()
    answers = await asyncio.gather(*waiting)
    assert all(answer is store.row for answer in answers)
    assert await cache.staff(7) is store.row  # cached now
    assert store.lookups == 1
    await cache.device(7)  # another kind of credential: its own lookup
    assert store.lookups == 2


async def test_forgetting_during_a_lookup_keeps_its_answer_out_of_the_cache(
    store: SlowStore,
) -> None:
    cache = CredentialCache(store)  # type: ignore[arg-type]
    before = asyncio.create_task(cache.staff(7))
    await asyncio.sleep(0.01)
    cache.forget("staff", 7)  # the user was disabled while the row was being read
    store.release.set()
    await before
    store.row = changed = models.StaffUser(id=7, active=False)
    assert await cache.staff(7) is changed
    assert store.lookups == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_others(store: SlowStore) -> None:
    cache = CredentialCache(store)  # type: ignore[arg-type]
    leaving = asyncio.create_task(cache.staff(7))
    staying = asyncio.create_task(cache.staff(7))
    await asyncio.sleep(0.01)
    leaving.cancel()
    await asyncio.sleep(0.01)
    store.release.set()
    assert await staying is store.row
    assert leaving.cancelled()
    assert store.lookups == 1
