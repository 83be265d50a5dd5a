"""GB/T 28181 devices (admission, online) and their catalog channels (candidates, adopted)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gb_device",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("admission", sa.String(length=16), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_report_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "gb_channel",
        sa.Column("device_id", sa.String(length=20), nullable=False),
        sa.Column("channel_id", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("manufacturer", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("civil_code", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("camera_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["gb_device.id"]),
        sa.ForeignKeyConstraint(["camera_id"], ["camera.id"]),
        sa.PrimaryKeyConstraint("device_id", "channel_id"),
    )


def downgrade() -> None:
    op.drop_table("gb_channel")
    op.drop_table("gb_device")
