"""``streetwatch users``: add, list, deactivate, api-key create / list / revoke, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from streetwatch.cli.user_commands import users_app
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from streetwatch.store.models_auth import User
from streetwatch.store.users import authenticate_api_key, verify_password

PASSWORD = "a long enough password"
runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'users.db'}"


def invoke(db: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(users_app, [*args, "--db", db], input=stdin)
    return result.exit_code, result.stdout, result.output


def stored_users(db: str) -> dict[str, User]:
    upgrade(db)  # a command refused before it touched the database left none
    engine = make_engine(db)
    try:
        with make_session_factory(engine)() as session:
            return {u.username: u for u in session.scalars(select(User))}
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "stdin", "code", "words"),
    [
        (["add", "li", "--role", "reviewer", "--password-stdin"], PASSWORD + "\n", 0, "added user 'li'"),
        (["add", "li", "-r", "dispatcher", "-r", "field_inspector", "--unit", "东城区", "--password-stdin"],
         PASSWORD + "\n", 0, "unit 东城区"),
        (["add", "li", "--role", "reviewer"], f"{PASSWORD}\n{PASSWORD}\n", 0, "added user 'li'"),  # prompted
        (["add", "li", "--role", "reviewer"], f"{PASSWORD}\nsomething else\n", 1, "do not match"),
        (["add", "li", "--role", "dispatcher", "--password-stdin"], PASSWORD + "\n", 2, "works for one unit"),
        (["add", "li", "--role", "janitor", "--password-stdin"], PASSWORD + "\n", 2, "unknown role 'janitor'"),
        (["add", "li", "--role", "reviewer", "--password-stdin"], "short\n", 2, "at least 12 characters"),
        (["add", "li", "--role", "reviewer", "--password-stdin"], "onlylowercase\n", 2, "two kinds of character"),
        (["add", "li", "--role", "reviewer", "--password-stdin"], "\n", 2, "no password"),
        (["add", "bad name", "--role", "reviewer", "--password-stdin"], PASSWORD + "\n", 2, "username"),
        (["add", "li", "--password-stdin"], PASSWORD + "\n", 2, "--role"),
    ],
)
def test_add(db: str, args: list[str], stdin: str, code: int, words: str) -> None:
    exit_code, _, output = invoke(db, *args, stdin=stdin)
    assert exit_code == code, output
    assert words in " ".join(output.split()), output
    users = stored_users(db)
    if code == 0:
        assert verify_password_at(db, "li", PASSWORD)
    else:
        assert users == {}


def verify_password_at(db: str, username: str, password: str) -> bool:
    engine = make_engine(db)
    try:
        with make_session_factory(engine)() as session:
            return verify_password(session, username, password) is not None
    finally:
        engine.dispose()


def test_duplicate_user_is_refused(db: str) -> None:
    assert invoke(db, "add", "li", "--role", "reviewer", "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    code, _, output = invoke(db, "add", "li", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 2 and "already exists" in output
    assert stored_users(db)["li"].roles == ["reviewer"]


def test_api_key_life_cycle(db: str) -> None:
    invoke(db, "add", "bridge", "--role", "dispatcher", "--unit", "东城区", "--password-stdin", stdin=PASSWORD + "\n")
    code, stdout, output = invoke(db, "api-key", "create", "bridge", "open311")
    assert code == 0, output
    secret = stdout.strip()  # stdout holds the secret alone, for scripts
    assert secret.startswith("sw_") and "\n" not in secret
    assert "not shown again" in " ".join(output.split())

    engine = make_engine(db)
    factory = make_session_factory(engine)
    try:
        with factory() as session:
            key = authenticate_api_key(session, secret)
            assert key is not None and key.user.username == "bridge"
            prefix = key.prefix

        code, _, listing = invoke(db, "api-key", "list", "bridge")
        assert code == 0 and prefix in listing and secret not in listing
        code, _, listing = invoke(db, "list")
        assert code == 0 and "bridge" in listing and "1/1" in listing

        assert invoke(db, "api-key", "revoke", "bridge", "nope")[0] == 2
        code, _, output = invoke(db, "api-key", "revoke", "bridge", prefix)
        assert code == 0 and "revoked" in output
        with factory() as session:
            assert authenticate_api_key(session, secret) is None
        code, _, output = invoke(db, "api-key", "revoke", "bridge", "open311")
        assert code == 2 and "no active API key" in output

        assert invoke(db, "api-key", "create", "nobody", "k")[0] == 2
        assert invoke(db, "deactivate", "bridge")[0] == 0
        assert stored_users(db)["bridge"].active is False
        assert stored_users(db)["bridge"].token_version == 1  # its login tokens are revoked too
    finally:
        engine.dispose()


@pytest.mark.parametrize("args", [[], ["--help"], ["add", "--help"], ["api-key", "--help"]])
def test_help(args: list[str]) -> None:
    result = runner.invoke(users_app, args)
    assert result.exit_code in (0, 2)
    assert "Usage" in result.output
