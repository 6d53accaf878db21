"""Rectification notices over HTTP, on the page and from the CLI: who may issue and download them, the
archived bytes and their sha256 in the case's events, and a notice drawn again in another process."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from streetwatch.api.app import create_app
from streetwatch.api.auth import SESSION_COOKIE
from streetwatch.casework.config import load_workflow_config
from streetwatch.cli.main import app
from streetwatch.core.settings import Settings, WorkflowSettings
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models import Case
from tests.api.auth_support import TEST_AUTH_SECRET, UNIT_A, TestUser
from tests.api.conftest import DB_NAME, sqlite_url
from tests.casework.notice_builders import add_filed_case, pdf_text

REPO = Path(__file__).resolve().parents[2]
NOTICES_PATH = REPO / "models" / "workflow" / "notices.yaml"
ZONES = REPO / "models" / "zones" / "sample-zones.geojson"


@dataclass(frozen=True, slots=True)
class NoticeApi:
    client: TestClient
    users: dict[str, TestUser]
    settings: Settings
    case_id: int
    open_case_id: int

    def call(self, who: str, method: str, path: str) -> httpx.Response:
        return self.client.request(method, path, headers=self.users[who].headers())

    def page(self, who: str, method: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """A request as the page sends it: signed in by the session cookie."""
        self.client.cookies.set(SESSION_COOKIE, self.users[who].token())
        try:
            return self.client.request(method, path, headers=headers)
        finally:
            self.client.cookies.clear()


@pytest.fixture
def notice_api(seed_dir: Path, users: dict[str, TestUser]) -> Iterator[NoticeApi]:
    settings = Settings(db_url=sqlite_url(seed_dir / DB_NAME), evidence_dir=seed_dir / "evidence",
                        auth_secret=TEST_AUTH_SECRET, zones_paths=[ZONES],
                        workflow=WorkflowSettings(notices_path=NOTICES_PATH))
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    config = load_workflow_config(settings.case_radius_m, settings.zones_paths, settings.workflow)
    case_id = add_filed_case(factory, settings.evidence_dir, config, seed=11, point=(31.2200, 121.4600))
    open_case_id = add_filed_case(factory, settings.evidence_dir, config, seed=12, point=(31.2100, 121.4500),
                                  file=False)
    with factory.begin() as session:  # routed to unit A: its dispatcher may issue, unit B's may not
        session.execute(update(Case).where(Case.id == case_id).values(unit=UNIT_A))
    engine.dispose()
    with TestClient(create_app(settings)) as client:
        yield NoticeApi(client, users, settings, case_id, open_case_id)


def test_issue_download_and_history_with_role_and_unit_checks(notice_api: NoticeApi, tmp_path: Path) -> None:
    api, case_id = notice_api, notice_api.case_id
    assert api.call("dispatcher", "GET", f"/cases/{case_id}/notice.pdf").status_code == 404  # none yet
    assert api.call("reviewer", "POST", f"/cases/{case_id}/notice").status_code == 403      # role
    assert api.call("dispatcher_b", "POST", f"/cases/{case_id}/notice").status_code == 403  # another unit
    assert api.call("dispatcher", "POST", "/cases/2147483647/notice").status_code == 404
    refused = api.call("supervisor", "POST", f"/cases/{api.open_case_id}/notice")
    assert refused.status_code == 409 and "not filed yet" in refused.json()["detail"]

    issued = api.call("dispatcher", "POST", f"/cases/{case_id}/notice")
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["created"] and body["issued_by"] == "dispatcher" and body["url"] == f"/cases/{case_id}/notice.pdf"
    again = api.call("field_inspector", "POST", f"/cases/{case_id}/notice")
    assert again.status_code == 200 and not again.json()["created"]
    assert again.json()["sha256"] == body["sha256"] and again.json()["id"] == body["id"]

    download = api.call("reviewer", "GET", body["url"])  # anyone who may see the case may read it
    assert download.status_code == 200 and download.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(download.content).hexdigest() == body["sha256"] == download.headers["x-notice-sha256"]
    assert api.call("dispatcher_b", "GET", body["url"]).status_code == 403
    path = tmp_path / "notice.pdf"
    path.write_bytes(download.content)
    text = pdf_text(path)
    assert f"SW-{case_id:06d}" in text and "机动车乱停放" in text and body["deadline"] in text

    events = api.call("dispatcher", "GET", f"/cases/{case_id}/events").json()
    notices = [e for e in events if e["action"] == "notice"]
    assert len(notices) == 1 and notices[0]["details"]["sha256"] == body["sha256"]
    assert notices[0]["from_status"] == notices[0]["to_status"] == "filed"
    # A notice is not a transition.
    refused_transition = api.client.post(f"/cases/{case_id}/transition", json={"action": "notice"},
                                         headers=api.users["supervisor"].headers())
    assert refused_transition.status_code == 422


def test_cases_page_links_the_notice_and_offers_issue(notice_api: NoticeApi) -> None:
    api, case_id = notice_api, notice_api.case_id
    # The page's "issue" button posts with the session cookie and the header htmx would send (CSRF defence).
    assert api.page("supervisor", "POST", f"/cases/{case_id}/notice").status_code == 403
    assert api.page("supervisor", "POST", f"/cases/{case_id}/notice", {"HX-Request": "true"}).status_code == 201
    page = api.page("supervisor", "GET", "/ui/cases").text
    row = page[page.index(f'id="case-{case_id}"'):]
    row = row[:row.index("</tr>")]
    assert f'href="/cases/{case_id}/notice.pdf"' in row and "hidden" not in row.split("notice-link")[1][:120]
    assert f'class="issue-notice" data-case="{case_id}"' in row
    # A reviewer reads cases but does not issue notices; an open case has no notice to issue.
    reviewer_page = api.page("reviewer", "GET", "/ui/cases").text
    assert f'href="/cases/{case_id}/notice.pdf"' in reviewer_page
    assert "issue-notice" not in reviewer_page
    open_row = page[page.index(f'id="case-{api.open_case_id}"'):]
    assert "issue-notice" not in open_row[:open_row.index("</tr>")]


@pytest.mark.slow  # a fresh process imports the CLI, ReportLab and matplotlib: 10-20 s on 2 shared cores
def test_cli_draws_the_same_bytes_in_another_process_and_audit_verify_passes(
    notice_api: NoticeApi, tmp_path: Path,
) -> None:
    api, case_id = notice_api, notice_api.case_id
    body = api.call("dispatcher", "POST", f"/cases/{case_id}/notice").json()
    env = {**os.environ, "STREETWATCH_WORKFLOW_NOTICES_PATH": str(NOTICES_PATH),
           "STREETWATCH_ZONES_PATHS": json.dumps([str(ZONES)])}
    out = tmp_path / "cli-notice.pdf"
    common = ["--db", api.settings.db_url, "--evidence", str(api.settings.evidence_dir)]
    done = subprocess.run([sys.executable, "-c", "from streetwatch.cli.main import app; app()", "notice",
                           str(case_id), "--out", str(out), *common, "--by", "clerk"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # Drawn again from the case state in a fresh process: the very bytes the API archived.
    assert "unchanged since the archived notice" in done.stdout
    assert out.read_bytes() == api.call("dispatcher", "GET", body["url"]).content
    assert hashlib.sha256(out.read_bytes()).hexdigest() == body["sha256"]
    verify = CliRunner().invoke(app, ["audit", "verify", *common], env=env)
    assert verify.exit_code == 0, verify.output
    assert "notices intact: 1 archived notice(s)" in verify.output
    refused = CliRunner().invoke(app, ["notice", str(api.open_case_id), "--out", str(tmp_path / "x.pdf"), *common],
                                 env=env)
    assert refused.exit_code == 4 and "not filed yet" in refused.output and not (tmp_path / "x.pdf").exists()
