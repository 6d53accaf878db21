"""Signing in and out, as ``POST /auth/token`` and the review page's form do it.

:func:`sign_in` checks the throttle (``api.throttle``: 429 past the failed sign-ins allowed per user
and per address), then the password, and writes the outcome to the audit log: ``user.sign_in`` or
``user.sign_in_failed`` (with the reason: wrong password, unknown user, deactivated), whoever asked
and from where. :func:`sign_out` revokes the user's login tokens (all of them: ``token_version``)
and writes ``user.sign_out``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fastapi import Request

from streetwatch.api.auth import AuthenticatedUser, create_access_token
from streetwatch.api.throttle import SignInThrottle, Throttled, ThrottleRules
from streetwatch.core.settings import Settings
from streetwatch.store import users as user_store
from streetwatch.store.db import Session
from streetwatch.store.models_auth import User

log = logging.getLogger(__name__)

Via = Literal["token", "page"]


class SignInRefused(Exception):
    """A sign-in that does not succeed: the status to answer, the message, and ``Retry-After`` for a 429."""

    def __init__(self, status: int, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A user who proved their password, and their new login token."""

    user: User
    token: str
    expires_at: datetime


def make_throttle(settings: Settings) -> SignInThrottle:
    """The app's throttle, from ``auth_max_failures_per_user``, ``..._per_address`` and ``auth_failure_window_s``."""
    return SignInThrottle(ThrottleRules(max_per_user=settings.auth_max_failures_per_user,
                                        max_per_address=settings.auth_max_failures_per_address,
                                        window_s=settings.auth_failure_window_s))


def client_address(request: Request) -> str | None:
    """The address the server sees (behind a proxy: see ``api.throttle`` on forwarded headers)."""
    return request.client.host if request.client is not None else None


def sign_in(request: Request, session: Session, username: str, password: str, *, via: Via) -> SignedIn:
    """Check the throttle and the password, audit the outcome, and make a login token.

    Raises:
        SignInRefused: 429 past the throttle's limits (nothing checked, nothing written), 401 for a
            wrong username or password, 403 for a deactivated user.
    """
    settings: Settings = request.app.state.settings
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    address = client_address(request)
    try:
        attempt = throttle.begin(username, address)
    except Throttled as exc:
        log.warning("sign-in as %r from %s refused: %s", username[:64], address, exc)
        raise SignInRefused(429, str(exc), exc.retry_after_s) from None
    named = user_store.get_user(session, username)  # whose name it is, if anyone's
    session.commit()  # the connection goes back to the pool while argon2 works (tens of ms of CPU)
    valid, new_hash = user_store.password_matches(named, password)
    user = named if valid else None
    # From here on each transaction starts with its write (the audit's writer lock): SQLite's rule.
    if user is None or not user.active:
        if user is not None:
            throttle.succeeded(attempt)  # the right password for a closed account: no guess to count
        reason = "deactivated" if user is not None else "wrong password" if named is not None else "unknown user"
        user_store.audit_sign_in(session, user_store.SIGN_IN_FAILED, username=username, user=named, via=via,
                                 address=address, reason=reason)
        session.commit()
        if user is not None:
            raise SignInRefused(403, f"user {user.username!r} is deactivated")
        raise SignInRefused(401, "incorrect username or password")
    throttle.succeeded(attempt)
    user_store.audit_sign_in(session, user_store.SIGN_IN, username=username, user=user, via=via, address=address)
    if new_hash is not None:  # made with older argon2 parameters: keep the stronger one
        session.add(user)
        user.password_hash = new_hash
    session.commit()
    token, expires = create_access_token(request.app.state.auth_secret, user.id, user.username,
                                         minutes=settings.auth_token_minutes, version=user.token_version)
    return SignedIn(user, token, expires)


def sign_out(request: Request, session: Session, user: AuthenticatedUser, *, via: Via) -> None:
    """Revoke every login token of the user and audit it (committed).

    Raises:
        SignInRefused: 400 for a request made with an API key (revoke a key with
            ``streetwatch users api-key revoke``).
    """
    if user.api_key_id is not None:
        raise SignInRefused(400, "signing out ends login tokens; this request used an API key: revoke a key with "
                                 "`streetwatch users api-key revoke`")
    user_store.revoke_tokens(session, user.id)  # a write first: SQLite's writer lock
    row = user_store.get_user_by_id(session, user.id)
    user_store.audit_sign_in(session, user_store.SIGN_OUT, username=user.username, user=row, via=via,
                             address=client_address(request))
    session.commit()
