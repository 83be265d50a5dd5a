"""The engine's pool on PostgreSQL: a connection idle a while is pinged before use and replaced
when the server dropped it; one used a moment ago is used as it is, without a ping."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, event, text

from api.db import make_engine
from tests.conftest import _postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres_server: str) -> Iterator[str]:
    yield from _postgres_database(postgres_server)


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(database: str, pid: int) -> None:
    """Drop one server connection, as a server restart or an idle timeout does."""
    admin = create_engine(database, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


def pings(engine: Engine) -> list[str]:
    """The pings the pool sends (through the dialect, not as statements of a request)."""
    sent: list[str] = []
    do_ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        sent.append("ping")
        return do_ping(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return sent


def test_a_connection_idle_past_the_limit_is_pinged_and_replaced_when_dropped(
    database: str,
) -> None:
    engine = make_engine(database, ping_after_idle_s=0.2)
    try:
        sent = pings(engine)
        first = backend_pid(engine)
        terminate(database, first)
        time.sleep(0.3)
        # No error: the ping found it dead and the pool opened another.
        assert backend_pid(engine) != first
        assert sent == ["ping"]
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(database: str) -> None:
    engine = make_engine(database, ping_after_idle_s=60)
    try:
        sent = pings(engine)
        statements: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        pid = backend_pid(engine)
        for _ in range(5):
            assert backend_pid(engine) == pid
        assert sent == []
        assert len(statements) == 6  # the requests' own statements only
    finally:
        engine.dispose()
