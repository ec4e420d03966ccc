"""Ratings over real sockets (uvicorn, websockets clients): a manager's dashboard socket hears
``rating_received`` in ``seq`` order; the counter's evaluator listens on the display stream and
hears its counter's ``ticket_finished`` (and never the rating's details)."""

from __future__ import annotations

from tests.api.conftest import staffed_hall
from tests.realtime.conftest import hall_server, latest_seq, open_counter, token_of


async def test_the_dashboard_hears_a_rating_and_the_evaluator_hears_the_finish(
    migrated: str,
) -> None:
    async with hall_server(migrated) as server:
        api = server.api
        people = await staffed_hall(api)
        dashboard = await server.socket("/ws/branches/b1/dashboard", token_of(people.manager))
        assert (await dashboard.recv())["type"] == "snapshot"
        evaluator = await server.socket(
            "/ws/branches/b1/display", token_of(people.own["evaluator"])
        )
        assert (await evaluator.recv())["type"] == "snapshot"

        ticket = await api.issue(people.clerk)
        await open_counter(api, people.clerk, 1)
        assert (await api.counter(people.clerk, 1, "call-next")).status_code == 200
        assert (await api.counter(people.clerk, 1, "finish")).status_code == 200
        finished = await evaluator.until(lambda m: m["type"] == "ticket_finished")
        assert finished[-1]["data"] == {"number": ticket["number"], "service": "A", "counter": 1}

        rated = await api.post(
            "/branches/b1/counters/1/rating",
            people.own["evaluator"],
            json={"level": "dissatisfied", "reason": "attitude", "ticket_id": ticket["id"]},
        )
        assert rated.status_code == 201, rated.text
        seq = await latest_seq(api, people.manager)
        heard = await dashboard.events_until(seq)
        assert [m["type"] for m in heard][-2:] == ["ticket_finished", "rating_received"]
        rating = heard[-1]
        assert rating["seq"] == seq
        assert rating["data"]["level"] == "dissatisfied"
        assert rating["data"]["negative"] is True
        assert rating["data"]["case_id"] == rated.json()["case"]
        assert rating["data"]["channel"] == "evaluator"

        # The display stream skips the rating but still moves past its seq.
        await api.issue(people.clerk)
        after = await evaluator.until(lambda m: m["type"] == "ticket_issued")
        assert all(m["type"] != "rating_received" for m in after)
        assert after[-1]["seq"] == seq + 1
