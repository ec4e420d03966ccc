"""In-process event bus: committed branch events fan out to subscribers.

Each subscriber owns one bounded queue; publishing never awaits. A subscriber that falls more
than its queue behind is marked overflowed and stops receiving (the realtime layer then closes
that connection, or resumes it from the event log), so one slow reader never slows a branch.
Subscriptions are ``async with`` blocks and cannot leak.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

Envelope = dict[str, Any]


class Subscription:
    def __init__(self, branch_id: str, size: int) -> None:
        self.branch_id = branch_id
        self.queue: asyncio.Queue[Envelope] = asyncio.Queue(maxsize=size)
        self.overflowed = False

    def offer(self, envelope: Envelope) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(envelope)
        except asyncio.QueueFull:
            self.overflowed = True

    async def get(self) -> Envelope:
        return await self.queue.get()


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    def publish(self, branch_id: str, envelopes: list[Envelope]) -> None:
        for subscription in tuple(self._subscribers.get(branch_id, ())):
            for envelope in envelopes:
                subscription.offer(envelope)

    @asynccontextmanager
    async def subscribe(self, branch_id: str, size: int = 1024) -> AsyncIterator[Subscription]:
        subscription = Subscription(branch_id, size)
        self._subscribers[branch_id].add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(branch_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[branch_id]

    def subscriber_count(self, branch_id: str | None = None) -> int:
        if branch_id is not None:
            return len(self._subscribers.get(branch_id, ()))
        return sum(len(s) for s in self._subscribers.values())
