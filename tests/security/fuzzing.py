"""Schemathesis against the app's own OpenAPI document, on a real uvicorn on 127.0.0.1.

The server and its seeding run in an event loop of their own, in a background thread
(:class:`FuzzedHall`), because Schemathesis sends its requests synchronously. The store is
seeded like ``tests/api/test_access.py`` does: branches b1 and b2 with services, counters, staff of
every role, devices of every kind, a spare clerk, a spare device, a case and waiting tickets.

:func:`fuzz` walks every operation of the document with Hypothesis, derandomized. Each case is
sent with a staff token of branch b1 (a branch administrator), or on ``/mp/`` routes with a
mini-program customer's session; half the cases get path parameters that name real objects
(branch b1, service A, counter 1, the spare clerk, device and case, a live ticket token, the
customer's booking and phone ticket), the other half whatever Schemathesis generates.
Every response must pass:

* ``not_a_server_error``: no 5xx (503 is an outage, not expected here either);
* ``status_code_conformance``: the status is declared for the operation;
* ``content_type_conformance``, ``response_headers_conformance``, ``response_schema_conformance``:
  the response is what the document says.

Used by ``tests/security/test_fuzz.py`` (a short bounded run) and ``python -m benchmarks.fuzz``
(the long run of the soak).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.auth import Role
from app.bootstrap import create_user
from tests.api.conftest import Api, Clock, Hall, password_of, staffed_hall
from tests.api.test_access import Targets, targets
from tests.realtime.conftest import hall_server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class Seeded:
    """What the fuzzer's path parameters may name, and the credential it calls with."""

    base_url: str
    document: dict[str, Any]
    known: dict[str, Any]
    headers: dict[str, str]
    customer: dict[str, str]  # a mini-program customer's session, for the /mp/ routes

    def credential(self, path: str) -> dict[str, str]:
        return dict(self.customer if path.startswith("/api/v1/mp/") else self.headers)


@dataclass
class FuzzedHall:
    """A running server in a background thread, seeded; :meth:`run` runs a coroutine there."""

    loop: asyncio.AbstractEventLoop
    api: Api
    hall: Hall
    spare: Targets
    port: int
    stop: asyncio.Event
    admins: list[str] = field(default_factory=list)

    def run(self, coroutine: Any, timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def fresh_admin(self) -> dict[str, str]:
        """A new administrator of branch b1 (the fuzzer may disable or remove the last one)."""
        name = f"fuzz-admin-{len(self.admins) + 1}"
        self.admins.append(name)
        await create_user(self.api.store, name, password_of(name), Role.ADMIN, "b1")
        return await self.api.login(name, password_of(name))


@contextmanager
def fuzzed_hall(database_url: str, **overrides: Any) -> Iterator[FuzzedHall]:
    """Start the server (generous rate limits unless overridden) and seed it."""
    ready: Future[FuzzedHall] = Future()

    async def main() -> None:
        try:
            async with hall_server(database_url, Clock(), **overrides) as server:
                hall = await staffed_hall(server.api)
                spare = await targets(server.api, hall)
                for clerk in (hall.clerk, hall.other["clerk"]):
                    for _ in range(3):
                        await server.api.issue(clerk, "b1" if clerk is hall.clerk else "b2")
                running = FuzzedHall(
                    asyncio.get_running_loop(),
                    server.api,
                    hall,
                    spare,
                    server.port,
                    asyncio.Event(),
                )
                ready.set_result(running)
                await running.stop.wait()
        except BaseException as error:
            if not ready.done():
                ready.set_exception(error)
            raise

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="fuzzed-hall", daemon=True)
    thread.start()
    running = ready.result(timeout=120)
    try:
        yield running
    finally:
        running.loop.call_soon_threadsafe(running.stop.set)
        thread.join(60)


def seeded(running: FuzzedHall) -> Seeded:
    base_url = f"http://127.0.0.1:{running.port}"
    document = httpx.get(f"{base_url}/openapi.json", timeout=30).json()
    headers = running.run(running.fresh_admin())
    ticket = running.run(running.api.issue(running.hall.clerk))
    known = {
        "branch": "b1",
        "code": "A",
        "number": 1,
        "user_id": running.spare.users["b1"],
        "device_id": running.spare.devices["b1"],
        "case_id": running.spare.cases["b1"],
        "token": ticket["token"],
    }
    customer, mine = running.run(customer_objects(running.api, running.hall))
    known |= mine
    return Seeded(base_url, document, known, headers, customer)


async def customer_objects(api: Api, hall: Hall) -> tuple[dict[str, str], dict[str, int]]:
    """A mini-program customer's session, with a booking and a phone ticket of its own (so
    that the ``/mp/`` routes' ``booking_id`` and ``remote_id`` can name real objects)."""
    manager = hall.own["manager"]
    for weekday in range(7):
        template = {"service": "A", "weekday": weekday, "start": "00:00", "end": "24:00"}
        template |= {"slot_minutes": 60, "capacity": 1000}
        added = await api.post("/branches/b1/slot-templates", manager, json=template)
        assert added.status_code == 201, added.text
    login = await api.post("/mp/login", None, json={"code": "fuzzer"})
    assert login.status_code == 200, login.text
    customer = {"Authorization": f"Bearer {login.json()['token']}"}
    slots = (await api.get("/mp/branches/b1/slots", customer)).json()
    booked = await api.post(
        "/mp/bookings", customer, json={"branch": "b1", "slot": slots[-1]["id"]}
    )
    assert booked.status_code == 201, booked.text
    remote = {"enabled": True, "arrive_within_minutes": 60}
    assert (await api.put("/branches/b1/services/A/remote", manager, json=remote)).is_success
    assert (await api.counter(hall.own["clerk"], 1, "open")).is_success
    taken = await api.post("/mp/tickets", customer, json={"branch": "b1", "service": "A"})
    assert taken.status_code == 201, taken.text
    return customer, {"booking_id": booked.json()["id"], "remote_id": taken.json()["remote_id"]}


@dataclass
class Report:
    operations: int = 0
    cases: int = 0
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def fuzz(
    running: FuzzedHall, *, max_examples: int, seed: int | None = None, verbose: bool = False
) -> Report:
    """Every operation of the document, ``max_examples`` cases each; failures are collected
    (one per operation: Hypothesis shrinks to the smallest failing case), not raised. A quarter
    of the cases are invalid requests (Schemathesis' negative mode), which must get a 4xx."""
    started = time.perf_counter()
    base = seeded(running)
    schema = schemathesis.openapi.from_dict(base.document)
    report = Report()
    operations = [result.ok() for result in schema.get_all_operations()]
    # Removals last, so that the real objects the other operations name still exist.
    operations.sort(key=lambda operation: operation.method.upper() == "DELETE")
    for operation in operations:
        report.operations += 1
        label = f"{operation.method.upper()} {operation.path}"
        statuses = report.statuses.setdefault(label, {})
        names = {p.name for p in operation.path_parameters}
        real = {name: value for name, value in base.known.items() if name in names}
        strategies = [operation.as_strategy()]
        if real:  # most valid cases name real objects
            strategies += [operation.as_strategy(path_parameters=real)] * 2
        # Invalid requests too (a wrong type, a missing field, a string too long): 4xx, no 500.
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
        check = case_check(
            running,
            st.one_of(strategies),
            base,
            statuses,
            report,
            max_examples=max_examples,
            seed=seed,
        )
        try:
            check()
        except (Exception, BaseExceptionGroup) as error:
            report.failures.append(f"{label}:\n{error}")
        if verbose:
            print(label, dict(sorted(statuses.items())), flush=True)
    report.seconds = time.perf_counter() - started
    return report


def case_check(
    running: FuzzedHall,
    cases: st.SearchStrategy[Any],
    base: Seeded,
    statuses: dict[int, int],
    report: Report,
    *,
    max_examples: int,
    seed: int | None,
) -> Any:
    """A Hypothesis test: send each case, count its status, validate the response. A 401 on
    a route that takes our token checks that the token still works, and replaces it (with a new
    administrator) when the fuzzer disabled or removed its own account."""

    @settings(
        max_examples=max_examples,
        derandomize=seed is None,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def check(case: Any) -> None:
        headers = base.credential(case.operation.path)
        response = case.call(base_url=base.base_url, headers=headers, timeout=30)
        report.cases += 1
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS, headers=headers)
        if response.status_code == 401 and not running.run(still_signed_in(running.api, headers)):
            base.headers = running.run(running.fresh_admin())

    return check if seed is None else hypothesis_seed(seed)(check)


async def still_signed_in(api: Api, headers: dict[str, str]) -> bool:
    response = await api.get("/branches/b1", headers)
    return response.status_code != 401
