"""Service-quality reports for managers: one branch (its managers and admins) or every branch
(the administrator of every branch), over a range of business days, grouped by one dimension.
JSON, or CSV in UTF-8 with a byte order mark so that spreadsheet programs read Chinese right.
The figures are computed in the store (``app.db.reports``); docs/quality.md defines them."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Role
from app.db import models
from app.db import reports as store
from app.deps import MANAGERS, CurrentPrincipal, Services, ServicesDep, authorize
from app.errors import Invalid
from app.schemas import BranchPath

router = APIRouter(tags=["reports"])

MAX_DAYS = 366
Day = Annotated[
    str | None, Query(max_length=10, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")
]
By = Literal["total", "service", "counter", "clerk", "hour", "day", "branch"]
Format = Literal["json", "csv"]
Lang = Literal["zh", "en"]

# CSV columns: (figure, 中文, English); the key's columns come first.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("issued", "取号数", "Issued"),
    ("served", "办结数", "Served"),
    ("no_show", "过号数", "No-show"),
    ("cancelled", "取消数", "Cancelled"),
    ("transferred", "转移数", "Transferred"),
    ("expired", "过期数", "Expired"),
    ("wait_mean", "平均等候(秒)", "Mean wait (s)"),
    ("wait_p50", "等候中位数(秒)", "Wait p50 (s)"),
    ("wait_p90", "等候P90(秒)", "Wait p90 (s)"),
    ("wait_max", "最长等候(秒)", "Max wait (s)"),
    ("service_mean", "平均办理(秒)", "Mean service (s)"),
    ("service_p90", "办理P90(秒)", "Service p90 (s)"),
    ("within_sla_share", "等候达标率", "Within SLA share"),
    ("remote_share", "远程取号占比", "Remote share"),
    ("appointment_share", "预约占比", "Appointment share"),
    ("ratings", "评价数", "Ratings"),
    ("satisfaction_rate", "满意率", "Satisfaction rate"),
    ("cases_opened", "督办新增", "Cases opened"),
    ("cases_closed", "督办办结", "Cases closed"),
    ("cases_overdue", "督办逾期", "Cases overdue"),
    ("cases_closed_late", "逾期办结", "Cases closed late"),
)
LEVEL_NAMES = {
    "very_satisfied": ("非常满意", "Very satisfied"),
    "satisfied": ("满意", "Satisfied"),
    "average": ("一般", "Average"),
    "basically_satisfied": ("基本满意", "Basically satisfied"),
    "dissatisfied": ("不满意", "Dissatisfied"),
    "very_dissatisfied": ("非常不满意", "Very dissatisfied"),
}
KEY_NAMES = {
    "branch": ("网点", "Branch"),
    "service": ("业务", "Service"),
    "counter": ("窗口", "Counter"),
    "clerk": ("工作人员", "Clerk"),
    "hour": ("时段", "Hour"),
    "day": ("日期", "Day"),
    "name": ("名称", "Name"),
}


def _range(first: str | None, last: str | None, default: str) -> tuple[date, date]:
    try:
        first_day = date.fromisoformat(first or last or default)
        last_day = date.fromisoformat(last or first or default)
    except ValueError:
        raise Invalid("from and to must be dates (YYYY-MM-DD).") from None
    if last_day < first_day:
        raise Invalid("to must not be before from.")
    if (last_day - first_day).days >= MAX_DAYS:
        raise Invalid(f"A report covers at most {MAX_DAYS} days.")
    return first_day, last_day


async def _names(session: AsyncSession, branches: list[str], by: str) -> dict[Any, str]:
    """Readable names of the rows' keys: services, counters and clerks."""
    if by == "service":
        rows = await session.execute(
            select(models.Service.code, models.Service.name).where(
                models.Service.branch_id.in_(branches)
            )
        )
        return dict(rows.all())
    if by == "counter":
        counters = await session.execute(
            select(models.Counter.branch_id, models.Counter.number, models.Counter.name).where(
                models.Counter.branch_id.in_(branches)
            )
        )
        return {(b, n): name or f"{n}号窗口" for b, n, name in counters.all()}
    if by == "clerk":
        staff = await session.execute(
            select(models.StaffUser.id, models.StaffUser.display_name, models.StaffUser.username)
        )
        return {i: display or username for i, display, username in staff.all()}
    if by == "branch":
        rows = await session.execute(
            select(models.Branch.id, models.Branch.name).where(models.Branch.id.in_(branches))
        )
        return dict(rows.all())
    return {}


def _named(rows: list[dict[str, Any]], by: str, names: dict[Any, str]) -> None:
    for row in rows:
        key = row["key"]
        if by == "counter":
            row["key"]["name"] = names.get((key["branch"], key["counter"]))
        elif by in ("service", "clerk", "branch"):
            row["key"]["name"] = names.get(key[by])


async def _report(
    services: Services,
    branches: dict[str, str],
    first: str | None,
    last: str | None,
    by: str,
    default_day: str,
) -> dict[str, Any]:
    first_day, last_day = _range(first, last, default_day)
    scope = store.Scope(branches, first_day, last_day, services.halls.clock())
    postgresql = services.store.engine.dialect.name == "postgresql"
    rows = await store.report(services.store.sessions, scope, by, postgresql=postgresql)
    async with services.store.sessions() as session:
        _named(rows, by, await _names(session, sorted(branches), by))
    return {
        "branches": sorted(branches),
        "from": first_day.isoformat(),
        "to": last_day.isoformat(),
        "by": by,
        "generated_at": scope.now,
        "rows": rows,
    }


def _csv(report: dict[str, Any], lang: str) -> Response:
    """The report as CSV: UTF-8 with a byte order mark, CRLF line ends (RFC 4180)."""
    english = lang == "en"
    by = report["by"]
    key_columns = {
        "total": [],
        "counter": ["branch", "counter", "name"],
        "service": ["service", "name"],
        "clerk": ["clerk", "name"],
        "branch": ["branch", "name"],
    }.get(by, [by])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = [KEY_NAMES[c][english] for c in key_columns]
    header += [zh if not english else en for _, zh, en in COLUMNS[:16]]
    header += [LEVEL_NAMES[level][english] for level in store.LEVELS]
    header += [zh if not english else en for _, zh, en in COLUMNS[16:]]
    writer.writerow(header)
    for row in report["rows"]:
        values: list[Any] = [row["key"].get(c) for c in key_columns]
        values += [row[name] for name, _, _ in COLUMNS[:16]]
        values += [row["rating_levels"][level] for level in store.LEVELS]
        values += [row[name] for name, _, _ in COLUMNS[16:]]
        writer.writerow(["" if v is None else v for v in values])
    name = f"report-{'-'.join(report['branches'])[:60]}-{report['from']}-{report['to']}-{by}.csv"
    return Response(
        content=("\ufeff" + out.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# format=csv answers a spreadsheet file instead of JSON: the document says so.
AS_JSON_OR_CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as JSON, or as CSV (UTF-8 with BOM) with format=csv.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/branches/{branch}/reports",
    summary="A branch's service-quality report",
    responses=AS_JSON_OR_CSV,
)
async def branch_report(
    branch: BranchPath,
    services: ServicesDep,
    principal: CurrentPrincipal,
    first: Annotated[Day, Query(alias="from")] = None,
    last: Annotated[Day, Query(alias="to")] = None,
    by: By = "total",
    format: Format = "json",
    lang: Lang = "zh",
) -> Any:
    """Figures of the branch's business days ``from``..``to`` (inclusive; default: today),
    one row per value of ``by``. ``format=csv`` answers a spreadsheet file."""
    authorize(principal, branch, roles=MANAGERS)
    runtime = services.halls.get(branch)
    report = await _report(
        services, {branch: runtime.timezone}, first, last, by, runtime.engine.business_day
    )
    return _csv(report, lang) if format == "csv" else report


@router.get(
    "/reports", summary="The service-quality report of every branch", responses=AS_JSON_OR_CSV
)
async def all_branches_report(
    services: ServicesDep,
    principal: CurrentPrincipal,
    first: Annotated[Day, Query(alias="from")] = None,
    last: Annotated[Day, Query(alias="to")] = None,
    by: By = "total",
    format: Format = "json",
    lang: Lang = "zh",
) -> Any:
    """For the administrator of every branch: the same figures over all branches (counters
    are told apart by branch; ``by=branch`` compares branches)."""
    authorize(principal, None, roles=frozenset({Role.ADMIN}))
    branches = {runtime.branch_id: runtime.timezone for runtime in services.halls}
    if not branches:
        raise Invalid("There is no branch yet.")
    today = max(runtime.engine.business_day for runtime in services.halls)
    report = await _report(services, branches, first, last, by, today)
    return _csv(report, lang) if format == "csv" else report
