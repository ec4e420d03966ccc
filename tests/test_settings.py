"""``.env.example`` documents every setting, and its values are the defaults it claims to be."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.settings import DEFAULT_DATABASE_URL, Settings

EXAMPLE = Path(__file__).parents[1] / ".env.example"


def example_names() -> list[str]:
    return re.findall(r"^#? ?QUEUEHALL_([A-Z_]+)=", EXAMPLE.read_text(), re.MULTILINE)


def test_every_setting_is_in_the_example_and_every_name_there_is_a_setting() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert set(example_names()) == fields


def test_the_example_as_a_dotenv_file_gives_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"QUEUEHALL_{name.upper()}", raising=False)
    from_example = Settings(_env_file=EXAMPLE)  # type: ignore[call-arg]
    assert from_example == Settings(_env_file=None)  # type: ignore[call-arg]
    assert from_example.database_url == DEFAULT_DATABASE_URL


def test_the_example_shows_the_postgresql_form() -> None:
    assert "QUEUEHALL_DATABASE_URL=postgresql+asyncpg://" in EXAMPLE.read_text()
