"""Database fixtures for the store tests (the lead moves these into tests/conftest.py)."""

from tests.db_fixtures import *  # noqa: F403
