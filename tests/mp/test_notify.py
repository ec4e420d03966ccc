"""The notification outbox: retries with backoff until success, no duplicate sends, adapters
against the fake WeChat server (subscribe messages, errors, timeouts) and the signed webhook;
a failing adapter never holds up a queue command."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from app.db import bookings as db
from app.db import models
from app.db.session import create_engine
from app.db.store import Store
from app.notify.adapters import Message, WebhookAdapter, WeChatSubscribeAdapter
from app.notify.outbox import Sender
from tests.api.conftest import Api, Clock, running_app

from .conftest import booking_hall, eventually
from .fake_wechat import APP_ID, APP_SECRET, FakeWeChat

TEMPLATES = {"booking_confirmed": "tmpl-booked", "ticket_called": "tmpl-called"}


@pytest.fixture
async def store(migrated: str) -> AsyncIterator[Store]:
    engine = create_engine(migrated)
    try:
        yield Store(engine)
    finally:
        await engine.dispose()


async def customer_with_messages(
    store: Store, count: int = 1, kind: str = "booking_confirmed", openid: str | None = "o-1"
) -> int:
    async with store.sessions() as session, session.begin():
        customer = models.Customer(openid=openid, created_at=0.0, last_seen_at=0.0)
        session.add(customer)
        await session.flush()
        for n in range(count):
            await db.enqueue(
                session,
                {
                    "kind": kind,
                    "branch_id": None,
                    "customer_id": customer.id,
                    "dedupe_key": f"{kind}:{customer.id}:{n}",
                    "payload": {"booking": f"CODE{n:04d}", "number": f"A{n:03d}"},
                },
                0.0,
            )
        return int(customer.id)


async def rows(store: Store) -> list[models.Notification]:
    async with store.sessions() as session:
        return list(
            await session.scalars(select(models.Notification).order_by(models.Notification.id))
        )


def wechat_adapter(fake: FakeWeChat, clock: Clock) -> WeChatSubscribeAdapter:
    return WeChatSubscribeAdapter(fake.url, APP_ID, APP_SECRET, TEMPLATES, timeout=0.5, clock=clock)


async def test_a_failing_message_is_retried_with_backoff_until_it_is_sent_once(
    store: Store, wechat: FakeWeChat
) -> None:
    clock = Clock(start=0.0)
    await customer_with_messages(store)
    wechat.send_failures = [-1, 45009]
    sender = Sender(store, wechat_adapter(wechat, clock), clock=clock, backoff_seconds=10.0)
    assert await sender.run_once() == 0
    (row,) = await rows(store)
    assert (row.state, row.attempts, row.next_attempt_at) == ("pending", 1, 10.0)
    assert "-1" in (row.last_error or "")
    assert await sender.run_once() == 0  # not due yet: nothing is tried
    assert (await rows(store))[0].attempts == 1
    clock.advance(10)
    assert await sender.run_once() == 0
    assert (await rows(store))[0].next_attempt_at == 30.0  # backoff doubles
    clock.advance(20)
    assert await sender.run_once() == 1
    (row,) = await rows(store)
    assert (row.state, row.attempts) == ("sent", 3)
    clock.advance(3600)
    assert await sender.run_once() == 0
    assert len(wechat.sent) == 1
    assert wechat.sent[0]["touser"] == "o-1"
    assert wechat.sent[0]["template_id"] == "tmpl-booked"


async def test_a_message_that_keeps_failing_is_given_up_after_max_attempts(
    store: Store, wechat: FakeWeChat
) -> None:
    clock = Clock(start=0.0)
    await customer_with_messages(store)
    wechat.send_failures = [-1] * 10
    sender = Sender(store, wechat_adapter(wechat, clock), clock=clock, max_attempts=3)
    for _ in range(5):
        await sender.run_once()
        clock.advance(3600)
    (row,) = await rows(store)
    assert (row.state, row.attempts) == ("failed", 3)
    assert wechat.sent == []


async def test_two_senders_at_once_send_every_message_exactly_once(
    store: Store, wechat: FakeWeChat
) -> None:
    clock = Clock(start=0.0)
    await customer_with_messages(store, count=20)
    senders = [Sender(store, wechat_adapter(wechat, clock), clock=clock) for _ in range(2)]
    delivered = await asyncio.gather(*(s.run_once() for s in senders))
    assert sum(delivered) == 20
    codes = [m["data"]["character_string2"]["value"] for m in wechat.sent]
    assert sorted(codes) == sorted(set(codes))
    assert len(codes) == 20


async def test_an_expired_access_token_is_fetched_again(store: Store, wechat: FakeWeChat) -> None:
    clock = Clock(start=0.0)
    await customer_with_messages(store)
    wechat.send_failures = [42001]  # access_token expired
    sender = Sender(store, wechat_adapter(wechat, clock), clock=clock)
    await sender.run_once()
    clock.advance(3600)
    assert await sender.run_once() == 1
    assert wechat.tokens_issued == 2


async def test_a_slow_wechat_is_a_failed_attempt_not_a_hang(
    store: Store, wechat: FakeWeChat
) -> None:
    clock = Clock(start=0.0)
    await customer_with_messages(store)
    wechat.send_slow = True
    sender = Sender(store, wechat_adapter(wechat, clock), clock=clock)
    assert await sender.run_once() == 0
    (row,) = await rows(store)
    assert (row.state, row.attempts) == ("pending", 1)
    assert "unreachable" in (row.last_error or "")


async def test_kinds_without_a_template_and_customers_without_openid_are_skipped(
    store: Store, wechat: FakeWeChat
) -> None:
    clock = Clock(start=0.0)
    await customer_with_messages(store, kind="booking_reminder")
    await customer_with_messages(store, openid=None)
    sender = Sender(store, wechat_adapter(wechat, clock), clock=clock)
    await sender.run_once()
    assert [r.state for r in await rows(store)] == ["skipped", "skipped"]
    assert wechat.sent == []


async def test_the_webhook_is_signed_with_hmac_sha256_and_retried(
    store: Store, wechat: FakeWeChat
) -> None:
    clock = Clock(start=0.0)
    await customer_with_messages(store)
    wechat.hook_failures = 1
    adapter = WebhookAdapter(f"{wechat.url}/hook", "hook-secret", timeout=2.0)
    sender = Sender(store, adapter, clock=clock)
    assert await sender.run_once() == 0
    clock.advance(3600)
    assert await sender.run_once() == 1
    ((headers, body),) = wechat.hooks
    expected = hmac.new(
        b"hook-secret", headers["x-queuehall-timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["x-queuehall-signature"] == f"sha256={expected}"
    message = json.loads(body)
    assert (message["kind"], message["id"]) == ("booking_confirmed", 1)
    assert headers["x-queuehall-delivery"] == "1"
    assert "CODE0000" in message["text"]


class Stuck:
    """An adapter that never answers."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def send(self, message: Message) -> None:
        self.entered.set()
        await asyncio.Event().wait()


async def test_a_stuck_adapter_never_holds_up_queue_commands(api: Api) -> None:
    hall = await booking_hall(api)
    booking = await hall.booked("2025-11-20", "10:00")
    assert booking["state"] == "booked"
    jobs: Any = api.app.state.services.appointments
    stuck = Stuck()
    jobs.sender.adapter = stuck
    sending = asyncio.create_task(jobs.sender.run_once())
    await asyncio.wait_for(stuck.entered.wait(), 30)
    ticket = await api.issue(hall.clerk)
    assert (await api.counter(hall.clerk, 1, "open")).status_code == 200
    called = await api.counter(hall.clerk, 1, "next")
    assert called.json()["ticket"]["number"] == ticket["number"]
    assert (await api.counter(hall.clerk, 1, "finish")).status_code == 200
    assert not sending.done()
    sending.cancel()


async def test_book_check_in_called_first_finish_and_please_rate(
    mp: Api, wechat: FakeWeChat
) -> None:
    """End to end: a customer books from the phone, checks in, is called before the walk-ins
    who came after the appointment's head start, is served, and is asked to rate."""
    hall = await booking_hall(mp)
    login = await mp.post("/mp/login", json={"code": "c1"})
    customer = {"Authorization": f"Bearer {login.json()['token']}"}
    slot = await hall.slot("2025-11-20", "10:00")
    booked = await mp.post("/mp/bookings", customer, json={"branch": "b1", "slot": slot["id"]})
    assert booked.status_code == 201, booked.text
    hall.at("09:50")
    walk_ins = [await mp.issue(hall.clerk) for _ in range(2)]
    hall.at("09:55")
    checked_in = await mp.post(f"/mp/bookings/{booked.json()['id']}/check-in", customer, json={})
    assert checked_in.status_code == 201, checked_in.text
    ticket = checked_in.json()
    assert (await mp.counter(hall.clerk, 1, "open")).status_code == 200
    called = await mp.counter(hall.clerk, 1, "next")
    assert called.json()["ticket"]["number"] == ticket["number"]
    assert called.json()["reason"] == "appointment"
    assert (await mp.counter(hall.clerk, 1, "finish")).status_code == 200
    assert (await mp.counter(hall.clerk, 1, "next")).json()["ticket"]["number"] == walk_ins[0][
        "number"
    ]

    async def queued() -> bool:
        kinds = {r.kind for r in await rows(mp.store)}
        return {"ticket_called", "please_rate"} <= kinds

    await eventually(queued)
    jobs: Any = mp.app.state.services.appointments

    async def settled() -> bool:  # the background sender may hold a claim meanwhile
        await jobs.sender.run_once()
        return all(r.state in ("sent", "skipped") for r in await rows(mp.store))

    await eventually(settled)
    await jobs.sender.run_once()  # nothing is sent twice
    templates = sorted(m["template_id"] for m in wechat.sent)
    assert templates == ["tmpl-booked", "tmpl-called", "tmpl-rate"]
    assert {m["touser"] for m in wechat.sent} == {"o-c1"}
    rate = next(r for r in await rows(mp.store) if r.kind == "please_rate")
    assert rate.state == "sent"
    assert rate.payload["token"] == ticket["token"]
    rating = await mp.get(f"/tickets/{ticket['token']}/rating")
    assert rating.json()["rateable"] is True


async def notices(api: Api, kind: str) -> list[models.Notification]:
    return [r for r in await rows(api.store) if r.kind == kind]


async def test_almost_your_turn_is_sent_once_when_few_are_ahead(api: Api) -> None:
    hall = await booking_hall(api)
    await api.put("/branches/b1/services/A/remote", hall.manager, json={"enabled": True})
    await api.counter(hall.clerk, 1, "open")
    for _ in range(5):
        await api.issue(hall.clerk)
    login = await api.post("/mp/login", json={"code": "alice"})
    customer = {"Authorization": f"Bearer {login.json()['token']}"}
    mine = await api.post("/mp/tickets", customer, json={"branch": "b1", "service": "A"})
    assert mine.json()["ahead"] == 5
    await api.counter(hall.clerk, 1, "next")  # 4 ahead: not yet
    await api.counter(hall.clerk, 1, "next")  # 3 ahead (the policy's almost_turn_ahead)

    async def almost() -> bool:
        return len(await notices(api, "almost_turn")) == 1

    await eventually(almost)
    for _ in range(3):
        await api.counter(hall.clerk, 1, "next")
    called = await api.counter(hall.clerk, 1, "next")
    assert called.json()["ticket"]["number"] == mine.json()["number"]

    async def was_called() -> bool:
        return len(await notices(api, "ticket_called")) == 1

    await eventually(was_called)
    (row,) = await notices(api, "almost_turn")
    assert row.payload["ahead"] == 3
    assert len(await notices(api, "almost_turn")) == 1


async def test_a_reminder_is_due_an_hour_before_the_slot_and_dropped_on_cancel(
    api: Api,
) -> None:
    hall = await booking_hall(api)
    booking = await hall.booked("2025-11-21", "10:00")
    (confirmed,) = await notices(api, "booking_confirmed")
    (reminder,) = await notices(api, "booking_reminder")
    assert confirmed.next_attempt_at == api.clock.now
    assert reminder.next_attempt_at == booking["slot_start"] - 3600
    await api.post(f"/branches/b1/bookings/{booking['code']}/cancel", hall.clerk, json={})
    (reminder,) = await notices(api, "booking_reminder")
    assert reminder.state == "dropped"


async def test_a_restart_keeps_following_the_customers_tickets(migrated: str) -> None:
    clock = Clock()
    async with running_app(migrated, clock) as first:
        hall = await booking_hall(first)
        login = await first.post("/mp/login", json={"code": "alice"})
        customer = {"Authorization": f"Bearer {login.json()['token']}"}
        slot = await hall.slot("2025-11-20", "10:00")
        booked = await first.post(
            "/mp/bookings", customer, json={"branch": "b1", "slot": slot["id"]}
        )
        ticket = (
            await first.post(f"/mp/bookings/{booked.json()['id']}/check-in", customer, json={})
        ).json()
    async with running_app(migrated, clock) as second:
        assert (await second.counter(hall.clerk, 1, "open")).status_code == 200
        called = await second.counter(hall.clerk, 1, "next")
        assert called.json()["ticket"]["number"] == ticket["number"]

        async def notified() -> bool:
            return len(await notices(second, "ticket_called")) == 1

        await eventually(notified)
