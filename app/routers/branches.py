"""Branch configuration: branches, calling policy, services, counters and staff.

Admins manage every branch; a manager manages their own branch. A change to services, counters
or the policy goes through the branch's runtime: the engine is reconfigured under the branch
lock and the rows are written in the same transaction as any queue events around it, so memory
and store never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Path, Response
from pydantic import Field, StringConstraints, field_validator
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import ratings
from app.auth import DeviceKind, Role, hash_password
from app.db import models
from app.deps import MANAGERS, CurrentPrincipal, Services, ServicesDep, authorize
from app.errors import AlreadyExists, Forbidden, Invalid, NotFound
from app.hall import HallRuntime, business_day
from app.queue_engine import (
    AppointmentPolicy,
    BranchConfig,
    CounterConfig,
    MissedTicketPolicy,
    PriorityPolicy,
    ServiceConfig,
)
from app.queue_engine.config import LateCheckIn
from app.routers import notices
from app.routers.notices import NoticeBody
from app.schemas import (
    MAX_ID,
    BranchId,
    BranchPath,
    CounterNumber,
    OptionalText,
    Printable,
    ServiceCode,
    ShortText,
    Strict,
)

router = APIRouter(tags=["configuration"])
ADMINS = frozenset({Role.ADMIN})
# Devices of the branch read its configuration: a kiosk shows services and their materials,
# screens show the branch's name. Nothing in it is secret.
SCREENS = frozenset(DeviceKind)

Code = Annotated[str, Path(max_length=3, pattern=r"^[A-Z]{1,3}$")]
Number = Annotated[int, Path(ge=1, le=9999)]
Material = Annotated[str, StringConstraints(min_length=1, max_length=200), Printable]
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]


class NewBranch(Strict):
    id: BranchId
    name: ShortText
    timezone: Annotated[str, StringConstraints(max_length=64)] = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use a name like Asia/Shanghai)"
            ) from None
        return value


PriorityClass = Literal["vip", "care", "appointment"]


def default_head_starts() -> dict[PriorityClass, float]:
    return {"vip": 300.0, "care": 600.0, "appointment": 900.0}


class RatingReason(Strict):
    code: Annotated[str, StringConstraints(max_length=32, pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    name: ShortText
    name_en: OptionalText = ""


def default_rating_reasons() -> list[RatingReason]:
    return [RatingReason(**reason) for reason in ratings.DEFAULT_REASONS]


class PolicyBody(Strict):
    head_start_seconds: dict[PriorityClass, Annotated[float, Field(ge=0, le=86400)]] = Field(
        default_factory=default_head_starts, max_length=len(get_args(PriorityClass))
    )
    strict_priority: bool = False
    missed_grace_minutes: float = Field(30.0, ge=0, le=24 * 60)
    missed_reinsert_places: int = Field(3, ge=0, le=1000)
    missed_max_returns: int = Field(1, ge=0, le=100)
    auto_miss_after_recalls: int | None = Field(None, ge=0, le=100)
    appointment_early_minutes: float = Field(60.0, ge=0, le=24 * 60)
    appointment_late_minutes: float = Field(15.0, ge=0, le=24 * 60)
    appointment_late_action: Literal["walk_in", "refuse"] = "walk_in"
    almost_turn_ahead: int = Field(3, ge=0, le=100)
    rating_scale: Literal["four", "five"] = "four"
    rating_window_hours: float = Field(24.0, gt=0, le=24 * 30)
    rating_reasons: list[RatingReason] = Field(
        default_factory=default_rating_reasons, min_length=1, max_length=30
    )
    case_deadline_working_days: int = Field(2, ge=1, le=60)

    @field_validator("rating_reasons")
    @classmethod
    def _unique_reason_codes(cls, reasons: list[RatingReason]) -> list[RatingReason]:
        codes = [r.code for r in reasons]
        if len(set(codes)) != len(codes):
            raise ValueError("reason codes must be unique")
        return reasons


class ServiceBody(Strict):
    code: ServiceCode
    name: ShortText
    name_en: OptionalText = ""
    sla_minutes: float | None = Field(None, gt=0, le=24 * 60)
    daily_quota: int | None = Field(None, ge=1, le=100_000)
    mean_service_minutes: float = Field(5.0, gt=0, le=24 * 60)
    materials: list[Material] = Field(default_factory=list, max_length=50)


class CounterBody(Strict):
    number: CounterNumber
    name: OptionalText = ""
    tiers: list[Annotated[list[ServiceCode], Field(min_length=1, max_length=50)]] = Field(
        min_length=1, max_length=10
    )
    backup: CounterNumber | None = None


class StaffBody(Strict):
    username: Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9_.@-]{3,64}$")]
    password: Annotated[str, StringConstraints(min_length=8, max_length=128)]
    role: Literal["admin", "manager", "clerk"]
    display_name: OptionalText = ""


class StaffUpdate(Strict):
    password: Annotated[str, StringConstraints(min_length=8, max_length=128)] | None = None
    role: Literal["admin", "manager", "clerk"] | None = None
    display_name: OptionalText | None = None
    active: bool | None = None


def policy_row(branch_id: str, body: PolicyBody, now: float) -> models.Policy:
    return models.Policy(
        branch_id=branch_id,
        head_start_seconds=dict(body.head_start_seconds),
        strict_priority=body.strict_priority,
        missed_grace_seconds=body.missed_grace_minutes * 60,
        missed_reinsert_places=body.missed_reinsert_places,
        missed_max_returns=body.missed_max_returns,
        auto_miss_after_recalls=body.auto_miss_after_recalls,
        appointment_early_seconds=body.appointment_early_minutes * 60,
        appointment_late_seconds=body.appointment_late_minutes * 60,
        appointment_late_action=body.appointment_late_action,
        almost_turn_ahead=body.almost_turn_ahead,
        rating_scale=body.rating_scale,
        rating_window_hours=body.rating_window_hours,
        rating_reasons=[r.model_dump() for r in body.rating_reasons],
        case_deadline_working_days=body.case_deadline_working_days,
        updated_at=now,
    )


class PauseBody(Strict):
    reason: OptionalText = ""  # shown in the refusal and the automatic notice
    reason_en: OptionalText = ""
    notice: bool = True  # publish an automatic notice to every display


def service_config(body: ServiceBody, previous: ServiceConfig | None = None) -> ServiceConfig:
    """The engine's service from a request body; a change keeps the service's pause."""
    return ServiceConfig(
        code=body.code,
        name=body.name,
        name_en=body.name_en,
        sla_seconds=body.sla_minutes * 60 if body.sla_minutes is not None else None,
        daily_quota=body.daily_quota,
        mean_service_seconds=body.mean_service_minutes * 60,
        paused=previous.paused if previous else False,
        pause_reason=previous.pause_reason if previous else "",
        pause_reason_en=previous.pause_reason_en if previous else "",
    )


def counter_config(body: CounterBody) -> CounterConfig:
    return CounterConfig(
        number=body.number,
        name=body.name,
        tiers=tuple(tuple(tier) for tier in body.tiers),
        backup=body.backup,
    )


async def reconfigure(
    runtime: HallRuntime,
    change: Callable[[BranchConfig], BranchConfig],
    write: Callable[[AsyncSession], Any],
) -> None:
    """Apply a configuration change to the engine and the store as one command."""
    await runtime.run(
        lambda engine, now: [],
        lambda engine, events: (200, None),
        reconfigure=change,
        extra=[write],
    )


def manage(principal: CurrentPrincipal, branch: BranchPath, services: Services) -> HallRuntime:
    authorize(principal, branch, roles=MANAGERS)
    return services.halls.get(branch)


# --------------------------------------------------------------------------------------------
# Branches and policy


@router.post("/branches", status_code=201, summary="Create a branch (admin)")
async def create_branch(
    body: NewBranch, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    authorize(principal, None, roles=ADMINS)
    now = services.halls.clock()
    try:
        async with services.store.sessions() as session, session.begin():
            session.add(
                models.Branch(
                    id=body.id,
                    name=body.name,
                    timezone=body.timezone,
                    business_day=business_day(body.timezone, now),
                    created_at=now,
                )
            )
            await session.flush()
            session.add(policy_row(body.id, PolicyBody(), now))
    except IntegrityError:
        raise AlreadyExists(f"Branch {body.id!r} already exists.") from None
    await services.halls.load(body.id)
    return await branch_view(services, body.id)


@router.get("/branches", summary="Branches you may see")
async def list_branches(services: ServicesDep, principal: CurrentPrincipal) -> list[Any]:
    return [
        {"id": r.branch_id, "name": r.name, "business_day": r.engine.business_day}
        for r in services.halls
        if principal.branch_id in (None, r.branch_id)
    ]


async def branch_view(services: Services, branch: BranchPath) -> dict[str, Any]:
    runtime = services.halls.get(branch)
    config = runtime.engine.config
    async with services.store.sessions() as session:
        rows = (
            await session.scalars(select(models.Service).where(models.Service.branch_id == branch))
        ).all()
        policy = await session.get(models.Policy, branch)
    materials = {row.code: row.materials for row in rows}
    notices = {row.code: row.pause_notice_id for row in rows}
    return {
        "id": branch,
        "name": runtime.name,
        "timezone": runtime.timezone,
        "business_day": runtime.engine.business_day,
        "services": [
            {
                "code": s.code,
                "name": s.name,
                "name_en": s.name_en,
                "sla_minutes": s.sla_seconds / 60 if s.sla_seconds else None,
                "daily_quota": s.daily_quota,
                "mean_service_minutes": s.mean_service_seconds / 60,
                "materials": materials.get(s.code, []),
                "paused": s.paused,
                "pause_reason": s.pause_reason,
                "pause_reason_en": s.pause_reason_en,
                "pause_notice_id": notices.get(s.code),
            }
            for s in config.services
        ],
        "counters": [
            {
                "number": c.number,
                "name": c.display_name,
                "tiers": [list(t) for t in c.tiers],
                "backup": c.backup,
                "state": runtime.engine.counter_state(c.number).value,
            }
            for c in config.counters
        ],
        "policy": {
            "head_start_seconds": {
                k.value: v for k, v in config.priority.head_start_seconds.items() if v
            },
            "strict_priority": config.priority.strict_priority,
            "missed_grace_minutes": config.missed.grace_seconds / 60,
            "missed_reinsert_places": config.missed.reinsert_places,
            "missed_max_returns": config.missed.max_returns,
            "auto_miss_after_recalls": config.missed.auto_miss_after_recalls,
            "appointment_early_minutes": config.appointments.early_seconds / 60,
            "appointment_late_minutes": config.appointments.late_seconds / 60,
            "appointment_late_action": config.appointments.late_action.value,
            "almost_turn_ahead": policy.almost_turn_ahead if policy else 3,
            "rating_scale": policy.rating_scale if policy else "four",
            "rating_window_hours": policy.rating_window_hours if policy else 24.0,
            "rating_reasons": (policy.rating_reasons if policy else None)
            or [dict(r) for r in ratings.DEFAULT_REASONS],
            "case_deadline_working_days": policy.case_deadline_working_days if policy else 2,
        },
    }


@router.get("/branches/{branch}", summary="A branch with its configuration")
async def get_branch(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    authorize(principal, branch, roles=frozenset(Role), devices=SCREENS)
    return await branch_view(services, branch)


@router.put("/branches/{branch}/policy", summary="Set the calling policy")
async def put_policy(
    branch: BranchPath, body: PolicyBody, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    runtime = manage(principal, branch, services)
    now = services.halls.clock()

    def change(config: BranchConfig) -> BranchConfig:
        return replace(
            config,
            priority=PriorityPolicy(
                head_start_seconds=dict(body.head_start_seconds),
                strict_priority=body.strict_priority,
            ),
            missed=MissedTicketPolicy(
                grace_seconds=body.missed_grace_minutes * 60,
                reinsert_places=body.missed_reinsert_places,
                max_returns=body.missed_max_returns,
                auto_miss_after_recalls=body.auto_miss_after_recalls,
            ),
            appointments=AppointmentPolicy(
                early_seconds=body.appointment_early_minutes * 60,
                late_seconds=body.appointment_late_minutes * 60,
                late_action=LateCheckIn(body.appointment_late_action),
            ),
        )

    async def write(session: AsyncSession) -> None:
        await session.merge(policy_row(branch, body, now))

    await reconfigure(runtime, change, write)
    runtime.almost_turn_ahead = body.almost_turn_ahead
    return (await branch_view(services, branch))["policy"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# Services


@router.get("/branches/{branch}/services", summary="Services of a branch")
async def list_services(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal
) -> list[Any]:
    authorize(principal, branch, roles=frozenset(Role), devices=SCREENS)
    return (await branch_view(services, branch))["services"]  # type: ignore[no-any-return]


@router.post("/branches/{branch}/services", status_code=201, summary="Add a service")
async def create_service(
    branch: BranchPath, body: ServiceBody, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    runtime = manage(principal, branch, services)
    if any(s.code == body.code for s in runtime.engine.config.services):
        raise AlreadyExists(f"Service {body.code} already exists at this branch.")

    async def write(session: AsyncSession) -> None:
        session.add(models.Service(branch_id=branch, **body.model_dump()))

    await reconfigure(
        runtime,
        lambda config: replace(config, services=(*config.services, service_config(body))),
        write,
    )
    return await one_service(services, branch, body.code)


async def one_service(services: Services, branch: BranchPath, code: str) -> dict[str, Any]:
    for service in (await branch_view(services, branch))["services"]:
        if service["code"] == code:
            return service  # type: ignore[no-any-return]
    raise NotFound(f"Service {code} does not exist at this branch.")


@router.get("/branches/{branch}/services/{code}", summary="One service")
async def get_service(
    branch: BranchPath, code: Code, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    authorize(principal, branch, roles=frozenset(Role))
    return await one_service(services, branch, code)


@router.put("/branches/{branch}/services/{code}", summary="Change a service")
async def update_service(
    branch: BranchPath,
    code: Code,
    body: ServiceBody,
    services: ServicesDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    runtime = manage(principal, branch, services)
    await one_service(services, branch, code)
    if body.code != code:
        raise Invalid("A service's code (its ticket prefix) cannot change.")

    async def write(session: AsyncSession) -> None:
        row = await session.scalar(
            select(models.Service).where(
                models.Service.branch_id == branch, models.Service.code == code
            )
        )
        assert row is not None
        for name, value in body.model_dump().items():
            setattr(row, name, value)

    await reconfigure(
        runtime,
        lambda config: replace(
            config,
            services=tuple(
                service_config(body, s) if s.code == code else s for s in config.services
            ),
        ),
        write,
    )
    return await one_service(services, branch, code)


@router.delete("/branches/{branch}/services/{code}", status_code=204, summary="Remove a service")
async def delete_service(
    branch: BranchPath, code: Code, services: ServicesDep, principal: CurrentPrincipal
) -> Response:
    runtime = manage(principal, branch, services)
    await one_service(services, branch, code)
    open_today = [t for t in runtime.engine.tickets() if code in (t.service, t.prefix)]
    if open_today:
        raise AlreadyExists(
            f"Service {code} has {len(open_today)} ticket(s) today; remove it after closing time."
        )

    async def write(session: AsyncSession) -> None:
        await session.execute(
            delete(models.Service).where(
                models.Service.branch_id == branch, models.Service.code == code
            )
        )

    await reconfigure(
        runtime,
        lambda config: replace(
            config, services=tuple(s for s in config.services if s.code != code)
        ),
        write,
    )
    return Response(status_code=204)


# --------------------------------------------------------------------------------------------
# Pausing a service's ticket issuing (暂停取号)


def pause_notice(service: ServiceConfig) -> NoticeBody:
    """The automatic notice of a pause: "A 业务暂停取号" and the reason, in English too."""
    zh = f"{service.code} 业务（{service.name}）暂停取号"
    en = f"Service {service.code} ({service.name_en or service.name}) is paused"
    if service.pause_reason:
        zh += f"：{service.pause_reason}"
        en += f": {service.pause_reason_en or service.pause_reason}"
    return NoticeBody(text=f"{zh}。", text_en=f"{en}.")


async def set_pause(
    runtime: HallRuntime, code: str, paused: bool, reason: str, reason_en: str
) -> int | None:
    """Pause or resume ``code`` in the engine and the store as one command; returns the id of
    the automatic notice the service had (to withdraw), cleared in the same write."""
    previous: dict[str, int | None] = {}

    async def write(session: AsyncSession) -> None:
        row = await session.scalar(
            select(models.Service).where(
                models.Service.branch_id == runtime.branch_id, models.Service.code == code
            )
        )
        assert row is not None
        previous["notice"] = row.pause_notice_id
        row.paused = paused
        row.pause_reason = reason
        row.pause_reason_en = reason_en
        row.pause_notice_id = None

    await reconfigure(
        runtime,
        lambda config: replace(
            config,
            services=tuple(
                replace(s, paused=paused, pause_reason=reason, pause_reason_en=reason_en)
                if s.code == code
                else s
                for s in config.services
            ),
        ),
        write,
    )
    return previous.get("notice")


async def withdraw_notice(services: Services, branch: str, notice_id: int | None) -> None:
    if notice_id is None:
        return
    async with services.store.sessions() as session, session.begin():
        notice = await session.get(models.Notice, notice_id)
        if notice is None:  # a manager withdrew it already
            return
        await session.delete(notice)
    await notices.announce(services, branch, notice_id)


@router.post("/branches/{branch}/services/{code}/pause", summary="Pause a service's tickets")
async def pause_service(
    branch: BranchPath,
    code: Code,
    services: ServicesDep,
    principal: CurrentPrincipal,
    body: PauseBody | None = None,
) -> dict[str, Any]:
    """暂停取号: the kiosk, staff and the mini-program take no new ticket of the service (409);
    tickets already waiting are still called, and booked customers may still check in. With
    ``notice`` (the default) every display shows an automatic notice until it is resumed.
    Pausing a paused service changes its reason (and its notice)."""
    body = body or PauseBody()
    runtime = manage(principal, branch, services)
    await one_service(services, branch, code)
    old_notice = await set_pause(runtime, code, True, body.reason, body.reason_en)
    await withdraw_notice(services, branch, old_notice)
    if body.notice:
        notice = await notices.publish(
            services,
            branch,
            pause_notice(runtime.engine.config.service(code)),
            source="auto",
            created_by=principal.id if principal.is_staff else None,
        )
        async with services.store.sessions() as session, session.begin():
            row = await session.scalar(
                select(models.Service).where(
                    models.Service.branch_id == branch, models.Service.code == code
                )
            )
            if row is not None:
                row.pause_notice_id = notice.id
    return await one_service(services, branch, code)


@router.post("/branches/{branch}/services/{code}/resume", summary="Resume a service's tickets")
async def resume_service(
    branch: BranchPath, code: Code, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """恢复取号: tickets of the service are issued again; its automatic notice is withdrawn."""
    runtime = manage(principal, branch, services)
    await one_service(services, branch, code)
    if not runtime.engine.config.service(code).paused:
        raise AlreadyExists(f"Service {code} is not paused.")
    old_notice = await set_pause(runtime, code, False, "", "")
    await withdraw_notice(services, branch, old_notice)
    return await one_service(services, branch, code)


# --------------------------------------------------------------------------------------------
# Counters


@router.get("/branches/{branch}/counters", summary="Counters of a branch")
async def list_counters(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal
) -> list[Any]:
    authorize(principal, branch, roles=frozenset(Role))
    return (await branch_view(services, branch))["counters"]  # type: ignore[no-any-return]


def counter_row_values(body: CounterBody) -> dict[str, Any]:
    return {"number": body.number, "name": body.name, "tiers": body.tiers, "backup": body.backup}


@router.post("/branches/{branch}/counters", status_code=201, summary="Add a counter")
async def create_counter(
    branch: BranchPath, body: CounterBody, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    runtime = manage(principal, branch, services)
    if any(c.number == body.number for c in runtime.engine.config.counters):
        raise AlreadyExists(f"Counter {body.number} already exists at this branch.")

    async def write(session: AsyncSession) -> None:
        session.add(models.Counter(branch_id=branch, state="closed", **counter_row_values(body)))

    await reconfigure(
        runtime,
        lambda config: replace(config, counters=(*config.counters, counter_config(body))),
        write,
    )
    return await one_counter(services, branch, body.number)


async def one_counter(services: Services, branch: BranchPath, number: int) -> dict[str, Any]:
    for counter in (await branch_view(services, branch))["counters"]:
        if counter["number"] == number:
            return counter  # type: ignore[no-any-return]
    raise NotFound(f"Counter {number} does not exist at this branch.")


@router.get("/branches/{branch}/counters/{number}", summary="One counter")
async def get_counter(
    branch: BranchPath, number: Number, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    authorize(principal, branch, roles=frozenset(Role))
    return await one_counter(services, branch, number)


@router.put("/branches/{branch}/counters/{number}", summary="Change a counter")
async def update_counter(
    branch: BranchPath,
    number: Number,
    body: CounterBody,
    services: ServicesDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    runtime = manage(principal, branch, services)
    await one_counter(services, branch, number)
    if body.number != number:
        raise Invalid("A counter's number cannot change; add a new counter instead.")

    async def write(session: AsyncSession) -> None:
        row = await session.scalar(
            select(models.Counter).where(
                models.Counter.branch_id == branch, models.Counter.number == number
            )
        )
        assert row is not None
        for name, value in counter_row_values(body).items():
            setattr(row, name, value)

    await reconfigure(
        runtime,
        lambda config: replace(
            config,
            counters=tuple(
                counter_config(body) if c.number == number else c for c in config.counters
            ),
        ),
        write,
    )
    return await one_counter(services, branch, number)


@router.delete(
    "/branches/{branch}/counters/{number}", status_code=204, summary="Remove a closed counter"
)
async def delete_counter(
    branch: BranchPath, number: Number, services: ServicesDep, principal: CurrentPrincipal
) -> Response:
    runtime = manage(principal, branch, services)
    await one_counter(services, branch, number)
    if runtime.engine.counter_state(number).value != "closed":
        raise AlreadyExists(f"Counter {number} is not closed; close it first.")

    async def write(session: AsyncSession) -> None:
        await session.execute(
            delete(models.Counter).where(
                models.Counter.branch_id == branch, models.Counter.number == number
            )
        )

    await reconfigure(
        runtime,
        lambda config: replace(
            config,
            counters=tuple(c for c in config.counters if c.number != number),
        ),
        write,
    )
    return Response(status_code=204)


# --------------------------------------------------------------------------------------------
# Staff


def staff_view(user: models.StaffUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "branch": user.branch_id,
        "display_name": user.display_name,
        "active": user.active,
    }


def may_grant(principal: CurrentPrincipal, role: str) -> None:
    if principal.role is Role.MANAGER and role != Role.CLERK:
        raise Forbidden("A manager may add and change clerks only.")


@router.post("/branches/{branch}/staff", status_code=201, summary="Add a staff member")
async def create_staff(
    branch: BranchPath, body: StaffBody, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    manage(principal, branch, services)
    may_grant(principal, body.role)
    user = models.StaffUser(
        username=body.username,
        password_hash=hash_password(body.password),
        role=body.role,
        branch_id=branch,
        display_name=body.display_name,
        active=True,
        failed_logins=0,
        token_version=0,
        created_at=services.halls.clock(),
    )
    try:
        async with services.store.sessions() as session, session.begin():
            session.add(user)
    except IntegrityError:
        raise AlreadyExists(f"The username {body.username!r} is taken.") from None
    return staff_view(user)


@router.get("/branches/{branch}/staff", summary="Staff of a branch")
async def list_staff(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal
) -> list[Any]:
    manage(principal, branch, services)
    async with services.store.sessions() as session:
        users = (
            await session.scalars(
                select(models.StaffUser)
                .where(models.StaffUser.branch_id == branch)
                .order_by(models.StaffUser.id)
            )
        ).all()
    return [staff_view(u) for u in users]


async def branch_user(session: AsyncSession, branch: BranchPath, user_id: int) -> models.StaffUser:
    user = await session.get(models.StaffUser, user_id)
    if user is None or user.branch_id != branch:
        raise NotFound(f"Staff member {user_id} does not exist at this branch.")
    return user


@router.put("/branches/{branch}/staff/{user_id}", summary="Change a staff member")
async def update_staff(
    branch: BranchPath,
    user_id: UserId,
    body: StaffUpdate,
    services: ServicesDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    manage(principal, branch, services)
    async with services.store.sessions() as session, session.begin():
        user = await branch_user(session, branch, user_id)
        may_grant(principal, user.role)
        if body.role is not None:
            may_grant(principal, body.role)
            user.role = body.role
        if body.display_name is not None:
            user.display_name = body.display_name
        if body.password is not None:
            user.password_hash = hash_password(body.password)
            user.token_version += 1  # sign out everywhere
        if body.active is not None:
            user.active = body.active
            if not body.active:
                user.token_version += 1
    services.credentials.forget("staff", user_id)
    return staff_view(user)


@router.delete("/branches/{branch}/staff/{user_id}", status_code=204, summary="Remove staff")
async def delete_staff(
    branch: BranchPath, user_id: UserId, services: ServicesDep, principal: CurrentPrincipal
) -> Response:
    manage(principal, branch, services)
    async with services.store.sessions() as session, session.begin():
        user = await branch_user(session, branch, user_id)
        may_grant(principal, user.role)
        await session.delete(user)
    services.credentials.forget("staff", user_id)
    return Response(status_code=204)
