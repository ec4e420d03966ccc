"""appointments: customers, slot templates, closures, slots, bookings, remote tickets,
mini-program branch profiles, the notification outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _branch_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["branch_id"],
        ["branches.id"],
        name=op.f(f"fk_{table}_branch_id_branches"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("name", sa.String(length=50), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("last_seen_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("openid", name=op.f("uq_customers_openid")),
    )
    op.create_index("ix_customers_phone", "customers", ["phone"])
    op.create_table(
        "booking_rules",
        sa.Column("branch_id", sa.String(length=40), nullable=False),
        sa.Column("days_ahead", sa.Integer(), nullable=False),
        sa.Column("min_lead_minutes", sa.Integer(), nullable=False),
        sa.Column("max_pending_per_week", sa.Integer(), nullable=False),
        sa.Column("no_show_limit", sa.Integer(), nullable=False),
        sa.Column("no_show_window_days", sa.Integer(), nullable=False),
        sa.Column("no_show_block_days", sa.Integer(), nullable=False),
        sa.Column("no_show_grace_minutes", sa.Integer(), nullable=False),
        sa.Column("check_in_radius_meters", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        _branch_fk("booking_rules"),
        sa.PrimaryKeyConstraint("branch_id", name=op.f("pk_booking_rules")),
    )
    op.create_table(
        "slot_templates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=40), nullable=False),
        sa.Column("service", sa.String(length=3), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        _branch_fk("slot_templates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slot_templates")),
    )
    op.create_index("ix_slot_templates_branch_service", "slot_templates", ["branch_id", "service"])
    op.create_table(
        "closures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=40), nullable=False),
        sa.Column("service", sa.String(length=3), nullable=True),
        sa.Column("first_day", sa.String(length=10), nullable=False),
        sa.Column("last_day", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _branch_fk("closures"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_closures")),
    )
    op.create_table(
        "slots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=40), nullable=False),
        sa.Column("service", sa.String(length=3), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("start_at", sa.Double(), nullable=False),
        sa.Column("end_at", sa.Double(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.CheckConstraint("booked >= 0 AND booked <= capacity", name=op.f("ck_slots_seats")),
        _branch_fk("slots"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slots")),
        sa.UniqueConstraint(
            "branch_id", "service", "start_at", name=op.f("uq_slots_branch_id_service_start_at")
        ),
    )
    op.create_index("ix_slots_branch_day", "slots", ["branch_id", "day"])
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=40), nullable=False),
        sa.Column("service", sa.String(length=3), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("slot_start", sa.Double(), nullable=False),
        sa.Column("slot_end", sa.Double(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("booked_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("cancelled_at", sa.Double(), nullable=True),
        sa.Column("cancel_reason", sa.String(length=200), nullable=True),
        sa.Column("check_in_claimed_at", sa.Double(), nullable=True),
        sa.Column("checked_in_at", sa.Double(), nullable=True),
        sa.Column("late_check_in", sa.Boolean(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("ticket_token", sa.String(length=64), nullable=True),
        sa.Column("no_show_at", sa.Double(), nullable=True),
        _branch_fk("bookings"),
        sa.ForeignKeyConstraint(
            ["slot_id"], ["slots.id"], name=op.f("fk_bookings_slot_id_slots"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_bookings_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("code", name=op.f("uq_bookings_code")),
    )
    op.create_index("ix_bookings_branch_day", "bookings", ["branch_id", "day"])
    op.create_index("ix_bookings_customer_state", "bookings", ["customer_id", "state"])
    op.create_index("ix_bookings_state_slot_end", "bookings", ["state", "slot_end"])
    op.create_table(
        "remote_settings",
        sa.Column("branch_id", sa.String(length=40), nullable=False),
        sa.Column("service", sa.String(length=3), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("daily_quota", sa.Integer(), nullable=True),
        sa.Column("arrive_within_minutes", sa.Integer(), nullable=True),
        _branch_fk("remote_settings"),
        sa.PrimaryKeyConstraint("branch_id", "service", name=op.f("pk_remote_settings")),
    )
    op.create_table(
        "remote_tickets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=40), nullable=False),
        sa.Column("service", sa.String(length=3), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("business_day", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("token", sa.String(length=64), nullable=True),
        sa.Column("arrive_by", sa.Double(), nullable=True),
        sa.Column("arrived_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        _branch_fk("remote_tickets"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_remote_tickets_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_tickets")),
    )
    op.create_index(
        "uq_remote_tickets_one_active",
        "remote_tickets",
        ["customer_id", "branch_id", "service"],
        unique=True,
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    )
    op.create_index(
        "ix_remote_tickets_branch_day", "remote_tickets", ["branch_id", "business_day", "service"]
    )
    op.create_table(
        "branch_profiles",
        sa.Column("branch_id", sa.String(length=40), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("hours", sa.String(length=200), nullable=False),
        _branch_fk("branch_profiles"),
        sa.PrimaryKeyConstraint("branch_id", name=op.f("pk_branch_profiles")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=40), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("claimed_until", sa.Double(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("sent_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_notifications_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    op.create_index("ix_notifications_due", "notifications", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_due", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("branch_profiles")
    op.drop_index("ix_remote_tickets_branch_day", table_name="remote_tickets")
    op.drop_index("uq_remote_tickets_one_active", table_name="remote_tickets")
    op.drop_table("remote_tickets")
    op.drop_table("remote_settings")
    op.drop_index("ix_bookings_state_slot_end", table_name="bookings")
    op.drop_index("ix_bookings_customer_state", table_name="bookings")
    op.drop_index("ix_bookings_branch_day", table_name="bookings")
    op.drop_table("bookings")
    op.drop_index("ix_slots_branch_day", table_name="slots")
    op.drop_table("slots")
    op.drop_table("closures")
    op.drop_index("ix_slot_templates_branch_service", table_name="slot_templates")
    op.drop_table("slot_templates")
    op.drop_table("booking_rules")
    op.drop_index("ix_customers_phone", table_name="customers")
    op.drop_table("customers")
