"""quality: indexes for the service-quality reports; lobby notices; the audit log; overdue
case announcements

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-21 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Reports read ratings by business day and cases by the time they were opened.
    op.create_index("ix_ratings_branch_day", "ratings", ["branch_id", "business_day"])
    op.create_index(
        "ix_follow_up_cases_branch_created", "follow_up_cases", ["branch_id", "created_at"]
    )
    with op.batch_alter_table("follow_up_cases") as batch_op:
        batch_op.add_column(sa.Column("overdue_announced_at", sa.Double(), nullable=True))
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=40), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("text_en", sa.String(length=500), nullable=False),
        sa.Column("starts_at", sa.Double(), nullable=False),
        sa.Column("ends_at", sa.Double(), nullable=True),
        sa.Column("displays", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["branches.id"],
            name=op.f("fk_notices_branch_id_branches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    op.create_index("ix_notices_branch_ends", "notices", ["branch_id", "ends_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=40), nullable=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("device", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_branch_at", "audit_log", ["branch_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_branch_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_notices_branch_ends", table_name="notices")
    op.drop_table("notices")
    with op.batch_alter_table("follow_up_cases") as batch_op:
        batch_op.drop_column("overdue_announced_at")
    op.drop_index("ix_follow_up_cases_branch_created", table_name="follow_up_cases")
    op.drop_index("ix_ratings_branch_day", table_name="ratings")
