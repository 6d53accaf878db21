"""Signing in and being recognised: passwords, login tokens, API keys, and the secret guard."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from streetwatch.api.app import create_app
from streetwatch.api.auth import JWT_ALGORITHM, AuthConfigError, create_access_token, resolve_auth_secret
from streetwatch.core.settings import Settings, get_settings
from streetwatch.store.models_auth import ApiKey, User
from streetwatch.store.users import create_api_key, get_user, revoke_api_key
from tests.api.auth_support import TEST_AUTH_SECRET, TEST_PASSWORD, UNIT_A, TestUser
from tests.api.seed import SeedData


@pytest.fixture
def anon(settings: Settings) -> Iterator[TestClient]:
    """A client with no credentials."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _login(client: TestClient, username: str, password: str) -> tuple[int, dict[str, object]]:
    response = client.post("/auth/token", data={"username": username, "password": password})
    return response.status_code, response.json()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- passwords ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("username", "password", "status", "detail"),
    [
        ("reviewer", TEST_PASSWORD, 200, None),
        ("dispatcher", TEST_PASSWORD, 200, None),
        ("reviewer", TEST_PASSWORD + "x", 401, "incorrect username or password"),
        ("reviewer", TEST_PASSWORD.upper(), 401, "incorrect username or password"),
        ("no-such-user", TEST_PASSWORD, 401, "incorrect username or password"),
        ("retired", TEST_PASSWORD, 403, "deactivated"),
        ("retired", "wrong password", 401, "incorrect username or password"),
    ],
    ids=["reviewer", "dispatcher", "wrong-password", "wrong-case", "unknown-user", "inactive", "inactive-wrong"],
)
def test_login(anon: TestClient, username: str, password: str, status: int, detail: str | None) -> None:
    code, body = _login(anon, username, password)
    assert code == status, body
    if detail is not None:
        assert detail in str(body["detail"])
        return
    assert body["token_type"] == "bearer"
    me = anon.get("/auth/me", headers=_bearer(str(body["access_token"])))
    assert me.status_code == 200 and me.json()["username"] == username and me.json()["via"] == "token"


@pytest.mark.parametrize(("form", "status"), [({"username": "reviewer"}, 422), ({"password": "x"}, 422), ({}, 422)])
def test_login_needs_both_fields(anon: TestClient, form: dict[str, str], status: int) -> None:
    assert anon.post("/auth/token", data=form).status_code == status


def test_me_tells_roles_and_unit(anon: TestClient, users: dict[str, TestUser]) -> None:
    me = anon.get("/auth/me", headers=users["field_inspector"].headers()).json()
    assert me == {"id": users["field_inspector"].id, "username": "field_inspector", "roles": ["field_inspector"],
                  "unit": UNIT_A, "sees_all_units": False, "via": "token"}


def test_token_lifetime_comes_from_settings(seed_dir: object, settings: Settings) -> None:
    short = settings.model_copy(update={"auth_token_minutes": 3})
    with TestClient(create_app(short)) as client:
        before = datetime.now(UTC)
        code, body = _login(client, "reviewer", TEST_PASSWORD)
    assert code == 200
    claims = jwt.decode(str(body["access_token"]), TEST_AUTH_SECRET, algorithms=[JWT_ALGORITHM])
    assert claims["exp"] - claims["iat"] == 180
    expires = datetime.fromisoformat(str(body["expires_at"]))
    assert timedelta(minutes=3) - timedelta(seconds=5) <= expires - before <= timedelta(minutes=3, seconds=5)


# --- tokens -------------------------------------------------------------------------------------

def _forged(claims: dict[str, object], secret: str = TEST_AUTH_SECRET, algorithm: str = JWT_ALGORITHM) -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _in(minutes: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


BAD_TOKENS = [
    ("expired", lambda u: create_access_token(TEST_AUTH_SECRET, u.id, u.username, minutes=5,
                                              now=datetime.now(UTC) - timedelta(minutes=6))[0], "expired"),
    ("other-secret", lambda u: create_access_token("another-secret-" + "z" * 40, u.id, u.username,
                                                   minutes=5)[0], "invalid login token"),
    ("garbage", lambda u: "not.a.jwt", "invalid login token"),
    ("alg-none", lambda u: _forged({"sub": str(u.id), "exp": _in(5), "typ": "access"}, "", "none"),
     "invalid login token"),
    ("no-exp", lambda u: _forged({"sub": str(u.id), "typ": "access"}), "invalid login token"),
    ("not-access", lambda u: _forged({"sub": str(u.id), "exp": _in(5), "typ": "refresh"}), "not an access"),
    ("sub-not-id", lambda u: _forged({"sub": "admin", "exp": _in(5), "typ": "access"}), "not an access"),
    ("unknown-user", lambda u: _forged({"sub": "999999", "exp": _in(5), "typ": "access"}), "no longer exists"),
    ("huge-sub", lambda u: _forged({"sub": str(2**63), "exp": _in(5), "typ": "access"}), "not an access"),
    # Issued before tokens carried the user's token version, or under an older one: revoked.
    ("no-version", lambda u: _forged({"sub": str(u.id), "exp": _in(5), "typ": "access"}), "revoked"),
    ("old-version", lambda u: _forged({"sub": str(u.id), "exp": _in(5), "typ": "access", "ver": 7}), "revoked"),
    ("bool-version", lambda u: _forged({"sub": str(u.id), "exp": _in(5), "typ": "access", "ver": False}), "revoked"),
]


@pytest.mark.parametrize(("make", "detail"), [c[1:] for c in BAD_TOKENS], ids=[c[0] for c in BAD_TOKENS])
def test_bad_tokens_are_401(anon: TestClient, users: dict[str, TestUser], make: object, detail: str) -> None:
    token = make(users["admin"])  # type: ignore[operator]
    response = anon.get("/violations", headers=_bearer(token))
    assert response.status_code == 401, response.text
    assert detail in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Basic YWRtaW46YWRtaW4="}, 401), ({"Authorization": "Bearer"}, 401)],
    ids=["none", "basic", "empty-bearer"],
)
def test_missing_credentials_are_401(anon: TestClient, headers: dict[str, str], status: int) -> None:
    response = anon.get("/cases", headers=headers)
    assert response.status_code == status and response.headers["www-authenticate"] == "Bearer"


def test_deactivating_or_changing_roles_applies_to_live_tokens(
    anon: TestClient, session: Session, users: dict[str, TestUser], seed: SeedData
) -> None:
    reviewer = users["reviewer"].headers()
    pending = next(v for v in seed.violations if v.status == "pending")
    session.execute(update(User).where(User.username == "reviewer").values(roles=["dispatcher"], unit=UNIT_A))
    session.commit()
    assert anon.post(f"/violations/{pending.id}/decision", json={"action": "approve"},
                     headers=reviewer).status_code == 403
    session.execute(update(User).where(User.username == "reviewer").values(active=False))
    session.commit()
    assert anon.get("/auth/me", headers=reviewer).status_code == 401


def test_a_token_from_the_test_secret_fails_under_another(settings: Settings, users: dict[str, TestUser]) -> None:
    other = settings.model_copy(update={"auth_secret": SecretStr("q" * 48)})
    with TestClient(create_app(other)) as client:
        assert client.get("/auth/me", headers=users["admin"].headers()).status_code == 401


# --- API keys -----------------------------------------------------------------------------------

def test_api_key_authenticates_as_its_user(anon: TestClient, session: Session, seed: SeedData) -> None:
    reviewer = get_user(session, "reviewer")
    assert reviewer is not None
    made = create_api_key(session, reviewer, "open311-bridge")
    session.commit()
    me = anon.get("/auth/me", headers={"X-API-Key": made.secret})
    assert me.status_code == 200 and me.json()["username"] == "reviewer" and me.json()["via"] == "api_key"
    claimed = anon.post("/review/claim", json={"n": 1}, headers={"X-API-Key": made.secret})
    assert claimed.status_code == 200, claimed.text
    (item,) = claimed.json()["items"]
    assert item["id"] in {v.id for v in seed.violations if v.status == "pending"}
    decided = anon.post(f"/violations/{item['id']}/decision", json={"action": "approve"},
                        headers={"X-API-Key": made.secret})
    assert decided.status_code == 200 and decided.json()["decisions"][-1]["reviewer"] == "reviewer"
    session.expire_all()
    key = session.get(ApiKey, made.key.id)
    assert key is not None and key.last_used_at is not None


@pytest.mark.parametrize("how", ["revoked", "user-deactivated", "wrong-secret", "no-prefix", "truncated"])
def test_bad_api_keys_are_401(anon: TestClient, session: Session, how: str) -> None:
    dispatcher = get_user(session, "dispatcher")
    assert dispatcher is not None
    made = create_api_key(session, dispatcher, "bridge")
    session.commit()
    secret = made.secret
    assert anon.get("/auth/me", headers={"X-API-Key": secret}).status_code == 200  # good before
    if how == "revoked":
        revoke_api_key(session, made.key)
    elif how == "user-deactivated":
        dispatcher.active = False
    elif how == "wrong-secret":
        secret = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    elif how == "no-prefix":
        secret = secret.removeprefix("sw_")
    else:
        secret = secret[:-1]
    session.commit()
    response = anon.get("/auth/me", headers={"X-API-Key": secret})
    assert response.status_code == 401 and "API key" in response.json()["detail"]


def test_the_secret_is_never_stored(session: Session) -> None:
    admin = get_user(session, "admin")
    assert admin is not None
    made = create_api_key(session, admin, "ci")
    session.commit()
    rows = session.execute(select(ApiKey.__table__)).all()
    assert rows and all(made.secret not in map(str, row) for row in rows)


# --- the secret guard ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("secret", "dev_mode", "error"),
    [
        (None, False, "STREETWATCH_AUTH_SECRET is not set"),
        ("", False, "STREETWATCH_AUTH_SECRET is not set"),
        ("changethis", False, "well-known default"),
        ("changethis", True, "well-known default"),  # dev mode forgives a missing secret, not a bad one
        ("short-secret", False, "at least 32"),
        ("s" * 31, True, "at least 32"),
        ("s" * 32, False, None),
        (None, True, None),
    ],
)
def test_secret_guard(secret: str | None, dev_mode: bool, error: str | None) -> None:
    settings = Settings(auth_secret=secret, auth_dev_mode=dev_mode)
    if error is not None:
        with pytest.raises(AuthConfigError, match=error):
            resolve_auth_secret(settings)
        with pytest.raises(AuthConfigError, match=error):
            create_app(settings)  # so `serve` refuses to start
        return
    resolved = resolve_auth_secret(settings)
    assert len(resolved) >= 32
    if secret is None:  # a fresh random key each time, never a constant
        assert resolved != resolve_auth_secret(settings)


def test_secret_and_lifetime_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREETWATCH_AUTH_SECRET", "e" * 40)
    monkeypatch.setenv("STREETWATCH_AUTH_TOKEN_MINUTES", "15")
    settings = get_settings()
    assert resolve_auth_secret(settings) == "e" * 40 and settings.auth_token_minutes == 15
    assert "e" * 40 not in repr(settings)  # a SecretStr: never printed
