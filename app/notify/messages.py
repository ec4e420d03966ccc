"""What each notification kind says, in Chinese and English."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

KINDS = (
    "booking_confirmed",
    "booking_reminder",
    "booking_cancelled",
    "almost_turn",
    "ticket_called",
    "please_rate",
)


def _time(payload: dict[str, Any], timezone: str = "Asia/Shanghai") -> str:
    at = payload.get("slot_start")
    if not isinstance(at, int | float):
        return ""
    return datetime.fromtimestamp(at, ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def text(kind: str, payload: dict[str, Any]) -> tuple[str, str]:
    """The message's sentence in Chinese and in English."""
    when = _time(payload)
    code = payload.get("booking", "")
    number = payload.get("number", "")
    counter = payload.get("counter_name") or payload.get("counter", "")
    if kind == "booking_confirmed":
        return (
            f"预约成功：{when}，预约码 {code}。请按时到达并签到。",
            f"Booked for {when}, booking code {code}. Please arrive on time and check in.",
        )
    if kind == "booking_reminder":
        return (
            f"预约提醒：您预约的时段 {when} 即将开始，预约码 {code}。",
            f"Reminder: your slot at {when} starts soon, booking code {code}.",
        )
    if kind == "booking_cancelled":
        reason = payload.get("reason", "")
        return (
            f"您 {when} 的预约（{code}）已取消：{reason}",
            f"Your booking {code} at {when} was cancelled: {reason}",
        )
    if kind == "almost_turn":
        return (
            f"{number} 号即将轮到您，前面还有 {payload.get('ahead', 0)} 人，请到等候区。",
            f"Ticket {number}: almost your turn, {payload.get('ahead', 0)} ahead. "
            "Please come to the waiting area.",
        )
    if kind == "ticket_called":
        return (
            f"请 {number} 号到 {counter} 办理。",
            f"Ticket {number}, please go to {counter}.",
        )
    if kind == "please_rate":
        return (
            f"{number} 号已办结，请为本次服务评价。",
            f"Ticket {number} is done; please rate our service.",
        )
    return kind, kind
