"""PostgreSQL stopped or frozen while the API serves: every endpoint but /health answers 503 with Retry-After
within seconds (no bare 500, no hang), /health says the database is down, and the API recovers by itself when
the database is back.

The database runs on a PostgreSQL cluster of this module's own (the session's server is shared by other tests).
"Frozen" is every process of the cluster stopped with SIGSTOP: the kernel still accepts connections, nothing
answers, and the server cannot enforce its own statement_timeout.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from streetwatch.api.app import create_app
from streetwatch.api.auth import SESSION_COOKIE
from streetwatch.core.settings import Settings
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.store.db import UNAVAILABLE_ERRORS, DbTimeouts, make_engine, upgrade
from tests.api.auth_support import STANDARD_USERS, TEST_AUTH_SECRET, TEST_PASSWORD, TestUser, add_users_at
from tests.api.conftest import _seed_into
from tests.api.seed import SeedData
from tests.db_fixtures import (
    PostgresServer,
    find_postgres_bin,
    start_postgres,
    start_server,
    stop_postgres,
    stop_server,
)
from tests.live_server import serve_on_loopback

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# The API's limits in this test (seconds): connecting (libpq counts at least 2), a statement, a free connection.
TIMEOUTS = DbTimeouts(connect_s=2, statement_s=2, pool_s=3)
ANSWER_WITHIN_S = 8.0  # stopped: at once; frozen: a ping (2 s) and a new connection (2 s), plus a loaded CI machine
RECOVER_WITHIN_S = 15.0


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    user: TestUser
    db_server: PostgresServer


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PostgreSQL server programs not found; CI=true: this test must run", pytrace=False)
        pytest.skip("PostgreSQL server programs not found")
    server = start_postgres(bin_dir)
    try:
        yield server
    finally:
        _resume(server)  # whatever a failed test left stopped
        stop_postgres(server)


@pytest.fixture
def served(own_postgres: PostgresServer, seeded_template: tuple[Path, SeedData], taxonomy: Taxonomy
           ) -> Iterator[Served]:
    name = f"down_{uuid.uuid4().hex[:12]}"
    own_postgres.create_database(name)
    url = own_postgres.url(name)
    upgrade(url)
    for _ in _seed_into(url, seeded_template[0] / "evidence", taxonomy):
        users = add_users_at(url, STANDARD_USERS)
    settings = Settings(db_url=url, evidence_dir=seeded_template[0] / "evidence", auth_secret=TEST_AUTH_SECRET,
                        db_connect_timeout_s=TIMEOUTS.connect_s, db_statement_timeout_s=TIMEOUTS.statement_s,
                        db_pool_timeout_s=TIMEOUTS.pool_s)
    try:
        with serve_on_loopback(create_app(settings)) as base:
            yield Served(base, users["reviewer"], own_postgres)
    finally:
        _resume(own_postgres)
        own_postgres.drop_database(name)


# --- the cluster's processes ---------------------------------------------------------------------

def _processes(server: PostgresServer) -> list[int]:
    """The postmaster and every process it started."""
    pid_file = server.base_dir / "data" / "postmaster.pid"
    if not pid_file.exists():
        return []
    postmaster = int(pid_file.read_text().split()[0])
    children: list[int] = []
    for task in Path(f"/proc/{postmaster}/task").glob("*/children"):
        children += [int(pid) for pid in task.read_text().split()]
    return [postmaster, *children]


def _resume(server: PostgresServer) -> None:
    for pid in _processes(server):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


@contextmanager
def _frozen(server: PostgresServer) -> Iterator[None]:
    pids = _processes(server)
    assert pids, "no PostgreSQL processes to freeze"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


# --- requests ------------------------------------------------------------------------------------

def _requests(user: TestUser) -> list[tuple[str, str, dict[str, Any]]]:
    bearer = {"headers": {"Authorization": f"Bearer {user.token()}"}}
    return [
        ("GET", "/violations", bearer),
        ("GET", "/cases", bearer),
        ("GET", "/auth/me", bearer),
        ("POST", "/review/claim", {**bearer, "json": {"n": 1}}),
        ("POST", "/review/release", {**bearer, "json": {}}),
        ("GET", "/review/leases", bearer),
        ("GET", "/exports/cases.csv", bearer),
        ("GET", "/open311/v2/requests.json", bearer),
        ("GET", "/ui/queue", {"headers": {"Cookie": f"{SESSION_COOKIE}={user.token()}"}}),
        ("POST", "/auth/token", {"data": {"username": user.username, "password": TEST_PASSWORD}}),
    ]


def _timed(http: httpx.Client, method: str, path: str, kwargs: dict[str, Any]) -> tuple[httpx.Response, float]:
    began = time.perf_counter()
    response = http.request(method, path, **kwargs)
    return response, time.perf_counter() - began


def _all_unavailable(served: Served, only: set[str] | None = None) -> None:
    with httpx.Client(base_url=served.url, timeout=60) as http:
        for method, path, kwargs in _requests(served.user):
            if only is not None and path not in only:
                continue
            response, seconds = _timed(http, method, path, kwargs)
            assert response.status_code == 503, f"{method} {path}: {response.status_code} {response.text[:200]}"
            assert response.headers["retry-after"].isdigit(), f"{method} {path}: {response.headers}"
            assert "database is unavailable" in response.json()["detail"]
            assert seconds < ANSWER_WITHIN_S, f"{method} {path} took {seconds:.1f} s"
        health, seconds = _timed(http, "GET", "/health", {})
        assert health.status_code == 503 and health.headers["retry-after"].isdigit(), health.text
        assert health.json()["status"] == "error" and health.json()["db"] != "ok"
        assert seconds < ANSWER_WITHIN_S, f"/health took {seconds:.1f} s"


def _all_answer(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=60) as http:
        deadline = time.monotonic() + RECOVER_WITHIN_S
        while http.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "the API did not see the database come back"
            time.sleep(0.2)
        for method, path, kwargs in _requests(served.user):
            response = http.request(method, path, **kwargs)
            assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text[:200]}"


def test_database_stopped_then_back(served: Served) -> None:
    _all_answer(served)
    stop_server(served.db_server)
    try:
        _all_unavailable(served)
    finally:
        start_server(served.db_server)
    _all_answer(served)  # the same app: no restart


def test_database_frozen_then_thawed(served: Served) -> None:
    _all_answer(served)
    with _frozen(served.db_server):  # each request waits out a connect timeout: a few of every kind
        _all_unavailable(served, only={"/violations", "/review/claim", "/ui/queue", "/auth/token"})
    _all_answer(served)


def test_a_statement_on_a_frozen_server_is_cut(own_postgres: PostgresServer) -> None:
    # The server cannot enforce its statement_timeout while it is stopped: the client's watchdog cuts the
    # connection instead, and the pool gives a working one once the server is back.
    engine = make_engine(own_postgres.url("postgres"), timeouts=TIMEOUTS)
    outcome: list[BaseException | None] = []

    def sleep_on_the_server() -> None:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_sleep(1.5)"))
            outcome.append(None)
        except BaseException as exc:  # reported below
            outcome.append(exc)

    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))  # a pooled, live connection
        worker = threading.Thread(target=sleep_on_the_server, daemon=True)
        began = time.perf_counter()
        with _frozen(own_postgres):
            worker.start()
            worker.join(timeout=TIMEOUTS.statement_s + 10)
            assert not worker.is_alive(), "the statement hung on the frozen server"
        seconds = time.perf_counter() - began
        (error,) = outcome
        assert isinstance(error, UNAVAILABLE_ERRORS), repr(error)
        assert seconds < TIMEOUTS.connect_s + TIMEOUTS.statement_s + 5, f"cut after {seconds:.1f} s"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
