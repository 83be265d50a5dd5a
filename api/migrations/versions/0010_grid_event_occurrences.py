"""grid event occurrences: one situation, one event

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 09:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import api.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _group_key(camera_id: str, rule: str, zone: str, details: Any) -> str:
    # As api.grouping.group_key, kept here so the migration stays what it was when written.
    direction = (details or {}).get("direction") if rule == "line_crossing" else None
    return "|".join([camera_id, rule, zone, *([str(direction)] if direction else [])])


def _add_reference(table: str, column: sa.Column[Any], target: str, name: str) -> None:
    """Add a nullable column referring to `target` ("table.id"), constraint named `name`.

    Plain ADD COLUMN, no batch: on SQLite a batch rebuilds the table, and dropping the old
    incident or grid_event table fails its foreign keys once events refer to incidents. SQLite
    adds a reference only inline, which Alembic does not write, so it is spelt out there.
    """
    if op.get_bind().dialect.name == "sqlite":
        referred, referred_column = target.split(".")
        kind = column.type.compile(dialect=op.get_bind().dialect)
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column.name} {kind} "
            f"CONSTRAINT {name} REFERENCES {referred} ({referred_column})"
        )
    else:
        op.add_column(table, column)
        op.create_foreign_key(name, table, target.split(".")[0], [column.name], ["id"])


def upgrade() -> None:
    _add_reference(
        "incident",
        sa.Column("grid_event_id", sa.Integer(), nullable=True),
        "grid_event.id",
        "fk_incident_grid_event_id_grid_event",
    )
    op.create_index("ix_incident_grid_event_id", "incident", ["grid_event_id"])
    # Server defaults so that SQLite can add NOT NULL columns to rows that exist.
    for column in (
        sa.Column("occurrence_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("first_seen_at", api.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", api.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ongoing", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("group_key", sa.String(length=200), nullable=True),
        sa.Column("objects_involved", sa.JSON(), server_default="{}", nullable=False),
    ):
        op.add_column("grid_event", column)
    _add_reference(
        "grid_event",
        sa.Column("best_incident_id", sa.String(length=36), nullable=True),
        "incident.id",
        "fk_grid_event_best_incident_id_incident",
    )
    op.create_index("ix_grid_event_group_key_status", "grid_event", ["group_key", "status"])

    # Every event so far is one occurrence, seen once, when it occurred.
    grid_event = sa.table(
        "grid_event",
        sa.column("id", sa.Integer),
        sa.column("incident_id", sa.String),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("occurrence_count", sa.Integer),
        sa.column("first_seen_at", sa.DateTime(timezone=True)),
        sa.column("last_seen_at", sa.DateTime(timezone=True)),
        sa.column("ongoing", sa.Boolean),
        sa.column("group_key", sa.String),
        sa.column("best_incident_id", sa.String),
        sa.column("objects_involved", sa.JSON),
    )
    incident = sa.table(
        "incident",
        sa.column("id", sa.String),
        sa.column("camera_id", sa.String),
        sa.column("rule", sa.String),
        sa.column("zone", sa.String),
        sa.column("object_class", sa.String),
        sa.column("track_id", sa.Integer),
        sa.column("track_ids", sa.JSON),
        sa.column("details", sa.JSON),
        sa.column("grid_event_id", sa.Integer),
    )
    op.execute(
        grid_event.update().values(
            first_seen_at=grid_event.c.occurred_at, last_seen_at=grid_event.c.occurred_at
        )
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            grid_event.c.id.label("event_id"), incident.c.id.label("incident_id"),
            incident.c.camera_id, incident.c.rule, incident.c.zone, incident.c.object_class,
            incident.c.track_id, incident.c.track_ids, incident.c.details,
        ).join(incident, incident.c.id == grid_event.c.incident_id)
    ).all()  # fmt: skip
    for row in rows:
        track_ids = sorted({int(row.track_id), *(int(t) for t in row.track_ids or [])})
        op.execute(
            grid_event.update()
            .where(grid_event.c.id == row.event_id)
            .values(
                group_key=_group_key(row.camera_id, row.rule, row.zone, row.details),
                best_incident_id=row.incident_id,
                objects_involved={"classes": [row.object_class], "track_ids": track_ids},
            )
        )
        op.execute(
            incident.update()
            .where(incident.c.id == row.incident_id)
            .values(grid_event_id=row.event_id)
        )


def downgrade() -> None:
    # SQLite rebuilds each table without the columns, and their references go with them.
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_grid_event_group_key_status", table_name="grid_event")
    op.drop_index("ix_incident_grid_event_id", table_name="incident")
    if not sqlite:
        op.drop_constraint(
            "fk_grid_event_best_incident_id_incident", "grid_event", type_="foreignkey"
        )
        op.drop_constraint("fk_incident_grid_event_id_grid_event", "incident", type_="foreignkey")
    with op.batch_alter_table("grid_event", schema=None) as batch_op:
        for column in (
            "objects_involved", "best_incident_id", "group_key", "ongoing", "last_seen_at",
            "first_seen_at", "occurrence_count",
        ):  # fmt: skip
            batch_op.drop_column(column)
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_column("grid_event_id")
