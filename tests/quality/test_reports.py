"""Report figures against a small data set computed by hand, on SQLite and on PostgreSQL.

Branch b1 (Asia/Shanghai, UTC+8): service A with a 10-minute SLA, service B without one. Nine
tickets on 2025-11-18 and 2025-11-19 (the range), one on 2025-11-17 and one at branch b2 that
the b1 report must leave out. Times are local; waits and service times in seconds:

| ticket | day | issued | channel | state | ctr | clerk | wait | service | other |
|---|---|---|---|---|---|---|---|---|---|
| t1 A001 | 19 | 09:00 | kiosk | finished | 1 | c1 | 120 | 300 | very satisfied |
| t2 A002 | 19 | 09:10 | mobile | finished | 1 | c1 | 360 | 600 | dissatisfied: case 1, closed |
| t3 A003 | 19 | 09:20 | kiosk | finished | 2 | c2 | 900 | 120 | transferred once; rated average |
| t4 A004 | 19 | 10:05 | kiosk | missed | 1 | - | 600 | - | |
| t5 B001 | 19 | 10:30 | mini-prog | finished | 2 | device | 60 | 1200 | booked; rated satisfied |
| t6 B002 | 19 | 10:40 | kiosk | cancelled | - | - | - | - | |
| t7 B003 | 19 | 11:00 | kiosk | expired | - | - | - | - | |
| t8 A001 | 18 | 14:00 | kiosk | finished | 1 | c1 | 300 | 600 | dissatisfied: case 2, overdue |
| t9 A002 | 18 | 14:10 | kiosk | expired, missed | 1 | - | 1200 | - | a no-show |

Case 3 came by phone on the 19th at 16:00 (counter 2, clerk c2), due 17:00, closed 18:00 (late).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from app.auth import Role
from app.bootstrap import create_user
from app.db import models
from app.db.reports import offset_changes
from tests.api.conftest import Api, Headers, assert_error, make_branch

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, clock: str) -> float:
    hour, minute = (int(part) for part in clock.split(":"))
    return datetime(2025, 11, day, hour, minute, tzinfo=SHANGHAI).timestamp()


def ticket(
    branch: str,
    ident: int,
    day: int,
    number: str,
    issued: str,
    *,
    channel: str = "kiosk",
    state: str = "finished",
    counter: int | None = None,
    clerk: int | None = None,
    wait: float | None = None,
    service: float | None = None,
    transfers: int = 0,
    missed: bool = False,
    appointment: str | None = None,
) -> models.Ticket:
    issued_at = at(day, issued)
    called = issued_at + wait if wait is not None else None
    return models.Ticket(
        branch_id=branch,
        id=ident,
        business_day=f"2025-11-{day:02d}",
        token=f"{branch}-token-{ident}",
        service=number[0],
        prefix=number[0],
        number=int(number[1:]),
        priority="normal",
        channel=channel,
        state=state,
        issued_at=issued_at,
        queued_at=issued_at,
        key=issued_at,
        counter=counter,
        called_at=called,
        first_called_at=called,
        started_at=called if service is not None else None,
        finished_at=called + service if called is not None and service is not None else None,
        recalls=0,
        missed_at=called + 120 if missed and called is not None else None,
        returns=0,
        transfers=transfers,
        appointment_id=appointment,
        finished_by=clerk,
    )


def rating(t: models.Ticket, level: str, score: int, clerk: int | None) -> models.Rating:
    assert t.finished_at is not None
    return models.Rating(
        branch_id=t.branch_id,
        ticket_id=t.id,
        ticket_number=f"{t.prefix}{t.number:03d}",
        business_day=t.business_day,
        service=t.service,
        counter=t.counter,
        clerk_id=clerk,
        served_at=t.finished_at,
        scale="four",
        level=level,
        score=score,
        reason="long_wait" if score < 3 else None,
        text="",
        channel="evaluator",
        created_at=t.finished_at + 60,
    )


def case(
    source: str,
    created: float,
    deadline: float,
    *,
    counter: int,
    clerk: int,
    rating_id: int | None = None,
    closed: float | None = None,
) -> models.FollowUpCase:
    return models.FollowUpCase(
        branch_id="b1",
        rating_id=rating_id,
        source=source,
        description="投诉",
        counter=counter,
        clerk_id=clerk,
        deadline=deadline,
        state="closed" if closed is not None else "open",
        resolution="已处理" if closed is not None else None,
        created_at=created,
        closed_at=closed,
    )


async def seed(api: Api) -> tuple[Headers, int, int]:
    """The data set above; returns a manager's headers and the two clerks' ids."""
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin, "b1")
    await make_branch(api, admin, "b2")
    manager = await api.user("manager", Role.MANAGER, "b1")
    c1 = (await create_user(api.store, "c1", "pw-c1-secret", Role.CLERK, "b1", "张三")).id
    c2 = (await create_user(api.store, "c2", "pw-c2-secret", Role.CLERK, "b1", "李四")).id
    tickets = [
        ticket("b1", 1, 19, "A001", "09:00", counter=1, clerk=c1, wait=120, service=300),
        ticket(
            "b1",
            2,
            19,
            "A002",
            "09:10",
            channel="mobile",
            counter=1,
            clerk=c1,
            wait=360,
            service=600,
        ),
        ticket(
            "b1", 3, 19, "A003", "09:20", counter=2, clerk=c2, wait=900, service=120, transfers=1
        ),
        ticket("b1", 4, 19, "A004", "10:05", state="missed", counter=1, wait=600, missed=True),
        ticket(
            "b1",
            5,
            19,
            "B001",
            "10:30",
            channel="miniprogram",
            counter=2,
            wait=60,
            service=1200,
            appointment="ap-1",
        ),
        ticket("b1", 6, 19, "B002", "10:40", state="cancelled"),
        ticket("b1", 7, 19, "B003", "11:00", state="expired"),
        ticket("b1", 8, 18, "A001", "14:00", counter=1, clerk=c1, wait=300, service=600),
        ticket("b1", 9, 18, "A002", "14:10", state="expired", counter=1, wait=1200, missed=True),
        # Outside the report: the day before the range, and another branch.
        ticket("b1", 10, 17, "A001", "09:00", counter=1, clerk=c1, wait=5000, service=5000),
        ticket("b2", 1, 19, "A001", "09:00", counter=1, wait=7000, service=7000),
    ]
    async with api.store.sessions() as session, session.begin():
        await session.execute(
            update(models.Service)
            .where(models.Service.branch_id == "b1", models.Service.code == "A")
            .values(sla_minutes=10.0)
        )
        session.add_all(tickets)
        await session.flush()
        rated = [
            rating(tickets[0], "very_satisfied", 4, c1),
            rating(tickets[1], "dissatisfied", 1, c1),
            rating(tickets[2], "average", 2, c2),
            rating(tickets[4], "satisfied", 3, None),
            rating(tickets[7], "dissatisfied", 1, c1),
            rating(tickets[9], "dissatisfied", 1, c1),  # the 17th: outside
        ]
        session.add_all(rated)
        await session.flush()
        session.add_all(
            [
                case(
                    "rating",
                    at(19, "09:30"),
                    at(21, "09:30"),
                    counter=1,
                    clerk=c1,
                    rating_id=rated[1].id,
                    closed=at(19, "12:00"),
                ),
                case(
                    "rating",
                    at(18, "15:00"),
                    at(19, "15:00"),
                    counter=1,
                    clerk=c1,
                    rating_id=rated[4].id,
                ),
                case(
                    "phone",
                    at(19, "16:00"),
                    at(19, "17:00"),
                    counter=2,
                    clerk=c2,
                    closed=at(19, "18:00"),
                ),
                case("phone", at(17, "16:00"), at(17, "17:00"), counter=2, clerk=c2),
            ]
        )
    return manager, c1, c2


async def report(api: Api, headers: Headers, by: str, path: str = "/branches/b1/reports") -> Any:
    response = await api.get(
        path, headers, params={"from": "2025-11-18", "to": "2025-11-19", "by": by}
    )
    assert response.status_code == 200, response.text
    return response.json()


NO_LEVELS = {
    "very_satisfied": 0,
    "satisfied": 0,
    "average": 0,
    "basically_satisfied": 0,
    "dissatisfied": 0,
    "very_dissatisfied": 0,
}


def levels(**counts: int) -> dict[str, int]:
    return {**NO_LEVELS, **counts}


TOTAL = {
    "issued": 9,
    "served": 5,
    "no_show": 2,
    "cancelled": 1,
    "transferred": 1,
    "expired": 1,
    # waits 60 120 300 360 600 900 1200
    "wait_mean": 505.714,
    "wait_p50": 360.0,
    "wait_p90": 1020.0,  # rank 5.4: 900 + 0.4 * 300
    "wait_max": 1200.0,
    # service times 120 300 600 600 1200
    "service_mean": 564.0,
    "service_p90": 960.0,  # rank 3.6: 600 + 0.6 * 600
    "within_sla_share": 0.6667,  # A's called tickets: 4 of 6 within 600 s
    "remote_share": 0.2222,
    "appointment_share": 0.1111,
    "ratings": 5,
    "rating_levels": levels(very_satisfied=1, satisfied=1, average=1, dissatisfied=2),
    "satisfaction_rate": 0.6,
    "cases_opened": 3,
    "cases_closed": 2,
    "cases_overdue": 1,
    "cases_closed_late": 1,
}


def figures(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "key"}


async def test_the_total_row_has_every_figure_computed_by_hand(api: Api) -> None:
    manager, _, _ = await seed(api)
    body = await report(api, manager, "total")
    assert (body["from"], body["to"], body["by"], body["branches"]) == (
        "2025-11-18",
        "2025-11-19",
        "total",
        ["b1"],
    )
    assert [figures(row) for row in body["rows"]] == [TOTAL]


async def test_rows_by_service(api: Api) -> None:
    manager, _, _ = await seed(api)
    rows = {row["key"]["service"]: row for row in (await report(api, manager, "service"))["rows"]}
    assert list(rows) == ["A", "B", None]  # None: the phone case, bound to no service
    a, b, none = rows["A"], rows["B"], rows[None]
    assert a["key"]["name"] == "业务A"
    assert figures(a) == {
        "issued": 6,
        "served": 4,
        "no_show": 2,
        "cancelled": 0,
        "transferred": 1,
        "expired": 0,
        # waits 120 300 360 600 900 1200
        "wait_mean": 580.0,
        "wait_p50": 480.0,
        "wait_p90": 1050.0,
        "wait_max": 1200.0,
        # service times 120 300 600 600
        "service_mean": 405.0,
        "service_p90": 600.0,
        "within_sla_share": 0.6667,
        "remote_share": 0.1667,
        "appointment_share": 0.0,
        "ratings": 4,
        "rating_levels": levels(very_satisfied=1, average=1, dissatisfied=2),
        "satisfaction_rate": 0.5,
        "cases_opened": 2,
        "cases_closed": 1,
        "cases_overdue": 1,
        "cases_closed_late": 0,
    }
    assert figures(b) == {
        "issued": 3,
        "served": 1,
        "no_show": 0,
        "cancelled": 1,
        "transferred": 0,
        "expired": 1,
        "wait_mean": 60.0,
        "wait_p50": 60.0,
        "wait_p90": 60.0,
        "wait_max": 60.0,
        "service_mean": 1200.0,
        "service_p90": 1200.0,
        "within_sla_share": None,  # B has no SLA
        "remote_share": 0.3333,
        "appointment_share": 0.3333,
        "ratings": 1,
        "rating_levels": levels(satisfied=1),
        "satisfaction_rate": 1.0,
        "cases_opened": 0,
        "cases_closed": 0,
        "cases_overdue": 0,
        "cases_closed_late": 0,
    }
    assert (none["issued"], none["ratings"], none["cases_opened"], none["cases_closed_late"]) == (
        0,
        0,
        1,
        1,
    )
    assert none["wait_mean"] is None
    assert none["satisfaction_rate"] is None


async def test_rows_by_clerk_follow_who_finished_the_ticket_and_whom_the_rating_binds(
    api: Api,
) -> None:
    manager, c1, c2 = await seed(api)
    rows = {row["key"]["clerk"]: row for row in (await report(api, manager, "clerk"))["rows"]}
    assert list(rows) == [c1, c2, None]
    first, second, nobody = rows[c1], rows[c2], rows[None]
    assert first["key"]["name"] == "张三"
    # c1 finished t1, t2, t8: waits 120 300 360, service times 300 600 600
    assert (first["issued"], first["served"]) == (3, 3)
    assert (first["wait_mean"], first["wait_p50"], first["wait_p90"]) == (260.0, 300.0, 348.0)
    assert (first["service_mean"], first["service_p90"]) == (500.0, 600.0)
    assert first["rating_levels"] == levels(very_satisfied=1, dissatisfied=2)
    assert first["satisfaction_rate"] == 0.3333
    assert (first["cases_opened"], first["cases_closed"], first["cases_overdue"]) == (2, 1, 1)
    assert (second["issued"], second["wait_p50"], second["service_p90"]) == (1, 900.0, 120.0)
    assert (second["ratings"], second["satisfaction_rate"]) == (1, 1.0)
    assert (second["cases_opened"], second["cases_closed_late"]) == (1, 1)
    # A device finished t5; nobody finished t4, t6, t7, t9.
    assert (nobody["issued"], nobody["served"], nobody["ratings"]) == (5, 1, 1)
    assert nobody["rating_levels"] == levels(satisfied=1)


async def test_rows_by_counter_and_by_hour_of_day_in_the_branch_time_zone(api: Api) -> None:
    manager, _, _ = await seed(api)
    counters = (await report(api, manager, "counter"))["rows"]
    assert [(r["key"]["counter"], r["key"]["name"], r["issued"]) for r in counters] == [
        (1, "1号窗口", 5),  # t1 t2 t4 t8 t9
        (2, "2号窗口", 2),  # t3 t5
        (None, None, 2),  # t6 t7: never called
    ]
    one = counters[0]
    assert (one["wait_p50"], one["wait_max"], one["ratings"], one["cases_opened"]) == (
        360.0,
        1200.0,
        3,
        2,
    )
    hours = {r["key"]["hour"]: r for r in (await report(api, manager, "hour"))["rows"]}
    assert sorted(hours) == [9, 10, 11, 14, 15, 16]
    assert [hours[h]["issued"] for h in (9, 10, 11, 14, 15, 16)] == [3, 3, 1, 2, 0, 0]
    # issued 09:00, 09:10, 09:20: waits 120 360 900
    assert (hours[9]["wait_mean"], hours[9]["wait_p50"], hours[9]["wait_p90"]) == (
        460.0,
        360.0,
        792.0,
    )
    assert hours[9]["rating_levels"] == levels(very_satisfied=1, average=1, dissatisfied=1)
    # Cases by the hour they were opened: 09:30, 15:00, 16:00.
    assert [hours[h]["cases_opened"] for h in (9, 14, 15, 16)] == [1, 0, 1, 1]


async def test_rows_by_day(api: Api) -> None:
    manager, _, _ = await seed(api)
    days = {r["key"]["day"]: r for r in (await report(api, manager, "day"))["rows"]}
    assert list(days) == ["2025-11-18", "2025-11-19"]
    assert [days[d]["issued"] for d in days] == [2, 7]
    assert [days[d]["no_show"] for d in days] == [1, 1]
    assert [days[d]["cases_opened"] for d in days] == [1, 2]
    assert days["2025-11-18"]["wait_p90"] == 1110.0  # 300, 1200: rank 0.9


async def test_the_administrator_reports_every_branch_and_compares_them(api: Api) -> None:
    await seed(api)
    admin = await api.login("root", "pw-root-secret")
    total = await report(api, admin, "total", "/reports")
    assert total["branches"] == ["b1", "b2"]
    assert total["rows"][0]["issued"] == 10
    assert total["rows"][0]["wait_max"] == 7000.0
    branches = {
        r["key"]["branch"]: r for r in (await report(api, admin, "branch", "/reports"))["rows"]
    }
    assert figures(branches["b1"]) == TOTAL
    assert (branches["b2"]["issued"], branches["b2"]["key"]["name"]) == (1, "测试网点")
    counters = (await report(api, admin, "counter", "/reports"))["rows"]
    assert [(r["key"]["branch"], r["key"]["counter"]) for r in counters] == [
        ("b1", 1),
        ("b1", 2),
        ("b1", None),
        ("b2", 1),
    ]


async def test_the_csv_export_is_utf8_with_a_byte_order_mark_in_chinese_or_english(
    api: Api,
) -> None:
    manager, _, _ = await seed(api)
    params = {"from": "2025-11-18", "to": "2025-11-19", "by": "service", "format": "csv"}
    response = await api.get("/branches/b1/reports", manager, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, a = lines[0], lines[1]
    assert header[:4] == ["业务", "名称", "取号数", "办结数"]
    assert "满意率" in header
    assert "非常满意" in header
    row = dict(zip(header, a, strict=True))
    assert (row["业务"], row["名称"], row["取号数"], row["等候P90(秒)"], row["满意率"]) == (
        "A",
        "业务A",
        "6",
        "1050.0",
        "0.5",
    )
    assert row["不满意"] == "2"
    assert lines[2][0] == "B"
    assert row["预约占比"] == "0.0"
    assert response.content.count(b"\r\n") == len(lines)
    english = await api.get("/branches/b1/reports", manager, params={**params, "lang": "en"})
    header = next(csv.reader(io.StringIO(english.content.decode("utf-8-sig"))))
    assert header[:3] == ["Service", "Name", "Issued"]


async def test_an_empty_range_gives_zero_counts_and_no_averages(api: Api) -> None:
    manager, _, _ = await seed(api)
    response = await api.get(
        "/branches/b1/reports", manager, params={"from": "2024-01-01", "to": "2024-01-31"}
    )
    row = response.json()["rows"][0]
    assert (row["issued"], row["ratings"], row["cases_opened"]) == (0, 0, 0)
    assert (row["wait_p50"], row["within_sla_share"], row["satisfaction_rate"]) == (
        None,
        None,
        None,
    )
    assert (await api.get("/branches/b1/reports?by=service", manager)).json()["rows"] == []


async def test_a_report_refuses_a_reversed_or_too_long_range(api: Api) -> None:
    manager, _, _ = await seed(api)
    reversed_range = await api.get(
        "/branches/b1/reports", manager, params={"from": "2025-11-19", "to": "2025-11-18"}
    )
    assert_error(reversed_range, 422, "Invalid")
    too_long = await api.get(
        "/branches/b1/reports", manager, params={"from": "2024-01-01", "to": "2025-11-18"}
    )
    assert_error(too_long, 422, "Invalid")
    assert_error(await api.get("/branches/b1/reports?from=2025-02-30", manager), 422)
    assert_error(await api.get("/branches/b1/reports?by=week", manager), 422)


@pytest.mark.parametrize(
    ("zone", "change", "before", "after"),
    [
        # New York leaves daylight saving time at 06:00 UTC on 2025-11-02.
        ("America/New_York", datetime(2025, 11, 2, 6, 0, tzinfo=ZoneInfo("UTC")), -14400, -18000),
        ("Europe/Berlin", datetime(2025, 3, 30, 1, 0, tzinfo=ZoneInfo("UTC")), 3600, 7200),
    ],
)
def test_offset_changes_find_a_daylight_saving_change_to_the_second(
    zone: str, change: datetime, before: int, after: int
) -> None:
    start = change.timestamp() - 5 * 86400
    changes = offset_changes(zone, start, change.timestamp() + 5 * 86400)
    assert changes == [(start, before), (change.timestamp(), after)]
    assert offset_changes("Asia/Shanghai", start, start + 40 * 86400) == [(start, 28800)]
