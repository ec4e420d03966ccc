"""The whole server against the engine's reference model (``tests/queue_engine/reference.py``),
driven by Hypothesis: random sequences of API commands (take tickets of every service and
class, open, pause and close counters, call-next, recall, start, finish, no-show) and restarts
(the app stopped and a fresh one started on the same store).

After every step: the server accepted (2xx) exactly the commands the model accepted and called
the ticket the model calls; ``GET /queue`` shows the model's counters, holders and waiting
counts; the event log's ``seq`` is 1..n without a gap; no ticket was called twice; no counter
holds two tickets. A restart shows the same state as before it.

In-process (httpx on the ASGI app), on SQLite here, bounded and derandomized (a few seconds);
``python -m benchmarks.soak`` runs many more examples on PostgreSQL (:func:`run_machine`)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from app.auth import Role
from tests.api.conftest import Api, Clock, make_branch, running_app
from tests.queue_engine.reference import ReferenceBranch, Refused

from .harness import served_view

SERVICES = ("A", "B")
COUNTERS = (1, 2)
CLASSES = ("normal", "normal", "vip", "care")
# API command -> the model's method
SERVING = {"recall": "recall", "start": "start_serving", "no-show": "no_show", "finish": "finish"}
STATES = {"open": "open_counter", "pause": "pause_counter", "close": "close_counter"}
# What a clerk does, weighted towards the calling cycle.
AT_A_COUNTER = (
    ["call-next"] * 4 + ["finish"] * 3 + ["start"] * 2 + ["recall", "no-show", "open"] * 1
) + ["pause", "close"]


class ServerMachine(RuleBasedStateMachine):
    """One branch (services A and B, counters 1 and 2) on a fresh store per example."""

    #: A function giving a fresh, migrated store's URL and a function that removes it.
    new_store: Callable[[], tuple[str, Callable[[], None]]]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.url, self.remove_store = type(self).new_store()
        self.clock = Clock()
        self.stack: AsyncExitStack | None = None
        self.api: Api | None = None
        self.restarts = 0
        self.run(self._start())
        self.admin = self.run(self._admin())
        runtime = self.app_runtime()
        self.model = ReferenceBranch(
            runtime.engine.config, runtime.engine.snapshot(self.clock()).business_day
        )
        for counter in COUNTERS:  # open at first: most sequences should call and serve
            self.counter_command(counter, "open", STATES)
        for service in SERVICES:
            self.take_a_ticket(service, "normal")

    # Plumbing ------------------------------------------------------------------------------

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    async def _start(self) -> None:
        self.stack = AsyncExitStack()
        self.api = await self.stack.enter_async_context(running_app(self.url, self.clock))

    async def _stop(self) -> None:
        assert self.stack is not None
        await self.stack.aclose()
        self.stack = self.api = None

    async def _admin(self) -> dict[str, str]:
        assert self.api is not None
        admin = await self.api.user("root", Role.ADMIN, None)
        await make_branch(self.api, admin)
        return admin

    def app_runtime(self) -> Any:
        assert self.api is not None
        return self.api.app.state.services.halls.get("b1")

    def post(self, path: str, **kwargs: Any) -> Any:
        assert self.api is not None
        return self.run(self.api.post(f"/branches/b1{path}", self.admin, **kwargs))

    def get(self, path: str, **kwargs: Any) -> Any:
        assert self.api is not None
        response = self.run(self.api.get(f"/branches/b1{path}", self.admin, **kwargs))
        assert response.status_code == 200, response.text
        return response.json()

    def teardown(self) -> None:
        try:
            if self.stack is not None:
                self.check_log()
                self.run(self._stop())
        finally:
            self.loop.close()
            self.remove_store()

    def expect(self, apply: Callable[[float], list[Any]], response: Any) -> list[Any] | None:
        """The model's answer to the command the server just answered; both must agree on
        accepting it. The model's events, or None when refused."""
        try:
            events = apply(self.clock())
        except Refused as refused:
            events, why = None, str(refused)
        if events is None:
            assert 400 <= response.status_code < 500, (why, response.text)
            return None
        assert response.status_code < 300, (events, response.text)
        return events

    # Rules ---------------------------------------------------------------------------------

    @rule(gap=st.sampled_from([0.0, 0.0, 1.0, 30.0, 120.0, 600.0]))
    def time_passes(self, gap: float) -> None:
        self.clock.advance(gap)

    @rule(
        tickets=st.lists(
            st.tuples(st.sampled_from(SERVICES), st.sampled_from(CLASSES)), min_size=1, max_size=3
        )
    )
    def take_tickets(self, tickets: list[tuple[str, str]]) -> None:
        for service, priority in tickets:
            self.take_a_ticket(service, priority)

    def take_a_ticket(self, service: str, priority: str) -> None:
        response = self.post("/tickets", json={"service": service, "priority": priority})
        events = self.expect(
            lambda now: self.model.issue_ticket(service, priority, now=now), response
        )
        assert events is not None
        assert response.json()["number"] == events[0]["number"]

    @rule(counter=st.sampled_from(COUNTERS), command=st.sampled_from(AT_A_COUNTER))
    def at_a_counter(self, counter: int, command: str) -> None:
        if command == "call-next":
            self.call_next(counter)
        else:
            self.counter_command(counter, command, {**SERVING, **STATES})

    def call_next(self, counter: int) -> None:
        response = self.post(f"/counters/{counter}/call-next")
        events = self.expect(lambda now: self.model.call_next(counter, now=now), response)
        if events == []:
            assert response.status_code == 204
        elif events is not None:
            assert response.json()["ticket"]["number"] == events[0]["number"], "another ticket"

    def counter_command(self, counter: int, command: str, methods: dict[str, str]) -> None:
        kwargs = {"json": {}} if command == "finish" else {}
        response = self.post(f"/counters/{counter}/{command}", **kwargs)
        method = getattr(self.model, methods[command])
        self.expect(lambda now: method(counter, now=now), response)

    @rule()
    def restart(self) -> None:
        before = served_view(self.get("/queue"))
        self.run(self._stop())
        self.run(self._start())
        self.restarts += 1
        assert served_view(self.get("/queue")) == before

    # Invariants ----------------------------------------------------------------------------

    @invariant()
    def the_server_shows_the_models_state(self) -> None:
        queue = self.get("/queue")
        for counter in queue["counters"]:
            number = counter["number"]
            assert counter["state"] == self.model.counter_states[number].value
            held = self.model.holding(number)
            shown = counter["ticket"]["number"] if counter["ticket"] else None
            assert shown == (held.display if held else None), f"counter {number}"
        for service in queue["services"]:
            waiting = sum(
                1
                for t in self.model.tickets.values()
                if t.state.value == "waiting" and t.service == service["code"]
            )
            assert service["waiting"] == waiting, service["code"]

    @invariant()
    def the_log_has_no_gap_and_no_ticket_called_twice(self) -> None:
        self.check_log()

    def check_log(self) -> None:
        events = self.get("/events", params={"since": 0, "limit": 1000})["events"]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        called = Counter(e["data"]["ticket_id"] for e in events if e["type"] == "ticket_called")
        assert max(called.values(), default=1) == 1, "a ticket called twice"
        holding: dict[int, int] = {}
        for e in events:
            if e["type"] == "ticket_called":
                assert e["data"]["counter"] not in holding, "a counter called while it held one"
                holding[e["data"]["counter"]] = e["data"]["ticket_id"]
            elif e["type"] in ("ticket_finished", "ticket_missed", "ticket_parked"):
                assert holding.pop(e["data"]["counter"]) == e["data"]["ticket_id"]
        for number in COUNTERS:
            held = self.model.holding(number)
            assert holding.get(number) == (held.id if held else None), f"counter {number}"


def sqlite_stores(template: Path) -> Callable[[], tuple[str, Callable[[], None]]]:
    """Fresh stores copied from a migrated SQLite file."""

    def new_store() -> tuple[str, Callable[[], None]]:
        folder = Path(tempfile.mkdtemp(prefix="qh-stateful-"))
        shutil.copyfile(template, folder / "queuehall.db")
        return f"sqlite+aiosqlite:///{folder / 'queuehall.db'}", lambda: shutil.rmtree(folder)

    return new_store


def run_machine(
    new_store: Callable[[], tuple[str, Callable[[], None]]],
    *,
    examples: int,
    steps: int,
    derandomize: bool = True,
) -> None:
    machine = type("Machine", (ServerMachine,), {"new_store": staticmethod(new_store)})
    run_state_machine_as_test(
        machine,  # type: ignore[arg-type]
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            derandomize=derandomize,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_the_server_agrees_with_the_model_across_commands_and_restarts(
    sqlite_template: Path,
) -> None:
    run_machine(sqlite_stores(sqlite_template), examples=8, steps=25)
