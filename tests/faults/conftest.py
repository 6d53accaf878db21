"""The fault table as tests: evidence that was tampered with, GPS that lies, batches that crash or lock.

Each test here is bounded in time (a few seconds to a minute on two cores) and runs in CI with
the rest (``python -m pytest -n auto``). The API fixtures (a seeded database and evidence folder
per test, a signed-in client) are the API tests' own.
"""

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
