"""The mini-program backend (``/api/v1/mp/...``): a customer on a phone logs in, looks at
branches and services, books, cancels, reschedules and checks in, and takes today's ticket
remotely. Every route but login needs the customer's session token; a booking or ticket of
another customer answers 404, as one that does not exist does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import Field, StringConstraints
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments import checkin
from app.appointments import rules as r
from app.appointments.views import booking_view, customer_view
from app.auth import InvalidToken
from app.db import bookings as db
from app.db import models
from app.deps import Services, ServicesDep, bearer
from app.errors import NotAuthenticated
from app.hall import HallRuntime
from app.identity import customer_id_of, issue_customer_token
from app.openapi import NAMED_IN_BODY_NOT_FOUND, RATE_LIMITED, REFUSED_CREDENTIAL
from app.queue_engine import CounterState, Event, QueueEngine, TicketIssued, TicketState
from app.queue_engine.engine import paused_refusal
from app.routers.appointments import (
    Day,
    PersonName,
    Phone,
    limit_booking,
    notify_watch,
    slots_for,
    wake_sender,
)
from app.routers.tickets import client_address, ticket_view
from app.routers.tickets import customer_view as ticket_customer_view
from app.schemas import MAX_ID, BranchId, BranchPath, ServiceCode, Strict

router = APIRouter(prefix="/mp", tags=["mini-program"])

ACTIVE_TICKET = frozenset(
    {
        TicketState.WAITING,
        TicketState.CALLED,
        TicketState.SERVING,
        TicketState.PARKED,
        TicketState.MISSED,
    }
)


BookingId = Annotated[int, Path(ge=1, le=MAX_ID)]
RemoteId = Annotated[int, Path(ge=1, le=MAX_ID)]


class Login(Strict):
    code: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Me(Strict):
    phone: Phone | None = None
    name: PersonName | None = None


class Location(Strict):
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class Book(Strict):
    branch: BranchId
    slot: int = Field(ge=1, le=MAX_ID)


class Move(Strict):
    slot: int = Field(ge=1, le=MAX_ID)


class TakeTicket(Strict):
    branch: BranchId
    service: ServiceCode


async def current_customer(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> models.Customer:
    if credentials is None:
        raise NotAuthenticated("Log in to the mini-program first.")
    try:
        customer_id = customer_id_of(services.secret, credentials.credentials)
    except InvalidToken:
        raise NotAuthenticated("The customer session is invalid or has expired.") from None
    row = await db.customer(services.store, customer_id)
    if row is None:
        raise NotAuthenticated("This customer session is no longer valid; log in again.")
    return row


CustomerDep = Annotated[models.Customer, Depends(current_customer)]


def me_view(customer: models.Customer) -> dict[str, Any]:
    return {"id": customer.id, **(customer_view(customer, full=True) or {})}


@router.post(
    "/login",
    summary="Log in with a mini-program code",
    responses={**RATE_LIMITED, **REFUSED_CREDENTIAL},
)
async def login(body: Login, services: ServicesDep, request: Request) -> dict[str, Any]:
    """Exchanges the ``wx.login`` code with the identity provider (WeChat ``code2Session``, or
    ``dev``) and returns a customer session token."""
    await services.limiter.check(
        services.settings.rate_limit_public, "mp-login", client_address(request)
    )
    identity = request.app.state.identity
    openid = await identity.openid_for(body.code)
    customer = await db.customer_by_openid(services.store, openid, services.halls.clock())
    token = issue_customer_token(
        services.secret, customer.id, services.settings.customer_token_days * 86400
    )
    return {"token": token, "token_type": "bearer", "customer": me_view(customer)}


@router.get("/me", summary="The customer's own details")
async def get_me(customer: CustomerDep) -> dict[str, Any]:
    return me_view(customer)


@router.put("/me", summary="Set one's phone and name")
async def put_me(body: Me, customer: CustomerDep, services: ServicesDep) -> dict[str, Any]:
    row = await db.update_customer(services.store, customer.id, phone=body.phone, name=body.name)
    return me_view(row)


# ----------------------------------------------------------------------------------------
# Branches and services


def service_statuses(runtime: HallRuntime) -> tuple[bool, list[dict[str, Any]]]:
    snapshot = runtime.engine.snapshot(runtime.clock())
    is_open = any(c.state is not CounterState.CLOSED for c in snapshot.counters)
    return is_open, [
        {
            "code": s.code,
            "name": s.name,
            "name_en": s.name_en,
            "waiting": s.waiting,
            "eta_minutes": s.eta_minutes,
            "open_counters": s.open_counters,
            "paused": s.paused,
        }
        for s in snapshot.services
    ]


@router.get("/branches", summary="Branches, open or closed, with waiting counts")
async def list_branches(
    services: ServicesDep,
    customer: CustomerDep,
    latitude: Annotated[float | None, Query(ge=-90, le=90)] = None,
    longitude: Annotated[float | None, Query(ge=-180, le=180)] = None,
) -> list[dict[str, Any]]:
    """Every branch with its open state, waiting count and estimate per service, and its
    distance in metres when the client sends its location (nearest first)."""
    async with services.store.sessions() as session:
        profiles = {
            p.branch_id: p for p in (await session.scalars(select(models.BranchProfile))).all()
        }
    result = []
    for runtime in services.halls:
        is_open, statuses = service_statuses(runtime)
        profile = profiles.get(runtime.branch_id)
        distance = None
        if (
            profile is not None
            and profile.latitude is not None
            and profile.longitude is not None
            and latitude is not None
            and longitude is not None
        ):
            distance = round(
                r.distance_meters(latitude, longitude, profile.latitude, profile.longitude)
            )
        result.append(
            {
                "id": runtime.branch_id,
                "name": runtime.name,
                "open": is_open,
                "waiting": sum(s["waiting"] for s in statuses),
                "services": statuses,
                "address": profile.address if profile else "",
                "phone": profile.phone if profile else "",
                "hours": profile.hours if profile else "",
                "latitude": profile.latitude if profile else None,
                "longitude": profile.longitude if profile else None,
                "distance_m": distance,
            }
        )
    result.sort(key=lambda b: (b["distance_m"] is None, b["distance_m"] or 0, b["id"]))
    return result


@router.get("/branches/{branch}/services", summary="Services with required materials")
async def branch_services(
    branch: BranchPath, services: ServicesDep, customer: CustomerDep
) -> list[dict[str, Any]]:
    runtime = services.halls.get(branch)
    _, statuses = service_statuses(runtime)
    async with services.store.sessions() as session:
        rows = {
            s.code: s
            for s in (
                await session.scalars(
                    select(models.Service).where(models.Service.branch_id == branch)
                )
            ).all()
        }
        remote = {
            s.service: s
            for s in (
                await session.scalars(
                    select(models.RemoteSettings).where(models.RemoteSettings.branch_id == branch)
                )
            ).all()
        }
    for status in statuses:
        row = rows.get(status["code"])
        setting = remote.get(status["code"])
        status["materials"] = list(row.materials) if row is not None else []
        status["mean_service_minutes"] = row.mean_service_minutes if row is not None else None
        status["remote_ticket"] = bool(setting and setting.enabled)
        status["arrive_within_minutes"] = setting.arrive_within_minutes if setting else None
    return statuses


@router.get("/branches/{branch}/slots", summary="Bookable slots")
async def branch_slots(
    branch: BranchPath,
    services: ServicesDep,
    customer: CustomerDep,
    service: Annotated[ServiceCode | None, Query()] = None,
    day: Annotated[Day | None, Query()] = None,
) -> list[dict[str, Any]]:
    services.halls.get(branch)
    return await slots_for(services, branch, service, day)


# ----------------------------------------------------------------------------------------
# Bookings


def timezone_of(services: Services, branch: str) -> str:
    try:
        return services.halls.get(branch).timezone
    except LookupError:
        return "Asia/Shanghai"


@router.post(
    "/bookings",
    status_code=201,
    summary="Book a slot",
    responses={**RATE_LIMITED, **NAMED_IN_BODY_NOT_FOUND},
)
async def book(
    body: Book, services: ServicesDep, customer: CustomerDep, request: Request
) -> dict[str, Any]:
    """Rate limited per client address and per customer."""
    await limit_booking(services, client_address(request), f"customer:{customer.id}")
    runtime = services.halls.get(body.branch)
    booked = await db.book(
        services.store,
        body.branch,
        body.slot,
        now=services.halls.clock(),
        customer_id=customer.id,
        channel="miniprogram",
    )
    wake_sender(services)
    return booking_view(booked.booking, runtime.timezone, customer=booked.customer, full=True)


@router.get("/bookings", summary="My bookings")
async def my_bookings(services: ServicesDep, customer: CustomerDep) -> list[dict[str, Any]]:
    rows = await db.bookings_of_customer(services.store, customer.id)
    return [
        booking_view(b, timezone_of(services, b.branch_id), customer=customer, full=True)
        for b in rows
    ]


async def own_booking(
    services: Services, customer: models.Customer, booking_id: int
) -> models.Booking:
    return await db.find_booking(services.store, booking_id=booking_id, customer_id=customer.id)


@router.get("/bookings/{booking_id}", summary="One of my bookings")
async def my_booking(
    booking_id: BookingId, services: ServicesDep, customer: CustomerDep
) -> dict[str, Any]:
    booking = await own_booking(services, customer, booking_id)
    return booking_view(
        booking, timezone_of(services, booking.branch_id), customer=customer, full=True
    )


@router.post("/bookings/{booking_id}/cancel", summary="Cancel my booking")
async def cancel_booking(
    booking_id: BookingId, services: ServicesDep, customer: CustomerDep
) -> dict[str, Any]:
    booking = await own_booking(services, customer, booking_id)
    cancelled = await db.cancel(
        services.store, booking.id, now=services.halls.clock(), reason="客户取消 / by customer"
    )
    return booking_view(
        cancelled, timezone_of(services, booking.branch_id), customer=customer, full=True
    )


@router.post("/bookings/{booking_id}/reschedule", summary="Move my booking to another slot")
async def reschedule_booking(
    booking_id: BookingId, body: Move, services: ServicesDep, customer: CustomerDep
) -> dict[str, Any]:
    booking = await own_booking(services, customer, booking_id)
    moved = await db.reschedule(
        services.store, booking.branch_id, booking.id, body.slot, now=services.halls.clock()
    )
    wake_sender(services)
    return booking_view(
        moved, timezone_of(services, booking.branch_id), customer=customer, full=True
    )


async def near_branch(services: Services, branch: str, where: Location, radius: int) -> None:
    """From the phone, check-in and arrival need the customer within the branch's radius
    (when the branch has a location)."""
    async with services.store.sessions() as session:
        profile = await session.get(models.BranchProfile, branch)
    if profile is None or profile.latitude is None or profile.longitude is None:
        return
    if where.latitude is None or where.longitude is None:
        raise r.LocationRequired()
    distance = r.distance_meters(
        where.latitude, where.longitude, profile.latitude, profile.longitude
    )
    if distance > radius:
        raise r.NotNearBranch(radius)


@router.post("/bookings/{booking_id}/check-in", status_code=201, summary="Check in from the phone")
async def check_in(
    booking_id: BookingId, body: Location, services: ServicesDep, customer: CustomerDep
) -> dict[str, Any]:
    booking = await own_booking(services, customer, booking_id)
    runtime = services.halls.get(booking.branch_id)
    async with services.store.sessions() as session:
        rules = await db.booking_rules(session, booking.branch_id)
    await near_branch(services, booking.branch_id, body, rules.check_in_radius_meters)
    ticket, _ = await checkin.check_in(runtime, booking, store=services.store)
    notify_watch(services, booking.branch_id, ticket["id"], customer.id)
    ticket["booking"] = booking.code
    return ticket


# ----------------------------------------------------------------------------------------
# Remote tickets


async def _remote_settings(
    session: AsyncSession, branch: str, service: str
) -> models.RemoteSettings | None:
    row: models.RemoteSettings | None = await session.get(models.RemoteSettings, (branch, service))
    return row


def _still_active(runtime: HallRuntime, row: models.RemoteTicket) -> bool:
    if row.ticket_id is None:
        return True  # being issued right now
    if row.ticket_id not in runtime.tokens:
        return False
    return runtime.engine.ticket(row.ticket_id).state in ACTIVE_TICKET


@router.post(
    "/tickets",
    status_code=201,
    summary="Take today's ticket from the phone",
    responses={**RATE_LIMITED, **NAMED_IN_BODY_NOT_FOUND},
)
async def take_ticket(
    body: TakeTicket, services: ServicesDep, customer: CustomerDep, request: Request
) -> dict[str, Any]:
    """Joins today's queue like any other ticket (followed through ``/t/{token}`` and
    ``/ws/tickets/{token}``). Refused when the service takes no phone tickets, the branch is
    closed, today's phone quota is gone, or the customer already holds a ticket of it. Rate
    limited like booking, per client address and per customer."""
    await limit_booking(services, client_address(request), f"customer:{customer.id}")
    runtime = services.halls.get(body.branch)
    if body.service not in {s.code for s in runtime.engine.config.services}:
        raise r.ServiceNotFound(body.service)
    if runtime.engine.config.service(body.service).paused:
        raise paused_refusal(runtime.engine.config.service(body.service))
    now = runtime.clock()
    day = runtime.today(now)
    async with services.store.sessions() as session, session.begin():
        setting = await _remote_settings(session, body.branch, body.service)
        if setting is None or not setting.enabled:
            raise r.RemoteDisabled()
        held = (
            await session.scalars(
                select(models.RemoteTicket).where(
                    models.RemoteTicket.customer_id == customer.id,
                    models.RemoteTicket.branch_id == body.branch,
                    models.RemoteTicket.service == body.service,
                    models.RemoteTicket.state == "active",
                )
            )
        ).all()
        for row in held:
            if _still_active(runtime, row):
                number = (
                    runtime.engine.ticket(row.ticket_id).display if row.ticket_id else body.service
                )
                raise r.RemoteTicketActive(number)
            row.state = "done"
    is_open, _ = service_statuses(runtime)
    if not is_open:
        raise r.BranchClosed()
    async with services.store.sessions() as session, session.begin():
        # A write first: it locks the service's settings row on PostgreSQL and takes SQLite's
        # write lock, so that the quota is counted and the reservation made by one request at
        # a time and holds under concurrent taps.
        await session.execute(
            update(models.RemoteSettings)
            .where(
                models.RemoteSettings.branch_id == body.branch,
                models.RemoteSettings.service == body.service,
            )
            .values(enabled=models.RemoteSettings.enabled)
        )
        if setting.daily_quota is not None:
            taken = await session.scalar(
                select(func.count()).where(
                    models.RemoteTicket.branch_id == body.branch,
                    models.RemoteTicket.service == body.service,
                    models.RemoteTicket.business_day == day,
                )
            )
            if (taken or 0) >= setting.daily_quota:
                raise r.RemoteQuotaReached(setting.daily_quota)
        reservation = models.RemoteTicket(
            branch_id=body.branch,
            service=body.service,
            customer_id=customer.id,
            business_day=day,
            state="active",
            arrive_by=(
                now + setting.arrive_within_minutes * 60 if setting.arrive_within_minutes else None
            ),
            created_at=now,
        )
        session.add(reservation)
        try:
            await session.flush()
        except IntegrityError:
            raise r.RemoteTicketActive(body.service) from None
    holder: dict[str, Any] = {}

    def command(engine: QueueEngine, at: float) -> list[Event]:
        return engine.issue_ticket(body.service, "normal", "miniprogram", now=at)

    def reply(engine: QueueEngine, events: list[Event]) -> tuple[int, Any]:
        issued = events[0]
        assert isinstance(issued, TicketIssued)
        token = runtime.tokens[issued.ticket_id]
        holder.update(ticket_id=issued.ticket_id, token=token)
        view = ticket_view(
            runtime, issued.ticket_id, ahead=issued.ahead, eta_minutes=issued.eta_minutes
        )
        view["token"] = token
        return 201, view

    async def attach(session: AsyncSession) -> None:
        await session.execute(
            update(models.RemoteTicket)
            .where(models.RemoteTicket.id == reservation.id)
            .values(ticket_id=holder["ticket_id"], token=holder["token"])
        )

    try:
        _, payload = await runtime.run(command, reply, extra=[attach])
    except BaseException:
        async with services.store.sessions() as session, session.begin():
            await session.execute(
                delete(models.RemoteTicket).where(models.RemoteTicket.id == reservation.id)
            )
        raise
    notify_watch(services, body.branch, payload["id"], customer.id)
    payload["remote_id"] = reservation.id
    payload["arrive_by"] = reservation.arrive_by
    return dict(payload)


def remote_view(services: Services, row: models.RemoteTicket) -> dict[str, Any]:
    view: dict[str, Any] = {
        "remote_id": row.id,
        "branch": row.branch_id,
        "service": row.service,
        "business_day": row.business_day,
        "state": row.state,
        "arrive_by": row.arrive_by,
        "arrived_at": row.arrived_at,
        "token": row.token,
        "ticket": None,
    }
    try:
        runtime = services.halls.get(row.branch_id)
    except LookupError:
        return view
    if row.ticket_id is not None and row.ticket_id in runtime.tokens:
        view["ticket"] = ticket_customer_view(runtime, row.ticket_id)
    return view


@router.get("/tickets", summary="My phone tickets")
async def my_tickets(services: ServicesDep, customer: CustomerDep) -> list[dict[str, Any]]:
    async with services.store.sessions() as session:
        rows = (
            await session.scalars(
                select(models.RemoteTicket)
                .where(models.RemoteTicket.customer_id == customer.id)
                .order_by(models.RemoteTicket.created_at.desc())
                .limit(50)
            )
        ).all()
    return [remote_view(services, row) for row in rows]


@router.post("/tickets/{remote_id}/arrive", summary="Confirm that I have arrived")
async def arrive(
    remote_id: RemoteId, body: Location, services: ServicesDep, customer: CustomerDep
) -> dict[str, Any]:
    async with services.store.sessions() as session:
        row = await session.get(models.RemoteTicket, remote_id)
        if row is None or row.customer_id != customer.id:
            raise r.TicketNotFound()
        rules = await db.booking_rules(session, row.branch_id)
    if row.arrive_by is None:
        raise r.NothingToConfirm()
    if row.state != "active" or services.halls.clock() > row.arrive_by:
        raise r.ArrivalTooLate()
    await near_branch(services, row.branch_id, body, rules.check_in_radius_meters)
    async with services.store.sessions() as session, session.begin():
        fresh = await session.get(models.RemoteTicket, remote_id)
        assert fresh is not None
        if fresh.arrived_at is None:
            fresh.arrived_at = services.halls.clock()
        row = fresh
    return remote_view(services, row)
