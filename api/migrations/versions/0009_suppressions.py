"""suppressions

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 14:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("object_class", sa.String(length=64), nullable=False),
        sa.Column("region", sa.JSON(), nullable=False),
        sa.Column("starts_at_time", sa.Time(), nullable=True),
        sa.Column("ends_at_time", sa.Time(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("expires_at", api.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("grid_event_id", sa.Integer(), nullable=True),
        sa.Column("created_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("suppressed_count", sa.Integer(), nullable=False),
        sa.Column("last_suppressed_at", api.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["camera.id"], name=op.f("fk_suppression_camera_id_camera")
        ),
        sa.ForeignKeyConstraint(
            ["grid_event_id"],
            ["grid_event.id"],
            name=op.f("fk_suppression_grid_event_id_grid_event"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression")),
    )
    op.create_index(op.f("ix_suppression_camera_id"), "suppression", ["camera_id"], unique=False)
    with op.batch_alter_table("camera") as batch_op:
        batch_op.add_column(
            sa.Column("suppressed_incidents", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("last_suppressed_at", api.models.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("incident") as batch_op:
        batch_op.add_column(sa.Column("suppression_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch_op:
        batch_op.drop_column("suppression_id")
    with op.batch_alter_table("camera") as batch_op:
        batch_op.drop_column("last_suppressed_at")
        batch_op.drop_column("suppressed_incidents")
    op.drop_index(op.f("ix_suppression_camera_id"), table_name="suppression")
    op.drop_table("suppression")
