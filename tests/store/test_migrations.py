"""Migrations: the schema goes up and down cleanly and matches the models, on SQLite and PostgreSQL."""

from __future__ import annotations

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
