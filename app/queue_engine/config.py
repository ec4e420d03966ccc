"""Configuration of one branch: services, counters and the calling policies.

All classes are frozen and validated on construction, so an engine never holds a configuration
that it cannot apply. A bad value raises :class:`ConfigError` with a sentence naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from .errors import ConfigError, UnknownService

T = TypeVar("T")

SERVICE_CODE = re.compile(r"^[A-Z]{1,3}$")


class Priority(StrEnum):
    """Priority class of a ticket (优先级)."""

    NORMAL = "normal"
    VIP = "vip"
    CARE = "care"  # elderly, disabled, pregnant, military
    APPOINTMENT = "appointment"


class LateCheckIn(StrEnum):
    """What happens to an appointment checked in after its late window."""

    WALK_IN = "walk_in"  # becomes a normal ticket, keyed at check-in time
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """A business type customers queue for (业务类型). ``code`` is the ticket prefix."""

    code: str
    name: str
    name_en: str = ""
    sla_seconds: float | None = None
    daily_quota: int | None = None
    mean_service_seconds: float = 300.0
    # 暂停取号: no new walk-in or phone tickets; waiting tickets are still called and booked
    # customers may still check in. The reason is shown in the refusal.
    paused: bool = False
    pause_reason: str = ""
    pause_reason_en: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not SERVICE_CODE.match(self.code):
            raise ConfigError(
                f"Service code {self.code!r} must be 1 to 3 capital letters (the ticket prefix)."
            )
        if not self.name or not self.name.strip():
            raise ConfigError(f"Service {self.code} needs a name.")
        if self.sla_seconds is not None and not (
            math.isfinite(self.sla_seconds) and self.sla_seconds > 0
        ):
            raise ConfigError(f"Service {self.code}: the maximum wait must be a positive number.")
        if self.daily_quota is not None and self.daily_quota < 1:
            raise ConfigError(f"Service {self.code}: the daily quota must be at least 1.")
        if not (math.isfinite(self.mean_service_seconds) and self.mean_service_seconds > 0):
            raise ConfigError(
                f"Service {self.code}: the average service time must be a positive number."
            )


@dataclass(frozen=True, slots=True)
class CounterConfig:
    """A desk that calls tickets (窗口). ``tiers`` is its work profile, first tier first."""

    number: int
    tiers: tuple[tuple[str, ...], ...]
    name: str = ""
    backup: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.number, bool) or not isinstance(self.number, int) or self.number < 1:
            raise ConfigError(f"Counter number {self.number!r} must be a positive whole number.")
        tiers = tuple(tuple(tier) for tier in self.tiers)
        object.__setattr__(self, "tiers", tiers)
        if not tiers or not all(tiers):
            raise ConfigError(
                f"Counter {self.number} needs at least one tier, and no tier may be empty."
            )
        seen: set[str] = set()
        for code in (code for tier in tiers for code in tier):
            if code in seen:
                raise ConfigError(f"Counter {self.number} lists service {code} twice.")
            seen.add(code)
        if self.backup == self.number:
            raise ConfigError(f"Counter {self.number} cannot be its own backup.")

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(code for tier in self.tiers for code in tier)

    @property
    def display_name(self) -> str:
        return self.name or f"{self.number}号窗口"


DEFAULT_HEAD_STARTS: Mapping[Priority, float] = {
    Priority.NORMAL: 0.0,
    Priority.VIP: 300.0,
    Priority.CARE: 600.0,
    Priority.APPOINTMENT: 900.0,
}

# In strict mode a class's key is moved this far ahead per rank: far more than any business day,
# small enough that float keys keep sub-millisecond resolution (epoch seconds ~ 2e9).
STRICT_RANK_SECONDS = 1e10


@dataclass(frozen=True, slots=True)
class PriorityPolicy:
    """Head starts per priority class (see ARCHITECTURE.md, "Choosing the next ticket").

    ``key = issued_at - head_start(class)``. With ``strict_priority`` every class above normal
    has an infinite head start; classes above normal are then ordered by their configured head
    start (larger first), and by issue time within a class.
    """

    head_start_seconds: Mapping[Any, float] = field(
        default_factory=lambda: dict(DEFAULT_HEAD_STARTS)
    )
    strict_priority: bool = False

    def __post_init__(self) -> None:
        merged: dict[Priority, float] = dict.fromkeys(Priority, 0.0)
        for name, seconds in dict(self.head_start_seconds).items():
            try:
                priority = Priority(name)
            except ValueError:
                raise ConfigError(
                    f"Unknown priority class {name!r}; use normal, vip, care or appointment."
                ) from None
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise ConfigError(f"The head start of {priority} must be a number of seconds.")
            if not math.isfinite(seconds) or seconds < 0:
                raise ConfigError(
                    f"The head start of {priority} must be zero or more seconds, and finite "
                    "(use strict_priority for an infinite head start)."
                )
            merged[priority] = float(seconds)
        if merged[Priority.NORMAL] != 0:
            raise ConfigError("Normal tickets have no head start; set it to 0.")
        object.__setattr__(self, "head_start_seconds", merged)

    def offset(self, priority: Priority) -> float:
        """How many seconds earlier than its issue time a ticket of this class is keyed."""
        if priority is Priority.NORMAL:
            return 0.0
        if not self.strict_priority:
            return self.head_start_seconds[priority]
        above_normal = sorted(
            (p for p in Priority if p is not Priority.NORMAL),
            key=lambda p: (self.head_start_seconds[p], p.value),
        )
        return STRICT_RANK_SECONDS * (above_normal.index(priority) + 1)


@dataclass(frozen=True, slots=True)
class MissedTicketPolicy:
    """Rules for no-shows (过号) and their return."""

    grace_seconds: float = 1800.0
    reinsert_places: int = 3
    max_returns: int = 1
    auto_miss_after_recalls: int | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.grace_seconds) or self.grace_seconds < 0:
            raise ConfigError("The grace period for missed tickets must be zero or more seconds.")
        if self.reinsert_places < 0:
            raise ConfigError("A returning ticket is reinserted zero or more places behind.")
        if self.max_returns < 0:
            raise ConfigError("The number of allowed returns must be zero or more.")
        if self.auto_miss_after_recalls is not None and self.auto_miss_after_recalls < 0:
            raise ConfigError("Automatic no-show needs zero or more recalls, or none.")


@dataclass(frozen=True, slots=True)
class AppointmentPolicy:
    """Check-in window of booked slots (预约签到). The head start is in :class:`PriorityPolicy`."""

    early_seconds: float = 3600.0
    late_seconds: float = 900.0
    late_action: LateCheckIn = LateCheckIn.WALK_IN

    def __post_init__(self) -> None:
        if not math.isfinite(self.early_seconds) or self.early_seconds < 0:
            raise ConfigError("The early check-in window must be zero or more seconds.")
        if not math.isfinite(self.late_seconds) or self.late_seconds < 0:
            raise ConfigError("The late check-in window must be zero or more seconds.")
        try:
            object.__setattr__(self, "late_action", LateCheckIn(self.late_action))
        except ValueError:
            raise ConfigError("A late check-in is either 'walk_in' or 'refuse'.") from None


@dataclass(frozen=True, slots=True)
class BranchConfig:
    """Everything the engine needs to know about one branch."""

    services: tuple[ServiceConfig, ...]
    counters: tuple[CounterConfig, ...]
    priority: PriorityPolicy = field(default_factory=PriorityPolicy)
    missed: MissedTicketPolicy = field(default_factory=MissedTicketPolicy)
    appointments: AppointmentPolicy = field(default_factory=AppointmentPolicy)
    estimator_weight: float = 0.02
    recent_calls: int = 10

    def __post_init__(self) -> None:
        services = tuple(self.services)
        counters = tuple(self.counters)
        object.__setattr__(self, "services", services)
        object.__setattr__(self, "counters", counters)
        codes = _unique((s.code for s in services), "service code")
        numbers = _unique((c.number for c in counters), "counter number")
        for counter in counters:
            for code in counter.services:
                if code not in codes:
                    raise ConfigError(
                        f"Counter {counter.number} serves service {code}, which does not exist."
                    )
            if counter.backup is not None and counter.backup not in numbers:
                raise ConfigError(
                    f"Counter {counter.number} names counter {counter.backup} as its backup, "
                    "which does not exist."
                )
        if not 0 < self.estimator_weight <= 1:
            raise ConfigError("The estimator weight must be in (0, 1].")
        if self.recent_calls < 1:
            raise ConfigError("Keep at least one recent call.")

    def service(self, code: str) -> ServiceConfig:
        for service in self.services:
            if service.code == code:
                return service
        raise UnknownService(f"Service {code!r} does not exist at this branch.")


def _unique(values: Iterable[T], what: str) -> set[T]:
    seen: set[T] = set()
    for value in values:
        if value in seen:
            raise ConfigError(f"The {what} {value!r} is used twice.")
        seen.add(value)
    return seen
