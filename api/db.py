"""Database engine and sessions."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Insert, Table, create_engine, event, insert, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached, sessionmaker

# A pooled connection idle longer than this is pinged before use; one back in the pool sooner is
# used as it is. A server restart or an idle-connection timeout kills idle connections, and a
# connection that fails in use makes the pool drop every connection it opened before.
PING_AFTER_IDLE_S = 5.0

_RETURNED_AT = "gridwatch.returned_at"


def make_engine(database_url: str, *, ping_after_idle_s: float = PING_AFTER_IDLE_S) -> Engine:
    """An engine for `database_url`; SQLite gets WAL, a busy timeout and foreign keys. A server
    database's pooled connections are pinged before use once idle `ping_after_idle_s` seconds."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        # More connections than request threads (anyio's 40): a request thread never waits for a
        # connection held by a finished request whose cleanup waits for a free thread, which
        # deadlocks the API until the pool times out once requests outnumber the pool.
        engine = create_engine(url, pool_size=10, max_overflow=40)
        _ping_when_idle(engine, ping_after_idle_s)
        return engine
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(connection, _record):
        cursor = connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection before use only when it has been idle `idle_s` seconds or more:
    SQLAlchemy's `pool_pre_ping` pings on every checkout, a round trip per request (every
    incident) to learn what a connection used milliseconds ago already showed."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < idle_s:
            return  # new, or used a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as err:
            # The pool discards the connection and checks out another (or opens one).
            raise DisconnectionError(f"pooled connection lost while idle: {err}") from err


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def iter_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session


@functools.cache
def _insert_of(mapper: Mapper[Any]) -> tuple[Insert, tuple[tuple[str, str, Any], ...]]:
    """The INSERT of a mapped class's table (built once: a statement built anew is built, and
    its cache key computed, on every call), and for each of its columns the attribute's key,
    the column's and the default that fills it when unset (None: no default, NULL)."""
    columns: list[tuple[str, str, Any]] = []
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if column.primary_key and column.autoincrement is True:
            continue  # the database numbers it
        default = column.default
        if default is None and column.server_default is not None:
            raise TypeError(
                f"{mapper.class_.__name__}.{prop.key}: its default is the database's alone, so"
                " a row inserted here could not show it"
            )
        columns.append((prop.key, column.key, default))
    return insert(cast(Table, mapper.local_table)), tuple(columns)


def row_values(row: object) -> dict[str, Any]:
    """The column values a new mapped object's row is inserted with, by column key: those set
    on it, and for those left unset their Python defaults, as the unit of work would give them
    (now set on the object too). An autoincrement primary key is left to the database.

    Raises:
        TypeError: A column has only a server-side default, which the object could not show.
    """
    state = inspect(row)
    _, columns = _insert_of(state.mapper)
    values = state.dict
    for key, _, default in columns:
        if key not in values:
            # The ColumnDefault's callable takes the execution context, which plain Python
            # defaults (utcnow, dict) ignore.
            if default is None:
                values[key] = None
            else:
                values[key] = default.arg(None) if default.is_callable else default.arg
    return {column: values[key] for key, column, _ in columns}


def set_loaded(session: Session, row: object) -> None:
    """Put a new mapped object whose row is in the database already (its primary key set) in
    `session` as though it had been loaded: persistent, with nothing left to flush. Related
    objects set on it must be persistent, or the session's cascade adds them as new."""
    make_transient_to_detached(row)
    session.add(row)


def insert_as_loaded(session: Session, row: object) -> None:
    """Insert a new mapped object's row with one Core INSERT (`row_values`) and put the object
    in `session` as though it had been loaded (`set_loaded`).

    The unit of work would do the same with more work (ordering, cascades, bookkeeping per
    attribute), on the hottest path of the API (every incident a worker reports). Nothing is
    announced (`api.changes.written` says what changed).

    Raises:
        sqlalchemy.exc.IntegrityError: The database refused the row (e.g. its key exists);
            the session is unchanged.
        TypeError: A column has only a server-side default, which the object could not show.
    """
    state = inspect(row)
    statement, _ = _insert_of(state.mapper)
    result = session.connection().execute(statement, row_values(row))
    mapper = state.mapper
    inserted = result.inserted_primary_key
    assert inserted is not None  # a single-row INSERT
    for column, value in zip(mapper.primary_key, inserted, strict=True):
        state.dict.setdefault(mapper.get_property_by_column(column).key, value)
    set_loaded(session, row)
