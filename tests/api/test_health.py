"""Liveness, readiness, Prometheus metrics, the OpenAPI description, and what a client sees when
the store stops answering (503, nothing changed)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from app import deps
from app.auth import Role
from app.db.session import create_engine
from app.db.store import Batch, Store

from .conftest import Api, assert_error, make_branch
from .test_access import BRANCH_ROUTES, UNSCOPED_ROUTES, declared_routes


async def test_the_process_is_alive(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_counts_the_loaded_branches(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    assert (await api.client.get("/readyz")).json() == {"status": "ready", "branches": 0}
    await make_branch(api, admin)
    assert (await api.client.get("/readyz")).json() == {"status": "ready", "branches": 1}


async def test_not_ready_when_the_store_does_not_answer(api: Api) -> None:
    services = api.app.state.services
    working = services.store
    unreachable = create_engine("sqlite+aiosqlite:////nonexistent-directory/queuehall.db")
    services.store = Store(unreachable)
    try:
        response = await api.client.get("/readyz")
    finally:
        services.store = working
        await unreachable.dispose()
    assert_error(response, 503, "StoreUnavailable")
    assert (await api.client.get("/readyz")).status_code == 200


async def test_metrics_show_waiting_tickets_per_branch_and_service(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    for service in "AAB":
        await api.issue(admin, service=service)
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert 'queuehall_waiting_tickets{branch="b1",service="A"} 2.0' in lines
    assert 'queuehall_waiting_tickets{branch="b1",service="B"} 1.0' in lines
    assert any(line.startswith("queuehall_longest_wait_seconds{") for line in lines)
    assert any(
        line.startswith('queuehall_ticket_events_total{branch="b1",type="ticket_issued"}')
        for line in lines
    )
    request_counts = [line for line in lines if line.startswith("queuehall_request_seconds_count{")]
    assert any('/branches/{branch}/tickets"' in line for line in request_counts)
    assert not any("/b1/" in line for line in request_counts)  # labelled by route, not by URL


def request_count(metrics: str, method: str, route: str, status: int) -> float:
    labels = f'method="{method}",route="{route}",status="{status}"'
    for line in metrics.splitlines():
        if line.startswith("queuehall_request_seconds_count{") and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_every_request_is_counted_with_its_route_and_status(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    route = "/branches/{branch}/tickets"  # the template, as the router declares it
    before = (await api.client.get("/metrics")).text
    await api.issue(admin)
    refused = await api.post("/branches/b1/tickets", admin, json={"service": "a"})
    assert refused.status_code == 422
    assert (await api.client.get("/nowhere")).status_code == 404
    after = (await api.client.get("/metrics")).text
    for method, path, status in (
        ("POST", route, 201),
        ("POST", route, 422),
        ("GET", "unmatched", 404),
    ):
        assert request_count(after, method, path, status) == (
            request_count(before, method, path, status) + 1
        ), (method, path, status)


def test_the_services_dependency_runs_on_the_event_loop() -> None:
    """A plain function dependency would cost a thread-pool hop on every request."""
    assert inspect.iscoroutinefunction(deps.get_services)


# --------------------------------------------------------------------------------------------
# OpenAPI


async def published_operations(api: Api) -> dict[tuple[str, str], dict[str, Any]]:
    spec = (await api.client.get("/openapi.json")).json()
    return {
        (method.upper(), path): operation
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }


async def test_the_openapi_description_lists_every_route(api: Api) -> None:
    operations = await published_operations(api)
    pages = {route for route in declared_routes() if route[1].startswith(("/screens/", "/t/"))}
    assert pages  # the screens' pages are routes of the app, but not of its API description
    assert set(operations) == declared_routes() - pages
    for (method, path), operation in operations.items():
        assert operation.get("summary"), f"{method} {path} has no summary"


async def test_the_openapi_description_names_the_security_of_every_route(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    operations = await published_operations(api)
    needs_a_token = {(r.method, f"/api/v1{r.path}") for r in BRANCH_ROUTES} | {
        route for route, allowed in UNSCOPED_ROUTES.items() if allowed is not None
    }
    for route, operation in operations.items():
        if route in needs_a_token:
            assert operation.get("security") == [{"HTTPBearer": []}], route
        else:
            assert "security" not in operation, route
    sign_in = operations[("POST", "/api/v1/auth/token")]
    assert "application/x-www-form-urlencoded" in sign_in["requestBody"]["content"]


# --------------------------------------------------------------------------------------------
# The store stops answering


class StoreThatCannotWrite:
    """The real store, except that every batch fails as if the disk or the network had gone."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def write_batch(self, branch_id: str, batch: Batch) -> None:
        raise ConnectionError("the store went away")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@contextmanager
def store_down(api: Api, branch: str) -> Iterator[None]:
    runtime = api.app.state.services.halls.get(branch)
    working = runtime.store
    runtime.store = StoreThatCannotWrite(working)
    try:
        yield
    finally:
        runtime.store = working


async def test_a_command_the_store_cannot_keep_answers_503_and_changes_nothing(
    api: Api,
) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    await api.counter(admin, 1, "open")
    with store_down(api, "b1"):
        refused = await api.post("/branches/b1/tickets", admin, json={"service": "A"})
        assert_error(refused, 503, "StoreUnavailable")
        assert refused.headers["Retry-After"] == "1"
        assert (await api.get("/branches/b1/queue", admin)).json()["waiting"] == 0
        assert_error(await api.counter(admin, 1, "close"), 503)
    queue = (await api.get("/branches/b1/queue", admin)).json()
    assert queue["counters"][0]["state"] == "open"
    assert queue["seq"] == 1
    assert (await api.issue(admin))["number"] == "A001"


async def kill_the_writers_connection(store: Store) -> None:
    """Close the pooled connection the branch writer uses, behind the pool's back (as when the
    database restarts): the pool still believes it alive."""
    engine = store.writer or store.engine
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        if hasattr(driver, "terminate"):  # asyncpg
            driver.terminate()
        else:  # aiosqlite
            await driver.close()


async def test_a_lost_store_connection_fails_one_command_at_most_then_the_store_answers(
    api: Api,
) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    await api.issue(admin)
    await kill_the_writers_connection(api.app.state.services.store)
    first = await api.post("/branches/b1/tickets", admin, json={"service": "A"})
    assert first.status_code in (201, 503), first.text
    second = await api.post("/branches/b1/tickets", admin, json={"service": "A"})
    assert second.status_code == 201, second.text
    queue = (await api.get("/branches/b1/queue", admin)).json()
    assert queue["waiting"] == (3 if first.status_code == 201 else 2)


async def test_the_branch_writers_have_their_own_engine_without_pre_ping(api: Api) -> None:
    store: Store = api.app.state.services.store
    assert store.writer is not None
    assert store.writer is not store.engine  # a commit never waits behind reads for a connection
    if api.settings.database_url.startswith("sqlite"):
        assert store.writer.pool.size() == 1  # type: ignore[attr-defined]  # one writer at a time
    else:
        assert store.writer.pool._pre_ping is False  # type: ignore[attr-defined]
        assert store.engine.pool._pre_ping is True  # type: ignore[attr-defined]
