"""Apply the Alembic migrations programmatically (``queuehall migrate``, ``serve``, tests), and
tell whether a store's schema is the one this code expects."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Run the migrations in a worker thread (Alembic's env runs its own event loop)."""
    await asyncio.to_thread(upgrade_sync, url, revision)


def head_revisions() -> frozenset[str]:
    """The revisions the migrations of this code end at."""
    script = ScriptDirectory(str(ROOT / "migrations"))
    return frozenset(script.get_heads())


async def current_revisions(engine: AsyncEngine) -> frozenset[str]:
    """The revisions the store is at; empty for a store that was never migrated."""

    def read(connection: Connection) -> frozenset[str]:
        return frozenset(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as connection:
        return await connection.run_sync(read)
