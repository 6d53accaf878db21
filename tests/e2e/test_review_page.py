"""The review page end to end: uvicorn on 127.0.0.1, a seeded SQLite file, headless Chromium.

A reviewer signs in and clears ten items with the keyboard only (A approve, R then 1-4 reject,
J/K to move); the API then shows the ten decisions and the page of cases shows the approved
ones' cases. Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright without
``playwright install``; without them the test skips, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from streetwatch.api.app import create_app
from streetwatch.api.auth import SESSION_COOKIE, Role
from streetwatch.core.settings import DEFAULT_TAXONOMY, Settings
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.store.cases import attach_violations
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from streetwatch.store.models import ReviewDecision, Violation
from tests.api.auth_support import TEST_AUTH_SECRET, TEST_PASSWORD, UserSpec, add_users_at, login, page_login
from tests.api.seed import seed_database
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip
from tests.live_server import serve_on_loopback

SCREENSHOT = Path("/tmp/review-page.png")
REVIEWER = "rev_keyboard"
# (keys pressed, expected action, expected reason code): ten items, approvals and every reason.
KEYBOARD_PLAN: tuple[tuple[tuple[str, ...], str, str | None], ...] = (
    (("a",), "approve", None),
    (("r", "1"), "reject", "false_detection"),
    (("a",), "approve", None),
    (("r", "2"), "reject", "compliant"),
    (("a",), "approve", None),
    (("r", "3"), "reject", "duplicate"),
    (("r", "4"), "reject", "unclear_image"),
    (("a",), "approve", None),
    (("r", "Escape", "a"), "approve", None),  # R then Esc cancels the reject: the A approves
    (("r", "1"), "reject", "false_detection"),
)


@dataclass(frozen=True, slots=True)
class LiveApp:
    url: str
    db_url: str


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    root = tmp_path_factory.mktemp("review-page")
    db_url = f"sqlite:///{root / 'streetwatch.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        seed = seed_database(session, root / "evidence", load_taxonomy(DEFAULT_TAXONOMY), count=80)
        # As the pipeline does when it stores violations: each located one is a sighting of a case.
        located = session.scalars(select(Violation).where(Violation.lat.is_not(None))).all()
        attach_violations(session, located)
        session.commit()
    engine.dispose()
    assert sum(v.status == "pending" for v in seed.violations) >= len(KEYBOARD_PLAN) + 5
    add_users_at(db_url, [UserSpec(REVIEWER, (Role.REVIEWER,)), UserSpec("rev_other", (Role.REVIEWER,))])
    settings = Settings(db_url=db_url, evidence_dir=root / "evidence", auth_secret=TEST_AUTH_SECRET)

    try:
        with serve_on_loopback(create_app(settings)) as url:
            yield LiveApp(url, db_url)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _cookie_for(app: LiveApp, username: str) -> str:
    with httpx.Client(base_url=app.url, timeout=10) as http:
        response = page_login(http, username)
    assert response.status_code == 303 and response.headers["location"] == "/ui/queue", response.text
    set_cookie = response.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie, set_cookie
    return response.cookies[SESSION_COOKIE]


# (method, path, credentials, HX-Request header, expected status)
AUTH_CASES = [
    ("GET", "/ui/queue", "none", None, 303),  # to the login form
    ("GET", "/ui/cases", "cookie", None, 200),
    ("GET", "/ui/cases?family=stall&status=open&overdue=true", "cookie", None, 200),
    ("GET", "/ui/cases?status=nonsense", "cookie", None, 422),
    ("GET", "/ui/dashboard?days=90", "cookie", None, 200),
    ("GET", "/ui/static/vendor/htmx.min.js", "none", None, 200),
    ("POST", "/ui/queue/999999/decision", "none", "true", 401),
    ("POST", "/ui/queue/999999/decision", "cookie", None, 403),  # CSRF: no htmx header
    ("POST", "/ui/queue/999999/decision", "cookie", "false", 403),
    ("POST", "/ui/queue/999999/decision", "cookie", "true", 200),  # unknown id: a flash, next item
    ("POST", "/ui/queue/999999/decision", "bearer", None, 200),  # tokens are not sent by browsers
    ("POST", "/review/claim", "cookie", None, 403),  # the JSON API under the cookie too
    ("POST", "/review/claim", "cookie", "true", 200),
]


@pytest.mark.parametrize(("method", "path", "credentials", "hx", "expected"), AUTH_CASES)
def test_cookie_auth_and_csrf(
    live_app: LiveApp, method: str, path: str, credentials: str, hx: str | None, expected: int
) -> None:
    headers = {"HX-Request": hx} if hx is not None else {}
    cookies: dict[str, str] = {}
    with httpx.Client(base_url=live_app.url, timeout=10) as http:
        if credentials == "cookie":
            cookies[SESSION_COOKIE] = _cookie_for(live_app, "rev_other")
        elif credentials == "bearer":
            headers |= login(http, "rev_other")
        body: dict[str, Any] = ({"json": {"n": 1}} if path == "/review/claim"
                                else {"data": {"action": "approve"}} if method == "POST" else {})
        http.cookies.update(cookies)
        response = http.request(method, path, headers=headers, **body)
    assert response.status_code == expected, response.text
    if expected == 303:
        assert response.headers["location"] == "/ui/login"


def test_login_rejects_a_wrong_password(live_app: LiveApp) -> None:
    with httpx.Client(base_url=live_app.url, timeout=10) as http:
        response = page_login(http, REVIEWER, "wrong")
    assert response.status_code == 401 and "incorrect username or password" in response.text
    assert SESSION_COOKIE not in response.cookies


def test_review_ten_items_by_keyboard(live_app: LiveApp) -> None:
    sync_playwright = browser_or_skip()
    decided: dict[int, tuple[str, str | None]] = {}
    seconds: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{live_app.url}/ui/login")
            page.keyboard.type(REVIEWER)  # the username field has autofocus
            page.keyboard.press("Tab")
            page.keyboard.type(TEST_PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{live_app.url}/ui/queue")
            item = page.locator("#item")
            page.wait_for_function("() => document.querySelector('#item img').complete")
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            first = int(item.get_attribute("data-violation-id") or 0)
            assert first > 0 and page.locator("#item .box").count() >= 1
            page.keyboard.press("j")  # next, then back
            page.wait_for_function("(id) => document.querySelector('#item').dataset.violationId != id", arg=str(first))
            assert int(item.get_attribute("data-violation-id") or 0) > first
            page.keyboard.press("k")
            page.wait_for_function("(id) => document.querySelector('#item').dataset.violationId == id", arg=str(first))

            for keys, action, reason in KEYBOARD_PLAN:
                current = int(item.get_attribute("data-violation-id") or 0)
                assert current > 0, "the queue ran dry"
                started = time.perf_counter()
                for key in keys:
                    page.keyboard.press(key)
                # The next item arrives with a flash naming the decided one.
                page.wait_for_function(
                    "(id) => { const f = document.querySelector('#item .flash');"
                    " return f !== null && f.textContent.startsWith('#' + id + ' '); }", arg=str(current))
                seconds.append(time.perf_counter() - started)
                flash = page.locator("#item .flash").inner_text()
                assert ("approved" if action == "approve" else f"rejected ({reason})") in flash, flash
                decided[current] = (action, reason)

            page.goto(f"{live_app.url}/ui/cases")
            page.screenshot(path=str(SCREENSHOT.with_name("review-cases.png")), full_page=True)
            case_rows = page.locator("table.cases tbody tr[id^='case-']")
            shown_cases = {int((case_rows.nth(i).get_attribute("id") or "case-0").removeprefix("case-"))
                           for i in range(case_rows.count())}
        finally:
            browser.close()

    assert len(decided) == len(KEYBOARD_PLAN)
    with httpx.Client(base_url=live_app.url, timeout=10) as http:
        http.headers.update(login(http, REVIEWER))
        approved_cases: set[int] = set()
        for violation_id, (action, reason) in decided.items():
            detail = http.get(f"/violations/{violation_id}").json()
            assert detail["status"] == ("approved" if action == "approve" else "rejected"), detail
            last = detail["decisions"][-1]
            assert (last["action"], last["reason_code"], last["reviewer"]) == (action, reason, REVIEWER)
            if action == "approve" and detail["lat"] is not None:  # a case needs a position
                assert detail["case_id"] is not None, f"approved violation {violation_id} filed no case"
                approved_cases.add(detail["case_id"])
    assert approved_cases and approved_cases <= shown_cases, (approved_cases, shown_cases)

    engine = make_engine(live_app.db_url)
    with make_session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(ReviewDecision)
                               .where(ReviewDecision.reviewer == REVIEWER))
    engine.dispose()
    assert count == len(KEYBOARD_PLAN)
    # "A reviewer clears an item in about a second": keys to next item on screen, median.
    assert statistics.median(seconds) < 1.0, seconds
    print(f"seconds per item: median {statistics.median(seconds):.3f}, max {max(seconds):.3f}")
