"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 21:28:45.001432
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grid",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["grid.id"], name=op.f("fk_grid_parent_id_grid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid")),
    )
    with op.batch_alter_table("grid", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grid_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "organisation",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation")),
    )
    op.create_table(
        "camera",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organisation_id", sa.String(length=64), nullable=False),
        sa.Column("source_display", sa.String(length=1000), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("grid_id", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_camera_grid_id_grid")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_camera_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera")),
    )
    with op.batch_alter_table("camera", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_camera_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_camera_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "incident",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("started_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detected_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("object_class", sa.String(length=64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("box_xyxy", sa.JSON(), nullable=False),
        sa.Column("frame_width", sa.Integer(), nullable=False),
        sa.Column("frame_height", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("rule_parameters", sa.JSON(), nullable=False),
        sa.Column("snapshot_path", sa.String(length=500), nullable=False),
        sa.Column("snapshot_sha256", sa.String(length=64), nullable=False),
        sa.Column("reported_by", sa.String(length=100), nullable=False),
        sa.Column("received_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["camera.id"], name=op.f("fk_incident_camera_id_camera")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_camera_id"), ["camera_id"], unique=False)

    op.create_table(
        "grid_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("grid_id", sa.String(length=64), nullable=True),
        sa.Column("camera_id", sa.String(length=64), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("occurred_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reported_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["camera.id"], name=op.f("fk_grid_event_camera_id_camera")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_grid_event_grid_id_grid")),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_grid_event_incident_id_incident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_event")),
        sa.UniqueConstraint("incident_id", name=op.f("uq_grid_event_incident_id")),
    )
    with op.batch_alter_table("grid_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grid_event_camera_id"), ["camera_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grid_event_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_grid_event_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index("ix_grid_event_occurred_at_id", ["occurred_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grid_event_status"), ["status"], unique=False)

    op.create_table(
        "grid_event_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("grid_event_id", sa.Integer(), nullable=False),
        sa.Column("at", api.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_event_id"],
            ["grid_event.id"],
            name=op.f("fk_grid_event_history_grid_event_id_grid_event"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_event_history")),
    )
    with op.batch_alter_table("grid_event_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_grid_event_history_grid_event_id"), ["grid_event_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("grid_event_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_event_history_grid_event_id"))

    op.drop_table("grid_event_history")
    with op.batch_alter_table("grid_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_event_status"))
        batch_op.drop_index("ix_grid_event_occurred_at_id")
        batch_op.drop_index(batch_op.f("ix_grid_event_grid_id"))
        batch_op.drop_index(batch_op.f("ix_grid_event_category"))
        batch_op.drop_index(batch_op.f("ix_grid_event_camera_id"))

    op.drop_table("grid_event")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_camera_id"))

    op.drop_table("incident")
    with op.batch_alter_table("camera", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_camera_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_camera_grid_id"))

    op.drop_table("camera")
    op.drop_table("organisation")
    with op.batch_alter_table("grid", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_parent_id"))

    op.drop_table("grid")
