"""Counter commands: open, pause, close, call, recall, start, finish, next (finish and call
next), no-show, transfer, park, unpark, return. A clerk of the counter's branch (or a manager
or admin) or a paired counter device may use them. The same ``Idempotency-Key`` never acts twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from fastapi.responses import JSONResponse, Response

from app.auth import DeviceKind, Principal
from app.deps import ALL_STAFF, CurrentPrincipal, Services, ServicesDep, authorize
from app.hall import Idempotency
from app.queue_engine import (
    Event,
    QueueEngine,
    TicketCalled,
    TicketEvent,
    TicketFinished,
)
from app.schemas import BranchPath, CallTicket, Finish, Transfer, ticket_body

router = APIRouter(prefix="/branches/{branch}/counters/{number}", tags=["counters"])

Number = Annotated[int, Path(ge=1, le=9999)]
IdempotencyKey = Annotated[str | None, Header(max_length=128, alias="Idempotency-Key")]
COUNTER_DEVICES = frozenset({DeviceKind.COUNTER})


def counter_view(engine: QueueEngine, number: int) -> dict[str, Any]:
    status = engine.counter_status(number)
    return {
        "number": status.number,
        "name": status.name,
        "state": status.state.value,
        "ticket": ticket_body(status.ticket) if status.ticket else None,
        "direct_waiting": status.direct_waiting,
        "parked": list(status.parked),
    }


def event_reply(engine: QueueEngine, events: list[Event], number: int) -> tuple[int, Any]:
    """The counter after the command, and the tickets the command touched."""
    touched = [e.ticket_id for e in events if isinstance(e, TicketEvent)]
    return 200, {
        "counter": counter_view(engine, number),
        "tickets": [ticket_body(engine.ticket(t)) for t in dict.fromkeys(touched)],
        "events": [e.type for e in events],
    }


async def run_counter_command(
    services: ServicesDep,
    principal: CurrentPrincipal,
    branch: BranchPath,
    number: int,
    name: str,
    command: Callable[[QueueEngine, float], list[Event]],
    idempotency_key: str | None,
    request_body: Any = None,
    reply: Callable[[QueueEngine, list[Event]], tuple[int, Any]] | None = None,
) -> Response:
    authorize(principal, branch, roles=ALL_STAFF, devices=COUNTER_DEVICES)
    runtime = services.halls.get(branch)
    idempotency = (
        Idempotency.of(idempotency_key, name, number, request_body) if idempotency_key else None
    )
    # A clerk's finish names the clerk on the tickets it finishes (a rating is bound to them);
    # written in the command's batch, one statement per batch for all its commands.
    finisher = principal.id if principal.is_staff and name in ("finish", "next") else None
    status, payload = await runtime.run(
        command,
        reply or (lambda engine, events: event_reply(engine, events, number)),
        idempotency=idempotency,
        finished_by=finisher,
    )
    if status == 204:
        return Response(status_code=204)
    return JSONResponse(payload, status_code=status)


HOT_COUNTER_COMMANDS = ("next", "finish", "call-next")


async def hot_counter_command(
    services: Services,
    principal: Principal,
    branch: str,
    number: int,
    name: str,
    body: Finish | None,
    idempotency_key: str | None,
) -> Response:
    """``next``, ``finish`` or ``call-next`` once the request is parsed: the routes below and
    the hot path of :mod:`app.hotpath` both come here."""
    outcome = body.outcome if body else None
    if name == "next":
        return await run_counter_command(
            services,
            principal,
            branch,
            number,
            "next",
            lambda engine, now: engine.finish_and_call_next(number, now=now, outcome=outcome),
            idempotency_key,
            {"outcome": outcome},
            reply=lambda engine, events: next_reply(engine, events, number),
        )
    if name == "finish":
        return await run_counter_command(
            services,
            principal,
            branch,
            number,
            "finish",
            lambda engine, now: engine.finish(number, now=now, outcome=outcome),
            idempotency_key,
            {"outcome": outcome},
        )
    if name != "call-next":
        raise ValueError(name)
    return await run_counter_command(
        services,
        principal,
        branch,
        number,
        "call-next",
        lambda engine, now: engine.call_next(number, now=now),
        idempotency_key,
        reply=call_reply,
    )


def simple(name: str, method: str, summary: str) -> None:
    """Register a counter command that takes no body."""

    async def endpoint(
        branch: BranchPath,
        number: Number,
        services: ServicesDep,
        principal: CurrentPrincipal,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        return await run_counter_command(
            services,
            principal,
            branch,
            number,
            name,
            lambda engine, now: getattr(engine, method)(number, now=now),
            idempotency_key,
        )

    endpoint.__name__ = name.replace("-", "_")
    router.add_api_route(f"/{name}", endpoint, methods=["POST"], summary=summary)


simple("open", "open_counter", "Open (or resume) the counter")
simple("pause", "pause_counter", "Pause: keep the current ticket, call nobody new")
simple("close", "close_counter", "Close; direct and parked tickets go to the backup counter")
simple("recall", "recall", "Call the current ticket again")
simple("start", "start_serving", "The customer has arrived")
simple("no-show", "no_show", "The customer did not come")
simple("park", "park", "Set the current ticket aside")


def call_reply(engine: QueueEngine, events: list[Event]) -> tuple[int, Any]:
    if not events:
        return 204, None
    called = events[0]
    assert isinstance(called, TicketCalled)
    return 200, {
        "ticket": ticket_body(
            engine.ticket(called.ticket_id), waited_seconds=called.waited_seconds
        ),
        "reason": called.reason.value,
        "explanation": called.explanation,
        "explanation_en": called.explanation_en,
    }


@router.post("/call-next", summary="Call the next ticket (204 when nobody waits)")
async def call_next(
    branch: BranchPath,
    number: Number,
    services: ServicesDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await hot_counter_command(
        services, principal, branch, number, "call-next", None, idempotency_key
    )


def next_reply(engine: QueueEngine, events: list[Event], number: int) -> tuple[int, Any]:
    """Always 200: ``finished`` is the ticket the counter finished (null when it held none),
    ``ticket`` the one it called, with the call's reason (null when nobody waits)."""
    finished = next((e for e in events if isinstance(e, TicketFinished)), None)
    called = next((e for e in events if isinstance(e, TicketCalled)), None)
    return 200, {
        "finished": ticket_body(engine.ticket(finished.ticket_id)) if finished else None,
        "ticket": (
            ticket_body(engine.ticket(called.ticket_id), waited_seconds=called.waited_seconds)
            if called
            else None
        ),
        "reason": called.reason.value if called else None,
        "explanation": called.explanation if called else None,
        "explanation_en": called.explanation_en if called else None,
        "counter": counter_view(engine, number),
        "events": [e.type for e in events],
    }


@router.post("/next", summary="Finish the current ticket, if any, and call the next one")
async def finish_and_call_next(
    branch: BranchPath,
    number: Number,
    services: ServicesDep,
    principal: CurrentPrincipal,
    body: Finish | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The clerk's "next" button in one request and one command: the finish and the call are
    decided together and made durable in the same commit. A counter that is not open is
    refused (409) and keeps its ticket. ``outcome`` is kept on the finished ticket."""
    return await hot_counter_command(
        services, principal, branch, number, "next", body, idempotency_key
    )


@router.post("/call", summary="Call one waiting ticket out of order")
async def call_ticket(
    branch: BranchPath,
    number: Number,
    body: CallTicket,
    services: ServicesDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def command(engine: QueueEngine, now: float) -> list[Event]:
        return engine.call_ticket(number, engine.find_ticket(body.ticket).id, now=now)

    return await run_counter_command(
        services,
        principal,
        branch,
        number,
        "call",
        command,
        idempotency_key,
        body.model_dump(),
        reply=call_reply,
    )


@router.post("/finish", summary="Service done")
async def finish(
    branch: BranchPath,
    number: Number,
    services: ServicesDep,
    principal: CurrentPrincipal,
    body: Finish | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await hot_counter_command(
        services, principal, branch, number, "finish", body, idempotency_key
    )


@router.post("/transfer", summary="Send the current ticket to a service or a counter")
async def transfer(
    branch: BranchPath,
    number: Number,
    body: Transfer,
    services: ServicesDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await run_counter_command(
        services,
        principal,
        branch,
        number,
        "transfer",
        lambda engine, now: engine.transfer(
            number, now=now, service=body.service, counter=body.counter, position=body.position
        ),
        idempotency_key,
        body.model_dump(),
    )


@router.post("/unpark", summary="Resume a ticket this counter parked")
async def unpark(
    branch: BranchPath,
    number: Number,
    body: CallTicket,
    services: ServicesDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await run_counter_command(
        services,
        principal,
        branch,
        number,
        "unpark",
        lambda engine, now: engine.unpark(number, engine.find_ticket(body.ticket).id, now=now),
        idempotency_key,
        body.model_dump(),
    )


@router.post("/return", summary="A missed ticket comes back into the queue")
async def return_missed(
    branch: BranchPath,
    number: Number,
    body: CallTicket,
    services: ServicesDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def command(engine: QueueEngine, now: float) -> list[Event]:
        engine.counter_state(number)  # an unknown counter is refused before anything changes
        return engine.return_missed(engine.find_ticket(body.ticket).id, now=now)

    return await run_counter_command(
        services,
        principal,
        branch,
        number,
        "return",
        command,
        idempotency_key,
        body.model_dump(),
    )
