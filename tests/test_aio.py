"""app.aio: waiting and stopping without losing a cancellation (Python 3.11's ``wait_for``
loses one when the caller is cancelled as the awaited thing completes)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from app.aio import start_eagerly, stop_task, wait_event

APP = Path(__file__).resolve().parent.parent / "app"


async def test_wait_event_says_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5) is True


async def test_a_loop_woken_as_it_is_stopped_stops() -> None:
    event = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            await wait_event(event, 60)
            event.clear()
            rounds += 1

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    event.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done
    assert task.cancelled()
    assert rounds == 0


async def test_stop_task_ends_the_task_and_returns() -> None:
    task = asyncio.create_task(asyncio.sleep(60))
    await stop_task(task)
    assert task.cancelled()
    await stop_task(None)


async def test_stop_task_raises_a_cancellation_of_its_caller() -> None:
    """The caller is cancelled while the task it stops is slow to end: the caller ends
    cancelled instead of returning as if nothing happened."""
    release = asyncio.Event()

    async def slow_to_end() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await release.wait()  # cleanup still running when the caller is cancelled

    task = asyncio.create_task(slow_to_end())
    await asyncio.sleep(0)
    caller = asyncio.create_task(stop_task(task))
    await asyncio.sleep(0.01)
    caller.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert caller.cancelled()


def test_the_app_does_not_use_wait_for() -> None:
    """``asyncio.wait_for`` can lose a cancellation on 3.11; use ``asyncio.timeout`` or
    :func:`app.aio.wait_event`."""
    users = [
        str(path.relative_to(APP))
        for path in APP.rglob("*.py")
        if re.search(r"\bwait_for\(", path.read_text(encoding="utf-8"))
    ]
    assert users == []


async def test_start_eagerly_runs_a_coroutine_that_does_not_wait_at_once() -> None:
    ran: list[str] = []

    async def quick(word: str) -> None:
        ran.append(word)

    assert start_eagerly(quick("now")) is None
    assert ran == ["now"]  # before any other task had a turn


async def test_start_eagerly_raises_what_an_eager_coroutine_raises() -> None:
    async def broken() -> None:
        raise ConnectionError("gone")

    with pytest.raises(ConnectionError):
        start_eagerly(broken())


async def test_start_eagerly_hands_the_rest_to_a_task_when_the_coroutine_waits() -> None:
    room = asyncio.Event()
    steps: list[str] = []

    async def blocked() -> str:
        steps.append("started")
        await room.wait()
        steps.append("finished")
        return "sent"

    task = start_eagerly(blocked())
    assert steps == ["started"]
    assert task is not None
    await asyncio.sleep(0.01)
    assert not task.done()
    room.set()
    assert await task == "sent"
    assert steps == ["started", "finished"]


async def test_a_task_from_start_eagerly_passes_errors_and_cancellation_on() -> None:
    async def fails_later() -> None:
        await asyncio.sleep(0)
        raise ConnectionError("gone")

    failing = start_eagerly(fails_later())
    assert failing is not None
    with pytest.raises(ConnectionError):
        await failing

    cleaned: list[bool] = []

    async def waits_for_ever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append(True)

    waiting = start_eagerly(waits_for_ever())
    assert waiting is not None
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert cleaned == [True]
