"""camera leases

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 22:21:05.041490
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "camera_lease",
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("acquired_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["camera.id"], name=op.f("fk_camera_lease_camera_id_camera")
        ),
        sa.PrimaryKeyConstraint("camera_id", name=op.f("pk_camera_lease")),
    )
    with op.batch_alter_table("camera_lease", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_camera_lease_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_camera_lease_worker"), ["worker"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("camera_lease", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_camera_lease_worker"))
        batch_op.drop_index(batch_op.f("ix_camera_lease_expires_at"))

    op.drop_table("camera_lease")
