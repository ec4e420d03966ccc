"""Small asyncio helpers that keep cancellation honest on Python 3.11.

Two traps this module exists for:

* ``asyncio.wait_for`` on 3.11 returns the inner result when the caller is cancelled at the
  moment the inner awaitable completes: the cancellation is lost. A background loop that
  waits for a wake-up that way can miss its stop and run for ever. :func:`wait_event` and
  ``asyncio.timeout`` do not lose it.
* Stopping a task with ``task.cancel(); with suppress(CancelledError): await task`` also
  swallows a cancellation of the *caller* (a shutdown with a deadline, a request that went
  away). :func:`stop_task` re-raises it.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait at most ``seconds`` for ``event``; whether it is set. Cancellation propagates."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait until it has ended. Its own cancellation is expected and
    absorbed; a cancellation of the caller while it waits is raised again."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
