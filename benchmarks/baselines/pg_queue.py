"""The PostgreSQL-only queue that issue #3 measures Queuehall against.

The queue lives only in PostgreSQL; the process holds nothing but a connection pool and the
counters' work profiles. It is the best honest form of that design, not a straw man:

* asyncpg directly (no ORM, no SQLAlchemy), a pool of ``PGQUEUE_POOL_SIZE`` connections
  (default 16: the best of 8, 16, 32 and 64 at 64 requests in flight on the 2-core benchmark
  machine, see docs/performance.md), and asyncpg's per-connection prepared-statement cache, so
  every request after the first on a connection is one Bind/Execute round trip (asyncpg's
  reset query on release, another round trip, is switched off: nothing here changes session
  state);
* every command is one statement in its own implicit transaction: durable when PostgreSQL
  acknowledges it (``synchronous_commit`` as the server is configured; ``on`` by default), and
  concurrent commits share WAL flushes through PostgreSQL's own group commit;
* call-next finishes the counter's previous ticket and calls the next one in the same statement
  (``FOR UPDATE SKIP LOCKED`` on a partial index of waiting tickets), so one HTTP request does
  what Queuehall needs ``finish`` and ``call-next`` for;
* replies are built with ``JSONResponse`` from plain dicts (no response-model encoding).

The ordering key is Queuehall's: ``issued_at - head_start(priority)``, smallest first, then id.
A partial unique index keeps one called ticket per counter, the constraint Queuehall also has.

Run it like Queuehall: ``PGQUEUE_DSN=postgresql://... uvicorn --factory
benchmarks.baselines.pg_queue:create_app``. Endpoints (no authentication):

* ``PUT  /branches/{b}/counters/{n}``            body ``{"services": ["A", "B"]}``
* ``POST /branches/{b}/tickets``                 body ``{"service": "A", "priority": "normal"}``
* ``POST /branches/{b}/counters/{n}/call-next``  200 with the called ticket, 204 when none waits
* ``GET  /branches/{b}/waiting``                 number of waiting tickets
* ``GET  /healthz``
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

HEAD_START_SECONDS = {"normal": 0.0, "vip": 300.0, "care": 600.0}

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    branch   text    NOT NULL,
    number   integer NOT NULL,
    services text[]  NOT NULL,
    PRIMARY KEY (branch, number)
);
CREATE TABLE IF NOT EXISTS tickets (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    branch      text             NOT NULL,
    service     text             NOT NULL,
    priority    text             NOT NULL,
    key         double precision NOT NULL,
    state       text             NOT NULL DEFAULT 'waiting',
    counter     integer,
    created_at  timestamptz      NOT NULL DEFAULT now(),
    called_at   timestamptz,
    finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS tickets_waiting
    ON tickets (branch, key, id) WHERE state = 'waiting';
CREATE UNIQUE INDEX IF NOT EXISTS tickets_one_called_per_counter
    ON tickets (branch, counter) WHERE state = 'called';
"""

ISSUE = """
INSERT INTO tickets (branch, service, priority, key)
VALUES ($1, $2, $3, extract(epoch FROM now()) - $4)
RETURNING id, extract(epoch FROM created_at) AS issued_at
"""

# One statement, one transaction: finish what the counter holds, call the next waiting ticket.
# The main UPDATE joins the count of finished rows, so the counter's previous ticket has left
# the "called" state (and the one-called-ticket-per-counter index) before the next one enters it.
# A data-modifying CTE always runs to completion, so the previous ticket is finished even when
# nobody waits.
CALL_NEXT = """
WITH finished AS (
    UPDATE tickets SET state = 'finished', finished_at = now()
    WHERE branch = $1 AND counter = $2 AND state = 'called'
    RETURNING id
), next AS (
    SELECT id FROM tickets
    WHERE branch = $1 AND state = 'waiting' AND service = ANY($3::text[])
    ORDER BY key, id
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
UPDATE tickets t SET state = 'called', counter = $2, called_at = now()
FROM next, (SELECT count(*) AS n FROM finished) AS done
WHERE t.id = next.id
RETURNING t.id, t.service, t.priority, extract(epoch FROM t.created_at) AS issued_at,
          extract(epoch FROM t.called_at) AS called_at, done.n AS finished
"""

Branch = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,32}$")]
Number = Annotated[int, Path(ge=1, le=9999)]
ServiceCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,3}$")]


class IssueTicket(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: ServiceCode
    priority: Literal["normal", "vip", "care"] = "normal"


class CounterProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    services: list[ServiceCode] = Field(min_length=1, max_length=50)


async def keep_session(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's reset on release (``RESET ALL``, ``UNLISTEN *``...: one more round trip
    per request): this service never changes session state, listens, or takes advisory locks."""


def create_app() -> FastAPI:
    dsn = os.environ["PGQUEUE_DSN"]
    pool_size = int(os.environ.get("PGQUEUE_POOL_SIZE", "16"))
    profiles: dict[tuple[str, int], list[str]] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(
            dsn, min_size=pool_size, max_size=pool_size, reset=keep_session
        )
        async with pool.acquire() as connection:
            await connection.execute(SCHEMA)
            for row in await connection.fetch("SELECT branch, number, services FROM counters"):
                profiles[(row["branch"], row["number"])] = list(row["services"])
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(title="PostgreSQL-only queue (baseline)", lifespan=lifespan)

    def pool_of(request: Request) -> asyncpg.Pool:
        pool: asyncpg.Pool = request.app.state.pool
        return pool

    @app.put("/branches/{branch}/counters/{number}")
    async def put_counter(
        branch: Branch, number: Number, body: CounterProfile, request: Request
    ) -> Response:
        await pool_of(request).execute(
            "INSERT INTO counters VALUES ($1, $2, $3) "
            "ON CONFLICT (branch, number) DO UPDATE SET services = excluded.services",
            branch,
            number,
            body.services,
        )
        profiles[(branch, number)] = list(body.services)
        return JSONResponse({"branch": branch, "number": number, "services": body.services})

    @app.post("/branches/{branch}/tickets", status_code=201)
    async def issue_ticket(branch: Branch, body: IssueTicket, request: Request) -> Response:
        row = await pool_of(request).fetchrow(
            ISSUE, branch, body.service, body.priority, HEAD_START_SECONDS[body.priority]
        )
        assert row is not None
        return JSONResponse(
            {
                "id": row["id"],
                "branch": branch,
                "service": body.service,
                "priority": body.priority,
                "issued_at": float(row["issued_at"]),
            },
            status_code=201,
        )

    @app.post("/branches/{branch}/counters/{number}/call-next")
    async def call_next(branch: Branch, number: Number, request: Request) -> Response:
        services = profiles.get((branch, number))
        if services is None:
            return JSONResponse({"error": "NotFound", "detail": "No such counter."}, 404)
        row = await pool_of(request).fetchrow(CALL_NEXT, branch, number, services)
        if row is None:
            return Response(status_code=204)
        body: dict[str, Any] = {
            "ticket": {
                "id": row["id"],
                "service": row["service"],
                "priority": row["priority"],
                "issued_at": float(row["issued_at"]),
                "called_at": float(row["called_at"]),
                "counter": number,
            },
            "finished_previous": bool(row["finished"]),
        }
        return JSONResponse(body)

    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/branches/{branch}/waiting")
    async def waiting(branch: Branch, request: Request) -> Response:
        count = await pool_of(request).fetchval(
            "SELECT count(*) FROM tickets WHERE branch = $1 AND state = 'waiting'", branch
        )
        return JSONResponse({"waiting": count})

    return app
