"""service pause: a service's ticket issuing can be paused (暂停取号), with a reason and the
automatic notice that announces it

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 06:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("services") as batch_op:
        batch_op.add_column(
            sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("pause_reason", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("pause_reason_en", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("pause_notice_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("services") as batch_op:
        batch_op.drop_column("pause_notice_id")
        batch_op.drop_column("pause_reason_en")
        batch_op.drop_column("pause_reason")
        batch_op.drop_column("paused")
