"""A batch of the write path in one statement on PostgreSQL.

The general path (:meth:`app.db.store.Store.write_batch`) sends BEGIN, one statement per table
and COMMIT through SQLAlchemy: seven round trips and most of a command's CPU when commands
arrive one at a time. On PostgreSQL a batch without configuration writes (``Batch.extra``) is
instead one ``WITH`` statement of data-modifying parts, each fed by ``json_populate_recordset``
over one JSON parameter (40 array parameters cost asyncpg twice the CPU to encode), sent
through the asyncpg connection under SQLAlchemy's pooled one, between BEGIN and COMMIT (three
round trips instead of seven; see ``Store._write_in_one_statement`` for why not autocommit).

What it writes is what the general path writes, checked by ``tests/hall/test_pgwrite.py``:

* ``branch_events``: one row per event;
* ``tickets``: an upsert per ticket, rows in the batch's order (a ticket leaving a counter
  before the one that takes its place: the one-active-ticket-per-counter index is checked row
  by row). ``finished_by`` rides on the same row (a statement cannot change one row twice) and
  is only ever set, never cleared;
* ``counters.state``, ``service_estimates``, ``branches.business_day``, ``idempotency_keys``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.db import models
from app.queue_engine import Event
from app.queue_engine.model import TicketRecord

if TYPE_CHECKING:
    from app.db.store import Batch

Envelope = Callable[[str, int, Event], dict[str, Any]]

# The engine's ticket fields (``app.db.store`` takes them from here).
TICKET_COLUMNS = [f.name for f in dataclasses.fields(TicketRecord)]
# Floats as repr (exact round trip), ASCII escapes as the general path's JSON columns have them.
dumps = json.JSONEncoder(allow_nan=False).encode


# Every ticket column but ``branch_id`` (the statement's first parameter), in table order.
TICKET_FIELDS: list[str] = [
    column.name for column in models.Ticket.__table__.columns if column.name != "branch_id"
]


def _statement() -> str:
    columns = ", ".join(TICKET_FIELDS)
    ticket_updates = ", ".join(
        f"{name} = EXCLUDED.{name}" for name in TICKET_FIELDS if name not in ("id", "finished_by")
    )
    return f"""
WITH
events AS (
    INSERT INTO branch_events (branch_id, seq, type, at, data)
    SELECT $1, u.seq, u.type, u.at, u.data
    FROM json_populate_recordset(NULL::branch_events, $2::json) AS u
),
tickets AS (
    INSERT INTO tickets (branch_id, {columns})
    SELECT $1, {", ".join(f"u.{name}" for name in TICKET_FIELDS)}
    FROM json_populate_recordset(NULL::tickets, $3::json) AS u
    ON CONFLICT (branch_id, id) DO UPDATE SET {ticket_updates},
        finished_by = COALESCE(EXCLUDED.finished_by, tickets.finished_by)
),
counters AS (
    UPDATE counters AS c SET state = u.state
    FROM json_populate_recordset(NULL::counters, $4::json) AS u
    WHERE c.branch_id = $1 AND c.number = u.number
),
estimates AS (
    INSERT INTO service_estimates (branch_id, service, mean_seconds, samples)
    SELECT $1, u.service, u.mean_seconds, u.samples
    FROM json_populate_recordset(NULL::service_estimates, $5::json) AS u
    ON CONFLICT (branch_id, service) DO UPDATE
        SET mean_seconds = EXCLUDED.mean_seconds, samples = EXCLUDED.samples
),
day AS (
    UPDATE branches SET business_day = $6::text
    WHERE id = $1 AND $6::text IS NOT NULL
),
keys AS (
    INSERT INTO idempotency_keys (branch_id, key, request_hash, status_code, response, created_at)
    SELECT $1, u.key, u.request_hash, u.status_code, u.response, u.created_at
    FROM json_populate_recordset(NULL::idempotency_keys, $7::json) AS u
)
SELECT 1
"""


STATEMENT = _statement()


def arguments(branch_id: str, batch: Batch, envelope: Envelope) -> list[Any]:
    """The statement's parameters for ``batch``, in order: the branch, then each table's rows
    as one JSON array of objects named like its columns (enum members are ``str``: JSON has
    their values); ``envelope`` gives an event's stored ``data`` as the general path stores
    it."""
    events = [
        {
            "seq": seq,
            "type": event.type,
            "at": event.at,
            "data": envelope(branch_id, seq, event)["data"],
        }
        for seq, event in batch.events
    ]
    finished_by = batch.finished_by
    if not finished_by.keys() <= batch.tickets.keys():
        # Never the case today (a finish writes its ticket), but the path must not drop it.
        raise ValueError("a ticket finished without its row in the batch")
    tickets = []
    for record, token, day in batch.tickets.values():
        row = {name: getattr(record, name) for name in TICKET_COLUMNS}
        row["token"] = token
        row["business_day"] = day
        row["finished_by"] = finished_by.get(record.id)
        tickets.append(row)
    keys = batch.idempotency
    if any(key.branch_id != branch_id for key in keys):
        raise ValueError("an idempotency key of another branch in the batch")
    return [
        branch_id,
        dumps(events),
        dumps(tickets),
        dumps([{"number": number, "state": state} for number, state in batch.counters.items()]),
        dumps(
            [
                {"service": code, "mean_seconds": e.mean_seconds, "samples": e.samples}
                for code, e in batch.estimates.items()
            ]
        ),
        batch.business_day,
        dumps(
            [
                {
                    "key": key.key,
                    "request_hash": key.request_hash,
                    "status_code": key.status_code,
                    "response": key.response,
                    "created_at": key.created_at,
                }
                for key in keys
            ]
        ),
    ]
