"""Fixtures for the hall runtime: a migrated store per test, on SQLite (always) and on
PostgreSQL when ``QUEUEHALL_TEST_DATABASE_URL`` names a server to create databases on."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.db import models
from app.db.migrate import upgrade
from app.db.session import create_engine
from app.db.store import Store

PG_URL = os.environ.get("QUEUEHALL_TEST_DATABASE_URL")
STORES = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=STORES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'queuehall.db'}"
        return
    assert PG_URL is not None
    name = f"qh_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    await upgrade(database_url)
    engine = create_engine(database_url)
    yield Store(engine)
    await engine.dispose()


async def add_branch(
    store: Store,
    branch_id: str = "b1",
    *,
    services: tuple[str, ...] = ("A", "B"),
    counters: dict[int, list[list[str]]] | None = None,
    business_day: str = "2025-11-20",
    timezone: str = "Asia/Shanghai",
) -> None:
    counters = counters or {1: [["A"], ["B"]], 2: [["B", "A"]]}
    async with store.sessions() as session, session.begin():
        session.add(
            models.Branch(
                id=branch_id,
                name=f"网点 {branch_id}",
                timezone=timezone,
                business_day=business_day,
                created_at=0.0,
            )
        )
        await session.flush()
        for code in services:
            session.add(models.Service(branch_id=branch_id, code=code, name=f"业务{code}"))
        for number, tiers in counters.items():
            session.add(models.Counter(branch_id=branch_id, number=number, tiers=tiers))
