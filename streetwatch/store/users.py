"""Users and API keys: create them, check passwords and keys.

Functions add and flush but never commit: the caller owns the transaction (the CLI commits,
an API request commits what it did).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pwdlib import PasswordHash
from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.core.errors import BadInputError
from streetwatch.store.models import utcnow
from streetwatch.store.models_auth import ALL_UNITS_ROLES, UNIT_SCOPED_ROLES, ApiKey, Role, User

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
API_KEY_PREFIX = "sw_"
# Writing last_used_at on every request would make each read a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_hasher = PasswordHash.recommended()  # argon2id with pwdlib's current parameters
# Verified against when the username is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("streetwatch-no-such-user")


class UserError(BadInputError, ValueError):
    """A user or key that cannot be created or changed as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key just made: ``secret`` is shown once and never stored."""

    key: ApiKey
    secret: str


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """Turn role names into :class:`Role` values.

    Raises:
        UserError: On an unknown name or no roles at all.
    """
    roles: set[Role] = set()
    for name in names:
        try:
            roles.add(Role(name.strip().lower()))
        except ValueError:
            raise UserError(f"unknown role {name!r}; expected one of: {', '.join(r.value for r in Role)}") from None
    if not roles:
        raise UserError("a user needs at least one role")
    return frozenset(roles)


def check_unit(roles: frozenset[Role], unit: str | None) -> str | None:
    """The unit, stripped (None if blank).

    Raises:
        UserError: If the roles confine the user to one unit and no unit is given.
    """
    unit = unit.strip() if unit else None
    if roles & UNIT_SCOPED_ROLES and not roles & ALL_UNITS_ROLES and not unit:
        # Fail closed: a dispatcher or field inspector without a unit would see nothing, or
        # (worse, by a bug) everything.
        scoped = ", ".join(sorted(r.value for r in roles & UNIT_SCOPED_ROLES))
        raise UserError(f"role {scoped} works for one unit (责任单位): give the user's unit")
    return unit


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``.

    Raises:
        UserError: If the password is shorter than ``MIN_PASSWORD_LENGTH``.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters, got {len(password)}")
    return _hasher.hash(password)


def create_user(
    session: Session, username: str, password: str, roles: Iterable[str | Role], *, unit: str | None = None,
    active: bool = True,
) -> User:
    """Add a user with an argon2 password hash.

    Args:
        session: Where to add it (flushed, not committed).
        username: 1-64 characters: letters, digits and ``_ . @ -``; unique.
        password: At least ``MIN_PASSWORD_LENGTH`` characters.
        roles: Role names or values.
        unit: 责任单位; required for a dispatcher or field inspector without a city-wide role.
        active: Whether the user may sign in.

    Raises:
        UserError: On a bad or taken username, a short password, unknown roles or a missing unit.
    """
    if not USERNAME_PATTERN.fullmatch(username):
        raise UserError(f"username {username!r} must be 1-64 letters, digits or _ . @ -, starting with "
                        "a letter or digit")
    role_set = parse_roles(str(r) for r in roles)
    unit = check_unit(role_set, unit)
    if get_user(session, username) is not None:
        raise UserError(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password),
                roles=sorted(r.value for r in role_set), unit=unit, active=active)
    session.add(user)
    session.flush()
    return user


def get_user_by_id(session: Session, user_id: int) -> User | None:
    """The user with this id (what a login token names), or None."""
    return session.get(User, user_id)


def get_user(session: Session, username: str) -> User | None:
    """The user with this username, or None."""
    return session.scalars(select(User).where(User.username == username)).one_or_none()


def list_users(session: Session) -> Sequence[User]:
    """Every user, by username."""
    return session.scalars(select(User).order_by(User.username)).all()


def verify_password(session: Session, username: str, password: str) -> User | None:
    """The user if ``password`` is theirs, else None. Active or not: the caller decides.

    A hash made with older parameters is upgraded in place (flushed, not committed).
    """
    user = get_user(session, username)
    if user is None:
        _hasher.verify(password, _DUMMY_HASH)
        return None
    valid, new_hash = _hasher.verify_and_update(password, user.password_hash)
    if not valid:
        return None
    if new_hash is not None:
        user.password_hash = new_hash
        session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Replace the user's password."""
    user.password_hash = hash_password(password)
    session.flush()


def _secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Session, user: User, name: str) -> NewApiKey:
    """Make an API key for ``user``; the returned secret is the only copy there will ever be.

    Raises:
        UserError: On an empty or over-long name.
    """
    name = name.strip()
    if not 1 <= len(name) <= 128:
        raise UserError(f"an API key name needs 1-128 characters, got {len(name)}")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(user_id=user.id, name=name, prefix=secret[:len(API_KEY_PREFIX) + 8],
                 secret_sha256=_secret_sha256(secret))
    session.add(key)
    session.flush()
    return NewApiKey(key, secret)


def authenticate_api_key(session: Session, secret: str, *, now: datetime | None = None) -> ApiKey | None:
    """The unrevoked key with this secret, if its user is active, else None.

    Notes when the key was last used (at most once a minute; flushed, not committed). The key's
    user is ``key.user``.
    """
    if not secret.startswith(API_KEY_PREFIX):
        return None
    key = session.scalars(select(ApiKey).where(ApiKey.secret_sha256 == _secret_sha256(secret))).one_or_none()
    if key is None or key.revoked_at is not None or not key.user.active:
        return None
    now = now or utcnow()
    last = key.last_used_at
    if last is None or now - last >= LAST_USED_RESOLUTION:
        key.last_used_at = now
        session.flush()
    return key


def find_api_keys(session: Session, username: str, name_or_prefix: str) -> Sequence[ApiKey]:
    """The user's keys whose name or prefix is ``name_or_prefix``."""
    return session.scalars(
        select(ApiKey).join(User).where(User.username == username,
                                        (ApiKey.name == name_or_prefix) | (ApiKey.prefix == name_or_prefix))
        .order_by(ApiKey.id)
    ).all()


def revoke_api_key(session: Session, key: ApiKey, *, now: datetime | None = None) -> None:
    """Revoke a key (idempotent: the first revocation time is kept)."""
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()
        session.flush()
