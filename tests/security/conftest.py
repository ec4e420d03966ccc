"""Security tests share the API tests' stores (SQLite, and PostgreSQL when set up) and builders."""

from tests.api.conftest import (  # noqa: F401  (fixtures: a migrated store on both tiers)
    api,
    clock,
    migrated,
    postgresql_database,
    quick_password_hashing,
    rate_limits_in_the_middle_of_their_window,
    sqlite_template,
    store_url,
)
