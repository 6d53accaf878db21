"""Revision 0010 over existing users, on SQLite and PostgreSQL: up gives every user token_version 0 and keeps
everything else; down drops the column and nothing else; up again works."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from streetwatch.store.db import alembic_config, make_engine, upgrade

USER = {"id": 3, "username": "li.wei", "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$x$y",
        "roles": '["reviewer"]', "unit": None, "active": True, "created_at": "2026-01-02 00:00:00+00:00"}


def test_0010_goes_up_and_down_over_existing_users(db_url: str) -> None:
    command.downgrade(alembic_config(db_url), "0009")
    engine = make_engine(db_url)
    try:
        assert "token_version" not in {c["name"] for c in inspect(engine).get_columns("users")}
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO users (id, username, password_hash, roles, unit, active, created_at) "
                                    "VALUES (:id, :username, :password_hash, :roles, :unit, :active, :created_at)"),
                               USER)
        upgrade(db_url)
        with engine.connect() as connection:
            row = connection.execute(text("SELECT username, token_version FROM users WHERE id = 3")).one()
        assert tuple(row) == ("li.wei", 0)

        command.downgrade(alembic_config(db_url), "0009")
        inspector = inspect(engine)
        assert "token_version" not in {c["name"] for c in inspector.get_columns("users")}
        with engine.connect() as connection:
            assert connection.execute(text("SELECT username FROM users")).scalar_one() == "li.wei"
        upgrade(db_url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT token_version FROM users")).scalar_one() == 0
    finally:
        engine.dispose()
