"""Migration 0002 on a store that already holds a branch: its policy gets the rating defaults,
its devices and tickets the new empty columns; and it goes down and up again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.db.migrate import alembic_config, upgrade_sync
from app.db.session import create_engine

from .conftest import PG_URL, STORES, _on_server


@pytest.fixture(params=STORES)
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    assert PG_URL is not None
    name = f"qh_mig_{uuid.uuid4().hex[:12]}"
    asyncio.run(_on_server(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def execute(url: str, *statements: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            rows: list[tuple[object, ...]] = []
            for statement in statements:
                result = await connection.execute(text(statement))
                if result.returns_rows:
                    rows.extend(tuple(row) for row in result.all())
            return rows
    finally:
        await engine.dispose()


def test_an_existing_branch_gets_the_rating_defaults(empty_store: str) -> None:
    upgrade_sync(empty_store, "0001")
    asyncio.run(
        execute(
            empty_store,
            "INSERT INTO branches (id, name, timezone, business_day, created_at) "
            "VALUES ('old', '老网点', 'Asia/Shanghai', '2025-11-20', 0)",
            "INSERT INTO policies (branch_id, head_start_seconds, strict_priority, "
            "missed_grace_seconds, missed_reinsert_places, missed_max_returns, "
            "appointment_early_seconds, appointment_late_seconds, appointment_late_action, "
            "almost_turn_ahead, updated_at) "
            "VALUES ('old', '{}', false, 1800, 3, 1, 3600, 900, 'walk_in', 3, 0)",
            "INSERT INTO devices (branch_id, kind, name, created_at) "
            "VALUES ('old', 'evaluator', 'e', 0)",
        )
    )
    upgrade_sync(empty_store)
    rows = asyncio.run(
        execute(
            empty_store,
            "SELECT rating_scale, rating_window_hours, rating_reasons, "
            "case_deadline_working_days FROM policies",
            "SELECT counter FROM devices",
        )
    )
    assert rows == [("four", 24.0, None, 2), (None,)]
    command.downgrade(alembic_config(empty_store), "0001")
    upgrade_sync(empty_store)
    assert asyncio.run(execute(empty_store, "SELECT count(*) FROM ratings")) == [(0,)]
