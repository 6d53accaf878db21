"""``streetwatch users``: add people with roles, list them, make and revoke machine API keys.

Register with ``app.add_typer(users_app, name="users")`` in ``streetwatch/cli.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from streetwatch.cli.errors import streetwatch_typer

if TYPE_CHECKING:
    from streetwatch.store.db import Session

users_app = streetwatch_typer(
    help="People and machines that may use the API: roles (reviewer, dispatcher, field_inspector, "
         "supervisor, admin; uploader for cars that send footage to POST /uploads), units, passwords and API keys.",
    no_args_is_help=True,
)
api_key_app = streetwatch_typer(help="API keys for machines (sent as the X-API-Key header).", no_args_is_help=True)
users_app.add_typer(api_key_app, name="api-key")

console = Console(stderr=True)
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: sqlite:///streetwatch.db).")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@contextmanager
def _session(db: str | None) -> Iterator[Session]:
    """A session on the migrated database, committed when the block succeeds."""
    from streetwatch.core.settings import get_settings
    from streetwatch.store.db import make_engine, make_session_factory, upgrade

    url = get_settings(db_url=db).db_url
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise _fail("--password-stdin: no password on standard input")
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Sign-in name: letters, digits, _ . @ -.")],
    role: Annotated[list[str], typer.Option("--role", "-r", help="A role; repeat for several.")],
    unit: Annotated[str | None, typer.Option(help="责任单位: required for dispatcher and field_inspector.")]
    = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first "
                                                 "line of standard input instead of prompting.")] = False,
    db: DbOption = None,
) -> None:
    """Add a user. The password is prompted for (twice), or read with --password-stdin.

    Example: streetwatch users add li.na --role dispatcher --unit 东城区城管执法队
    """
    from streetwatch.store.users import check_unit, create_user, parse_roles

    # A UserError (exit 2, one line) is reported by the command group (streetwatch.cli.errors).
    check_unit(parse_roles(role), unit)  # mistakes fail before the password is asked for
    password = _read_password(password_stdin)
    with _session(db) as session:
        user = create_user(session, username, password, role, unit=unit)
        summary = f"added user {user.username!r} (id {user.id}) with roles {', '.join(user.roles)}"
        if user.unit:
            summary += f", unit {user.unit}"
    console.print(summary)


@users_app.command("list")
def list_users(db: DbOption = None) -> None:
    """List users with their roles, unit, state and API keys."""
    from streetwatch.store.users import list_users as all_users

    table = Table("id", "username", "roles", "unit", "active", "API keys (active/all)", "created")
    with _session(db) as session:
        for user in all_users(session):
            live = sum(1 for k in user.api_keys if k.revoked_at is None)
            table.add_row(str(user.id), user.username, ", ".join(user.roles), user.unit or "",
                          "yes" if user.active else "no", f"{live}/{len(user.api_keys)}",
                          user.created_at.strftime("%Y-%m-%d %H:%M"))
    Console().print(table)


@users_app.command("deactivate")
def deactivate(username: Annotated[str, typer.Argument()], db: DbOption = None) -> None:
    """Stop a user from signing in; their login tokens are revoked and their API keys stop working at once."""
    from streetwatch.store.users import deactivate_user, get_user

    with _session(db) as session:
        user = get_user(session, username)
        if user is None:
            raise _fail(f"no user {username!r}")
        deactivate_user(session, user)
    console.print(f"deactivated {username!r}")


@api_key_app.command("create")
def api_key_create(
    username: Annotated[str, typer.Argument(help="The user the key acts as (with that user's roles).")],
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. 'open311-bridge'.")],
    db: DbOption = None,
) -> None:
    """Make an API key and print its secret on standard output. It is shown this once only."""
    from streetwatch.store.users import create_api_key, get_user

    with _session(db) as session:
        user = get_user(session, username)
        if user is None:
            raise _fail(f"no user {username!r}")
        made = create_api_key(session, user, name)
        prefix = made.key.prefix
    console.print(f"API key {name!r} for {username!r} (prefix {prefix}); store the secret now, "
                  "it is not shown again:")
    typer.echo(made.secret)


@api_key_app.command("revoke")
def api_key_revoke(
    username: Annotated[str, typer.Argument(help="The key's user.")],
    key: Annotated[str, typer.Argument(help="The key's name or prefix (as `users api-key list` shows).")],
    db: DbOption = None,
) -> None:
    """Revoke a user's API key by name or prefix; requests with it are refused at once."""
    from streetwatch.store.users import find_api_keys, revoke_api_key

    with _session(db) as session:
        found = [k for k in find_api_keys(session, username, key) if k.revoked_at is None]
        if not found:
            raise _fail(f"{username!r} has no active API key named or prefixed {key!r}")
        if len(found) > 1:
            raise _fail(f"{len(found)} active keys of {username!r} match {key!r}: give a prefix "
                        f"({', '.join(k.prefix for k in found)})")
        revoke_api_key(session, found[0])
    console.print(f"revoked API key {found[0].name!r} ({found[0].prefix}) of {username!r}")


@api_key_app.command("list")
def api_key_list(username: Annotated[str, typer.Argument()], db: DbOption = None) -> None:
    """List a user's API keys: name, prefix, created, last used, revoked."""
    from streetwatch.store.users import get_user

    table = Table("name", "prefix", "created", "last used", "revoked")
    with _session(db) as session:
        user = get_user(session, username)
        if user is None:
            raise _fail(f"no user {username!r}")
        for k in user.api_keys:
            table.add_row(k.name, k.prefix, f"{k.created_at:%Y-%m-%d %H:%M}",
                          f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never",
                          f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
    Console().print(table)
