"""Taking a ticket (kiosk device or staff) and the customer's view of it (token only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse

from app.auth import DeviceKind, Principal
from app.deps import ALL_STAFF, OptionalPrincipal, Services, ServicesDep, authorize
from app.errors import NotAuthenticated, NotFound
from app.hall import HallRuntime, Idempotency
from app.openapi import RATE_LIMITED
from app.queue_engine import Event, QueueEngine, TicketIssued
from app.schemas import BranchPath, IssueTicket, ticket_body

router = APIRouter(tags=["tickets"])

IdempotencyKey = Annotated[str | None, Header(max_length=128, alias="Idempotency-Key")]
Token = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def customer_view(runtime: HallRuntime, ticket_id: int) -> dict[str, Any]:
    engine = runtime.engine
    return ticket_view(
        runtime,
        ticket_id,
        ahead=engine.position(ticket_id),
        eta_minutes=engine.estimate_wait_minutes(ticket_id),
    )


def ticket_view(
    runtime: HallRuntime, ticket_id: int, *, ahead: int | None, eta_minutes: int | None
) -> dict[str, Any]:
    """The customer's view of a ticket, with its position and estimate already known."""
    engine = runtime.engine
    record = engine.ticket(ticket_id)
    counter_name = None
    if record.counter is not None:
        counter_name = next(
            (c.display_name for c in engine.config.counters if c.number == record.counter), None
        )
    service = engine.config.service(record.service)
    return ticket_body(
        record,
        branch=runtime.branch_id,
        service_name=service.name,
        service_name_en=service.name_en,
        counter_name=counter_name,
        ahead=ahead,
        eta_minutes=eta_minutes,
    )


@router.post(
    "/branches/{branch}/tickets", status_code=201, summary="Take a ticket", responses=RATE_LIMITED
)
async def issue_ticket(
    branch: BranchPath,
    body: IssueTicket,
    services: ServicesDep,
    principal: OptionalPrincipal,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """A kiosk device or a staff member takes a number for a customer. Rate limited per client
    address and per device. Returns the ticket with its customer ``token``."""
    return await issue(services, principal, branch, body, client_address(request), idempotency_key)


async def issue(
    services: Services,
    principal: Principal | None,
    branch: str,
    body: IssueTicket,
    address: str,
    idempotency_key: str | None,
) -> JSONResponse:
    """What ``POST /branches/{branch}/tickets`` does once its request is parsed (the route
    above, and the hot path of :mod:`app.hotpath`)."""
    if principal is None:
        raise NotAuthenticated(headers={"WWW-Authenticate": "Bearer"})
    authorize(principal, branch, roles=ALL_STAFF, devices=frozenset({DeviceKind.KIOSK}))
    limiter = services.limiter
    await limiter.check(services.settings.rate_limit_issue, "issue-ip", address)
    if not principal.is_staff:
        await limiter.check(services.settings.rate_limit_issue, "issue-device", str(principal.id))
    runtime = services.halls.get(branch)

    def command(engine: QueueEngine, now: float) -> list[Event]:
        return engine.issue_ticket(body.service, body.priority, body.channel, now=now)

    def reply(engine: QueueEngine, events: list[Event]) -> tuple[int, Any]:
        issued = events[0]
        assert isinstance(issued, TicketIssued)
        # The event already carries the position and estimate at issue: no second computation.
        view = ticket_view(
            runtime, issued.ticket_id, ahead=issued.ahead, eta_minutes=issued.eta_minutes
        )
        view["token"] = runtime.tokens[issued.ticket_id]
        return 201, view

    idempotency = (
        Idempotency.of(idempotency_key, "issue", body.model_dump()) if idempotency_key else None
    )
    status, payload = await runtime.run(command, reply, idempotency=idempotency)
    return JSONResponse(payload, status_code=status)


@router.get("/tickets/{token}", summary="A customer's ticket", responses=RATE_LIMITED)
async def get_ticket(token: Token, services: ServicesDep, request: Request) -> dict[str, Any]:
    """Position, estimate, state and counter when called. Public: the token is the handle."""
    await services.limiter.check(
        services.settings.rate_limit_public, "lookup-ip", client_address(request)
    )
    found = services.halls.ticket_by_token(token)
    if found is None:
        raise NotFound("No ticket has this link; it may be from an earlier day.")
    runtime, ticket_id = found
    return customer_view(runtime, ticket_id)


@router.delete("/tickets/{token}", summary="The customer cancels", responses=RATE_LIMITED)
async def cancel_ticket(token: Token, services: ServicesDep, request: Request) -> Any:
    await services.limiter.check(
        services.settings.rate_limit_public, "lookup-ip", client_address(request)
    )
    found = services.halls.ticket_by_token(token)
    if found is None:
        raise NotFound("No ticket has this link; it may be from an earlier day.")
    runtime, ticket_id = found

    def command(engine: QueueEngine, now: float) -> list[Event]:
        return engine.cancel_ticket(ticket_id, now=now)

    def reply(engine: QueueEngine, events: list[Event]) -> tuple[int, Any]:
        return 200, customer_view(runtime, ticket_id)

    _, payload = await runtime.run(command, reply)
    return payload
