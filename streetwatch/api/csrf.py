"""CSRF tokens on the review page's cookie-session forms (sign in, sign out).

Double submit, signed: a page sets the ``streetwatch_csrf`` cookie (HttpOnly, SameSite=Strict) to a
random nonce with its HMAC under the app's secret, and puts the same value in its forms
(``csrf_token``). A POST of those forms must carry both, equal, with a valid signature: another site
can neither read the cookie nor set one the secret did not sign. The page's other POSTs are htmx
requests that must carry ``HX-Request: true`` (``streetwatch.api.auth``), which a cross-site form
cannot send.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from fastapi import Request, Response

CSRF_COOKIE: Final = "streetwatch_csrf"
CSRF_FIELD: Final = "csrf_token"


def _signature(secret: str, nonce: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def new_csrf_token(secret: str) -> str:
    """A fresh token: ``<nonce>.<hmac>``."""
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_signature(secret, nonce)}"


def is_signed(secret: str, token: str | None) -> bool:
    """Whether ``token`` is one this app's secret signed."""
    if not token or token.count(".") != 1:
        return False
    nonce, signature = token.split(".")
    return hmac.compare_digest(signature, _signature(secret, nonce))


def csrf_matches(request: Request, submitted: str | None) -> bool:
    """Whether the form's token is the cookie's, and signed by this app."""
    cookie = request.cookies.get(CSRF_COOKIE)
    return (cookie is not None and submitted is not None and hmac.compare_digest(cookie, submitted)
            and is_signed(request.app.state.auth_secret, cookie))


def page_csrf_token(request: Request) -> tuple[str, bool]:
    """The token a page puts in its forms: the cookie's if it is valid, else a new one (True: set the cookie)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if is_signed(request.app.state.auth_secret, cookie):
        assert cookie is not None
        return cookie, False
    return new_csrf_token(request.app.state.auth_secret), True


def set_csrf_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path="/ui")
