"""The labelling queue end to end: a committed video's unsure detections, labelled on the page and over HTTP.

A video is committed as ``streetwatch process`` commits one (its labelling items picked in the same
transaction); a reviewer opens ``/ui/labelling`` in headless Chromium, redraws the first frame's box
(Enter: labelled), marks the second frame empty (E, Enter) and skips the third (S). The API then holds
those label records and outcomes, and no case was filed. Another reviewer works the API alone.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import func, select

from streetwatch.api.app import create_app
from streetwatch.api.auth import Role
from streetwatch.core.settings import Settings
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.labelling_queue import LabellingPolicy
from streetwatch.store.models import Case
from streetwatch.store.writes import Claimed, claim_video, commit_video_results
from tests.api.auth_support import TEST_AUTH_SECRET, TEST_PASSWORD, UserSpec, add_users_at, login
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip
from tests.e2e.test_label_page import assert_box, drag, expected_box
from tests.live_server import serve_on_loopback
from tests.store.builders import jpeg, observation, results, video_meta, violation

PAGE_REVIEWER = "rev_page"
API_REVIEWER = "rev_api"
BOX = (0.10, 0.20, 0.60, 0.90)


@pytest.fixture
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A fresh server per test: the page leases a batch of ten, which would leave the next test nothing."""
    root = tmp_path_factory.mktemp("labelling-page")
    db_url = f"sqlite:///{root / 'streetwatch.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    for video in range(2):  # each: one sure violation, three unsure detections on their own frames
        claim = claim_video(factory, video_meta(f"patrol-{video}.mp4"), worker="w")
        assert isinstance(claim, Claimed)
        items = [(replace(observation(1, seed=10 * video), confidence=0.95), violation())]
        items += [(replace(observation(i, seed=10 * video + i, frame=jpeg(100 * video + i, 240, 320)),
                           confidence=0.26 + 0.05 * i), None) for i in (2, 3, 4)]
        commit_video_results(factory, claim.video_id, "w", results(items), EvidenceStore(root / "evidence"),
                             labelling=LabellingPolicy(min_per_video=3))
    engine.dispose()
    add_users_at(db_url, [UserSpec(PAGE_REVIEWER, (Role.REVIEWER,)), UserSpec(API_REVIEWER, (Role.REVIEWER,))])
    settings = Settings(db_url=db_url, evidence_dir=root / "evidence", auth_secret=TEST_AUTH_SECRET)
    try:
        with serve_on_loopback(create_app(settings)) as url:
            yield url, db_url
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _flash(page: object, text: str) -> str:
    page.wait_for_function("(t) => { const f = document.querySelector('#item .flash');"  # type: ignore[attr-defined]
                           " return f !== null && f.textContent.includes(t); }", arg=text)
    return str(page.locator("#item .flash").inner_text())  # type: ignore[attr-defined]


def test_label_skip_and_mark_empty_on_the_page(live: tuple[str, str]) -> None:
    url, db_url = live
    sync_playwright = browser_or_skip()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{url}/ui/login")
            page.fill("input[name=username]", PAGE_REVIEWER)
            page.fill("input[name=password]", TEST_PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/ui/queue")
            page.goto(f"{url}/ui/labelling")
            page.wait_for_function("() => document.querySelector('#item img').complete")
            item = page.locator("#item")
            assert "the detector was unsure" in item.inner_text()
            ids = []
            ids.append(int((item.get_attribute("data-violation-id") or "label-0").removeprefix("label-")))
            drag(page, BOX)
            page.keyboard.press("Enter")
            assert "box adjusted" in _flash(page, f"label #{ids[0]} done")
            ids.append(int((item.get_attribute("data-violation-id") or "label-0").removeprefix("label-")))
            page.keyboard.press("a")  # no decisions here: A does nothing
            page.keyboard.press("e")
            page.keyboard.press("Enter")
            assert "frame marked empty" in _flash(page, f"label #{ids[1]} done")
            ids.append(int((item.get_attribute("data-violation-id") or "label-0").removeprefix("label-")))
            page.keyboard.press("s")
            _flash(page, f"label #{ids[2]} skipped")
        finally:
            browser.close()

    with httpx.Client(base_url=url, timeout=10) as http:
        http.headers.update(login(http, PAGE_REVIEWER))
        listed = {i["id"]: i for i in http.get("/labelling").json()["items"]}
        first = listed[ids[0]]
        frame = http.get(f"/observations/{first['observation_id']}/labels").json()
        second = http.get(f"/observations/{listed[ids[1]]['observation_id']}/labels").json()
    assert [listed[i]["status"] for i in ids] == ["labelled", "labelled", "skipped"]
    assert all(listed[i]["finished_by"] == PAGE_REVIEWER for i in ids)
    assert [r["kind"] for r in frame["labels"]] == ["adjust_box"]
    assert_box(frame["labels"][0]["box"], expected_box(BOX, frame["width"], frame["height"]))
    assert second["empty"]
    _no_cases(db_url)


def test_the_api_path(live: tuple[str, str]) -> None:
    url, db_url = live
    with httpx.Client(base_url=url, timeout=10) as http:
        http.headers.update(login(http, API_REVIEWER))
        held = http.post("/labelling/claim", json={"n": 2}).json()["items"]
        assert len(held) == 2 and all(i["lease_owner"] == API_REVIEWER for i in held)
        assert held[0]["score"] >= held[1]["score"]  # the least sure first
        item = held[0]
        not_yet = http.post(f"/labelling/{item['id']}/finish", json={"outcome": "labelled"})
        assert not_yet.status_code == 422 and "no label yet" in not_yet.text
        label = http.post(f"/observations/{item['observation_id']}/labels",
                          json={"kind": "relabel", "class_name": "bus"})
        assert label.status_code == 201, label.text
        done = http.post(f"/labelling/{item['id']}/finish", json={"outcome": "labelled"})
        assert done.status_code == 200 and done.json()["status"] == "labelled"
        again = http.post(f"/labelling/{item['id']}/finish", json={"outcome": "skipped"})
        assert again.status_code == 409
        bad = http.post(f"/labelling/{held[1]['id']}/finish", json={"outcome": "pending"})
        assert bad.status_code == 422
        unknown = http.post(f"/labelling/{held[1]['id']}/finish", json={"outcome": "skipped", "why": "x"})
        assert unknown.status_code == 422  # request models forbid unknown fields
        counts = http.get("/labelling").json()["counts"]
        assert sum(counts.values()) == 6  # three per video
    _no_cases(db_url)


def _no_cases(db_url: str) -> None:
    """Only the sure violations made a case (both videos saw it at one spot); labelling filed nothing."""
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1
    engine.dispose()
