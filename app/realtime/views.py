"""What each audience may see: event payloads and state, shaped per audience.

* Staff audiences (counter terminal, dashboard) see events as logged and the full state of
  ``GET /api/v1/branches/{b}/queue``.
* The public audience (lobby display) sees ticket numbers, service codes and counter names
  only: every field not listed in :data:`PUBLIC_FIELDS` is dropped. That keeps out free text a
  clerk typed (``outcome``), a ticket's priority class (a care ticket says something about its
  holder's health), appointment ids and call explanations. Tickets hold no names or phone
  numbers at all; the whitelist keeps it that way for anything added later.
* A customer sees one ticket: :func:`ticket_view`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from app.hall import HallRuntime
from app.queue_engine import BranchSnapshot
from app.schemas import ticket_body

Envelope = dict[str, Any]


class Audience(StrEnum):
    DISPLAY = "display"
    COUNTER = "counter"
    DASHBOARD = "dashboard"
    TICKET = "ticket"

    @property
    def public(self) -> bool:
        return self in (Audience.DISPLAY, Audience.TICKET)


_TICKET = ("number", "service")
PUBLIC_FIELDS: dict[str, tuple[str, ...]] = {
    "ticket_issued": (*_TICKET, "ahead", "eta_minutes"),
    "ticket_cancelled": _TICKET,
    "ticket_called": (*_TICKET, "counter", "counter_name"),
    "ticket_recalled": (*_TICKET, "counter", "counter_name", "recalls"),
    "service_started": (*_TICKET, "counter"),
    "ticket_finished": (*_TICKET, "counter"),
    "ticket_missed": (*_TICKET, "counter"),
    "ticket_returned": (*_TICKET, "ahead"),
    "ticket_transferred": (*_TICKET, "from_service", "from_counter", "to_counter"),
    "ticket_parked": (*_TICKET, "counter"),
    "ticket_unparked": (*_TICKET, "counter"),
    "ticket_expired": _TICKET,
    "counter_state_changed": ("counter", "state"),
    "business_day_started": ("business_day", "previous_day"),
    "notices_changed": ("notice_id",),  # displays ask for their notices again
}


def public_data(kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """The display's form of an event's data; None for an event type displays do not get."""
    fields = PUBLIC_FIELDS.get(kind)
    if fields is None:
        return None
    return {name: data[name] for name in fields if name in data}


# ------------------------------------------------------------------------------------------
# State


def full_state(runtime: HallRuntime, snapshot: BranchSnapshot, seq: int) -> dict[str, Any]:
    """The state of ``GET /api/v1/branches/{b}/queue``, for staff."""
    return {
        "branch": runtime.branch_id,
        "name": runtime.name,
        "business_day": snapshot.business_day,
        "seq": seq,
        "waiting": snapshot.waiting,
        "services": [
            {
                "code": s.code,
                "name": s.name,
                "name_en": s.name_en,
                "waiting": s.waiting,
                "longest_wait_seconds": round(s.longest_wait_seconds, 1),
                "eta_minutes": s.eta_minutes,
                "open_counters": s.open_counters,
                "issued_today": s.issued_today,
                "quota_left": s.quota_left,
                "paused": s.paused,
            }
            for s in snapshot.services
        ],
        "counters": [
            {
                "number": c.number,
                "name": c.name,
                "state": c.state.value,
                "ticket": ticket_body(c.ticket) if c.ticket else None,
                "direct_waiting": c.direct_waiting,
                "parked": list(c.parked),
                "tiers": [list(tier) for tier in c.services],
            }
            for c in snapshot.counters
        ],
        "recent_calls": [_call(call) for call in snapshot.recent_calls],
    }


def public_state(runtime: HallRuntime, snapshot: BranchSnapshot, seq: int) -> dict[str, Any]:
    """What a lobby display shows: ticket numbers and counter names, never anything else about
    a ticket's holder."""
    return {
        "branch": runtime.branch_id,
        "name": runtime.name,
        "business_day": snapshot.business_day,
        "seq": seq,
        "waiting": snapshot.waiting,
        "services": [_service_status(s) for s in snapshot.services],
        "counters": [
            {
                "number": c.number,
                "name": c.name,
                "state": c.state.value,
                "ticket": c.ticket.display if c.ticket else None,
                "ticket_state": c.ticket.state.value if c.ticket else None,
            }
            for c in snapshot.counters
        ],
        "recent_calls": [_call(call) for call in snapshot.recent_calls],
    }


def queue_status(snapshot: BranchSnapshot) -> dict[str, Any]:
    """Waiting per service: sent after each burst of live events (public and staff alike)."""
    return {
        "business_day": snapshot.business_day,
        "waiting": snapshot.waiting,
        "services": [_service_status(s) for s in snapshot.services],
    }


def _service_status(s: Any) -> dict[str, Any]:
    return {
        "code": s.code,
        "name": s.name,
        "name_en": s.name_en,
        "waiting": s.waiting,
        "eta_minutes": s.eta_minutes,
        "open_counters": s.open_counters,
    }


def _call(call: Any) -> dict[str, Any]:
    return {
        "number": call.number,
        "service": call.service,
        "counter": call.counter,
        "counter_name": call.counter_name,
        "called_at": call.called_at,
    }


def ticket_view(runtime: HallRuntime, ticket_id: int, token: str) -> dict[str, Any]:
    """One customer's ticket: number, service, state, people ahead, estimate, the counter it
    was called to, and once finished the page to rate the service."""
    engine = runtime.engine
    record = engine.ticket(ticket_id)
    service = engine.config.service(record.service)
    counter_name = None
    if record.counter is not None:
        counter_name = next(
            (c.display_name for c in engine.config.counters if c.number == record.counter), None
        )
    ahead = engine.position(ticket_id)
    almost = runtime.almost_turn_ahead
    return {
        "branch": runtime.branch_id,
        "branch_name": runtime.name,
        "number": record.display,
        "service": record.service,
        "service_name": service.name,
        "service_name_en": service.name_en,
        "state": record.state.value,
        "issued_at": record.issued_at,
        "ahead": ahead,
        "eta_minutes": engine.estimate_wait_minutes(ticket_id),
        "almost_your_turn": ahead is not None and ahead <= almost,
        "counter": record.counter if record.state.value != "waiting" else None,
        "counter_name": counter_name if record.state.value != "waiting" else None,
        "called_at": record.called_at,
        "recalls": record.recalls,
        "rate_url": f"/t/{token}" if record.state.value == "finished" else None,
    }
