"""GB/T 28181 devices' information, passwords, organisation; refused channels; device alarms

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gb_device") as batch:
        batch.add_column(sa.Column("organisation_id", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("authenticated", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch.add_column(
            sa.Column("last_keepalive_at", api.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("name", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("manufacturer", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("model", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("firmware", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("channel_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("password_encrypted", sa.Text(), nullable=True))
        batch.create_foreign_key(
            "fk_gb_device_organisation", "organisation", ["organisation_id"], ["id"]
        )
    with op.batch_alter_table("gb_channel") as batch:
        batch.add_column(
            sa.Column("refused", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "gb_alarm",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=20), nullable=False),
        sa.Column("channel_id", sa.String(length=20), nullable=False),
        sa.Column("sn", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("method", sa.Integer(), nullable=False),
        sa.Column("alarm_type", sa.Integer(), nullable=True),
        sa.Column("event_code", sa.String(length=8), nullable=True),
        sa.Column("alarm_time", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("received_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=True),
        sa.Column("grid_event_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["gb_device.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gb_alarm_device_id", "gb_alarm", ["device_id"])


def downgrade() -> None:
    op.drop_index("ix_gb_alarm_device_id", table_name="gb_alarm")
    op.drop_table("gb_alarm")
    with op.batch_alter_table("gb_channel") as batch:
        batch.drop_column("refused")
    with op.batch_alter_table("gb_device") as batch:
        batch.drop_constraint("fk_gb_device_organisation", type_="foreignkey")
        for column in ("password_encrypted", "channel_count", "firmware", "model",
                       "manufacturer", "name", "last_keepalive_at", "authenticated",
                       "organisation_id"):  # fmt: skip
            batch.drop_column(column)
