"""camera registration and health

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-27 21:54:52.545203
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("camera", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status_since", api.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_frame_at", api.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_report_at", api.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("health", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("retired_at", api.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("camera", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("health")
        batch_op.drop_column("last_report_at")
        batch_op.drop_column("last_frame_at")
        batch_op.drop_column("status_since")
