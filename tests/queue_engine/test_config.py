"""Branch configuration is validated on construction, with a sentence naming what is wrong."""

import pytest

from app.queue_engine import (
    AppointmentPolicy,
    BranchConfig,
    ConfigError,
    CounterConfig,
    MissedTicketPolicy,
    Priority,
    PriorityPolicy,
    ServiceConfig,
)
from app.queue_engine.config import STRICT_RANK_SECONDS

from .builders import make_counter, make_service


@pytest.mark.parametrize("code", ["", "a", "ABCD", "A1", "Ä", 5])
def test_a_service_code_must_be_one_to_three_capital_letters(code: object) -> None:
    with pytest.raises(ConfigError, match="capital letters"):
        ServiceConfig(code=code, name="x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sla_seconds", 0, "maximum wait"),
        ("sla_seconds", float("nan"), "maximum wait"),
        ("daily_quota", 0, "quota"),
        ("mean_service_seconds", -1, "average service time"),
        ("name", "  ", "needs a name"),
    ],
)
def test_service_fields_are_checked(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_service("A", **{field: value})


def test_a_counter_needs_a_positive_number_and_non_empty_tiers() -> None:
    with pytest.raises(ConfigError, match="positive whole number"):
        CounterConfig(number=0, tiers=(("A",),))
    with pytest.raises(ConfigError, match="no tier may be empty"):
        CounterConfig(number=1, tiers=(("A",), ()))
    with pytest.raises(ConfigError, match="twice"):
        CounterConfig(number=1, tiers=(("A",), ("A",)))
    with pytest.raises(ConfigError, match="own backup"):
        CounterConfig(number=1, tiers=(("A",),), backup=1)


def test_a_counter_may_only_serve_existing_services() -> None:
    with pytest.raises(ConfigError, match="serves service Z, which does not exist"):
        BranchConfig(services=(make_service("A"),), counters=(make_counter(1, (("Z",),)),))


def test_a_backup_counter_must_exist() -> None:
    with pytest.raises(ConfigError, match="backup, which does not exist"):
        BranchConfig(services=(make_service("A"),), counters=(make_counter(1, backup=9),))


def test_codes_and_counter_numbers_are_unique() -> None:
    with pytest.raises(ConfigError, match="used twice"):
        BranchConfig(services=(make_service("A"), make_service("A")), counters=())
    with pytest.raises(ConfigError, match="used twice"):
        BranchConfig(services=(make_service("A"),), counters=(make_counter(1), make_counter(1)))


def test_head_starts_are_finite_non_negative_and_zero_for_normal() -> None:
    with pytest.raises(ConfigError, match="zero or more seconds"):
        PriorityPolicy(head_start_seconds={"vip": -1})
    with pytest.raises(ConfigError, match="strict_priority"):
        PriorityPolicy(head_start_seconds={"vip": float("inf")})
    with pytest.raises(ConfigError, match="Normal tickets have no head start"):
        PriorityPolicy(head_start_seconds={"normal": 10})
    with pytest.raises(ConfigError, match="Unknown priority class"):
        PriorityPolicy(head_start_seconds={"gold": 10})


def test_unset_head_starts_default_to_zero() -> None:
    policy = PriorityPolicy(head_start_seconds={"care": 600})
    assert policy.offset(Priority.CARE) == 600
    assert policy.offset(Priority.VIP) == 0
    assert policy.offset(Priority.NORMAL) == 0


def test_strict_priority_ranks_classes_by_their_head_start() -> None:
    policy = PriorityPolicy(
        head_start_seconds={"vip": 300, "care": 600, "appointment": 900}, strict_priority=True
    )
    assert policy.offset(Priority.NORMAL) == 0
    assert policy.offset(Priority.VIP) == STRICT_RANK_SECONDS
    assert policy.offset(Priority.CARE) == 2 * STRICT_RANK_SECONDS
    assert policy.offset(Priority.APPOINTMENT) == 3 * STRICT_RANK_SECONDS


def test_missed_and_appointment_policies_refuse_negative_values() -> None:
    with pytest.raises(ConfigError, match="grace period"):
        MissedTicketPolicy(grace_seconds=-1)
    with pytest.raises(ConfigError, match="returns"):
        MissedTicketPolicy(max_returns=-1)
    with pytest.raises(ConfigError, match="early check-in"):
        AppointmentPolicy(early_seconds=-5)
    with pytest.raises(ConfigError, match="walk_in"):
        AppointmentPolicy(late_action="ignore")  # type: ignore[arg-type]
