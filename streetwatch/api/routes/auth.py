"""Signing in: a username and password in, a login token (JWT) out; and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from streetwatch.api.auth import CurrentUser, create_access_token
from streetwatch.api.deps import SessionDep, SettingsDep
from streetwatch.api.errors import BAD_BODY
from streetwatch.api.schemas import ErrorPublic
from streetwatch.api.schemas.auth import MePublic, TokenPublic
from streetwatch.store import users as user_store

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    summary="Sign in",
    response_model=TokenPublic,
    responses={
        401: {"model": ErrorPublic, "description": "Wrong username or password."},
        403: {"model": ErrorPublic, "description": "The account is deactivated."},
        **BAD_BODY,
    },
)
def login(
    request: Request, session: SessionDep, settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenPublic:
    """OAuth2 password flow: form fields `username` and `password` give a token valid for
    `auth_token_minutes` (8 hours by default)."""
    user = user_store.verify_password(session, form.username, form.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "incorrect username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    session.commit()  # a rehashed password (newer argon2 parameters) is kept
    if not user.active:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"user {user.username!r} is deactivated")
    token, expires = create_access_token(request.app.state.auth_secret, user.id, user.username,
                                         minutes=settings.auth_token_minutes)
    return TokenPublic(access_token=token, expires_at=expires)


@router.get(
    "/me",
    summary="Who am I",
    response_model=MePublic,
    responses={401: {"model": ErrorPublic, "description": "Not signed in."}},
)
def me(user: CurrentUser) -> MePublic:
    """The user the request's token or API key belongs to, with roles and unit."""
    return MePublic.from_user(user)
