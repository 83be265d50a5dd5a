"""the worker fleet: cameras' watch priority and the leasing workers' capacity

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 17:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("camera") as batch:
        batch.add_column(
            sa.Column("watch_priority", sa.JSON(), nullable=False, server_default="{}")
        )
    op.create_table(
        "fleet_worker",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("last_seen_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_fleet_worker")),
    )
    op.create_index(
        op.f("ix_fleet_worker_last_seen_at"), "fleet_worker", ["last_seen_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_fleet_worker_last_seen_at"), table_name="fleet_worker")
    op.drop_table("fleet_worker")
    with op.batch_alter_table("camera") as batch:
        batch.drop_column("watch_priority")
