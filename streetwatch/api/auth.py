"""Who is asking, and may they: authentication and role checks for every route.

A request authenticates with ``Authorization: Bearer <jwt>`` (from ``POST /auth/token``) or,
for machines, ``X-API-Key: <secret>``. Protect a route with

* ``user: CurrentUser`` -- any signed-in user (401 without valid credentials);
* ``Depends(require_roles(Role.REVIEWER, Role.SUPERVISOR))`` -- one of these roles (403 if
  none; admin passes every check). Use it as ``dependencies=[Depends(...)]`` or as
  ``user: Annotated[AuthenticatedUser, Depends(require_roles(...))]``.

Uploaders (cars and depot machines, ``Role.UPLOADER``) may only send footage: ``UploaderUser``
passes them (and admins) on ``POST /uploads``, and every other route refuses a user who holds
no role but uploader (403), so a car's leaked API key reads nothing.

Object access (责任单位): reviewers, supervisors and admins see every unit. A user whose roles
are only dispatcher and/or field inspector sees the cases routed to their own unit
(``Case.unit``) and the violations of those cases; use :meth:`AuthenticatedUser.can_see_unit`
for one object and :attr:`AuthenticatedUser.unit_scope` to filter lists. Violations with no
case, or cases with no unit yet, are visible only to the city-wide roles.

The user is re-read from the database on every request: deactivating a user or changing
their roles takes effect at once, even for tokens already issued. A login token also carries
the user's ``token_version`` (``ver``): signing out (``POST /auth/logout``, the page's sign-out)
and deactivation raise it, so every token issued before is refused from then on.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from streetwatch.api.deps import SessionDep
from streetwatch.core.errors import ConfigurationError
from streetwatch.core.settings import Settings
from streetwatch.store import users as user_store
from streetwatch.store.models import parse_row_id
from streetwatch.store.models_auth import ALL_UNITS_ROLES, Role, User

__all__ = [
    "ALL_UNITS_ROLES",
    "DECIDER_ROLES",
    "AuthConfigError",
    "AuthenticatedUser",
    "CurrentUser",
    "Role",
    "UploaderUser",
    "create_access_token",
    "get_current_user",
    "require_roles",
    "resolve_auth_secret",
]

log = logging.getLogger(__name__)

JWT_ALGORITHM = "HS256"
MIN_SECRET_LENGTH = 32
# Secrets copied from examples; refused like a missing one.
KNOWN_DEFAULT_SECRETS = frozenset({"changethis", "change-me", "changeme", "secret", "streetwatch", "dev"})
# Who may decide on violations (approve, reject, relabel, move).
DECIDER_ROLES = (Role.REVIEWER, Role.SUPERVISOR, Role.ADMIN)

_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False, scheme_name="login token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="API key",
                        description="A key made with `streetwatch users api-key create`.")
# The review page (api/web.py) keeps the login token in this HttpOnly, SameSite=Strict cookie.
SESSION_COOKIE = "streetwatch_session"
# Cookie-authenticated requests that change state must carry this header (htmx sends it; a
# cross-site form cannot set it): with SameSite=Strict, that is the CSRF defence.
CSRF_HEADER = "HX-Request"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthConfigError(ConfigurationError, RuntimeError):
    """The auth settings are unsafe to serve with; the message says what to set."""


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    """The user a request acts as.

    Attributes:
        id: The user's id.
        username: The user's name; recorded as the reviewer of their decisions.
        roles: What they may do.
        unit: Their 责任单位, if they have one.
        api_key_id: The key they used, or None for a login token.
    """

    id: int
    username: str
    roles: frozenset[Role]
    unit: str | None
    api_key_id: int | None = None

    @classmethod
    def from_user(cls, user: User, api_key_id: int | None = None) -> AuthenticatedUser:
        return cls(id=user.id, username=user.username, roles=user.role_set, unit=user.unit,
                   api_key_id=api_key_id)

    def has_any_role(self, *roles: Role) -> bool:
        """Whether the user holds one of ``roles``; admin holds them all."""
        return Role.ADMIN in self.roles or bool(self.roles & set(roles))

    @property
    def sees_all_units(self) -> bool:
        """Reviewers, supervisors and admins see every unit's cases and violations."""
        return bool(self.roles & ALL_UNITS_ROLES)

    @property
    def unit_scope(self) -> str | None:
        """The unit to filter lists by, or None for no filter (a city-wide role).

        Raises:
            HTTPException: 403 for a unit-scoped user without a unit (fail closed).
        """
        if self.sees_all_units:
            return None
        if not self.unit:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"user {self.username!r} has no unit (责任单位): ask an admin to set one")
        return self.unit

    def can_see_unit(self, unit: str | None) -> bool:
        """Whether an object routed to ``unit`` (None: not routed yet) is visible to the user."""
        if self.sees_all_units:
            return True
        return self.unit is not None and unit == self.unit


def resolve_auth_secret(settings: Settings) -> str:
    """The key that signs tokens; refuses missing, short or well-known secrets.

    With ``auth_dev_mode`` and no secret, a random key is made: tokens die with the process.

    Raises:
        AuthConfigError: If the secret is missing (without dev mode), too short or a known default.
    """
    configured = settings.auth_secret.get_secret_value() if settings.auth_secret is not None else None
    if not configured:
        if settings.auth_dev_mode:
            log.warning("STREETWATCH_AUTH_SECRET is not set: dev mode signs tokens with a random key; "
                        "they stop working when the process ends")
            return secrets.token_urlsafe(48)
        raise AuthConfigError(
            "STREETWATCH_AUTH_SECRET is not set: set it to a random string of at least "
            f"{MIN_SECRET_LENGTH} characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`),"
            " or set STREETWATCH_AUTH_DEV_MODE=true for a throwaway development key"
        )
    if configured.strip().lower() in KNOWN_DEFAULT_SECRETS:
        raise AuthConfigError(f"STREETWATCH_AUTH_SECRET is a well-known default ({configured!r}): "
                              "set a random one")
    if len(configured) < MIN_SECRET_LENGTH:
        raise AuthConfigError(f"STREETWATCH_AUTH_SECRET has {len(configured)} characters; "
                              f"at least {MIN_SECRET_LENGTH} are needed to sign HS256 tokens safely")
    return configured


def create_access_token(
    secret: str, user_id: int, username: str, *, minutes: int, version: int = 0, now: datetime | None = None
) -> tuple[str, datetime]:
    """A signed HS256 JWT for the user, and when it expires.

    Args:
        version: The user's ``token_version`` now: the token stops working when it changes.
    """
    issued = now or datetime.now(UTC)
    expires = issued + timedelta(minutes=minutes)
    claims = {"sub": str(user_id), "name": username, "iat": issued, "exp": expires, "typ": "access",
              "ver": version}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM), expires


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def _claims_of(token: str, secret: str) -> tuple[int, int | None]:
    """The user id and token version a login token names."""
    try:
        claims = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("login token expired: sign in again") from None
    except jwt.InvalidTokenError as exc:
        raise _unauthorized(f"invalid login token: {exc}") from None
    user_id = parse_row_id(str(claims["sub"]))
    if claims.get("typ") != "access" or user_id is None:
        raise _unauthorized("invalid login token: not an access token")
    version = claims.get("ver")
    return user_id, version if isinstance(version, int) and not isinstance(version, bool) else None


def get_current_user(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> AuthenticatedUser:
    """The user behind the request's bearer token or API key; never an upload-only account.

    Raises:
        HTTPException: 401 as :func:`authenticate`; 403 for a user whose only role is uploader.
    """
    user = authenticate(request, session, token, api_key)
    if user.roles == frozenset({Role.UPLOADER}):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"{user.username!r} is an uploader: it may only send footage (POST /uploads)")
    return user


def get_uploader(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> AuthenticatedUser:
    """The user behind the request, who must hold the uploader role (or admin).

    Raises:
        HTTPException: 401 as :func:`authenticate`; 403 without the role.
    """
    user = authenticate(request, session, token, api_key)
    if not user.has_any_role(Role.UPLOADER):
        have = ", ".join(sorted(user.roles)) or "none"
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"needs role {Role.UPLOADER} (or admin) to upload; {user.username!r} has {have}")
    return user


def authenticate(
    request: Request,
    session: SessionDep,
    token: str | None,
    api_key: str | None,
) -> AuthenticatedUser:
    """The user behind the request's bearer token or API key, whatever their roles.

    Raises:
        HTTPException: 401 when credentials are missing, invalid, expired, revoked or belong
            to a deactivated user.
    """
    if api_key:
        key = user_store.authenticate_api_key(session, api_key)
        if key is None:
            raise _unauthorized("invalid or revoked API key")
        found = AuthenticatedUser.from_user(key.user, api_key_id=key.id)
        session.commit()  # keeps last_used_at, and gives the connection back (see below)
        return found
    if not token and (token := request.cookies.get(SESSION_COOKIE)):
        if request.method not in _SAFE_METHODS and request.headers.get(CSRF_HEADER) != "true":
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {request.method} signed in by the page's cookie "
                                f"needs the header `{CSRF_HEADER}: true` (cross-site request refused)")
    if not token:
        raise _unauthorized("not authenticated: send `Authorization: Bearer <token>` from POST /auth/token "
                            "or `X-API-Key: <key>`")
    user_id, version = _claims_of(token, request.app.state.auth_secret)
    user = user_store.get_user_by_id(session, user_id)
    if user is None or not user.active:
        raise _unauthorized("the token's user no longer exists or is deactivated")
    if version != user.token_version:
        raise _unauthorized("login token revoked (signed out, or the account was deactivated): sign in again")
    found = AuthenticatedUser.from_user(user)
    # End the sign-in's read now: its connection goes back to the pool. Routes that work in their own
    # transactions (the review queue's claim and release, the page's top-up, exports) take another; held
    # across theirs, fifty concurrent claimers on a pool of fifteen each waited for a second connection
    # that never came, and failed after the pool's timeout.
    session.commit()
    return found


CurrentUser = Annotated[AuthenticatedUser, Depends(get_current_user)]
UploaderUser = Annotated[AuthenticatedUser, Depends(get_uploader)]


def require_roles(*roles: Role) -> Callable[[AuthenticatedUser], AuthenticatedUser]:
    """A dependency that passes users holding one of ``roles`` (admin always passes).

    Returns:
        A callable for ``Depends``: 401 unauthenticated, 403 without the role, else the user.
    """
    if not roles:
        raise ValueError("require_roles needs at least one role; use CurrentUser for 'any signed-in user'")
    wanted = tuple(Role(r) for r in roles)

    def _check_roles(user: CurrentUser) -> AuthenticatedUser:
        if not user.has_any_role(*wanted):
            have = ", ".join(sorted(user.roles)) or "none"
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"needs role {' or '.join(wanted)} (or admin); {user.username!r} has {have}")
        return user

    _check_roles.__name__ = f"require_{'_or_'.join(wanted)}"
    return _check_roles
