"""Booking rules and refusals, with no I/O.

A branch's :class:`BookingRules` say how far ahead customers may book, how soon before a slot
booking closes, how many pending bookings one customer may hold per branch and week, and when
no-shows block a customer. Every refusal is a :class:`BookingRefused` subclass carrying one
sentence in Chinese (the default) and one in English; the HTTP layer picks by
``Accept-Language``.

Hierarchy::

    BookingRefused
    ├── NotFound (404)          BookingNotFound, SlotNotFound, UnknownCustomerService
    ├── Refused (409)           SlotFull, SlotClosed, TooFarAhead, LeadTooShort, TooManyPending,
    │                           AlreadyBooked, NotPending, NotNearBranch, RemoteDisabled,
    │                           RemoteQuotaReached, RemoteTicketActive, BranchClosed
    ├── Blocked (403)           NoShowBlocked
    └── InvalidRequest (422)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


class BookingRefused(Exception):
    """The request was refused."""

    status = 409

    def __init__(self, zh: str, en: str) -> None:
        self.zh = zh
        self.en = en
        super().__init__(en)

    def detail(self, language: str) -> str:
        return self.en if language == "en" else self.zh


class NotFoundError(BookingRefused):
    status = 404


class BookingNotFound(NotFoundError):
    def __init__(self) -> None:
        super().__init__("没有找到该预约。", "No booking has this code.")


class SlotNotFound(NotFoundError):
    def __init__(self) -> None:
        super().__init__("没有找到该预约时段。", "No such slot.")


class ServiceNotFound(NotFoundError):
    def __init__(self, code: str) -> None:
        super().__init__(f"本网点没有业务 {code}。", f"This branch has no service {code}.")


class TicketNotFound(NotFoundError):
    def __init__(self) -> None:
        super().__init__("没有找到该号票。", "No such ticket.")


class InvalidRequest(BookingRefused):
    status = 422


class Blocked(BookingRefused):
    status = 403


class SlotFull(BookingRefused):
    def __init__(self) -> None:
        super().__init__(
            "该时段已约满，请选择其他时段。", "This slot is fully booked; please choose another."
        )


class SlotClosed(BookingRefused):
    def __init__(self, reason: str = "") -> None:
        why = f"（{reason}）" if reason else ""
        super().__init__(
            f"该时段暂停预约{why}，请选择其他时段。",
            f"This slot is closed for booking{f' ({reason})' if reason else ''}; "
            "please choose another.",
        )


class TooFarAhead(BookingRefused):
    def __init__(self, days: int) -> None:
        super().__init__(f"最多可提前 {days} 天预约。", f"Bookings open at most {days} days ahead.")


class LeadTooShort(BookingRefused):
    def __init__(self, minutes: int) -> None:
        super().__init__(
            f"预约须在时段开始前至少 {minutes} 分钟完成；该时段已停止预约。",
            f"Bookings close {minutes} minutes before the slot starts; this slot no longer "
            "takes bookings.",
        )


class TooManyPending(BookingRefused):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"您本周在本网点已有 {limit} 个未办理的预约，请先办理或取消后再预约。",
            f"You already hold {limit} pending bookings at this branch this week; use or "
            "cancel one first.",
        )


class AlreadyBooked(BookingRefused):
    def __init__(self) -> None:
        super().__init__(
            "您当天已预约该业务，无需重复预约。",
            "You already have a booking for this service on that day.",
        )


class NotPending(BookingRefused):
    def __init__(self, state: str) -> None:
        names = {
            "checked_in": ("已签到", "checked in"),
            "cancelled": ("已取消", "cancelled"),
            "no_show": ("已爽约", "a no-show"),
        }
        zh, en = names.get(state, (state, state))
        super().__init__(f"该预约{zh}，不能再更改。", f"This booking is {en}; it cannot change.")


class NoShowBlocked(Blocked):
    def __init__(self, until_day: str, no_shows: int) -> None:
        super().__init__(
            f"您近期有 {no_shows} 次预约未到，{until_day} 前暂不能在本网点预约。",
            f"You missed {no_shows} booking(s) recently; you may book at this branch again "
            f"from {until_day}.",
        )


class NotNearBranch(BookingRefused):
    def __init__(self, radius: int) -> None:
        super().__init__(
            f"请到达网点 {radius} 米范围内再签到，或在取号机、窗口签到。",
            f"Check in within {radius} m of the branch, or at the kiosk or a counter.",
        )


class LocationRequired(InvalidRequest):
    def __init__(self) -> None:
        super().__init__(
            "手机签到需要提供您的位置。", "Checking in from the phone needs your location."
        )


class CheckInNotToday(BookingRefused):
    def __init__(self, day: str) -> None:
        super().__init__(
            f"该预约是 {day} 的，请当天再来签到。",
            f"This booking is for {day}; check in on that day.",
        )


class CheckInBusy(BookingRefused):
    def __init__(self) -> None:
        super().__init__(
            "该预约正在签到，请稍候。", "This booking is being checked in; please wait."
        )


class RemoteDisabled(BookingRefused):
    def __init__(self) -> None:
        super().__init__(
            "该业务暂不支持线上取号，请到现场取号。",
            "This service does not take tickets from the phone; please take one at the branch.",
        )


class RemoteQuotaReached(BookingRefused):
    def __init__(self, quota: int) -> None:
        super().__init__(
            f"该业务今日 {quota} 个线上号已取完，请到现场取号。",
            f"Today's {quota} phone tickets for this service are gone; please take one at the "
            "branch.",
        )


class RemoteTicketActive(BookingRefused):
    def __init__(self, number: str) -> None:
        super().__init__(
            f"您已有该业务的号票 {number}，办理完成前不能再取。",
            f"You already hold ticket {number} for this service.",
        )


class BranchClosed(BookingRefused):
    def __init__(self) -> None:
        super().__init__(
            "网点当前未开放（没有开放的窗口），请在营业时间取号。",
            "The branch is not open now (no counter is open); take a ticket during opening hours.",
        )


class NothingToConfirm(BookingRefused):
    def __init__(self) -> None:
        super().__init__("该号票无需确认到达。", "This ticket needs no arrival confirmation.")


class ArrivalTooLate(BookingRefused):
    def __init__(self) -> None:
        super().__init__(
            "已超过确认到达的时间，号票已取消。",
            "The time to confirm your arrival has passed; the ticket was cancelled.",
        )


class IdentityUnavailable(BookingRefused):
    status = 503

    def __init__(self, en: str) -> None:
        super().__init__("微信登录服务暂时不可用，请稍后重试。", en)


class LoginRefused(BookingRefused):
    status = 401

    def __init__(self, en: str) -> None:
        super().__init__("登录失败，请重新进入小程序。", en)


# ----------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True, slots=True)
class BookingRules:
    """A branch's booking rules; the defaults are common in Chinese service halls."""

    days_ahead: int = 7
    min_lead_minutes: int = 30
    max_pending_per_week: int = 2
    no_show_limit: int = 1  # this many no-shows within the window ...
    no_show_window_days: int = 30
    no_show_block_days: int = 3  # ... block booking for this many days after the last one
    no_show_grace_minutes: int = 15  # after the slot's end, a booking not checked in is a no-show
    check_in_radius_meters: int = 500

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def check_bookable(
    rules: BookingRules,
    *,
    now: float,
    today: date,
    slot_day: date,
    slot_start: float,
    closed: bool,
) -> None:
    """Refuse a slot that is closed, too far ahead or too soon."""
    if closed:
        raise SlotClosed()
    if slot_day > today + timedelta(days=rules.days_ahead):
        raise TooFarAhead(rules.days_ahead)
    if slot_start - now < rules.min_lead_minutes * 60:
        raise LeadTooShort(rules.min_lead_minutes)


def blocked_until(rules: BookingRules, no_show_times: list[float], now: float) -> float | None:
    """When a customer with these no-shows (epoch seconds) may book again, or None."""
    recent = sorted(t for t in no_show_times if t >= now - rules.no_show_window_days * 86400)
    if rules.no_show_limit <= 0 or len(recent) < rules.no_show_limit:
        return None
    until = recent[-1] + rules.no_show_block_days * 86400
    return until if until > now else None


def week_of(day: date) -> tuple[date, date]:
    """Monday and Sunday of ``day``'s week."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


# ----------------------------------------------------------------------------------------
# Slots


@dataclass(frozen=True, slots=True)
class Template:
    service: str
    weekday: int  # 0 Monday
    start_minute: int
    end_minute: int
    slot_minutes: int
    capacity: int


@dataclass(frozen=True, slots=True)
class SlotSpec:
    service: str
    day: str
    start_at: float
    end_at: float
    capacity: int


def slots_of_day(templates: list[Template], day: date, timezone: str) -> list[SlotSpec]:
    """The slots that ``templates`` open on ``day`` (in the branch's time zone). A period is
    cut into whole slots; a remainder shorter than one slot is not offered."""
    zone = ZoneInfo(timezone)
    midnight = datetime.combine(day, time(0), zone)
    specs = []
    for template in templates:
        if template.weekday != day.weekday():
            continue
        minute = template.start_minute
        while minute + template.slot_minutes <= template.end_minute:
            start = midnight + timedelta(minutes=minute)
            end = midnight + timedelta(minutes=minute + template.slot_minutes)
            # Wall-clock minutes, resolved in the zone (a DST day keeps its printed times).
            start = start.replace(tzinfo=zone)
            specs.append(
                SlotSpec(
                    template.service,
                    day.isoformat(),
                    start.timestamp(),
                    end.replace(tzinfo=zone).timestamp(),
                    template.capacity,
                )
            )
            minute += template.slot_minutes
    return specs


def day_in(timezone: str, at: float) -> date:
    return datetime.fromtimestamp(at, ZoneInfo(timezone)).date()


def clock_time(timezone: str, at: float) -> str:
    return datetime.fromtimestamp(at, ZoneInfo(timezone)).strftime("%H:%M")


# ----------------------------------------------------------------------------------------
# Customer data shown outside the owner and staff


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` -> ``138****5678``."""
    if not phone:
        return phone
    if len(phone) <= 4:
        return "*" * len(phone)
    keep = 3 if len(phone) >= 8 else 1
    return phone[:keep] + "*" * (len(phone) - keep - 4) + phone[-4:]


def mask_name(name: str | None) -> str | None:
    """``张三丰`` -> ``张**``; ``Li Lei`` -> ``L*****``."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)


def distance_meters(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    radius = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(a))
