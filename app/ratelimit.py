"""Rate limits for public endpoints, per client address and per device (the ``limits``
library, moving window, in memory: one process owns its clients)."""

from __future__ import annotations

import math
import time

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from app.errors import TooManyRequests


class RateLimiter:
    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def check(self, limit: str, *identifiers: str) -> None:
        """Count one hit; over the limit → :class:`TooManyRequests` with ``Retry-After``."""
        item = parse(limit)
        if await self._limiter.hit(item, *identifiers):
            return
        stats = await self._limiter.get_window_stats(item, *identifiers)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(
            f"Too many requests ({limit}); please try again in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )
