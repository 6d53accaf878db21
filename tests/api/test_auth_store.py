"""The user store (``streetwatch.store.users``) and migration 0003, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.store.db import alembic_config, make_engine, upgrade
from streetwatch.store.models import utcnow
from streetwatch.store.models_auth import ApiKey, Role, User
from streetwatch.store.users import (
    LAST_USED_RESOLUTION,
    UserError,
    authenticate_api_key,
    create_api_key,
    create_user,
    find_api_keys,
    list_users,
    revoke_api_key,
    set_password,
    verify_password,
)

PASSWORD = "a long enough password"


@pytest.mark.parametrize(
    ("username", "password", "roles", "unit", "error"),
    [
        ("li.na", PASSWORD, ["reviewer"], None, None),
        ("wang_wei@city", PASSWORD, ["dispatcher"], "东城区", None),
        ("zhao", PASSWORD, ["dispatcher", "supervisor"], None, None),  # city-wide: no unit needed
        ("zhao", PASSWORD, ["ADMIN"], None, None),  # role names are case-insensitive
        ("", PASSWORD, ["reviewer"], None, "username"),
        ("-dash", PASSWORD, ["reviewer"], None, "username"),
        ("has space", PASSWORD, ["reviewer"], None, "username"),
        ("x" * 65, PASSWORD, ["reviewer"], None, "username"),
        ("li", "short", ["reviewer"], None, "at least 12 characters"),
        ("li", "elevenchars", ["reviewer"], None, "at least 12 characters"),
        ("li", "alllowercaseletters", ["reviewer"], None, "lowercase letters only"),
        ("li", "ALLUPPERCASELETTERS", ["reviewer"], None, "uppercase letters only"),
        ("li", "123456789012", ["reviewer"], None, "digits only"),
        ("li", "城市管理执法队伍巡查车辆", ["reviewer"], None, "other characters only"),
        ("li", "twelve chars", ["reviewer"], None, None),           # letters and a space
        ("li", "Twelvechars1", ["reviewer"], None, None),
        ("li", PASSWORD, ["janitor"], None, "unknown role 'janitor'"),
        ("li", PASSWORD, [], None, "at least one role"),
        ("li", PASSWORD, ["field_inspector"], None, "works for one unit"),
        ("li", PASSWORD, ["dispatcher"], "   ", "works for one unit"),
    ],
)
def test_create_user_checks_its_input(
    db_session_factory: sessionmaker[Session], username: str, password: str, roles: list[str], unit: str | None,
    error: str | None,
) -> None:
    with db_session_factory() as session:
        if error is not None:
            with pytest.raises(UserError, match=error):
                create_user(session, username, password, roles, unit=unit)
            return
        user = create_user(session, username, password, roles, unit=unit)
        session.commit()
    with db_session_factory() as session:
        stored = session.scalars(select(User).where(User.username == username)).one()
        assert stored.role_set == frozenset(Role(r.lower()) for r in roles)
        assert stored.unit == unit and stored.active and stored.id == user.id
        assert stored.password_hash.startswith("$argon2id$") and password not in stored.password_hash


def test_usernames_are_unique(db_session_factory: sessionmaker[Session]) -> None:
    with db_session_factory() as session:
        create_user(session, "li", PASSWORD, ["reviewer"])
        with pytest.raises(UserError, match="already exists"):
            create_user(session, "li", PASSWORD, ["admin"])


def test_verify_and_change_password(db_session_factory: sessionmaker[Session]) -> None:
    with db_session_factory() as session:
        user = create_user(session, "li", PASSWORD, ["reviewer"], active=False)
        session.commit()
        assert verify_password(session, "li", PASSWORD) is user  # inactive users verify: the caller decides
        assert verify_password(session, "li", PASSWORD + "!") is None
        assert verify_password(session, "nobody", PASSWORD) is None
        set_password(session, user, "another password")
        assert verify_password(session, "li", PASSWORD) is None
        assert verify_password(session, "li", "another password") is user
        assert [u.username for u in list_users(session)] == ["li"]


def test_api_keys(db_session_factory: sessionmaker[Session]) -> None:
    with db_session_factory() as session:
        owner = create_user(session, "bridge", PASSWORD, ["dispatcher"], unit="东城区")
        made = create_api_key(session, owner, "open311")
        other = create_api_key(session, owner, "webhooks")
        session.commit()
        assert made.secret != other.secret and made.secret.startswith(made.key.prefix)
        assert made.key.secret_sha256 == hashlib.sha256(made.secret.encode()).hexdigest()

        found = authenticate_api_key(session, made.secret)
        assert found is not None and found.id == made.key.id and found.user.username == "bridge"
        first_use = found.last_used_at
        assert first_use is not None
        # Within the resolution the timestamp is not rewritten (no write per request) ...
        assert authenticate_api_key(session, made.secret, now=first_use + LAST_USED_RESOLUTION / 2) is found
        assert found.last_used_at == first_use
        # ... after it, it is.
        later = first_use + LAST_USED_RESOLUTION + timedelta(seconds=1)
        authenticate_api_key(session, made.secret, now=later)
        assert found.last_used_at == later

        assert [k.name for k in find_api_keys(session, "bridge", made.key.prefix)] == ["open311"]
        assert [k.name for k in find_api_keys(session, "bridge", "webhooks")] == ["webhooks"]
        assert find_api_keys(session, "someone-else", "open311") == []

        revoke_api_key(session, made.key)
        revoked_at = made.key.revoked_at
        revoke_api_key(session, made.key, now=utcnow() + timedelta(days=1))
        assert made.key.revoked_at == revoked_at  # idempotent
        session.commit()
        assert authenticate_api_key(session, made.secret) is None
        assert authenticate_api_key(session, other.secret) is not None
        owner.active = False
        session.commit()
        assert authenticate_api_key(session, other.secret) is None


@pytest.mark.parametrize("name", ["", "   ", "n" * 129])
def test_api_key_names(db_session_factory: sessionmaker[Session], name: str) -> None:
    with db_session_factory() as session:
        owner = create_user(session, "bridge", PASSWORD, ["admin"])
        with pytest.raises(UserError, match="API key name"):
            create_api_key(session, owner, name)


def test_migration_0003_down_and_up_keeps_older_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            create_user(session, "li", PASSWORD, ["reviewer"])
            session.commit()
        command.downgrade(alembic_config(db_url), "0002")
        tables = set(inspect(engine).get_table_names())
        assert not {"users", "api_keys"} & tables and {"violations", "cases"} <= tables
        upgrade(db_url)  # 0003 and what came after it (0010 adds a column to users: the model needs it)
        with Session(engine) as session:
            assert session.scalars(select(User)).all() == []
            user = create_user(session, "li", PASSWORD, ["reviewer"])
            create_api_key(session, user, "k")
            session.commit()
            assert session.scalar(select(ApiKey.user_id)) == user.id
    finally:
        engine.dispose()
