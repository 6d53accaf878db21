"""Signing in and out hardened: failed sign-ins limited per user and per address (429 with Retry-After),
every sign-in, failed sign-in and sign-out in the audit log, login tokens revoked at sign-out and on
deactivation, and a CSRF token on the review page's sign-in and sign-out forms."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.api.app import create_app
from streetwatch.api.auth import CSRF_HEADER, SESSION_COOKIE, create_access_token
from streetwatch.api.csrf import CSRF_COOKIE, new_csrf_token
from streetwatch.core.settings import Settings
from streetwatch.store.audit import verify_audit_chain
from streetwatch.store.models_auth import User
from streetwatch.store.models_workflow import AuditEntry
from streetwatch.store.users import deactivate_user, get_user
from tests.api.auth_support import TEST_AUTH_SECRET, TEST_PASSWORD, TestUser


@pytest.fixture
def strict(settings: Settings) -> Iterator[TestClient]:
    """A client with no credentials, on an app that allows 3 failures per user and 5 per address."""
    limited = settings.model_copy(update={"auth_max_failures_per_user": 3, "auth_max_failures_per_address": 5})
    with TestClient(create_app(limited)) as client:
        yield client


def _token(client: TestClient, username: str, password: str = TEST_PASSWORD) -> tuple[int, dict[str, object]]:
    response = client.post("/auth/token", data={"username": username, "password": password})
    return response.status_code, response.json() | {"retry-after": response.headers.get("retry-after")}


def _audit(session: Session, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


# --- throttling ----------------------------------------------------------------------------------

def test_failed_sign_ins_for_one_user_are_limited(strict: TestClient) -> None:
    for _ in range(3):
        assert _token(strict, "reviewer", "wrong password 1")[0] == 401
    code, body = _token(strict, "reviewer", TEST_PASSWORD)  # even the right password: the user is locked
    assert code == 429, body
    assert "too many failed sign-ins for user 'reviewer'" in str(body["detail"])
    assert body["retry-after"] is not None and 0 < int(str(body["retry-after"])) <= 900
    assert _token(strict, "supervisor")[0] == 200  # another user from the same address still may


def test_failed_sign_ins_from_one_address_are_limited(strict: TestClient) -> None:
    for name in ("a1", "a2", "a3", "a4", "a5"):  # unknown users count as much as wrong passwords
        assert _token(strict, name, "wrong password 1")[0] == 401
    code, body = _token(strict, "admin")
    assert code == 429 and "from this address" in str(body["detail"]), body


def test_a_success_clears_the_users_failures(strict: TestClient) -> None:
    for _ in range(2):
        assert _token(strict, "reviewer", "wrong password 1")[0] == 401
    assert _token(strict, "reviewer")[0] == 200
    for _ in range(3):
        assert _token(strict, "reviewer", "wrong password 1")[0] == 401
    assert _token(strict, "reviewer")[0] == 429


def test_the_page_is_throttled_too(strict: TestClient) -> None:
    for _ in range(3):
        assert _page_login(strict, "reviewer", "wrong password 1").status_code == 401
    response = _page_login(strict, "reviewer", TEST_PASSWORD)
    assert response.status_code == 429 and response.headers["retry-after"].isdigit()
    assert "too many failed sign-ins" in response.text and SESSION_COOKIE not in response.cookies


# --- audit ---------------------------------------------------------------------------------------

def test_sign_ins_and_failures_are_audited(client: TestClient, session: Session, users: dict[str, TestUser]) -> None:
    anon = {"Authorization": ""}
    assert client.post("/auth/token", data={"username": "reviewer", "password": TEST_PASSWORD},
                       headers=anon).status_code == 200
    assert client.post("/auth/token", data={"username": "reviewer", "password": "wrong password 1"},
                       headers=anon).status_code == 401
    assert client.post("/auth/token", data={"username": "nobody", "password": "wrong password 1"},
                       headers=anon).status_code == 401
    assert client.post("/auth/token", data={"username": "retired", "password": TEST_PASSWORD},
                       headers=anon).status_code == 403
    (signed_in,) = _audit(session, "user.sign_in")
    assert (signed_in.actor, signed_in.entity_type, signed_in.entity_id) == ("reviewer", "user",
                                                                             str(users["reviewer"].id))
    assert signed_in.details == {"via": "token", "address": "testclient"}
    failed = _audit(session, "user.sign_in_failed")
    assert [(f.actor, f.entity_id, f.details["reason"]) for f in failed] == [
        ("anonymous", str(users["reviewer"].id), "wrong password"),
        ("anonymous", "nobody", "unknown user"),
        ("anonymous", str(users["retired"].id), "deactivated"),
    ]
    assert failed[1].details["username"] == "nobody"
    assert verify_audit_chain(session).ok


# --- revocation ----------------------------------------------------------------------------------

def test_sign_out_revokes_every_login_token(client: TestClient, session: Session) -> None:
    first = _token(client, "reviewer")[1]["access_token"]
    second = _token(client, "reviewer")[1]["access_token"]
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {first}"})
    assert me.status_code == 200
    assert client.post("/auth/logout", headers={"Authorization": f"Bearer {first}"}).status_code == 204
    for token in (first, second):
        refused = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    fresh = _token(client, "reviewer")[1]["access_token"]
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    (signed_out,) = _audit(session, "user.sign_out")
    assert signed_out.actor == "reviewer" and signed_out.details["via"] == "token"


def test_deactivation_revokes_tokens_for_good(client: TestClient, session: Session) -> None:
    token = _token(client, "reviewer")[1]["access_token"]
    user = get_user(session, "reviewer")
    assert user is not None
    deactivate_user(session, user)
    session.commit()
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    user.active = True  # reactivated: the old token stays dead
    session.commit()
    refused = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_an_api_key_cannot_sign_out(client: TestClient, session: Session) -> None:
    from streetwatch.store.users import create_api_key

    user = session.scalars(select(User).where(User.username == "dispatcher")).one()
    secret = create_api_key(session, user, "bridge").secret
    session.commit()
    response = client.post("/auth/logout", headers={"Authorization": "", "X-API-Key": secret})
    assert response.status_code == 400 and "api-key revoke" in response.json()["detail"]


# --- the page's CSRF token -----------------------------------------------------------------------

def _page_login(client: TestClient, username: str, password: str, token: str | None = "from the form"
                ) -> object:
    form = client.get("/ui/login")
    data = {"username": username, "password": password}
    if token == "from the form":
        found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert found, form.text
        data["csrf_token"] = found.group(1)
    elif token is not None:
        data["csrf_token"] = token
    return client.post("/ui/login", data=data, follow_redirects=False)


@pytest.mark.parametrize(
    ("token", "status"),
    [("from the form", 303), (None, 403), ("forged.abc", 403), (new_csrf_token("another secret " * 4), 403)],
    ids=["the-forms", "none", "unsigned", "another-secret"],
)
def test_the_sign_in_form_needs_its_csrf_token(settings: Settings, token: str | None, status: int) -> None:
    with TestClient(create_app(settings)) as client:
        response = _page_login(client, "reviewer", TEST_PASSWORD, token)
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    if status == 403:
        assert "sign in again here" in response.text  # type: ignore[attr-defined]


def test_the_form_and_the_cookie_must_agree(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        client.get("/ui/login")
        other = new_csrf_token(TEST_AUTH_SECRET)  # signed by this app, but not this browser's
        response = client.post("/ui/login", data={"username": "reviewer", "password": TEST_PASSWORD,
                                                  "csrf_token": other}, follow_redirects=False)
    assert response.status_code == 403


def test_sign_out_on_the_page_needs_the_token_and_revokes_the_session(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert _page_login(client, "reviewer", TEST_PASSWORD).status_code == 303  # type: ignore[attr-defined]
        session_token = client.cookies[SESSION_COOKIE]
        csrf = client.cookies[CSRF_COOKIE]
        page = client.get("/ui/cases")
        assert f'"csrf_token": "{csrf}"' in page.text  # the sign-out button carries it
        assert client.post("/ui/logout", headers={CSRF_HEADER: "true"}).status_code == 403
        signed_out = client.post("/ui/logout", data={"csrf_token": csrf}, headers={CSRF_HEADER: "true"})
        assert signed_out.status_code == 204 and signed_out.headers["hx-redirect"] == "/ui/login"
        client.cookies.delete(SESSION_COOKIE)
        revoked = client.get("/auth/me", headers={"Authorization": f"Bearer {session_token}"})
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


def test_tokens_minted_for_the_current_version_work(client: TestClient, users: dict[str, TestUser]) -> None:
    token, _ = create_access_token(TEST_AUTH_SECRET, users["reviewer"].id, "reviewer", minutes=5, version=0)
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_hash_with_older_parameters_is_upgraded_at_sign_in(client: TestClient, session: Session) -> None:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192),)).hash(TEST_PASSWORD)
    user = get_user(session, "reviewer")
    assert user is not None
    user.password_hash = weak
    session.commit()
    assert _token(client, "reviewer")[0] == 200
    session.expire_all()
    upgraded = get_user(session, "reviewer")
    assert upgraded is not None and upgraded.password_hash != weak and "m=8192" not in upgraded.password_hash
    assert _token(client, "reviewer")[0] == 200  # and it still verifies
