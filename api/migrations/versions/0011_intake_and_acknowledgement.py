"""grid events: intake (file or verify, with an expiry) and acknowledgement

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("grid_event") as batch:
        batch.add_column(
            sa.Column("intake", sa.String(length=8), server_default="file", nullable=False)
        )
        batch.add_column(
            sa.Column("expires_at", api.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("acknowledged_at", api.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("acknowledged_by", sa.String(length=100), nullable=True))
        batch.create_index("ix_grid_event_expires_at", ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("grid_event") as batch:
        batch.drop_index("ix_grid_event_expires_at")
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged_at")
        batch.drop_column("expires_at")
        batch.drop_column("intake")
