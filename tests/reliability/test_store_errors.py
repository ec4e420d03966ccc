"""Reads that cannot reach the store answer 503 ``StoreUnavailable`` with ``Retry-After``, like
commands that cannot be committed, on both stores and without a private cluster (the outage
test shows the same on a real PostgreSQL that is stopped). A constraint refusal stays a 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.auth import Role
from tests.api.conftest import Api, assert_error, make_branch


def failing(error: Exception) -> Callable[..., Any]:
    def sessions(*_: Any, **__: Any) -> Any:
        raise error

    return sessions


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        DBAPIError("SELECT 1", None, Exception("the database system is starting up")),
        TimeoutError(),  # a statement or connect timeout: a silent network
        PoolTimeout("QueuePool limit reached, connection timed out"),
    ],
    ids=["refused", "starting-up", "timeout", "pool-timeout"],
)
async def test_a_credential_check_without_the_store_answers_503(
    api: Api, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    services = api.app.state.services
    services.credentials._seen.clear()  # the cache has expired: the next request reads the store
    monkeypatch.setattr(services.store, "sessions", failing(error))
    response = await api.get("/branches/b1/queue", admin)
    assert_error(response, 503, "StoreUnavailable")
    assert response.headers["Retry-After"] == "1"
    monkeypatch.undo()
    assert (await api.get("/branches/b1/queue", admin)).status_code == 200


async def test_a_constraint_refusal_outside_a_command_is_not_called_an_outage(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    services = api.app.state.services
    services.credentials._seen.clear()
    monkeypatch.setattr(
        services.store, "sessions", failing(IntegrityError("INSERT", None, Exception("unique")))
    )
    assert_error(await api.get("/branches/b1/queue", admin), 500, "InternalError")
