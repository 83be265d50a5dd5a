"""evidence access log: who viewed or downloaded which evidence, and which worker read which
camera's credentials

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_access",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("object_kind", sa.String(length=30), nullable=False),
        sa.Column("object_id", sa.String(length=200), nullable=False),
        sa.Column("camera_id", sa.String(length=100), nullable=True),
        sa.Column("grid_event_id", sa.Integer(), nullable=True),
        sa.Column("client_address", sa.String(length=100), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_access")),
    )
    for column in ("at", "actor", "camera_id", "grid_event_id"):
        op.create_index(op.f(f"ix_evidence_access_{column}"), "evidence_access", [column])


def downgrade() -> None:
    for column in ("at", "actor", "camera_id", "grid_event_id"):
        op.drop_index(op.f(f"ix_evidence_access_{column}"), table_name="evidence_access")
    op.drop_table("evidence_access")
