"""Counter commands through the API: open, call, recall, start, finish, no-show and return,
transfer, park and unpark, pause and close; and the error each illegal command gets."""

from __future__ import annotations

from typing import Any

import httpx

from app.auth import Role

from .conftest import Api, Headers, assert_error, make_branch


async def open_hall(api: Api, *services: str) -> Headers:
    """Branch b1 with counter 1 open, a clerk, and one ticket per service letter given."""
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    clerk = await api.user("clerk", Role.CLERK, "b1")
    for service in services:
        await api.issue(clerk, service=service)
    assert (await api.counter(clerk, 1, "open")).status_code == 200
    return clerk


def ticket_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    ticket: dict[str, Any] = body["ticket"] if "ticket" in body else body["counter"]["ticket"]
    return ticket


async def test_a_ticket_is_called_started_and_finished_at_a_counter(api: Api) -> None:
    clerk = await open_hall(api, "A")
    called = await api.counter(clerk, 1, "call-next")
    assert ticket_of(called)["number"] == "A001"
    assert ticket_of(called)["state"] == "called"
    assert called.json()["reason"] == "tier"
    assert called.json()["explanation"]
    assert called.json()["explanation_en"]
    started = await api.counter(clerk, 1, "start")
    assert ticket_of(started)["state"] == "serving"
    assert started.json()["events"] == ["service_started"]
    finished = await api.counter(clerk, 1, "finish", json={"outcome": "办结\n已归档"})
    assert finished.status_code == 200, finished.text
    assert finished.json()["counter"]["ticket"] is None
    assert finished.json()["tickets"][0]["state"] == "finished"
    assert (await api.counter(clerk, 1, "call-next")).status_code == 204


async def test_a_counter_calls_its_first_tier_before_its_second(api: Api) -> None:
    clerk = await open_hall(api, "B", "A")
    assert ticket_of(await api.counter(clerk, 1, "call-next"))["number"] == "A001"


async def test_a_recall_calls_the_same_ticket_again(api: Api) -> None:
    clerk = await open_hall(api, "A")
    await api.counter(clerk, 1, "call-next")
    recalled = await api.counter(clerk, 1, "recall")
    assert ticket_of(recalled)["recalls"] == 1
    assert recalled.json()["events"] == ["ticket_recalled"]


async def test_a_missed_ticket_comes_back_behind_the_head(api: Api) -> None:
    clerk = await open_hall(api, "A", "A")
    await api.counter(clerk, 1, "call-next")
    missed = await api.counter(clerk, 1, "no-show")
    assert missed.json()["tickets"][0]["state"] == "missed"
    returned = await api.counter(clerk, 1, "return", json={"ticket": "A001"})
    assert returned.status_code == 200, returned.text
    assert returned.json()["tickets"][0]["state"] == "waiting"
    assert_error(
        await api.counter(clerk, 1, "return", json={"ticket": "A001"}), 409, "IllegalTransition"
    )


async def test_a_missed_ticket_returns_only_within_its_grace_period(api: Api) -> None:
    clerk = await open_hall(api, "A")
    await api.counter(clerk, 1, "call-next")
    await api.counter(clerk, 1, "no-show")
    api.clock.advance(31 * 60)
    late = await api.counter(clerk, 1, "return", json={"ticket": "A001"})
    assert_error(late, 409, "ReturnNotAllowed")


async def test_a_return_through_an_unknown_counter_is_404_and_changes_nothing(api: Api) -> None:
    clerk = await open_hall(api, "A")
    await api.counter(clerk, 1, "call-next")
    await api.counter(clerk, 1, "no-show")
    refused = await api.counter(clerk, 99, "return", json={"ticket": "A001"})
    assert_error(refused, 404, "UnknownCounter")
    queue = (await api.get("/branches/b1/queue", clerk)).json()
    assert queue["waiting"] == 0
    assert (await api.counter(clerk, 1, "return", json={"ticket": "A001"})).status_code == 200


async def test_a_ticket_transferred_to_a_service_waits_there(api: Api) -> None:
    clerk = await open_hall(api, "A")
    await api.counter(clerk, 1, "call-next")
    moved = await api.counter(clerk, 1, "transfer", json={"service": "B"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["tickets"][0]["service"] == "B"
    assert moved.json()["tickets"][0]["state"] == "waiting"
    await api.counter(clerk, 2, "open")
    called = await api.counter(clerk, 2, "call-next")
    assert ticket_of(called)["number"] == "A001"


async def test_a_ticket_transferred_to_a_counter_is_called_there_first(api: Api) -> None:
    clerk = await open_hall(api, "A", "B")
    await api.counter(clerk, 2, "open")
    await api.counter(clerk, 1, "call-next")
    moved = await api.counter(clerk, 1, "transfer", json={"counter": 2, "position": "first"})
    assert moved.status_code == 200, moved.text
    queue = (await api.get("/branches/b1/queue", clerk)).json()
    assert queue["counters"][1]["direct_waiting"] == 1
    called = await api.counter(clerk, 2, "call-next")
    assert ticket_of(called)["number"] == "A001"
    assert called.json()["reason"] == "direct"


async def test_a_transfer_must_name_somewhere_else(api: Api) -> None:
    clerk = await open_hall(api, "A")
    await api.counter(clerk, 1, "call-next")
    for body, status, error in (
        ({}, 422, "InvalidCommand"),
        ({"counter": 1}, 422, "InvalidCommand"),
        ({"service": "A"}, 422, "InvalidCommand"),
        ({"counter": 2}, 409, "CounterNotOpen"),
        ({"counter": 9}, 404, "UnknownCounter"),
        ({"service": "Z"}, 404, "UnknownService"),
        ({"service": "B", "position": "middle"}, 422, "Invalid"),
        ({"service": "B", "counter": 0}, 422, "Invalid"),
    ):
        response = await api.counter(clerk, 1, "transfer", json=body)
        assert response.status_code == status, (body, response.text)
        assert_error(response, status, error)
    queue = (await api.get("/branches/b1/queue", clerk)).json()
    assert queue["counters"][0]["ticket"]["number"] == "A001"


async def test_a_parked_ticket_frees_the_counter_until_it_is_unparked(api: Api) -> None:
    clerk = await open_hall(api, "A", "A")
    await api.counter(clerk, 1, "call-next")
    await api.counter(clerk, 1, "start")
    parked = await api.counter(clerk, 1, "park")
    assert parked.json()["counter"]["parked"] == ["A001"]
    assert ticket_of(await api.counter(clerk, 1, "call-next"))["number"] == "A002"
    assert_error(await api.counter(clerk, 1, "unpark", json={"ticket": "A001"}), 409, "CounterBusy")
    await api.counter(clerk, 1, "finish")
    unparked = await api.counter(clerk, 1, "unpark", json={"ticket": "A001"})
    assert ticket_of(unparked)["state"] == "serving"
    assert unparked.json()["counter"]["parked"] == []


async def test_a_clerk_may_call_a_waiting_ticket_out_of_order(api: Api) -> None:
    clerk = await open_hall(api, "A", "A", "A")
    called = await api.counter(clerk, 1, "call", json={"ticket": "a003"})
    assert ticket_of(called)["number"] == "A003"
    assert called.json()["reason"] == "manual"


async def test_calling_a_ticket_that_is_not_there_is_refused(api: Api) -> None:
    clerk = await open_hall(api, "A")
    assert_error(await api.counter(clerk, 1, "call", json={"ticket": "A009"}), 404, "UnknownTicket")
    assert_error(await api.counter(clerk, 1, "call", json={"ticket": "Z001"}), 404, "UnknownTicket")
    assert_error(await api.counter(clerk, 1, "call", json={"ticket": "1A"}), 422, "Invalid")
    await api.counter(clerk, 1, "call-next")
    await api.counter(clerk, 1, "finish")
    assert_error(
        await api.counter(clerk, 1, "call", json={"ticket": "A001"}), 409, "IllegalTransition"
    )


async def test_a_paused_counter_keeps_its_ticket_and_calls_nobody_new(api: Api) -> None:
    clerk = await open_hall(api, "A", "A")
    await api.counter(clerk, 1, "call-next")
    paused = await api.counter(clerk, 1, "pause")
    assert paused.json()["counter"]["state"] == "paused"
    await api.counter(clerk, 1, "finish")
    assert_error(await api.counter(clerk, 1, "call-next"), 409, "CounterNotOpen")
    await api.counter(clerk, 1, "open")
    assert ticket_of(await api.counter(clerk, 1, "call-next"))["number"] == "A002"


async def test_a_counter_holding_a_ticket_cannot_close_or_call_again(api: Api) -> None:
    clerk = await open_hall(api, "A", "A")
    await api.counter(clerk, 1, "call-next")
    assert_error(await api.counter(clerk, 1, "close"), 409, "CounterBusy")
    assert_error(await api.counter(clerk, 1, "call-next"), 409, "CounterBusy")
    await api.counter(clerk, 1, "finish")
    closed = await api.counter(clerk, 1, "close")
    assert closed.json()["counter"]["state"] == "closed"
    assert_error(await api.counter(clerk, 1, "close"), 409, "IllegalTransition")


async def test_commands_that_need_a_ticket_are_refused_at_an_idle_counter(api: Api) -> None:
    clerk = await open_hall(api)
    for command in ("recall", "start", "finish", "no-show", "park"):
        assert_error(await api.counter(clerk, 1, command), 409, "CounterIdle")
    assert_error(await api.counter(clerk, 1, "transfer", json={"service": "B"}), 409, "CounterIdle")


async def test_a_closed_counter_calls_nobody(api: Api) -> None:
    clerk = await open_hall(api, "A")
    assert_error(await api.counter(clerk, 2, "call-next"), 409, "CounterNotOpen")
    assert_error(await api.counter(clerk, 2, "call", json={"ticket": "A001"}), 409)


async def test_an_unknown_counter_is_404_for_every_command(api: Api) -> None:
    clerk = await open_hall(api, "A")
    bodies: dict[str, Any] = {
        "call": {"ticket": "A001"},
        "unpark": {"ticket": "A001"},
        "return": {"ticket": "A001"},
        "transfer": {"service": "B"},
    }
    for command in (
        "open",
        "pause",
        "close",
        "call-next",
        "call",
        "recall",
        "start",
        "finish",
        "next",
        "no-show",
        "transfer",
        "park",
        "unpark",
        "return",
    ):
        response = await api.counter(clerk, 99, command, json=bodies.get(command))
        assert response.status_code == 404, (command, response.text)
        assert_error(response, 404)


async def test_a_finish_outcome_is_bounded_text(api: Api) -> None:
    clerk = await open_hall(api, "A")
    await api.counter(clerk, 1, "call-next")
    for body in ({"outcome": "x" * 201}, {"outcome": "nul\x00"}, {"result": "done"}, ["x"]):
        response = await api.counter(clerk, 1, "finish", json=body)
        assert response.status_code == 422, (body, response.text)
        assert_error(response, 422, "Invalid")
    assert (await api.counter(clerk, 1, "finish", json={"outcome": "x" * 200})).status_code == 200


# --------------------------------------------------------------------------------------------
# Finish and call next in one request


async def test_next_finishes_the_current_ticket_and_calls_the_following_one(api: Api) -> None:
    clerk = await open_hall(api, "A", "A")
    first = await api.counter(clerk, 1, "next")
    assert first.status_code == 200, first.text
    assert first.json()["finished"] is None
    assert first.json()["ticket"]["number"] == "A001"
    assert first.json()["reason"] == "tier"
    assert first.json()["explanation"]
    assert first.json()["explanation_en"]
    assert first.json()["events"] == ["ticket_called"]
    runtime = api.app.state.services.halls.get("b1")
    commits = runtime.commits
    second = await api.counter(clerk, 1, "next", json={"outcome": "办结"})
    assert second.status_code == 200, second.text
    assert runtime.commits == commits + 1  # one command, one commit
    body = second.json()
    assert body["events"] == ["ticket_finished", "ticket_called"]
    assert (body["finished"]["number"], body["finished"]["state"]) == ("A001", "finished")
    assert (body["ticket"]["number"], body["ticket"]["state"]) == ("A002", "called")
    assert body["counter"]["ticket"]["number"] == "A002"
    last = (await api.counter(clerk, 1, "next")).json()
    assert (last["finished"]["number"], last["ticket"], last["reason"]) == ("A002", None, None)
    assert last["counter"]["ticket"] is None
    idle = await api.counter(clerk, 1, "next")
    assert idle.status_code == 200
    assert (idle.json()["finished"], idle.json()["ticket"], idle.json()["events"]) == (
        None,
        None,
        [],
    )


async def test_next_writes_the_same_events_as_finish_then_call_next(api: Api) -> None:
    clerk = await open_hall(api, "A", "A", "A")
    await api.counter(clerk, 1, "next")
    await api.counter(clerk, 1, "next", json={"outcome": "办结"})
    events = (await api.get("/branches/b1/events?limit=100", clerk)).json()["events"]
    finished, called = events[-2:]
    assert (finished["type"], called["type"]) == ("ticket_finished", "ticket_called")
    assert called["seq"] == finished["seq"] + 1
    assert finished["data"]["outcome"] == "办结"
    assert (finished["data"]["number"], called["data"]["number"]) == ("A001", "A002")
    queue = (await api.get("/branches/b1/queue", clerk)).json()
    assert queue["waiting"] == 1


async def test_next_at_a_counter_that_is_not_open_is_refused_and_keeps_the_ticket(
    api: Api,
) -> None:
    clerk = await open_hall(api, "A", "A")
    await api.counter(clerk, 1, "call-next")
    await api.counter(clerk, 1, "pause")
    refused = await api.counter(clerk, 1, "next")
    assert_error(refused, 409, "CounterNotOpen")
    assert refused.json()["detail"] == "Counter 1 is paused; open it to call."
    counter = (await api.get("/branches/b1/queue", clerk)).json()["counters"][0]
    assert (counter["number"], counter["ticket"]["number"]) == (1, "A001")
    assert counter["ticket"]["state"] == "called"
    closed = await api.counter(clerk, 2, "next")
    assert_error(closed, 409, "CounterNotOpen")
    assert closed.json()["detail"] == "Counter 2 is closed; open it to call."


async def test_next_takes_the_same_bounded_outcome_as_finish(api: Api) -> None:
    clerk = await open_hall(api, "A", "A")
    await api.counter(clerk, 1, "call-next")
    for body in ({"outcome": "x" * 201}, {"outcome": "nul\x00"}, {"result": "done"}, ["x"]):
        response = await api.counter(clerk, 1, "next", json=body)
        assert_error(response, 422, "Invalid")
    assert (await api.get("/branches/b1/queue", clerk)).json()["waiting"] == 1
    done = await api.counter(clerk, 1, "next", json={"outcome": "x" * 200})
    assert done.json()["finished"]["number"] == "A001"


async def test_next_at_an_unknown_branch_is_404(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    assert_error(await api.counter(admin, 1, "next", branch="nowhere"), 404)
