"""Engines, sessions and schema migrations.

SQLite is the default: one file, WAL journal so the API can read while a job writes, and a
busy timeout so concurrent writers wait instead of failing. PostgreSQL is used by URL.

The API's engine is made with :class:`DbTimeouts` (``streetwatch.store.db_timeouts``): on
PostgreSQL no wait is unbounded, so a database that is down or frozen gives one of
:data:`UNAVAILABLE_ERRORS` within seconds (the API answers them 503), and the pool recovers by
itself when the database is back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import SQLAlchemyError as DatabaseError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.store.db_timeouts import DbTimeouts, bound_waits

# The types the other rooms name, without importing sqlalchemy.
__all__ = ["UNAVAILABLE_ERRORS", "DatabaseError", "DbTimeouts", "Session", "SessionFactory"]

SessionFactory = sessionmaker[Session]
# The database cannot be reached or did not answer in time (refused, reset, frozen, locked, no free
# connection in the pool): worth trying again later. Other errors of the database are bugs.
UNAVAILABLE_ERRORS: tuple[type[DatabaseError], ...] = (OperationalError, InterfaceError, DisconnectionError,
                                                       PoolTimeoutError)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, timeouts: DbTimeouts | None = None, **kwargs: Any) -> Engine:
    """Create an engine with the settings streetwatch relies on for each backend.

    Args:
        url: The database.
        timeouts: Bound every wait on the database (the API's engine); None: libpq's and the pool's
            defaults (batch jobs and commands, whose statements may rightly take long).
        kwargs: More arguments for :func:`sqlalchemy.create_engine`.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if timeouts is not None:
        kwargs.setdefault("pool_timeout", timeouts.pool_s)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if timeouts is None:
        return create_engine(url, pool_pre_ping=True, **kwargs)
    connect_args = {**timeouts.connect_args(), **kwargs.pop("connect_args", {})}
    engine = create_engine(url, pool_pre_ping=False, connect_args=connect_args, **kwargs)
    bound_waits(engine, timeouts)  # a watched ping on checkout instead of pool_pre_ping
    return engine


def make_session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (the newest by default)."""
    make_engine(url).dispose()  # creates the SQLite file's folder if needed
    command.upgrade(alembic_config(url), revision)
