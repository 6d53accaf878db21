"""The fault table as tests: evidence that was tampered with, GPS that lies, batches that crash or
lock, hostile input, a database that is down or frozen, claimers under load.

Each test here is bounded in time (a few seconds to a minute on two cores) and runs in CI with
the rest (``python -m pytest -n auto``). Fixtures: the API's seeded stores (``tests.api.conftest``:
a seeded database and evidence folder per test, a signed-in client), and ``backend_settings``, a
seeded database with the standard users, once per module and per backend (SQLite, and the
session's throwaway PostgreSQL): settings for ``create_app``, for tests that only send requests
which must change nothing.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streetwatch.core.settings import Settings
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.store.db import upgrade
from tests.api.auth_support import STANDARD_USERS, TEST_AUTH_SECRET, TestUser, add_users_at
from tests.api.conftest import *  # noqa: F403 (the API tests' fixtures: seeded stores, users, client)
from tests.api.conftest import (
    BACKENDS,
    DB_NAME,
    _seed_into,
    _template,  # noqa: F401 (a fixture the star leaves out)
    sqlite_url,
)
from tests.api.seed import SeedData
from tests.db_fixtures import PostgresServer


@pytest.fixture(scope="module", params=BACKENDS)
def backend_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    seeded_template: tuple[Path, SeedData], taxonomy: Taxonomy,
) -> Iterator[tuple[Settings, dict[str, TestUser]]]:
    """Settings of an app on a seeded database with the standard users, on SQLite and on PostgreSQL."""
    template, _ = seeded_template
    if request.param == "sqlite":
        root = tmp_path_factory.mktemp("faults-sqlite")
        shutil.copytree(template, root, dirs_exist_ok=True)
        settings = Settings(db_url=sqlite_url(root / DB_NAME), evidence_dir=root / "evidence",
                            uploads_dir=root / "uploads", auth_secret=TEST_AUTH_SECRET)
        yield settings, request.getfixturevalue("users")
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"faults_{uuid.uuid4().hex[:16]}"
    server.create_database(name)
    try:
        url = server.url(name)
        upgrade(url)
        for _ in _seed_into(url, template / "evidence", taxonomy):
            made = add_users_at(url, STANDARD_USERS)
            yield Settings(db_url=url, evidence_dir=template / "evidence", auth_secret=TEST_AUTH_SECRET,
                           uploads_dir=tmp_path_factory.mktemp("faults-uploads")), made
    finally:
        server.drop_database(name)
