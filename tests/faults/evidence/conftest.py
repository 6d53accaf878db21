"""Evidence and audit faults. The API tests' fixtures: a seeded database and evidence folder per test,
and a client signed in as the admin."""

from __future__ import annotations

from tests.api.conftest import (  # noqa: F401 (fixtures)
    _template,
    client,
    seed,
    seed_dir,
    seeded_template,
    session,
    settings,
    taxonomy,
    users,
)
