"""``Idempotency-Key`` on ticket issue and counter commands: a retried request gets the first
answer and acts once; the key with another request is refused 422; while the first is still
being written, a retry gets 409 or the same answer, never a second effect."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.auth import Role

from .conftest import Api, Headers, assert_error, make_branch


async def clerk_of_b1(api: Api) -> Headers:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    return await api.user("clerk", Role.CLERK, "b1")


def keyed(headers: Headers, key: str) -> Headers:
    return {**headers, "Idempotency-Key": key}


async def event_types(api: Api, headers: Headers) -> list[str]:
    events = (await api.get("/branches/b1/events?limit=1000", headers)).json()["events"]
    return [e["type"] for e in events]


async def issue(api: Api, headers: Headers, body: Any, branch: str = "b1") -> httpx.Response:
    return await api.post(f"/branches/{branch}/tickets", headers, json=body)


async def test_a_retried_issue_gets_the_same_ticket_and_issues_one(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    first = await issue(api, keyed(clerk, "kiosk-7-0001"), {"service": "A"})
    again = await issue(api, keyed(clerk, "kiosk-7-0001"), {"service": "A", "priority": "normal"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert await event_types(api, clerk) == ["ticket_issued"]
    assert (await api.issue(clerk))["number"] == "A002"


async def test_a_key_reused_for_another_request_is_refused_and_changes_nothing(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    await issue(api, keyed(clerk, "k1"), {"service": "A"})
    assert_error(await issue(api, keyed(clerk, "k1"), {"service": "B"}), 422, "IdempotencyMismatch")
    await api.counter(clerk, 1, "open")
    assert_error(await api.counter(keyed(clerk, "k1"), 1, "call-next"), 422, "IdempotencyMismatch")
    assert await event_types(api, clerk) == ["ticket_issued", "counter_state_changed"]


async def test_a_retried_call_calls_once_and_answers_the_same(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    await api.issue(clerk)
    await api.issue(clerk)
    await api.counter(clerk, 1, "open")
    first = await api.counter(keyed(clerk, "call-1"), 1, "call-next")
    again = await api.counter(keyed(clerk, "call-1"), 1, "call-next")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["ticket"]["number"] == "A001"
    finished = await api.counter(keyed(clerk, "finish-1"), 1, "finish", json={"outcome": "ok"})
    refinished = await api.counter(keyed(clerk, "finish-1"), 1, "finish", json={"outcome": "ok"})
    assert refinished.json() == finished.json()
    assert await event_types(api, clerk) == [
        "ticket_issued",
        "ticket_issued",
        "counter_state_changed",
        "ticket_called",
        "ticket_finished",
    ]


async def test_the_key_covers_the_counter_and_the_body(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    await api.issue(clerk)
    await api.counter(clerk, 1, "open")
    await api.counter(clerk, 2, "open")
    await api.counter(keyed(clerk, "c"), 1, "call-next")
    assert_error(await api.counter(keyed(clerk, "c"), 2, "call-next"), 422, "IdempotencyMismatch")
    await api.counter(keyed(clerk, "f"), 1, "finish", json={"outcome": "one"})
    changed = await api.counter(keyed(clerk, "f"), 1, "finish", json={"outcome": "two"})
    assert_error(changed, 422, "IdempotencyMismatch")


async def test_an_empty_call_is_remembered_as_empty(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    await api.counter(clerk, 1, "open")
    assert (await api.counter(keyed(clerk, "empty"), 1, "call-next")).status_code == 204
    await api.issue(clerk)
    assert (await api.counter(keyed(clerk, "empty"), 1, "call-next")).status_code == 204
    assert (await api.counter(keyed(clerk, "fresh"), 1, "call-next")).status_code == 200


async def test_a_refused_command_does_not_use_up_its_key(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    await api.issue(clerk)
    refused = await api.counter(keyed(clerk, "try"), 1, "call-next")
    assert_error(refused, 409, "CounterNotOpen")
    await api.counter(clerk, 1, "open")
    assert (await api.counter(keyed(clerk, "try"), 1, "call-next")).status_code == 200


async def test_keys_belong_to_one_branch(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    admin = await api.login("root", "pw-root-secret")
    await make_branch(api, admin, "b2")
    here = await issue(api, keyed(admin, "same"), {"service": "A"})
    there = await issue(api, keyed(admin, "same"), {"service": "A"}, branch="b2")
    assert here.status_code == there.status_code == 201
    assert here.json()["branch"] == "b1"
    assert there.json()["branch"] == "b2"
    assert await event_types(api, clerk) == ["ticket_issued"]


async def test_a_key_longer_than_128_characters_is_invalid(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    assert_error(await issue(api, keyed(clerk, "k" * 129), {"service": "A"}), 422, "Invalid")
    assert (await issue(api, keyed(clerk, "k" * 128), {"service": "A"})).status_code == 201


def the_same_answer_or_in_flight(responses: list[httpx.Response], status: int) -> None:
    answers = [r for r in responses if r.status_code == status]
    assert answers, [r.text for r in responses]
    assert all(r.json() == answers[0].json() for r in answers)
    for response in responses:
        if response.status_code != status:
            assert_error(response, 409, "IdempotencyInFlight")


async def test_concurrent_issues_with_one_key_issue_one_ticket(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    responses = await asyncio.gather(
        *(issue(api, keyed(clerk, "burst"), {"service": "A"}) for _ in range(20))
    )
    the_same_answer_or_in_flight(list(responses), 201)
    assert await event_types(api, clerk) == ["ticket_issued"]
    retried = await issue(api, keyed(clerk, "burst"), {"service": "A"})
    assert retried.json()["number"] == "A001"


async def test_concurrent_calls_with_one_key_call_one_ticket(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    for _ in range(3):
        await api.issue(clerk)
    await api.counter(clerk, 1, "open")
    responses = await asyncio.gather(
        *(api.counter(keyed(clerk, "double-click"), 1, "call-next") for _ in range(10))
    )
    the_same_answer_or_in_flight(list(responses), 200)
    assert (await event_types(api, clerk)).count("ticket_called") == 1
    queue = (await api.get("/branches/b1/queue", clerk)).json()
    assert queue["waiting"] == 2


async def test_a_retried_next_finishes_and_calls_once_and_answers_the_same(api: Api) -> None:
    clerk = await clerk_of_b1(api)
    for _ in range(3):
        await api.issue(clerk)
    await api.counter(clerk, 1, "open")
    await api.counter(clerk, 1, "next")
    body = {"outcome": "办结"}
    first = await api.counter(keyed(clerk, "next-2"), 1, "next", json=body)
    again = await api.counter(keyed(clerk, "next-2"), 1, "next", json=body)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert (first.json()["finished"]["number"], first.json()["ticket"]["number"]) == (
        "A001",
        "A002",
    )
    other = await api.counter(keyed(clerk, "next-2"), 1, "next", json={"outcome": "其他"})
    assert_error(other, 422, "IdempotencyMismatch")
    assert_error(await api.counter(keyed(clerk, "next-2"), 1, "finish", json=body), 422)
    assert await event_types(api, clerk) == [
        *["ticket_issued"] * 3,
        "counter_state_changed",
        "ticket_called",
        "ticket_finished",
        "ticket_called",
    ]
    assert (await api.get("/branches/b1/queue", clerk)).json()["waiting"] == 1
