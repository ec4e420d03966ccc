"""The store's tables (SQLAlchemy 2). The store is the source of truth; the engine is rebuilt
from it. Constraints are the second guard against bugs: one active ticket per counter, unique
display number per branch, service and day, gap-free unique ``(branch_id, seq)``, unique
idempotency keys.

Engine times are stored as double-precision epoch seconds so that a rebuilt engine sees exactly
the floats the original saw (a timestamp column would round them to microseconds).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    business_day: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[float] = mapped_column(Double)


class Policy(Base):
    """The calling policy of one branch (head starts, missed tickets, appointments)."""

    __tablename__ = "policies"

    branch_id: Mapped[str] = mapped_column(
        ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True
    )
    head_start_seconds: Mapped[dict[str, Any]] = mapped_column(JSON)
    strict_priority: Mapped[bool] = mapped_column(Boolean, default=False)
    missed_grace_seconds: Mapped[float] = mapped_column(Double)
    missed_reinsert_places: Mapped[int] = mapped_column(Integer)
    missed_max_returns: Mapped[int] = mapped_column(Integer)
    auto_miss_after_recalls: Mapped[int | None] = mapped_column(Integer)
    appointment_early_seconds: Mapped[float] = mapped_column(Double)
    appointment_late_seconds: Mapped[float] = mapped_column(Double)
    appointment_late_action: Mapped[str] = mapped_column(String(16))
    almost_turn_ahead: Mapped[int] = mapped_column(Integer, default=3)
    updated_at: Mapped[float] = mapped_column(Double)
    # Evaluation (app/ratings.py): scale, window, reasons (None: the defaults), case deadline.
    rating_scale: Mapped[str] = mapped_column(String(8), default="four")
    rating_window_hours: Mapped[float] = mapped_column(Double, default=24.0)
    rating_reasons: Mapped[list[Any] | None] = mapped_column(JSON)
    case_deadline_working_days: Mapped[int] = mapped_column(Integer, default=2)


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("branch_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(3))
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    sla_minutes: Mapped[float | None] = mapped_column(Double)
    daily_quota: Mapped[int | None] = mapped_column(Integer)
    mean_service_minutes: Mapped[float] = mapped_column(Double, default=5.0)
    materials: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # 暂停取号 (migration 0005): no new tickets while paused; the automatic notice's id.
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    pause_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")
    pause_reason_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    pause_notice_id: Mapped[int | None] = mapped_column(Integer)


class Counter(Base):
    __tablename__ = "counters"
    __table_args__ = (UniqueConstraint("branch_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100), default="")
    tiers: Mapped[list[Any]] = mapped_column(JSON)
    backup: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="closed")


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    branch_id: Mapped[str | None] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[float | None] = mapped_column(Double)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Double)


class Device(Base):
    """A kiosk, display, counter terminal or evaluator paired to one branch."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    pairing_code_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    pairing_expires_at: Mapped[float | None] = mapped_column(Double)
    paired_at: Mapped[float | None] = mapped_column(Double)
    revoked_at: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double)
    # The counter an evaluator stands at (None for other kinds).
    counter: Mapped[int | None] = mapped_column(Integer)


class Ticket(Base):
    """One ticket as the engine's :class:`TicketRecord` describes it, plus its customer token."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("branch_id", "business_day", "prefix", "number"),
        Index(
            "uq_tickets_one_active_per_counter",
            "branch_id",
            "counter",
            unique=True,
            sqlite_where=text("state IN ('called', 'serving')"),
            postgresql_where=text("state IN ('called', 'serving')"),
        ),
        Index("ix_tickets_branch_day", "branch_id", "business_day"),
    )

    branch_id: Mapped[str] = mapped_column(
        ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    business_day: Mapped[str] = mapped_column(String(10))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    service: Mapped[str] = mapped_column(String(3))
    prefix: Mapped[str] = mapped_column(String(3))
    number: Mapped[int] = mapped_column(Integer)
    priority: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[float] = mapped_column(Double)
    queued_at: Mapped[float] = mapped_column(Double)
    key: Mapped[float | None] = mapped_column(Double)
    counter: Mapped[int | None] = mapped_column(Integer)
    called_at: Mapped[float | None] = mapped_column(Double)
    first_called_at: Mapped[float | None] = mapped_column(Double)
    started_at: Mapped[float | None] = mapped_column(Double)
    finished_at: Mapped[float | None] = mapped_column(Double)
    recalls: Mapped[int] = mapped_column(Integer, default=0)
    call_reason: Mapped[str | None] = mapped_column(String(32))
    missed_at: Mapped[float | None] = mapped_column(Double)
    returns: Mapped[int] = mapped_column(Integer, default=0)
    transfers: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(200))
    appointment_id: Mapped[str | None] = mapped_column(String(64))
    slot_start: Mapped[float | None] = mapped_column(Double)
    # The staff member who finished the ticket, when a person (not a counter device) did. Not
    # an engine field: written by the finish command itself, never by the ticket upsert.
    finished_by: Mapped[int | None] = mapped_column(Integer)


class Rating(Base):
    """One customer's evaluation of one served ticket: one per ticket (the constraint decides
    between two ratings sent at once), bound to where and by whom it was served."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("branch_id", "ticket_id"),
        ForeignKeyConstraint(
            ["branch_id", "ticket_id"], ["tickets.branch_id", "tickets.id"], ondelete="CASCADE"
        ),
        Index("ix_ratings_branch_created", "branch_id", "created_at"),
        Index("ix_ratings_branch_day", "branch_id", "business_day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(Integer)
    ticket_number: Mapped[str] = mapped_column(String(12))
    business_day: Mapped[str] = mapped_column(String(10))
    service: Mapped[str] = mapped_column(String(3))
    counter: Mapped[int | None] = mapped_column(Integer)
    clerk_id: Mapped[int | None] = mapped_column(Integer)
    served_at: Mapped[float] = mapped_column(Double)
    scale: Mapped[str] = mapped_column(String(8))
    level: Mapped[str] = mapped_column(String(24))
    score: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Double)


class FollowUpCase(Base):
    """A follow-up case (回访 / 督办): opened by a negative rating or from a complaint."""

    __tablename__ = "follow_up_cases"
    __table_args__ = (
        Index("ix_follow_up_cases_branch_state", "branch_id", "state"),
        Index("ix_follow_up_cases_branch_created", "branch_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    rating_id: Mapped[int | None] = mapped_column(
        ForeignKey("ratings.id", ondelete="SET NULL"), unique=True
    )
    source: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    ticket_number: Mapped[str | None] = mapped_column(String(12))
    counter: Mapped[int | None] = mapped_column(Integer)
    clerk_id: Mapped[int | None] = mapped_column(Integer)
    deadline: Mapped[float] = mapped_column(Double)
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(8), default="open")
    resolution: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[float | None] = mapped_column(Double)
    closed_by: Mapped[int | None] = mapped_column(Integer)
    # When its ``case_overdue`` event was logged (app/overdue.py); None: not yet.
    overdue_announced_at: Mapped[float | None] = mapped_column(Double)


class CaseNote(Base):
    """A note on a follow-up case; notes are only ever added."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("follow_up_cases.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(Integer)
    author_name: Mapped[str] = mapped_column(String(100), default="")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)


class Notice(Base):
    """A scrolling notice (滚动公告) of a branch's displays: shown from ``starts_at`` until
    ``ends_at`` (None: until withdrawn), on every display (``displays`` None) or on the listed
    display devices."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_branch_ends", "branch_id", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(500))
    text_en: Mapped[str] = mapped_column(String(500), default="")
    starts_at: Mapped[float] = mapped_column(Double)
    ends_at: Mapped[float | None] = mapped_column(Double)
    displays: Mapped[list[Any] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16), default="manual")
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)


class AuditEntry(Base):
    """One staff or device action: who, when, what, from which device and address. Only ever
    added."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_branch_at", "branch_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[float] = mapped_column(Double)
    actor_kind: Mapped[str] = mapped_column(String(16))  # staff | device | anonymous
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str | None] = mapped_column(String(16))  # staff role or device kind
    device: Mapped[str] = mapped_column(String(200), default="")  # device name or user agent
    address: Mapped[str] = mapped_column(String(64), default="")
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class BranchEvent(Base):
    """The branch's event log: ``seq`` is gap-free per branch."""

    __tablename__ = "branch_events"

    branch_id: Mapped[str] = mapped_column(
        ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[float] = mapped_column(Double)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("branch_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Double)


class ServiceEstimate(Base):
    """The engine's learned mean service time per service, written with each batch."""

    __tablename__ = "service_estimates"
    __table_args__ = (ForeignKeyConstraint(["branch_id"], ["branches.id"], ondelete="CASCADE"),)

    branch_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    service: Mapped[str] = mapped_column(String(3), primary_key=True)
    mean_seconds: Mapped[float] = mapped_column(Double)
    samples: Mapped[int] = mapped_column(Integer)


class ServerSecret(Base):
    """A signing key generated on first start when ``QUEUEHALL_SECRET_KEY`` is not set."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# Appointments, remote tickets and the mini-program (issue #5; migration 0003). Customer data
# (phone, name, openid) lives only in ``customers``: other tables name a customer by id.


class Customer(Base):
    """A customer known by a mini-program ``openid`` or, when staff booked for them, a phone."""

    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_phone", "phone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[float] = mapped_column(Double)
    last_seen_at: Mapped[float] = mapped_column(Double)


class BookingRules(Base):
    """A branch's booking rules (defaults in ``app.appointments.rules.BookingRules``)."""

    __tablename__ = "booking_rules"

    branch_id: Mapped[str] = mapped_column(
        ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True
    )
    days_ahead: Mapped[int] = mapped_column(Integer)
    min_lead_minutes: Mapped[int] = mapped_column(Integer)
    max_pending_per_week: Mapped[int] = mapped_column(Integer)
    no_show_limit: Mapped[int] = mapped_column(Integer)
    no_show_window_days: Mapped[int] = mapped_column(Integer)
    no_show_block_days: Mapped[int] = mapped_column(Integer)
    no_show_grace_minutes: Mapped[int] = mapped_column(Integer)
    check_in_radius_meters: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[float] = mapped_column(Double)


class SlotTemplate(Base):
    """Bookable slots of one service on one weekday (0 Monday): an opening period cut into
    slots of ``slot_minutes``, each with ``capacity`` seats."""

    __tablename__ = "slot_templates"
    __table_args__ = (Index("ix_slot_templates_branch_service", "branch_id", "service"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(3))
    weekday: Mapped[int] = mapped_column(Integer)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)
    slot_minutes: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Double)


class Closure(Base):
    """Days on which a branch (``service`` None) or one service takes no bookings."""

    __tablename__ = "closures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    service: Mapped[str | None] = mapped_column(String(3))
    first_day: Mapped[str] = mapped_column(String(10))
    last_day: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[int | None] = mapped_column(Integer)


class Slot(Base):
    """One generated slot. ``booked`` counts its seats taken; the check constraint and the
    conditional ``UPDATE`` that takes a seat keep it within ``capacity`` on both stores."""

    __tablename__ = "slots"
    __table_args__ = (
        UniqueConstraint("branch_id", "service", "start_at"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="seats"),
        Index("ix_slots_branch_day", "branch_id", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(3))
    day: Mapped[str] = mapped_column(String(10))
    start_at: Mapped[float] = mapped_column(Double)
    end_at: Mapped[float] = mapped_column(Double)
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)


class Booking(Base):
    """One booked seat: booked -> checked_in | cancelled | no_show."""

    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_branch_day", "branch_id", "day"),
        Index("ix_bookings_customer_state", "customer_id", "state"),
        Index("ix_bookings_state_slot_end", "state", "slot_end"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(3))
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    code: Mapped[str] = mapped_column(String(12), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    day: Mapped[str] = mapped_column(String(10))
    slot_start: Mapped[float] = mapped_column(Double)
    slot_end: Mapped[float] = mapped_column(Double)
    channel: Mapped[str] = mapped_column(String(16))
    booked_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Double)
    cancelled_at: Mapped[float | None] = mapped_column(Double)
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    check_in_claimed_at: Mapped[float | None] = mapped_column(Double)
    checked_in_at: Mapped[float | None] = mapped_column(Double)
    late_check_in: Mapped[bool] = mapped_column(Boolean, default=False)
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    ticket_token: Mapped[str | None] = mapped_column(String(64))
    no_show_at: Mapped[float | None] = mapped_column(Double)


class RemoteSettings(Base):
    """Whether customers may take today's ticket of a service from their phone."""

    __tablename__ = "remote_settings"

    branch_id: Mapped[str] = mapped_column(
        ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(String(3), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    daily_quota: Mapped[int | None] = mapped_column(Integer)
    arrive_within_minutes: Mapped[int | None] = mapped_column(Integer)


class RemoteTicket(Base):
    """A ticket a customer took from the phone; at most one ``active`` per customer and
    service (partial unique index)."""

    __tablename__ = "remote_tickets"
    __table_args__ = (
        Index(
            "uq_remote_tickets_one_active",
            "customer_id",
            "branch_id",
            "service",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_remote_tickets_branch_day", "branch_id", "business_day", "service"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(3))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    business_day: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(16))
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    token: Mapped[str | None] = mapped_column(String(64))
    arrive_by: Mapped[float | None] = mapped_column(Double)
    arrived_at: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double)


class BranchProfile(Base):
    """What the mini-program shows of a branch: where it is, how to reach it."""

    __tablename__ = "branch_profiles"

    branch_id: Mapped[str] = mapped_column(
        ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True
    )
    latitude: Mapped[float | None] = mapped_column(Double)
    longitude: Mapped[float | None] = mapped_column(Double)
    address: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    hours: Mapped[str] = mapped_column(String(200), default="")


class Notification(Base):
    """The durable outbox: one row per message to a customer. ``dedupe_key`` makes enqueueing
    idempotent; a sender claims a row (``claimed_until``) before sending it."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str | None] = mapped_column(String(40))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Double)
    claimed_until: Mapped[float | None] = mapped_column(Double)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)
    sent_at: Mapped[float | None] = mapped_column(Double)
