"""incident clips and details

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 22:28:24.711428
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ended_at", api.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("track_ids", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("model_backend", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("clip_path", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("clip_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("clip_started_at", api.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("clip_duration_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_column("clip_duration_s")
        batch_op.drop_column("clip_started_at")
        batch_op.drop_column("clip_sha256")
        batch_op.drop_column("clip_path")
        batch_op.drop_column("model_backend")
        batch_op.drop_column("details")
        batch_op.drop_column("track_ids")
        batch_op.drop_column("ended_at")
