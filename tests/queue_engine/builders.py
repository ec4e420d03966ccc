"""Small builders with defaults for engine tests: override only what a test is about."""

from __future__ import annotations

from typing import Any

from app.queue_engine import (
    AppointmentPolicy,
    BranchConfig,
    CounterConfig,
    Event,
    MissedTicketPolicy,
    PriorityPolicy,
    QueueEngine,
    ServiceConfig,
    TicketCalled,
    TicketIssued,
)

T0 = 1_763_600_000.0  # a morning in November 2025, epoch seconds
MIN = 60.0


def make_service(code: str = "A", **overrides: Any) -> ServiceConfig:
    fields: dict[str, Any] = {"code": code, "name": f"业务{code}", "name_en": f"Service {code}"}
    fields.update(overrides)
    return ServiceConfig(**fields)


def make_counter(number: int = 1, tiers: Any = (("A",),), **overrides: Any) -> CounterConfig:
    return CounterConfig(number=number, tiers=tiers, **overrides)


def make_config(
    services: Any = None,
    counters: Any = None,
    *,
    head_starts: dict[str, float] | None = None,
    strict: bool = False,
    missed: MissedTicketPolicy | None = None,
    appointments: AppointmentPolicy | None = None,
    **overrides: Any,
) -> BranchConfig:
    return BranchConfig(
        services=services if services is not None else (make_service("A"), make_service("B")),
        counters=counters
        if counters is not None
        else (make_counter(1, (("A",), ("B",))), make_counter(2, (("B", "A"),))),
        priority=PriorityPolicy(
            head_start_seconds=head_starts
            if head_starts is not None
            else {"vip": 5 * MIN, "care": 10 * MIN, "appointment": 15 * MIN},
            strict_priority=strict,
        ),
        missed=missed or MissedTicketPolicy(),
        appointments=appointments or AppointmentPolicy(),
        **overrides,
    )


def make_engine(
    config: BranchConfig | None = None, *, open_counters: tuple[int, ...] = ()
) -> QueueEngine:
    engine = QueueEngine(config or make_config(), "2025-11-20")
    for number in open_counters:
        engine.open_counter(number, now=T0 - 3600)
    return engine


def issued(events: list[Event]) -> TicketIssued:
    (event,) = events
    assert isinstance(event, TicketIssued)
    return event


def called(events: list[Event]) -> TicketCalled:
    (event,) = events
    assert isinstance(event, TicketCalled)
    return event


def issue(engine: QueueEngine, service: str = "A", priority: str = "normal", *, at: float) -> int:
    """Issue a ticket and return its id."""
    return issued(engine.issue_ticket(service, priority, now=at)).ticket_id


def call_number(engine: QueueEngine, counter: int, *, at: float) -> str | None:
    """Call next at ``counter`` and return the called ticket's display number (None if idle)."""
    events = engine.call_next(counter, now=at)
    return called(events).number if events else None
