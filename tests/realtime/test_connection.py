"""One connection's queue and cursor with a fake socket: live events held during a replay come
out after it exactly once and in order; a full queue closes with 4008; a gap with 4009."""

from __future__ import annotations

import asyncio

from app.realtime import Audience, CloseCode, Connection, Cursor, Heartbeat


class FakeSocket:
    def __init__(self, *, stalled: bool = False) -> None:
        self.sent: list[str] = []
        self.closed_with: int | None = None
        self.stalled = asyncio.Event()
        if not stalled:
            self.stalled.set()

    async def send_text(self, text: str) -> None:
        await self.stalled.wait()
        self.sent.append(text)

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_with = code


def connection(socket: FakeSocket, queue_size: int = 100) -> Connection:
    beat = Heartbeat(0.0, ping_seconds=25, silence_seconds=60)
    return Connection(socket, Audience.DISPLAY, queue_size=queue_size, heartbeat=beat)  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_live_events_held_during_a_replay_follow_it_once_and_in_order() -> None:
    socket = FakeSocket()
    joining = connection(socket)
    joining.start()
    joining.cursor = Cursor(3)  # the client saw up to 3
    for seq in (6, 7, 8, 9):  # published while the log is being read
        joining.push_event(seq, f"live {seq}")
    for seq in range(4, 8):  # the log read: 4..7 (6 and 7 also came live)
        assert await joining.put_event(seq, f"log {seq}")
    await joining.release()
    joining.push_event(10, "live 10")
    joining.push_event(9, "live 9 again")
    await settle()
    assert socket.sent == ["log 4", "log 5", "log 6", "log 7", "live 8", "live 9", "live 10"]
    assert joining.closing is None


async def test_an_event_a_display_does_not_see_still_moves_its_cursor() -> None:
    socket = FakeSocket()
    display = connection(socket)
    display.start()
    await display.release()
    display.push_event(1, "one")
    display.push_event(2, None)
    display.push_event(3, "three")
    await settle()
    assert socket.sent == ["one", "three"]
    assert display.cursor.last == 3


async def test_a_gap_in_the_live_stream_closes_4009() -> None:
    socket = FakeSocket()
    broken = connection(socket)
    broken.start()
    await broken.release()
    broken.push_event(1, "one")
    broken.push_event(3, "three")
    await settle()
    assert broken.closing == CloseCode.RESYNC
    assert socket.closed_with == CloseCode.RESYNC


async def test_a_full_queue_closes_4008_and_only_that_connection() -> None:
    stalled, healthy = FakeSocket(stalled=True), FakeSocket()
    slow, fast = connection(stalled, queue_size=4), connection(healthy, queue_size=4)
    for each in (slow, fast):
        each.start()
        await each.release()
    for seq in range(1, 31):
        for each in (slow, fast):
            each.push_event(seq, f"event {seq}")
        await settle()  # the healthy writer keeps up between events
    assert slow.closing == CloseCode.SLOW_CONSUMER
    assert stalled.closed_with == CloseCode.SLOW_CONSUMER
    assert fast.closing is None
    assert healthy.sent == [f"event {seq}" for seq in range(1, 31)]
    await slow.finish()
    await fast.finish()


async def test_a_graceful_close_sends_what_was_queued_first() -> None:
    socket = FakeSocket()
    leaving = connection(socket)
    leaving.start()
    await leaving.release()
    for seq in (1, 2, 3):
        leaving.push_event(seq, f"event {seq}")
    leaving.close(CloseCode.GOING_AWAY, "bye", flush=True)
    await asyncio.wait_for(leaving.closed.wait(), 5)
    assert socket.sent == ["event 1", "event 2", "event 3"]
    assert socket.closed_with == CloseCode.GOING_AWAY
