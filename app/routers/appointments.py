"""Staff side of appointments: booking rules, slot templates, closures (mass cancel), slots,
bookings made on a customer's behalf, check-in at a kiosk or counter, remote-ticket switches
and the branch's mini-program profile.

Refusals are :class:`app.appointments.rules.BookingRefused` errors, answered with the
``{"error", "detail"}`` body in Chinese, or in English when ``Accept-Language`` asks for it.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StringConstraints, model_validator
from sqlalchemy import select

from app.appointments import checkin
from app.appointments import rules as r
from app.appointments.views import booking_view, slot_view
from app.auth import DeviceKind
from app.db import bookings as db
from app.db import models
from app.deps import ALL_STAFF, MANAGERS, CurrentPrincipal, Services, ServicesDep, authorize
from app.openapi import RATE_LIMITED
from app.routers.tickets import client_address
from app.schemas import MAX_ID, BranchPath, OptionalText, Printable, ServiceCode, Strict

router = APIRouter(tags=["appointments"])

Day = Annotated[str, StringConstraints(max_length=10, pattern=r"^\d{4}-\d{2}-\d{2}$")]
ClockTime = Annotated[
    str, StringConstraints(max_length=5, pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
]
Phone = Annotated[str, StringConstraints(max_length=20, pattern=r"^\+?[0-9][0-9 -]{4,18}$")]
PersonName = Annotated[str, StringConstraints(max_length=50, strip_whitespace=True), Printable]
BookingCode = Annotated[str, StringConstraints(max_length=12, pattern=r"^[A-Za-z0-9]{4,12}$")]
# Path parameters: bounded, but a code or id the body rules would refuse is "not found" (404).
CodePath = Annotated[str, Path(max_length=32)]
TemplateId = Annotated[int, Path(ge=1, le=MAX_ID)]
ClosureId = Annotated[int, Path(ge=1, le=MAX_ID)]
BookingStateQuery = Annotated[
    str | None, Query(max_length=10, pattern=r"^(booked|checked_in|cancelled|no_show)$")
]


def language(request: Request) -> str:
    """``en`` when the client prefers English, else Chinese (the default)."""
    accepted = request.headers.get("accept-language", "").strip().lower()
    return "en" if accepted.startswith("en") else "zh"


def install(app: FastAPI) -> None:
    """Map every booking refusal to its status and the ``{"error", "detail"}`` body."""

    async def refused(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, r.BookingRefused)
        headers = {}
        if error.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        elif error.status == 503:
            headers["Retry-After"] = "5"
        return JSONResponse(
            {"error": type(error).__name__, "detail": error.detail(language(request))},
            error.status,
            headers=headers,
        )

    app.add_exception_handler(r.BookingRefused, refused)


def minutes_of(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise r.InvalidRequest(f"日期 {value} 无效。", f"{value} is not a date.") from None


class TemplateBody(Strict):
    service: ServiceCode
    weekday: int = Field(ge=0, le=6, description="0 Monday ... 6 Sunday")
    start: ClockTime
    end: ClockTime
    slot_minutes: int = Field(ge=5, le=480)
    capacity: int = Field(ge=1, le=1000)

    @model_validator(mode="after")
    def _period(self) -> TemplateBody:
        if minutes_of(self.end) - minutes_of(self.start) < self.slot_minutes:
            raise ValueError("the opening period must hold at least one slot")
        return self


class ClosureBody(Strict):
    service: ServiceCode | None = None
    first_day: Day
    last_day: Day | None = None
    reason: OptionalText = ""


class RulesBody(Strict):
    days_ahead: int = Field(default=7, ge=0, le=90)
    min_lead_minutes: int = Field(default=30, ge=0, le=7 * 24 * 60)
    max_pending_per_week: int = Field(default=2, ge=1, le=50)
    no_show_limit: int = Field(default=1, ge=0, le=50)
    no_show_window_days: int = Field(default=30, ge=1, le=365)
    no_show_block_days: int = Field(default=3, ge=0, le=365)
    no_show_grace_minutes: int = Field(default=15, ge=0, le=24 * 60)
    check_in_radius_meters: int = Field(default=500, ge=10, le=50_000)


class StaffBooking(Strict):
    slot: int = Field(ge=1, le=MAX_ID)
    phone: Phone
    name: PersonName = ""


class Reschedule(Strict):
    slot: int = Field(ge=1, le=MAX_ID)


class Cancel(Strict):
    reason: OptionalText = ""


class CheckIn(Strict):
    code: BookingCode


class RemoteBody(Strict):
    enabled: bool
    daily_quota: int | None = Field(default=None, ge=1, le=100_000)
    arrive_within_minutes: int | None = Field(default=None, ge=1, le=24 * 60)


class ProfileBody(Strict):
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: Annotated[str, StringConstraints(max_length=200), Printable] = ""
    phone: Annotated[str, StringConstraints(max_length=40), Printable] = ""
    hours: Annotated[str, StringConstraints(max_length=200), Printable] = ""


def template_view(row: models.SlotTemplate) -> dict[str, Any]:
    return {
        "id": row.id,
        "service": row.service,
        "weekday": row.weekday,
        "start": f"{row.start_minute // 60:02d}:{row.start_minute % 60:02d}",
        "end": f"{row.end_minute // 60:02d}:{row.end_minute % 60:02d}",
        "slot_minutes": row.slot_minutes,
        "capacity": row.capacity,
    }


def closure_view(row: models.Closure) -> dict[str, Any]:
    return {
        "id": row.id,
        "service": row.service,
        "first_day": row.first_day,
        "last_day": row.last_day,
        "reason": row.reason,
        "created_at": row.created_at,
    }


def staff_only(principal: CurrentPrincipal, branch: str, services: Services) -> None:
    authorize(principal, branch, roles=ALL_STAFF)
    services.halls.get(branch)


def managers_only(principal: CurrentPrincipal, branch: str, services: Services) -> None:
    authorize(principal, branch, roles=MANAGERS)
    services.halls.get(branch)


def known_service(services: Services, branch: str, code: str) -> None:
    config = services.halls.get(branch).engine.config
    if code not in {s.code for s in config.services}:
        raise r.ServiceNotFound(code)


# ----------------------------------------------------------------------------------------
# Rules


@router.get("/branches/{branch}/booking-rules", summary="Booking rules of a branch")
async def get_rules(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    staff_only(principal, branch, services)
    async with services.store.sessions() as session:
        return (await db.booking_rules(session, branch)).fields()


@router.put("/branches/{branch}/booking-rules", summary="Set the booking rules")
async def put_rules(
    branch: BranchPath, body: RulesBody, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    managers_only(principal, branch, services)
    rules = r.BookingRules(**body.model_dump())
    await db.put_booking_rules(services.store, branch, rules, services.halls.clock())
    return rules.fields()


# ----------------------------------------------------------------------------------------
# Templates and closures


@router.get("/branches/{branch}/slot-templates", summary="Slot templates")
async def list_templates(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal
) -> list[dict[str, Any]]:
    staff_only(principal, branch, services)
    async with services.store.sessions() as session:
        return [template_view(t) for t in await db.templates(session, branch)]


@router.post("/branches/{branch}/slot-templates", status_code=201, summary="Add a slot template")
async def add_template(
    branch: BranchPath, body: TemplateBody, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    managers_only(principal, branch, services)
    known_service(services, branch, body.service)
    row = models.SlotTemplate(
        branch_id=branch,
        service=body.service,
        weekday=body.weekday,
        start_minute=minutes_of(body.start),
        end_minute=minutes_of(body.end),
        slot_minutes=body.slot_minutes,
        capacity=body.capacity,
        created_at=services.halls.clock(),
    )
    await db.add_template(services.store, row)
    return template_view(row)


@router.delete(
    "/branches/{branch}/slot-templates/{template_id}",
    status_code=204,
    summary="Remove a slot template",
)
async def delete_template(
    branch: BranchPath, template_id: TemplateId, services: ServicesDep, principal: CurrentPrincipal
) -> None:
    managers_only(principal, branch, services)
    if not await db.delete_template(services.store, branch, template_id, services.halls.clock()):
        raise r.NotFoundError("没有这个时段模板。", "No such slot template.")


@router.get("/branches/{branch}/closures", summary="Closed days")
async def list_closures(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal
) -> list[dict[str, Any]]:
    staff_only(principal, branch, services)
    async with services.store.sessions() as session:
        return [closure_view(c) for c in await db.closures(session, branch)]


@router.post(
    "/branches/{branch}/closures",
    status_code=201,
    summary="Close days for booking; cancels every affected booking",
)
async def add_closure(
    branch: BranchPath, body: ClosureBody, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    managers_only(principal, branch, services)
    if body.service is not None:
        known_service(services, branch, body.service)
    first = parse_day(body.first_day)
    last = parse_day(body.last_day or body.first_day)
    if last < first:
        raise r.InvalidRequest("结束日期早于开始日期。", "The last day is before the first day.")
    if last - first > timedelta(days=366):
        raise r.InvalidRequest("一次最多关闭一年。", "A closure lasts at most a year.")
    row = models.Closure(
        branch_id=branch,
        service=body.service,
        first_day=first.isoformat(),
        last_day=last.isoformat(),
        reason=body.reason,
        created_at=services.halls.clock(),
        created_by=principal.id,
    )
    closure, cancelled = await db.add_closure(services.store, row, services.halls.clock())
    wake_sender(services)
    return {**closure_view(closure), "cancelled_bookings": [b.code for b in cancelled]}


@router.delete(
    "/branches/{branch}/closures/{closure_id}", status_code=204, summary="Reopen closed days"
)
async def delete_closure(
    branch: BranchPath, closure_id: ClosureId, services: ServicesDep, principal: CurrentPrincipal
) -> None:
    managers_only(principal, branch, services)
    if not await db.delete_closure(services.store, branch, closure_id):
        raise r.NotFoundError("没有这个停办安排。", "No such closure.")


def wake_sender(services: Services) -> None:
    """Tell the notification sender that the outbox has new rows (when it runs)."""
    jobs = getattr(services, "appointments", None)
    if jobs is not None:
        jobs.wake()


# ----------------------------------------------------------------------------------------
# Slots and bookings


async def slots_for(
    services: Services, branch: str, service: str | None, day: str | None
) -> list[dict[str, Any]]:
    runtime = services.halls.get(branch)
    async with services.store.sessions() as session:
        rules = await db.booking_rules(session, branch)
    today = r.day_in(runtime.timezone, runtime.clock())
    if day is None:
        days = db.horizon(today, rules.days_ahead)
    else:
        wanted = parse_day(day)
        if wanted < today or wanted > today + timedelta(days=rules.days_ahead):
            return []
        days = [wanted]
    rows = await db.slots_of(services.store, branch, service, days)
    return [slot_view(s, runtime.timezone) for s in rows]


@router.get("/branches/{branch}/slots", summary="Bookable slots")
async def list_slots(
    branch: BranchPath,
    services: ServicesDep,
    principal: CurrentPrincipal,
    service: Annotated[ServiceCode | None, Query()] = None,
    day: Annotated[Day | None, Query()] = None,
) -> list[dict[str, Any]]:
    """Slots within the booking horizon (generated from the templates on first look)."""
    authorize(principal, branch, roles=ALL_STAFF, devices=frozenset({DeviceKind.KIOSK}))
    return await slots_for(services, branch, service, day)


@router.get("/branches/{branch}/bookings", summary="Bookings of a branch")
async def list_bookings(
    branch: BranchPath,
    services: ServicesDep,
    principal: CurrentPrincipal,
    day: Annotated[Day | None, Query()] = None,
    state: BookingStateQuery = None,
) -> list[dict[str, Any]]:
    staff_only(principal, branch, services)
    timezone = services.halls.get(branch).timezone
    rows = await db.bookings_of_branch(services.store, branch, day, state)
    return [booking_view(b, timezone, customer=c, full=True) for b, c in rows]


async def limit_booking(services: Services, address: str, customer: str) -> None:
    """Booking creation, per client address and per customer identity (429 past either)."""
    settings = services.settings
    await services.limiter.check(settings.rate_limit_booking_address, "booking-ip", address)
    await services.limiter.check(settings.rate_limit_booking_customer, "booking-customer", customer)


@router.post(
    "/branches/{branch}/bookings",
    status_code=201,
    summary="Book on a customer's behalf",
    responses=RATE_LIMITED,
)
async def staff_book(
    branch: BranchPath,
    body: StaffBooking,
    services: ServicesDep,
    principal: CurrentPrincipal,
    request: Request,
) -> dict[str, Any]:
    """Staff book for a customer who called or came with a relative; the same rules apply to
    the customer named by ``phone``. Rate limited per client address and per phone."""
    staff_only(principal, branch, services)
    phone = re.sub(r"[ -]", "", body.phone)
    await limit_booking(services, client_address(request), f"phone:{phone}")
    booked = await db.book(
        services.store,
        branch,
        body.slot,
        now=services.halls.clock(),
        phone=phone,
        name=body.name,
        channel="staff",
        booked_by=principal.id,
    )
    wake_sender(services)
    timezone = services.halls.get(branch).timezone
    return booking_view(booked.booking, timezone, customer=booked.customer, full=True)


async def _booking_with_customer(
    services: Services, branch: str, code: str
) -> tuple[models.Booking, models.Customer | None]:
    booking = await db.find_booking(services.store, branch_id=branch, code=code)
    person = (
        await db.customer(services.store, booking.customer_id)
        if booking.customer_id is not None
        else None
    )
    return booking, person


@router.get("/branches/{branch}/bookings/{code}", summary="One booking")
async def get_booking(
    branch: BranchPath, code: CodePath, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    staff_only(principal, branch, services)
    booking, person = await _booking_with_customer(services, branch, code)
    return booking_view(booking, services.halls.get(branch).timezone, customer=person, full=True)


@router.post("/branches/{branch}/bookings/{code}/cancel", summary="Cancel a booking")
async def staff_cancel(
    branch: BranchPath,
    code: CodePath,
    body: Cancel,
    services: ServicesDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    staff_only(principal, branch, services)
    booking = await db.find_booking(services.store, branch_id=branch, code=code)
    cancelled = await db.cancel(
        services.store,
        booking.id,
        now=services.halls.clock(),
        reason=body.reason or "工作人员取消 / cancelled by staff",
    )
    return booking_view(cancelled, services.halls.get(branch).timezone, full=True)


@router.post("/branches/{branch}/bookings/{code}/reschedule", summary="Move a booking")
async def staff_reschedule(
    branch: BranchPath,
    code: CodePath,
    body: Reschedule,
    services: ServicesDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    staff_only(principal, branch, services)
    booking = await db.find_booking(services.store, branch_id=branch, code=code)
    moved = await db.reschedule(
        services.store, branch, booking.id, body.slot, now=services.halls.clock()
    )
    wake_sender(services)
    return booking_view(moved, services.halls.get(branch).timezone, full=True)


@router.post(
    "/branches/{branch}/check-in",
    status_code=201,
    summary="Check a booking in",
    responses=RATE_LIMITED,
)
async def staff_check_in(
    branch: BranchPath,
    body: CheckIn,
    services: ServicesDep,
    principal: CurrentPrincipal,
    request: Request,
) -> JSONResponse:
    """签到 at the kiosk (booking code typed or scanned) or at a counter: the booking becomes a
    ticket. 201 with the new ticket; 200 with the same ticket when it was already checked in.
    The customer's name and phone are masked (a kiosk screen is public). Codes that name no
    booking are limited per client address and per device or staff member (code guessing):
    past the limit every check-in there is 429, a right code included."""
    authorize(
        principal,
        branch,
        roles=ALL_STAFF,
        devices=frozenset({DeviceKind.KIOSK, DeviceKind.COUNTER}),
    )
    runtime = services.halls.get(branch)
    limit = services.settings.rate_limit_check_in_failures
    keys = (
        ("check-in-ip", client_address(request)),
        ("check-in-by", f"{principal.kind}:{principal.id}"),
    )
    for key in keys:
        await services.limiter.refuse_if_spent(limit, *key)
    try:
        booking, person = await _booking_with_customer(services, branch, body.code)
    except r.BookingNotFound:
        for key in keys:
            await services.limiter.count(limit, *key)
        raise
    ticket, new = await checkin.check_in(runtime, booking, store=services.store)
    notify_watch(services, branch, ticket["id"], booking.customer_id)
    ticket["booking"] = booking.code
    ticket["customer"] = booking_view(booking, runtime.timezone, customer=person)["customer"]
    return JSONResponse(ticket, status_code=201 if new else 200)


def notify_watch(services: Services, branch: str, ticket_id: int, customer: int | None) -> None:
    jobs = getattr(services, "appointments", None)
    if jobs is not None and customer is not None:
        jobs.watch(branch, ticket_id, customer)


# ----------------------------------------------------------------------------------------
# Remote tickets and the mini-program profile


def remote_view(code: str, row: models.RemoteSettings | None) -> dict[str, Any]:
    return {
        "service": code,
        "enabled": bool(row and row.enabled),
        "daily_quota": row.daily_quota if row else None,
        "arrive_within_minutes": row.arrive_within_minutes if row else None,
    }


@router.get("/branches/{branch}/remote-settings", summary="Phone tickets per service")
async def get_remote(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal
) -> list[dict[str, Any]]:
    staff_only(principal, branch, services)
    codes = [s.code for s in services.halls.get(branch).engine.config.services]
    async with services.store.sessions() as session:
        rows = {
            row.service: row
            for row in (
                await session.scalars(
                    select(models.RemoteSettings).where(models.RemoteSettings.branch_id == branch)
                )
            ).all()
        }
    return [remote_view(code, rows.get(code)) for code in codes]


@router.put("/branches/{branch}/services/{code}/remote", summary="Allow phone tickets of a service")
async def put_remote(
    branch: BranchPath,
    code: ServiceCode,
    body: RemoteBody,
    services: ServicesDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    managers_only(principal, branch, services)
    known_service(services, branch, code)
    async with services.store.sessions() as session, session.begin():
        row = await session.get(models.RemoteSettings, (branch, code))
        if row is None:
            row = models.RemoteSettings(branch_id=branch, service=code)
            session.add(row)
        row.enabled = body.enabled
        row.daily_quota = body.daily_quota
        row.arrive_within_minutes = body.arrive_within_minutes
    return remote_view(code, row)


@router.put("/branches/{branch}/profile", summary="Where the branch is (mini-program)")
async def put_profile(
    branch: BranchPath, body: ProfileBody, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    managers_only(principal, branch, services)
    if (body.latitude is None) != (body.longitude is None):
        raise r.InvalidRequest(
            "经纬度须同时提供。", "Give both latitude and longitude, or neither."
        )
    async with services.store.sessions() as session, session.begin():
        row = await session.get(models.BranchProfile, branch)
        if row is None:
            row = models.BranchProfile(branch_id=branch)
            session.add(row)
        for name, value in body.model_dump().items():
            setattr(row, name, value)
    return body.model_dump()
