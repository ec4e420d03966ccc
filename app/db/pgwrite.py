"""A batch of the write path in one statement and one round trip on PostgreSQL.

The general path (:meth:`app.db.store.Store.write_batch`) sends BEGIN, one statement per table
and COMMIT through SQLAlchemy: seven round trips and most of a command's CPU when commands
arrive one at a time. On PostgreSQL a batch without configuration writes (``Batch.extra``) is
instead one ``WITH`` statement of data-modifying parts, each fed by ``unnest`` of arrays, sent
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

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Double, Integer

from app.db import models
from app.queue_engine import Event

if TYPE_CHECKING:
    from app.db.store import Batch

Envelope = Callable[[str, int, Event], dict[str, Any]]


def _pg_type(column: Any) -> str:
    if isinstance(column.type, Integer):
        return "int4"
    if isinstance(column.type, Double):
        return "float8"
    return "text"


# Every ticket column but ``branch_id`` (the statement's first parameter), in table order.
TICKET_FIELDS: list[tuple[str, str]] = [
    (column.name, _pg_type(column))
    for column in models.Ticket.__table__.columns
    if column.name != "branch_id"
]
_ENGINE_FIELDS = [name for name, _ in TICKET_FIELDS if name not in ("token", "business_day")]


def _statement() -> str:
    parameter = 1  # $1 is the branch

    def arrays(types: list[str]) -> str:
        nonlocal parameter
        parts = []
        for pg_type in types:
            parameter += 1
            parts.append(f"${parameter}::{pg_type}[]")
        return ", ".join(parts)

    events = arrays(["int4", "text", "float8", "text"])
    ticket_names = [name for name, _ in TICKET_FIELDS]
    tickets = arrays([pg_type for _, pg_type in TICKET_FIELDS])
    ticket_updates = ", ".join(
        f"{name} = EXCLUDED.{name}" for name in ticket_names if name not in ("id", "finished_by")
    )
    counters = arrays(["int4", "text"])
    estimates = arrays(["text", "float8", "int4"])
    parameter += 1
    business_day = f"${parameter}::text"
    keys = arrays(["text", "text", "int4", "text", "float8"])
    columns = ", ".join(ticket_names)
    return f"""
WITH
events AS (
    INSERT INTO branch_events (branch_id, seq, type, at, data)
    SELECT $1, u.seq, u.type, u.at, u.data::json
    FROM unnest({events}) AS u(seq, type, at, data)
),
tickets AS (
    INSERT INTO tickets (branch_id, {columns})
    SELECT $1, {", ".join(f"u.{name}" for name in ticket_names)}
    FROM unnest({tickets}) AS u({columns})
    ON CONFLICT (branch_id, id) DO UPDATE SET {ticket_updates},
        finished_by = COALESCE(EXCLUDED.finished_by, tickets.finished_by)
),
counters AS (
    UPDATE counters AS c SET state = u.state
    FROM unnest({counters}) AS u(number, state)
    WHERE c.branch_id = $1 AND c.number = u.number
),
estimates AS (
    INSERT INTO service_estimates (branch_id, service, mean_seconds, samples)
    SELECT $1, u.service, u.mean_seconds, u.samples
    FROM unnest({estimates}) AS u(service, mean_seconds, samples)
    ON CONFLICT (branch_id, service) DO UPDATE
        SET mean_seconds = EXCLUDED.mean_seconds, samples = EXCLUDED.samples
),
day AS (
    UPDATE branches SET business_day = {business_day}
    WHERE id = $1 AND {business_day} IS NOT NULL
),
keys AS (
    INSERT INTO idempotency_keys (branch_id, key, request_hash, status_code, response, created_at)
    SELECT $1, u.key, u.request_hash, u.status_code, u.response::json, u.created_at
    FROM unnest({keys}) AS u(key, request_hash, status_code, response, created_at)
)
SELECT 1
"""


STATEMENT = _statement()


def _text(value: Any) -> Any:
    """Enum members as their values (asyncpg wants ``str``); other values as they are."""
    return value.value if hasattr(value, "value") else value


def arguments(branch_id: str, batch: Batch, envelope: Envelope) -> list[Any]:
    """The statement's parameters for ``batch``, in order; ``envelope`` gives an event's
    stored ``data`` as the general path stores it."""
    seqs, types, ats, data = [], [], [], []
    for seq, event in batch.events:
        seqs.append(seq)
        types.append(event.type)
        ats.append(event.at)
        data.append(json.dumps(envelope(branch_id, seq, event)["data"]))
    ticket_columns: dict[str, list[Any]] = {name: [] for name, _ in TICKET_FIELDS}
    finished_by = batch.finished_by
    for record, token, day in batch.tickets.values():
        for name in _ENGINE_FIELDS:
            if name == "finished_by":
                ticket_columns[name].append(finished_by.get(record.id))
            else:
                ticket_columns[name].append(_text(getattr(record, name)))
        ticket_columns["token"].append(token)
        ticket_columns["business_day"].append(day)
    for ticket_id in finished_by.keys() - batch.tickets.keys():
        # Never the case today (a finish writes its ticket), but the path must not drop it.
        raise ValueError(f"ticket {ticket_id} finished without its row in the batch")
    keys = batch.idempotency
    if any(key.branch_id != branch_id for key in keys):
        raise ValueError("an idempotency key of another branch in the batch")
    return [
        branch_id,
        seqs,
        types,
        ats,
        data,
        *ticket_columns.values(),
        list(batch.counters),
        [state.value for state in batch.counters.values()],
        list(batch.estimates),
        [estimate.mean_seconds for estimate in batch.estimates.values()],
        [estimate.samples for estimate in batch.estimates.values()],
        batch.business_day,
        [key.key for key in keys],
        [key.request_hash for key in keys],
        [key.status_code for key in keys],
        [json.dumps(key.response) for key in keys],
        [key.created_at for key in keys],
    ]
