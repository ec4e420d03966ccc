"""Rate limits for public endpoints, per client address and per device (the ``limits``
library, in memory: one process owns its clients).

The sliding window counter weighs the previous fixed window's count by how much of it still
overlaps the last ``period``: O(1) per hit. (The moving window keeps every hit in a list and its
in-memory storage sweeps all keys, with a thread hop per key, after each hit.)"""

from __future__ import annotations

import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from app.errors import TooManyRequests


@lru_cache(maxsize=64)
def _parsed(limit: str) -> RateLimitItem:
    return parse(limit)


class RateLimiter:
    def __init__(self) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def check(self, limit: str, *identifiers: str) -> None:
        """Count one hit; over the limit → :class:`TooManyRequests` with ``Retry-After``."""
        item = _parsed(limit)
        if await self._limiter.hit(item, *identifiers):
            return
        await self._refuse(limit, *identifiers)

    async def refuse_if_spent(self, limit: str, *identifiers: str) -> None:
        """:class:`TooManyRequests` if the limit is used up, without counting a hit: for limits
        on failures, counted by :meth:`count` once an attempt has failed."""
        if not await self._limiter.test(_parsed(limit), *identifiers):
            await self._refuse(limit, *identifiers)

    async def count(self, limit: str, *identifiers: str) -> None:
        """Count one hit, refusing nothing (the next :meth:`refuse_if_spent` decides)."""
        await self._limiter.hit(_parsed(limit), *identifiers)

    async def _refuse(self, limit: str, *identifiers: str) -> None:
        item = _parsed(limit)
        stats = await self._limiter.get_window_stats(item, *identifiers)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(
            f"Too many requests ({limit}); please try again in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )
