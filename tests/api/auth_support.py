"""Users and credentials for tests: a fixed test secret, one user per role, tokens and logins.

Users are made with ``streetwatch.store.users.create_user`` (real argon2 hashes). Tokens are
minted with the app's own ``create_access_token`` and the test secret, so a test that is not
about logging in needs no password round trip.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpx
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from streetwatch.api.auth import Role, create_access_token
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.users import create_user

TEST_AUTH_SECRET = "streetwatch-tests-only-" + "k" * 32  # never used outside tests
TEST_PASSWORD = "correct horse battery staple"
UNIT_A = "东城区城管执法队"
UNIT_B = "西城区环卫所"


@dataclass(frozen=True, slots=True)
class TestUser:
    """A user in a test database."""

    __test__ = False  # not a test class, whatever its name

    id: int
    username: str
    roles: frozenset[Role]
    unit: str | None

    def token(self, *, minutes: int = 60) -> str:
        token, _ = create_access_token(TEST_AUTH_SECRET, self.id, self.username, minutes=minutes)
        return token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}


@dataclass(frozen=True, slots=True)
class UserSpec:
    username: str
    roles: tuple[Role, ...]
    unit: str | None = None
    active: bool = True


# One user per role; the unit-scoped roles in unit A (the "own" unit of the matrix test).
STANDARD_USERS: tuple[UserSpec, ...] = (
    UserSpec("admin", (Role.ADMIN,)),
    UserSpec("reviewer", (Role.REVIEWER,)),
    UserSpec("supervisor", (Role.SUPERVISOR,)),
    UserSpec("dispatcher", (Role.DISPATCHER,), UNIT_A),
    UserSpec("field_inspector", (Role.FIELD_INSPECTOR,), UNIT_A),
    UserSpec("dispatcher_b", (Role.DISPATCHER,), UNIT_B),
    UserSpec("retired", (Role.REVIEWER,), active=False),
)


def add_users(session: Session, specs: Iterable[UserSpec]) -> dict[str, TestUser]:
    """Create the users (password ``TEST_PASSWORD``) and commit."""
    made: dict[str, TestUser] = {}
    for spec in specs:
        user = create_user(session, spec.username, TEST_PASSWORD, spec.roles, unit=spec.unit, active=spec.active)
        made[spec.username] = TestUser(user.id, user.username, user.role_set, user.unit)
    session.commit()
    return made


def add_users_at(url: str, specs: Iterable[UserSpec] = STANDARD_USERS) -> dict[str, TestUser]:
    """Create users in the (migrated) database at ``url``."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return add_users(session, specs)
    finally:
        engine.dispose()


def login(client: TestClient | httpx.Client, username: str, password: str = TEST_PASSWORD) -> dict[str, str]:
    """Sign in through ``POST /auth/token``; the headers that authenticate as that user."""
    response = client.post("/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def page_login(client: TestClient | httpx.Client, username: str, password: str = TEST_PASSWORD) -> httpx.Response:
    """Sign in through the review page's form as a browser does: GET the form (its CSRF cookie and hidden
    token), then POST it. The client keeps the cookies; redirects are not followed."""
    form = client.get("/ui/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert found, f"no CSRF token in the sign-in form: {form.text[:300]}"
    return client.post("/ui/login", data={"username": username, "password": password, "csrf_token": found.group(1)},
                       follow_redirects=False)


def by_role(users: Mapping[str, TestUser]) -> dict[str, TestUser]:
    """The standard users by the name the matrix uses for them."""
    return {name: users[name] for name in ("admin", "reviewer", "supervisor", "dispatcher", "field_inspector")}
