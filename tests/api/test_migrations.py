"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from api import migrate
from api.db import make_engine
from api.models import Base


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []
        tables = set(inspect(engine).get_table_names())
        assert {
            "organisation",
            "camera",
            "grid",
            "incident",
            "grid_event",
            "grid_event_history",
        } <= tables

        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)  # and back again: the chain is repeatable
    finally:
        engine.dispose()
