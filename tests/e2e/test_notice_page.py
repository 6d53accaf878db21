"""The cases page's notice column end to end: uvicorn on 127.0.0.1, a SQLite file, headless Chromium.

A supervisor signs in, presses "issue" on a filed case, sees the link to its notice appear and downloads
the PDF through it with the page's cookie; the bytes are the archived notice's. Chromium is Debian's,
driven by Playwright; without them the test skips, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from streetwatch.api.app import create_app
from streetwatch.api.auth import Role
from streetwatch.casework.config import load_workflow_config
from streetwatch.core.settings import Settings, WorkflowSettings
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from tests.api.auth_support import TEST_AUTH_SECRET, TEST_PASSWORD, UserSpec, add_users_at
from tests.casework.notice_builders import add_filed_case
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip
from tests.live_server import serve_on_loopback

REPO = Path(__file__).resolve().parents[2]
NOTICES_PATH = REPO / "models" / "workflow" / "notices.yaml"
ZONES = REPO / "models" / "zones" / "sample-zones.geojson"


@pytest.mark.slow  # a live server and Chromium: about 20 s here
def test_issue_a_notice_from_the_cases_page_and_download_it(tmp_path: Path) -> None:
    sync_playwright = browser_or_skip()
    db_url = f"sqlite:///{tmp_path / 'streetwatch.db'}"
    upgrade(db_url)
    settings = Settings(db_url=db_url, evidence_dir=tmp_path / "evidence", auth_secret=TEST_AUTH_SECRET,
                        zones_paths=[ZONES], workflow=WorkflowSettings(notices_path=NOTICES_PATH))
    engine = make_engine(db_url)
    config = load_workflow_config(settings.case_radius_m, settings.zones_paths, settings.workflow)
    case_id = add_filed_case(make_session_factory(engine), settings.evidence_dir, config)
    engine.dispose()
    add_users_at(db_url, [UserSpec("sup_notice", (Role.SUPERVISOR,))])
    with serve_on_loopback(create_app(settings)) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{url}/ui/login")
            page.keyboard.type("sup_notice")
            page.keyboard.press("Tab")
            page.keyboard.type(TEST_PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/ui/queue")
            page.goto(f"{url}/ui/cases")
            cell = page.locator(f"#case-{case_id} td.notice")
            link = cell.locator("a.notice-link")
            assert link.is_hidden()  # no notice yet
            cell.locator("button.issue-notice").click()
            page.wait_for_function(
                "(id) => document.querySelector(`#case-${id} .notice-status`).textContent.startsWith('issued')",
                arg=case_id, timeout=60_000)
            assert link.is_visible() and link.get_attribute("href") == f"/cases/{case_id}/notice.pdf"
            status = cell.locator(".notice-status")
            sha = (status.get_attribute("title") or "").removeprefix("sha256 ")
            pdf = page.request.get(f"{url}/cases/{case_id}/notice.pdf")  # the page's cookie signs it in
            assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
            assert hashlib.sha256(pdf.body()).hexdigest() == sha == pdf.headers["x-notice-sha256"]
            # Issuing again without a change: the same notice, nothing archived.
            cell.locator("button.issue-notice").click()
            page.wait_for_function(
                "(id) => document.querySelector(`#case-${id} .notice-status`).textContent === 'unchanged'",
                arg=case_id, timeout=60_000)
        finally:
            browser.close()
