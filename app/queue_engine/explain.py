"""Human sentences for call reasons, in Chinese (the default) and English.

A clerk sees why the engine picked a ticket; a manager sees it in the event log. The machine-
readable :class:`CallReason` travels next to these sentences, so screens may render their own.
"""

from __future__ import annotations

from .config import Priority
from .model import CallReason

PRIORITY_NAMES: dict[Priority, tuple[str, str]] = {
    Priority.NORMAL: ("普通", "Normal"),
    Priority.VIP: ("VIP", "VIP"),
    Priority.CARE: ("爱心优先", "Priority care"),
    Priority.APPOINTMENT: ("预约", "Appointment"),
}


def _minutes(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f}" if minutes >= 1 or minutes == 0 else f"{minutes:.1f}"


def explain_call(
    reason: CallReason,
    *,
    priority: Priority,
    head_start_seconds: float = 0.0,
    tier_index: int = 0,
    tier_services: tuple[str, ...] = (),
    waited_seconds: float = 0.0,
    sla_seconds: float | None = None,
    service_name: str = "",
    strict: bool = False,
) -> tuple[str, str]:
    """Return ``(zh_CN, en)`` sentences for a call made for ``reason``."""
    codes = "、".join(tier_services)
    codes_en = ", ".join(tier_services)
    if reason is CallReason.DIRECT:
        return (
            "转入本窗口的号票，优先办理",
            "Transferred to this counter; its own queue comes first.",
        )
    if reason is CallReason.SLA_ESCALATION:
        limit = _minutes(sla_seconds or 0)
        return (
            f"已等候 {_minutes(waited_seconds)} 分钟，"
            f"超过「{service_name}」最长等候 {limit} 分钟，优先呼叫",
            f"Waited {_minutes(waited_seconds)} min, over the {limit} min maximum for "
            f"{service_name}; escalated.",
        )
    if reason is CallReason.MANUAL:
        return ("窗口指定呼叫", "Called out of order by the clerk.")
    if reason is CallReason.RETURNED:
        return ("过号后重新排队的号票", "Missed earlier and returned to the queue.")
    zh_name, en_name = PRIORITY_NAMES[priority]
    if reason is CallReason.APPOINTMENT:
        if strict:
            return ("预约签到号，严格优先", "Checked-in appointment, strict priority.")
        return (
            f"预约签到号，按预约时段提前 {_minutes(head_start_seconds)} 分钟排序",
            f"Checked-in appointment, ordered by its slot with a "
            f"{_minutes(head_start_seconds)} min head start.",
        )
    if reason is CallReason.HEAD_START:
        if strict:
            return (f"{zh_name}客户，严格优先", f"{en_name} ticket, strict priority.")
        return (
            f"{zh_name}客户享有 {_minutes(head_start_seconds)} 分钟优先",
            f"{en_name} ticket with a {_minutes(head_start_seconds)} min head start.",
        )
    if tier_index == 0:
        return (f"按顺序呼叫（第一顺位业务：{codes}）", f"Next in order (tier 1: {codes_en}).")
    return (
        f"前 {tier_index} 个顺位无人等候，呼叫第 {tier_index + 1} 顺位业务（{codes}）",
        f"Tiers 1-{tier_index} empty; calling from tier {tier_index + 1} ({codes_en}).",
    )
