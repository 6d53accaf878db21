"""Database fixtures: a fresh, migrated database per test, on SQLite and a real PostgreSQL.

``postgres_server`` starts a throwaway PostgreSQL cluster (initdb + pg_ctl) once per test
session, so once per pytest-xdist worker: workers never share a server. It listens on
127.0.0.1 on a free port with trust authentication and is stopped and deleted at the end.
PostgreSQL refuses to run as root, so under root the cluster runs as the ``postgres``
system user. Without the server binaries the PostgreSQL tests are skipped locally, but
fail when ``CI=true``: CI must really test PostgreSQL.

Use from a conftest.py: ``from tests.db_fixtures import *  # noqa: F403``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.store.db import make_engine, make_session_factory, upgrade

__all__ = ["PostgresServer", "db_session_factory", "db_url", "find_postgres_bin", "postgis_url", "postgres_server",
           "spatial_db_url"]
# Also for tests that need a server of their own: start_postgres, stop_postgres, stop_server, start_server.

PG_BIN_ENV = "STREETWATCH_PG_BIN"   # a folder holding initdb, pg_ctl, postgres; overrides the search
_SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_SYSTEM_USER = "postgres"           # the account the cluster runs as when we are root
_START_ATTEMPTS = 3                 # a free port can be taken by someone else before the server binds it
# Durability is worthless for a throwaway cluster; these make it start and commit faster.
_SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "100",
}


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """A running throwaway PostgreSQL cluster."""

    host: str
    port: int
    user: str
    base_dir: Path      # holds data/, the log and the unix socket
    bin_dir: Path

    def url(self, database: str) -> str:
        """A SQLAlchemy URL (psycopg 3 driver) for one database on this server."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host=self.host, port=self.port, user=self.user, dbname="postgres",
                               autocommit=True)

    def create_database(self, name: str) -> None:
        _check_identifier(name)
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def create_postgis_database(self, name: str) -> None:
        """A new database with the PostGIS extension created in it (as an operator would, before migrating).

        Raises:
            PostgisMissingError: The server has no PostGIS extension files.
        """
        self.create_database(name)
        try:
            with psycopg.connect(host=self.host, port=self.port, user=self.user, dbname=name,
                                 autocommit=True) as conn:
                conn.execute("CREATE EXTENSION postgis")
        except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile) as exc:  # no control file
            self.drop_database(name)
            raise PostgisMissingError(
                f"PostGIS is not installed for this PostgreSQL server ({self.bin_dir}): {exc}; install it "
                "(Debian: apt-get install postgresql-15-postgis-3, the package matching the server's version)"
            ) from None

    def drop_database(self, name: str) -> None:
        _check_identifier(name)
        with self._admin() as conn:
            # FORCE: a test that forgot to dispose its engine must not keep the database alive.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PostgisMissingError(RuntimeError):
    """The PostgreSQL server has no PostGIS extension files."""


def _check_identifier(name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"expected a lowercase SQL identifier for a database name, got {name!r}")


def _has_server_programs(folder: Path) -> bool:
    return all(os.access(folder / program, os.X_OK) for program in _SERVER_PROGRAMS)


def find_postgres_bin() -> Path | None:
    """The folder with PostgreSQL's server programs, or None if there is none.

    Looks at ``$STREETWATCH_PG_BIN``, then Debian's ``/usr/lib/postgresql/<version>/bin``
    (newest first), then wherever ``pg_ctl`` on PATH really lives.
    """
    candidates: list[Path] = []
    if override := os.environ.get(PG_BIN_ENV):
        candidates.append(Path(override))
    debian_root = Path("/usr/lib/postgresql")
    if debian_root.is_dir():
        versions = [p for p in debian_root.iterdir() if p.name.replace(".", "").isdigit()]
        versions.sort(key=lambda p: [int(part) for part in p.name.split(".")], reverse=True)
        candidates.extend(p / "bin" for p in versions)
    if on_path := shutil.which("pg_ctl"):
        candidates.append(Path(on_path).resolve().parent)  # Debian puts symlinks or wrappers on PATH
    return next((folder for folder in candidates if _has_server_programs(folder)), None)


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root, PostgreSQL must run as the 'postgres' user, but runuser "
                           "(util-linux) is not on PATH")
    return [runuser, "-u", _SYSTEM_USER, "--", *argv]


def _run(argv: list[str], what: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {' '.join(argv)}\n"
                           f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no server log at {log}: {exc})"


def start_postgres(bin_dir: Path) -> PostgresServer:
    """Create a cluster in a new temporary folder and start it on a free port.

    Raises:
        RuntimeError: If initdb fails or the server does not start, with the server log's tail.
    """
    base = Path(tempfile.mkdtemp(prefix="streetwatch-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, _SYSTEM_USER, _SYSTEM_USER)
    data, log = base / "data", base / "postgres.log"
    try:
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", _SYSTEM_USER, "-A", "trust", "-E", "UTF8",
              "--no-locale", "--no-sync", "--no-instructions"], "initdb")
        last_error = ""
        for _ in range(_START_ATTEMPTS):
            port = _free_port()
            started = _pg_ctl_start(bin_dir, base, port)
            if started.returncode == 0:
                return PostgresServer(host="127.0.0.1", port=port, user=_SYSTEM_USER, base_dir=base,
                                      bin_dir=bin_dir)
            last_error = f"pg_ctl start on port {port} exited {started.returncode}: {started.stderr.strip()}"
        raise RuntimeError(f"PostgreSQL did not start after {_START_ATTEMPTS} attempts; {last_error}\n"
                           f"server log {log}:\n{_log_tail(log)}")
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise


def _pg_ctl_start(bin_dir: Path, base: Path, port: int) -> subprocess.CompletedProcess[str]:
    options = " ".join([f"-p {port}", "-c listen_addresses=127.0.0.1", f"-k {base}"]
                       + [f"-c {key}={value}" for key, value in _SERVER_SETTINGS.items()])
    return subprocess.run(
        _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(base / "data"), "-l", str(base / "postgres.log"),
                         "-w", "-t", "60", "-o", options, "start"]),
        capture_output=True, text=True, timeout=120, check=False,
    )


def stop_server(server: PostgresServer) -> None:
    """Stop the server, keeping its data (for tests of a database that goes away)."""
    _run([str(server.bin_dir / "pg_ctl"), "-D", str(server.base_dir / "data"), "-m", "fast", "-w", "stop"],
         "pg_ctl stop")


def start_server(server: PostgresServer) -> None:
    """Start a server that :func:`stop_server` stopped, on the same port.

    Raises:
        RuntimeError: If it does not start, with the server log's tail.
    """
    started = _pg_ctl_start(server.bin_dir, server.base_dir, server.port)
    if started.returncode != 0:
        raise RuntimeError(f"pg_ctl start on port {server.port} exited {started.returncode}: "
                           f"{started.stderr.strip()}\n{_log_tail(server.base_dir / 'postgres.log')}")


def stop_postgres(server: PostgresServer) -> None:
    """Stop the server and delete its folder."""
    try:
        _run([str(server.bin_dir / "pg_ctl"), "-D", str(server.base_dir / "data"), "-m", "fast", "-w",
              "stop"], "pg_ctl stop")
    finally:
        shutil.rmtree(server.base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for this test session (one per xdist worker)."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        message = (
            f"PostgreSQL server programs ({', '.join(_SERVER_PROGRAMS)}) not found in ${PG_BIN_ENV}, "
            "/usr/lib/postgresql/*/bin or on PATH; install them (apt-get install postgresql-15) "
            f"or set {PG_BIN_ENV}"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}. CI=true: PostgreSQL tests must run, not be skipped.", pytrace=False)
        pytest.skip(message)
    server = start_postgres(bin_dir)
    try:
        yield server
    finally:
        stop_postgres(server)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh database migrated to head, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'streetwatch.db'}"
        upgrade(url)
        yield url
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"test_{uuid.uuid4().hex[:16]}"
    server.create_database(name)
    try:
        url = server.url(name)
        upgrade(url)
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture
def db_session_factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on ``db_url``; its engine is disposed after the test."""
    engine = make_engine(db_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _skip_or_fail(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}. CI=true: PostGIS tests must run, not be skipped.", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def postgis_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database with PostGIS, migrated to head (geometry columns and all)."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    try:
        postgres_server.create_postgis_database(name)
    except PostgisMissingError as exc:
        _skip_or_fail(str(exc))
    try:
        url = postgres_server.url(name)
        upgrade(url)
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgres)])
def spatial_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database migrated to head: once on SQLite (lat/lon, H3) and once on PostGIS (geometry)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'streetwatch.db'}"
        upgrade(url)
        yield url
        return
    yield request.getfixturevalue("postgis_url")
