"""The appointments' background jobs stop when the app stops, whatever they were doing.

Found in CI: a booking woke the outbox sender at the moment the app shut down; the ticker's
``asyncio.wait_for`` (Python 3.11) returned the woken wait instead of raising the cancellation,
the ticker went round again, and the shutdown waited for it for ever.
"""

from __future__ import annotations

import asyncio

from app.appointments.jobs import AppointmentJobs
from tests.api.conftest import Api

STOP_SECONDS = 5.0


async def idle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)  # the ticker is waiting for its next tick or a wake


async def stops(jobs: AppointmentJobs) -> bool:
    """Whether ``jobs.stop()`` ends within the bound. (Not under ``asyncio.timeout``: its
    cancellation would reach the ticker through ``stop`` and end it, hiding the bug.)"""
    stopping = asyncio.create_task(jobs.stop())
    done, _ = await asyncio.wait({stopping}, timeout=STOP_SECONDS)
    return stopping in done


async def test_the_jobs_stop_when_woken_as_they_are_stopped(api: Api) -> None:
    jobs = api.app.state.services.appointments
    await idle()
    jobs.wake()
    assert await stops(jobs)
    assert jobs._ticker is None


async def test_a_wake_without_a_stop_runs_one_tick(api: Api) -> None:
    """A wake without a stop runs a tick: the ticker is alive and answers the next wake."""
    jobs = api.app.state.services.appointments
    ticks = 0
    real_tick = jobs.tick

    async def counted() -> None:
        nonlocal ticks
        ticks += 1
        await real_tick()

    jobs.tick = counted
    await idle()
    jobs.wake()
    for _ in range(200):
        if ticks:
            break
        await asyncio.sleep(0.01)
    assert ticks == 1
    assert await stops(jobs)
