"""Users and API keys: create them, check passwords and keys, revoke login tokens, audit sign-ins.

Functions add and flush but never commit: the caller owns the transaction (the CLI commits,
an API request commits what it did).

Passwords: at least ``MIN_PASSWORD_LENGTH`` characters, of at least two kinds (lowercase,
uppercase, digits, anything else); checked when a password is set, not when it is used.
Login tokens carry the user's ``token_version``; :func:`revoke_tokens` raises it (signing out,
deactivation), which ends every token issued before. Sign-ins, failed sign-ins and sign-outs are
entries of the audit log (:func:`audit_sign_in`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pwdlib import PasswordHash
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from streetwatch.core.errors import BadInputError
from streetwatch.store.audit import append_audit
from streetwatch.store.models import utcnow
from streetwatch.store.models_auth import ALL_UNITS_ROLES, UNIT_SCOPED_ROLES, ApiKey, Role, User

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LENGTH = 12
# The kinds of character a password mixes; it needs two of them at least.
PASSWORD_KINDS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("lowercase letters", str.islower), ("uppercase letters", str.isupper), ("digits", str.isdigit),
    ("other characters", lambda c: not (c.islower() or c.isupper() or c.isdigit())),
)
# Audit actions of signing in and out (entity_type "user").
SIGN_IN, SIGN_IN_FAILED, SIGN_OUT = "user.sign_in", "user.sign_in_failed", "user.sign_out"
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


def check_password(password: str) -> None:
    """Refuse a password that is too short or of one kind of character only.

    Raises:
        UserError: Saying which rule it breaks.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters, got {len(password)}")
    kinds = [name for name, is_kind in PASSWORD_KINDS if any(is_kind(c) for c in password)]
    if len(kinds) < 2:
        raise UserError(f"a password needs two kinds of character at least ({', '.join(n for n, _ in PASSWORD_KINDS)});"
                        f" this one has {kinds[0] if kinds else 'none'} only: mix in a letter, a digit, a capital "
                        "or a space")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``.

    Raises:
        UserError: If the password breaks the rules (:func:`check_password`).
    """
    check_password(password)
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


def password_matches(user: User | None, password: str) -> tuple[bool, str | None]:
    """Whether ``password`` is the user's, and a new hash if theirs was made with older parameters.

    Touches no database (argon2 takes tens of milliseconds of CPU: a caller can give its connection
    back first). For no user, a dummy hash is verified, so a miss costs as long as a wrong password.
    """
    if user is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False, None
    return _hasher.verify_and_update(password, user.password_hash)


def verify_password(session: Session, username: str, password: str) -> User | None:
    """The user if ``password`` is theirs, else None. Active or not: the caller decides.

    A hash made with older parameters is upgraded in place (flushed, not committed).
    """
    user = get_user(session, username)
    valid, new_hash = password_matches(user, password)
    if not valid or user is None:
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


# --- login tokens and sign-ins ------------------------------------------------------------------------

def revoke_tokens(session: Session, user_id: int) -> int:
    """End every login token of the user issued so far (raises ``token_version``; flushed, not committed).

    Returns:
        The new version, which tokens issued from now on carry.
    """
    session.execute(update(User).where(User.id == user_id).values(token_version=User.token_version + 1),
                    execution_options={"synchronize_session": False})
    version = session.scalar(select(User.token_version).where(User.id == user_id).execution_options(
        populate_existing=True))
    if version is None:
        raise UserError(f"no user with id {user_id}")
    return version


def deactivate_user(session: Session, user: User) -> None:
    """Stop the user from signing in and end their login tokens (their API keys stop with them)."""
    user.active = False
    session.flush()
    revoke_tokens(session, user.id)


def audit_sign_in(
    session: Session, action: str, *, username: str, user: User | None, via: str, address: str | None,
    reason: str | None = None,
) -> None:
    """Append a sign-in, failed sign-in or sign-out (``SIGN_IN``, ``SIGN_IN_FAILED``, ``SIGN_OUT``) to the audit
    log, in the caller's transaction (flushed, not committed).

    Args:
        session: Start it with this (on SQLite the audit's writer lock must be the transaction's first act).
        action: One of the three.
        username: The name given (for a failed sign-in, possibly no user's; cut to 64 characters).
        user: The user it names, if any.
        via: ``token`` (POST /auth/token) or ``page`` (the review page's form).
        address: The client's address.
        reason: Why a sign-in failed: ``wrong password``, ``unknown user``, ``deactivated``.
    """
    if action not in (SIGN_IN, SIGN_IN_FAILED, SIGN_OUT):
        raise ValueError(f"not a sign-in action: {action!r}")
    details: dict[str, str] = {"via": via, "address": address or "unknown"}
    if reason is not None:
        details["reason"] = reason
    name = username[:64]
    # A failed sign-in is nobody's act yet: whoever tried did not prove to be the user.
    actor = user.username if user is not None and action != SIGN_IN_FAILED else "anonymous"
    append_audit(session, actor=actor, action=action, entity_type="user",
                 entity_id=user.id if user is not None else name,
                 details=details | ({} if user is not None else {"username": name}))
