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
from collections.abc import Coroutine, Generator
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


class _Rest:
    """Awaitable that drives the rest of a coroutine already started by hand, from the point
    where it suspended on ``waiting_on``; throws (cancellation) are passed on to it."""

    __slots__ = ("coro", "waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self.coro = coro
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, None, Any]:
        coro, waiting_on = self.coro, self.waiting_on
        while True:
            try:
                yield waiting_on
            except BaseException as error:  # handed to the coroutine
                try:
                    waiting_on = coro.throw(error)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                waiting_on = coro.send(None)
            except StopIteration as stop:
                return stop.value


async def _finish(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    return await _Rest(coro, waiting_on)


def start_eagerly(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
    """Run ``coro`` now, in the caller's step, up to its first real suspension (what 3.12's
    ``eager_start`` does): None when it finished without suspending (its exception, if any,
    is raised here); else a task that runs the rest.

    For sends that almost never wait (a WebSocket frame into a transport with room): a
    thousand of them cost a thousand task wake-ups when each goes through a queue and a task.
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_finish(coro, waiting_on))
