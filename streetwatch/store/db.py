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
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import SQLAlchemyError as DatabaseError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.store.db_timeouts import DbTimeouts, bound_waits

if TYPE_CHECKING:
    from alembic.config import Config

if TYPE_CHECKING:
    from streetwatch.store.audit_anchor import AuditAnchor

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


def make_engine(url: str, *, busy_timeout_s: float | None = None, timeouts: DbTimeouts | None = None,
                **kwargs: Any) -> Engine:
    """Create an engine with the settings streetwatch relies on for each backend.

    Args:
        url: The database URL.
        busy_timeout_s: SQLite only: how long a write waits for another connection's lock before
            failing with "database is locked" (default ``SQLITE_BUSY_TIMEOUT_MS``; settings:
            ``db_busy_timeout_s``).
        timeouts: Bound every wait on the database (the API's engine); None: libpq's and the pool's
            defaults (batch jobs and commands, whose statements may rightly take long).
        **kwargs: More arguments for :func:`sqlalchemy.create_engine`.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
            if timeouts is not None:  # a file has a pool of connections (memory: one per thread, no pool)
                kwargs.setdefault("pool_timeout", timeouts.pool_s)
        busy_ms = SQLITE_BUSY_TIMEOUT_MS if busy_timeout_s is None else max(1, round(busy_timeout_s * 1000))
        engine = create_engine(url, connect_args={"timeout": busy_ms / 1000}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if timeouts is None:
        return create_engine(url, pool_pre_ping=True, **kwargs)
    connect_args = {**timeouts.connect_args(), **kwargs.pop("connect_args", {})}
    kwargs.setdefault("pool_timeout", timeouts.pool_s)
    engine = create_engine(url, pool_pre_ping=False, connect_args=connect_args, **kwargs)
    bound_waits(engine, timeouts)  # a watched ping on checkout instead of pool_pre_ping
    return engine


def is_lock_timeout(error: BaseException) -> bool:
    """Whether a database error is a wait for another connection's lock that ran out.

    SQLite: "database is locked" / "database is busy" after the busy timeout; PostgreSQL: a lock
    or statement timeout (SQLSTATE 55P03, 57014) or a deadlock (40P01).
    """
    original = getattr(error, "orig", None) or error
    message = str(original).lower()
    if "database is locked" in message or "database is busy" in message or "database table is locked" in message:
        return True
    return getattr(original, "sqlstate", None) in ("55P03", "57014", "40P01")


def make_session_factory(engine: Engine, audit_anchor: AuditAnchor | bool | None = True) -> SessionFactory:
    """Sessions on ``engine``.

    Args:
        engine: The engine.
        audit_anchor: Where commits that append to the audit log anchor its head
            (``streetwatch.store.audit_anchor``): an anchor, None for none, or True for the default
            (beside a SQLite database file).
    """
    if audit_anchor is True:
        return sessionmaker(engine, expire_on_commit=False)
    from streetwatch.store.audit_anchor import ANCHOR_INFO_KEY

    return sessionmaker(engine, expire_on_commit=False, info={ANCHOR_INFO_KEY: audit_anchor or None})


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # alembic (and mako, pygments) only when migrating: a second of start-up

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest migration's revision id, from the file names (``0019_labelling_queue.py`` -> ``"0019"``).

    Revisions are numbered in chain order (tests/store/test_migrations.py checks it against alembic's own head).
    """
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def _at_head(engine: Engine) -> bool:
    """Whether the database's alembic_version is the newest revision (no migration to run)."""
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DatabaseError:
        return False  # a fresh database (no alembic_version yet), or one we cannot read: let alembic say
    return list(versions) == [head_revision()]


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (the newest by default).

    A database already at the newest revision is left alone without loading alembic (start-up time).
    At the head, on PostgreSQL whose ``postgis`` extension was created after migration 0020 ran,
    this also adds the geometry columns then (``streetwatch.store.spatial_ddl``); engines already
    running keep the lat/lon path until restarted (``streetwatch.store.spatial.postgis_enabled``).
    """
    engine = make_engine(url)  # creates the SQLite file's folder if needed
    try:
        if revision == "head" and engine.dialect.name == "sqlite" and _at_head(engine):
            return
        from alembic import command

        command.upgrade(alembic_config(url), revision)
        if revision == "head" and engine.dialect.name == "postgresql":
            from streetwatch.store.spatial_ddl import install_geometry

            with engine.begin() as connection:
                install_geometry(connection)
    finally:
        engine.dispose()
