"""Signing in and out: a username and password in, a login token (JWT) out; sign out; and who am I.

Failed sign-ins are limited per username and per client address (429 with ``Retry-After``; see
``streetwatch.api.throttle``), and every sign-in, failed sign-in and sign-out is in the audit log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from streetwatch.api.auth import CurrentUser
from streetwatch.api.deps import SessionDep
from streetwatch.api.errors import BAD_BODY, SIGNED_IN_RESPONSES
from streetwatch.api.schemas import ErrorPublic
from streetwatch.api.schemas.auth import MePublic, TokenPublic
from streetwatch.api.sign_in import SignInRefused, sign_in, sign_out

router = APIRouter(prefix="/auth", tags=["auth"])


def _refused(exc: SignInRefused) -> HTTPException:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    return HTTPException(exc.status, str(exc), headers=headers or None)


@router.post(
    "/token",
    summary="Sign in",
    response_model=TokenPublic,
    responses={
        401: {"model": ErrorPublic, "description": "Wrong username or password."},
        403: {"model": ErrorPublic, "description": "The account is deactivated."},
        429: {"model": ErrorPublic, "description": "Too many failed sign-ins for this username or from this "
                                                   "address: try again after `Retry-After` seconds.",
              "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}},
        **BAD_BODY,
    },
)
def login(request: Request, session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenPublic:
    """OAuth2 password flow: form fields `username` and `password` give a token valid for
    `auth_token_minutes` (8 hours by default).

    Failed sign-ins are limited: `auth_max_failures_per_user` (10) per username and
    `auth_max_failures_per_address` (20) per client address within `auth_failure_window_s` (15 minutes),
    counted by this server process; past either, 429 with `Retry-After`. Every attempt that gets as far
    as the password is written to the audit log.
    """
    try:
        signed_in = sign_in(request, session, form.username, form.password, via="token")
    except SignInRefused as exc:
        raise _refused(exc) from None
    return TokenPublic(access_token=signed_in.token, expires_at=signed_in.expires_at)


@router.post(
    "/logout",
    summary="Sign out",
    status_code=204,
    response_class=Response,
    responses={**SIGNED_IN_RESPONSES,
               400: {"model": ErrorPublic, "description": "The request used an API key, not a login token."}},
)
def logout(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """Revoke the caller's login tokens: this one and every other issued to them so far (sign out everywhere)."""
    try:
        sign_out(request, session, user, via="token")
    except SignInRefused as exc:
        raise _refused(exc) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/me",
    summary="Who am I",
    response_model=MePublic,
    responses={401: {"model": ErrorPublic, "description": "Not signed in."}},
)
def me(user: CurrentUser) -> MePublic:
    """The user the request's token or API key belongs to, with roles and unit."""
    return MePublic.from_user(user)
