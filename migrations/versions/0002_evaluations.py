"""evaluations: ratings, follow-up cases and their notes; rating policy; evaluator's counter

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 03:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=40), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("ticket_number", sa.String(length=12), nullable=False),
        sa.Column("business_day", sa.String(length=10), nullable=False),
        sa.Column("service", sa.String(length=3), nullable=False),
        sa.Column("counter", sa.Integer(), nullable=True),
        sa.Column("clerk_id", sa.Integer(), nullable=True),
        sa.Column("served_at", sa.Double(), nullable=False),
        sa.Column("scale", sa.String(length=8), nullable=False),
        sa.Column("level", sa.String(length=24), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id", "ticket_id"],
            ["tickets.branch_id", "tickets.id"],
            name=op.f("fk_ratings_branch_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["branches.id"],
            name=op.f("fk_ratings_branch_id_branches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
        sa.UniqueConstraint("branch_id", "ticket_id", name=op.f("uq_ratings_branch_id_ticket_id")),
    )
    op.create_index("ix_ratings_branch_created", "ratings", ["branch_id", "created_at"])
    op.create_table(
        "follow_up_cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=40), nullable=False),
        sa.Column("rating_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("ticket_number", sa.String(length=12), nullable=True),
        sa.Column("counter", sa.Integer(), nullable=True),
        sa.Column("clerk_id", sa.Integer(), nullable=True),
        sa.Column("deadline", sa.Double(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.Double(), nullable=True),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["branches.id"],
            name=op.f("fk_follow_up_cases_branch_id_branches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rating_id"],
            ["ratings.id"],
            name=op.f("fk_follow_up_cases_rating_id_ratings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["staff_users.id"],
            name=op.f("fk_follow_up_cases_assignee_id_staff_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_up_cases")),
        sa.UniqueConstraint("rating_id", name=op.f("uq_follow_up_cases_rating_id")),
    )
    op.create_index("ix_follow_up_cases_branch_state", "follow_up_cases", ["branch_id", "state"])
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_name", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["follow_up_cases.id"],
            name=op.f("fk_case_notes_case_id_follow_up_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
    )
    op.create_index(op.f("ix_case_notes_case_id"), "case_notes", ["case_id"])
    # New columns of existing tables: server defaults so that existing rows get them.
    with op.batch_alter_table("policies") as batch_op:
        batch_op.add_column(
            sa.Column("rating_scale", sa.String(length=8), nullable=False, server_default="four")
        )
        batch_op.add_column(
            sa.Column("rating_window_hours", sa.Double(), nullable=False, server_default="24")
        )
        batch_op.add_column(sa.Column("rating_reasons", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "case_deadline_working_days", sa.Integer(), nullable=False, server_default="2"
            )
        )
    with op.batch_alter_table("devices") as batch_op:
        batch_op.add_column(sa.Column("counter", sa.Integer(), nullable=True))
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("finished_by", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("finished_by")
    with op.batch_alter_table("devices") as batch_op:
        batch_op.drop_column("counter")
    with op.batch_alter_table("policies") as batch_op:
        batch_op.drop_column("case_deadline_working_days")
        batch_op.drop_column("rating_reasons")
        batch_op.drop_column("rating_window_hours")
        batch_op.drop_column("rating_scale")
    op.drop_index(op.f("ix_case_notes_case_id"), table_name="case_notes")
    op.drop_table("case_notes")
    op.drop_index("ix_follow_up_cases_branch_state", table_name="follow_up_cases")
    op.drop_table("follow_up_cases")
    op.drop_index("ix_ratings_branch_created", table_name="ratings")
    op.drop_table("ratings")
