"""Migrations: the schema goes up and down cleanly and matches the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from streetwatch.store.db import alembic_config, make_engine, upgrade
from streetwatch.store.models import Base

MODEL_TABLES = set(Base.metadata.tables)


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_models_define_the_expected_tables() -> None:
    assert {"videos", "evidence", "observations", "violations", "review_decisions"} <= MODEL_TABLES


def test_downgrade_to_base_and_back_to_head(db_url: str) -> None:
    assert table_names(db_url) == MODEL_TABLES | {"alembic_version"}

    command.downgrade(alembic_config(db_url), "base")
    assert table_names(db_url) == {"alembic_version"}

    upgrade(db_url)
    assert table_names(db_url) == MODEL_TABLES | {"alembic_version"}


def test_head_schema_matches_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], "models.py and the migrations disagree; regenerate 0001_initial_schema.py"


def test_the_newest_file_is_alembics_head() -> None:
    """``upgrade`` skips alembic when the database is at ``head_revision()``: it must be alembic's one head."""
    from alembic.script import ScriptDirectory

    from streetwatch.store.db import head_revision

    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert heads == [head_revision()]


def test_a_database_at_head_is_opened_without_alembic(tmp_path: Path) -> None:
    """Start-up: a second ``upgrade`` of an up-to-date SQLite file does not import alembic (about a second)."""
    url = f"sqlite:///{tmp_path / 'at-head.db'}"
    upgrade(url)
    code = ("import sys; from streetwatch.store.db import upgrade; upgrade(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m == 'alembic' or m.startswith('alembic.')))")
    found = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]", found.stdout
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    found = subprocess.run([sys.executable, "-c", code, fresh], capture_output=True, text=True, check=True)
    assert "'alembic'" in found.stdout  # a fresh file is migrated by alembic
    assert table_names(fresh) >= MODEL_TABLES
