"""Fixtures: a migrated, seeded SQLite file and evidence folder per test, and a client on them.

Seeding (migrations, inserts, JPEG writes) runs once per session into a template; each test
gets its own copy of the database file and evidence folder, so tests that write never see
one another. The template also holds one user per role (``tests.api.auth_support``); ``client``
is signed in as the admin, ``users`` gives the others (``client.headers`` can be swapped).

The query tests also run on PostgreSQL (``tests/db_fixtures.py`` starts a throwaway server):
``read_store`` is seeded once per module and per backend for tests that only read;
``write_store`` is a fresh, seeded database per test (``db_url``) for tests that write.
"""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.api.app import create_app
from streetwatch.core.settings import DEFAULT_TAXONOMY, Settings
from streetwatch.core.taxonomy import Taxonomy, load_taxonomy
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from tests.api.auth_support import STANDARD_USERS, TEST_AUTH_SECRET, TestUser, add_users
from tests.api.seed import SeedData, seed_database
from tests.db_fixtures import PostgresServer

DB_NAME = "streetwatch.db"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass(frozen=True, slots=True)
class SeededStore:
    """A seeded database on one backend."""

    url: str
    session_factory: sessionmaker[Session]
    seed: SeedData


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy(DEFAULT_TAXONOMY)


@pytest.fixture(scope="session")
def _template(
    tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy
) -> tuple[Path, SeedData, dict[str, TestUser]]:
    root = tmp_path_factory.mktemp("seed-template")
    url = sqlite_url(root / DB_NAME)
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        data = seed_database(session, root / "evidence", taxonomy)
        made = add_users(session, STANDARD_USERS)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    return root, data, made


@pytest.fixture(scope="session")
def seeded_template(_template: tuple[Path, SeedData, dict[str, TestUser]]) -> tuple[Path, SeedData]:
    return _template[0], _template[1]


@pytest.fixture(scope="session")
def users(_template: tuple[Path, SeedData, dict[str, TestUser]]) -> dict[str, TestUser]:
    """The users of every seeded database, by username (see ``auth_support.STANDARD_USERS``)."""
    return _template[2]


@pytest.fixture
def seed_dir(tmp_path: Path, seeded_template: tuple[Path, SeedData]) -> Path:
    template, _ = seeded_template
    target = tmp_path / "data"
    shutil.copytree(template, target)
    return target


@pytest.fixture
def seed(seed_dir: Path, seeded_template: tuple[Path, SeedData]) -> SeedData:
    return dataclasses.replace(seeded_template[1], evidence_dir=seed_dir / "evidence")


@pytest.fixture
def settings(seed_dir: Path) -> Settings:
    return Settings(db_url=sqlite_url(seed_dir / DB_NAME), evidence_dir=seed_dir / "evidence",
                    uploads_dir=seed_dir / "uploads", auth_secret=TEST_AUTH_SECRET)


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.db_url)
    with make_session_factory(engine)() as db_session:
        yield db_session
    engine.dispose()


@pytest.fixture
def client(settings: Settings, users: dict[str, TestUser]) -> Iterator[TestClient]:
    """A client on the seeded database, signed in as the admin."""
    with TestClient(create_app(settings)) as test_client:
        test_client.headers.update(users["admin"].headers())
        yield test_client


def _seed_into(url: str, evidence_dir: Path, taxonomy: Taxonomy) -> Iterator[SeededStore]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        with factory() as db_session:
            # The evidence folder already holds every image: writing them again is a no-op.
            data = seed_database(db_session, evidence_dir, taxonomy)
        yield SeededStore(url, factory, data)
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def read_store(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    seeded_template: tuple[Path, SeedData],
    taxonomy: Taxonomy,
) -> Iterator[SeededStore]:
    """A seeded database shared by a module's read-only tests, once per backend."""
    template, data = seeded_template
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("read-store")
        shutil.copy2(template / DB_NAME, target / DB_NAME)
        engine = make_engine(sqlite_url(target / DB_NAME))
        yield SeededStore(sqlite_url(target / DB_NAME), make_session_factory(engine), data)
        engine.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"api_{uuid.uuid4().hex[:16]}"
    server.create_database(name)
    try:
        upgrade(server.url(name))
        yield from _seed_into(server.url(name), template / "evidence", taxonomy)
    finally:
        server.drop_database(name)


@pytest.fixture
def read_session(read_store: SeededStore) -> Iterator[Session]:
    """A session on ``read_store``; anything it did is rolled back."""
    with read_store.session_factory() as db_session:
        yield db_session
        db_session.rollback()


@pytest.fixture
def write_store(
    db_url: str, seeded_template: tuple[Path, SeedData], taxonomy: Taxonomy
) -> Iterator[SeededStore]:
    """A fresh, seeded database for one test that writes, on each backend."""
    yield from _seed_into(db_url, seeded_template[0] / "evidence", taxonomy)


@pytest.fixture
def write_session(write_store: SeededStore) -> Iterator[Session]:
    with write_store.session_factory() as db_session:
        yield db_session
