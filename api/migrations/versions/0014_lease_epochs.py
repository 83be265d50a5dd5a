"""camera leases: epochs (fencing tokens) and the tenures they name

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 17:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("camera_lease") as batch:
        batch.add_column(sa.Column("epoch", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "camera_tenure",
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("started_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["camera.id"], name=op.f("fk_camera_tenure_camera_id_camera")
        ),
        sa.PrimaryKeyConstraint("camera_id", "epoch", name=op.f("pk_camera_tenure")),
    )


def downgrade() -> None:
    op.drop_table("camera_tenure")
    with op.batch_alter_table("camera_lease") as batch:
        batch.drop_column("epoch")
