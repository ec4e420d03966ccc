"""The API tier's stores and fixtures (an empty migrated store per test, on SQLite and on
PostgreSQL when set up; quick password hashing; rate limits pinned mid-window)."""

from tests.api.conftest import (  # noqa: F401
    api,
    clock,
    migrated,
    postgresql_database,
    quick_password_hashing,
    rate_limits_in_the_middle_of_their_window,
    sqlite_template,
    store_url,
)
