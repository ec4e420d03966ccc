"""SIGKILL under load: a real ``queuehall serve`` on a fresh store (SQLite, and PostgreSQL when
``QUEUEHALL_TEST_DATABASE_URL`` is set) takes tickets and calls on several branches over HTTP,
is killed in the middle of it three times, and after every restart has lost nothing it
acknowledged, duplicated nothing, called no ticket twice, kept each branch's event log gap-free,
and serves the state that a rebuild from the store gives. The time from spawning the process to
``/readyz`` is printed (``-s``), not asserted; ``python -m benchmarks.soak`` records it."""

from __future__ import annotations

import random
from pathlib import Path

from tests.hall.conftest import database_url  # noqa: F401  (a fresh store, both tiers)

from .harness import (
    Ledger,
    add_branches,
    check_served_state,
    check_store,
    client,
    load_until_killed,
    prepare_store,
    server_environment,
    sign_in,
    start,
)

BRANCHES = ["north", "south", "east"]
KILLS = 3


async def test_sigkill_under_load_loses_and_repeats_nothing(
    database_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    await prepare_store(database_url)
    env = server_environment(database_url)
    rng = random.Random(8)
    ledger = Ledger()
    started = await start(env, tmp_path, "serve-0")
    try:
        token = await sign_in(started.server)
        async with client(started.server, token) as http:
            await add_branches(http, BRANCHES)
        ready: list[float] = []
        for kill in range(1, KILLS + 1):
            before = ledger.acknowledged
            await load_until_killed(
                started.server,
                token,
                BRANCHES,
                ledger,
                seconds=rng.uniform(1.0, 2.0),
                kiosks_per_branch=4,
                rng=rng,
            )
            assert ledger.acknowledged > before, f"no load reached the server ({ledger.statuses})"
            started = await start(env, tmp_path, f"serve-{kill}")
            ready.append(started.ready_seconds)
            facts = await check_store(database_url, ledger)
            await check_served_state(started.server, token, database_url, BRANCHES)
        # Unexpected answers would be 5xx or refusals: under this load every request succeeds.
        assert set(ledger.statuses) <= {200, 201}, ledger.statuses
        assert sum(ledger.calls[b] != [] for b in BRANCHES) == len(BRANCHES)
        print(
            f"\n{KILLS} kills; acknowledged {ledger.acknowledged} "
            f"({sum(len(t) for t in ledger.issued.values())} tickets); store: {facts}; "
            f"ready after restart: {', '.join(f'{s:.2f} s' for s in ready)}"
        )
    finally:
        await started.server.kill()
    assert "Traceback" not in "".join(
        path.read_text(errors="replace") for path in tmp_path.glob("serve-*.log")
    )
