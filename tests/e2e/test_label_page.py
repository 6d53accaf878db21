"""Labelling on the review page end to end: uvicorn on 127.0.0.1, a seeded SQLite file, headless Chromium.

A reviewer redraws a detection's box with the mouse, draws a box around a missed object (B, drag, pick its
class, Enter), changes the detection's class (C, pick, Enter: a relabel decision), approves it (A: a
confirmation), then marks the next item's frame empty (E, Enter). The API then holds exactly those records,
with boxes in frame pixels where the mouse drew them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from streetwatch.api.app import create_app
from streetwatch.api.auth import Role
from streetwatch.core.settings import DEFAULT_TAXONOMY, Settings
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from streetwatch.store.models_labels import ReviewLabel
from tests.api.auth_support import TEST_AUTH_SECRET, TEST_PASSWORD, UserSpec, add_users_at, login, page_login
from tests.api.seed import seed_database
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip
from tests.live_server import serve_on_loopback

REVIEWER = "rev_labels"
FORMS_REVIEWER = "rev_forms"  # posts the label form by hand
SCREENSHOT = Path("/tmp/label-page.png")
# Where the mouse draws, as fractions of the frame: the detection's new box, then the missed object's.
ADJUSTED = (0.20, 0.25, 0.70, 0.80)
MISSED = (0.05, 0.05, 0.15, 0.20)
TOLERANCE_PX = 0.5  # frame pixels: a 48x32 frame is shown ~17 times larger, so one screen pixel is ~0.06


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("label-page")
    db_url = f"sqlite:///{root / 'streetwatch.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        seed_database(session, root / "evidence", load_taxonomy(DEFAULT_TAXONOMY), count=60)
    engine.dispose()
    add_users_at(db_url, [UserSpec(REVIEWER, (Role.REVIEWER,)), UserSpec(FORMS_REVIEWER, (Role.REVIEWER,))])
    settings = Settings(db_url=db_url, evidence_dir=root / "evidence", auth_secret=TEST_AUTH_SECRET)
    try:
        with serve_on_loopback(create_app(settings)) as url:
            yield url, db_url
    finally:
        shutil.rmtree(root, ignore_errors=True)


def drag(page: Any, fractions: tuple[float, float, float, float]) -> None:
    """Press, move and release the mouse over the evidence frame, corner to corner."""
    rect = page.locator("#item figure.labeller").bounding_box()
    x1, y1, x2, y2 = (rect["x"] + fractions[0] * rect["width"], rect["y"] + fractions[1] * rect["height"],
                      rect["x"] + fractions[2] * rect["width"], rect["y"] + fractions[3] * rect["height"])
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move((x1 + x2) / 2, (y1 + y2) / 2, steps=4)
    page.mouse.move(x2, y2, steps=4)
    page.mouse.up()


def wait_for_flash(page: Any, text: str) -> str:
    page.wait_for_function("(t) => { const f = document.querySelector('#item .flash');"
                           " return f !== null && f.textContent.includes(t); }", arg=text)
    return str(page.locator("#item .flash").inner_text())


def expected_box(fractions: tuple[float, float, float, float], width: int, height: int) -> list[float]:
    return [fractions[0] * width, fractions[1] * height, fractions[2] * width, fractions[3] * height]


def assert_box(got: list[float], want: list[float]) -> None:
    assert all(abs(g - w) <= TOLERANCE_PX for g, w in zip(got, want, strict=True)), (got, want)


def test_label_a_frame_with_mouse_and_keyboard(live: tuple[str, str]) -> None:
    url, db_url = live
    sync_playwright = browser_or_skip()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{url}/ui/login")
            page.fill("input[name=username]", REVIEWER)
            page.fill("input[name=password]", TEST_PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/ui/queue")
            page.wait_for_function("() => document.querySelector('#item img').complete")
            item = page.locator("#item")
            first = int(item.get_attribute("data-violation-id") or 0)
            current_class = page.locator("#label-class").get_attribute("data-current")
            new_class = "bus" if current_class != "bus" else "truck"

            drag(page, ADJUSTED)  # a plain drag redraws the detection's box
            assert "box" in page.locator("#label-status").inner_text()
            page.keyboard.press("Enter")
            assert "box adjusted" in wait_for_flash(page, f"#{first} labels saved")

            page.keyboard.press("b")
            drag(page, MISSED)
            assert page.evaluate("() => document.activeElement.id") == "label-class"  # the picker asks its class
            page.select_option("#label-class", "trash_bag")
            page.keyboard.press("Enter")
            assert "missed trash_bag added" in wait_for_flash(page, "missed")
            assert page.locator("#item .box.other.missed .tag").inner_text() == "trash_bag"

            page.keyboard.press("c")
            page.select_option("#label-class", new_class)
            page.keyboard.press("Enter")
            assert f"relabelled {new_class} (the violation too)" in wait_for_flash(page, "relabelled")
            assert page.locator("#item .box.detection .tag").inner_text() == new_class
            assert page.locator("#item .label-records li").count() == 3
            # The swapped-in item's map is Leaflet's again once htmx has settled it (not drawn off its box).
            page.wait_for_function("() => { const m = document.querySelector('#map');"
                                   " return !m.dataset.lat || m.classList.contains('leaflet-container'); }",
                                   timeout=5000)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            page.keyboard.press("a")
            wait_for_flash(page, f"#{first} approved")
            second = int(item.get_attribute("data-violation-id") or 0)
            assert second != first
            page.keyboard.press("e")
            assert "nothing here" in page.locator("#label-status").inner_text()
            page.keyboard.press("Enter")
            assert "frame marked empty" in wait_for_flash(page, f"#{second} labels saved")
            assert page.locator("#item .empty-mark").is_visible()
        finally:
            browser.close()

    with httpx.Client(base_url=url, timeout=10) as http:
        http.headers.update(login(http, REVIEWER))
        one = http.get(f"/violations/{first}").json()
        two = http.get(f"/violations/{second}").json()
        frame_one = http.get(f"/observations/{one['observation_id']}/labels").json()
        frame_two = http.get(f"/observations/{two['observation_id']}/labels").json()
    width, height = frame_one["width"], frame_one["height"]
    records = frame_one["labels"]
    assert [(r["kind"], r["class_name"], r["reviewer"]) for r in records] == [
        ("adjust_box", current_class, REVIEWER), ("add_missed", "trash_bag", REVIEWER),
        ("relabel", new_class, REVIEWER), ("confirm", new_class, REVIEWER)]
    assert_box(records[0]["box"], expected_box(ADJUSTED, width, height))
    assert_box(records[1]["box"], expected_box(MISSED, width, height))
    assert records[2]["box"] == records[0]["box"] == records[3]["box"]  # relabel and confirm keep the new box
    relabel, approve = one["decisions"][-2:]
    assert (relabel["action"], approve["action"]) == ("relabel", "approve")
    assert (records[2]["decision_id"], records[3]["decision_id"]) == (relabel["id"], approve["id"])
    assert (one["status"], one["class_name"]) == ("approved", new_class)
    assert [(o["source"], o["class_name"]) for o in frame_one["objects"]] == [("detection", new_class),
                                                                               ("missed", "trash_bag")]
    assert frame_two["empty"] and [r["kind"] for r in frame_two["labels"]] == ["empty_frame"]

    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(ReviewLabel).where(ReviewLabel.reviewer == REVIEWER))
    engine.dispose()
    assert count == 5


# (form fields, HX-Request header, expected status, text in the answer)
FORMS = [
    ({"missed_box": "1,1,9,9"}, "true", 422, "needs its class"),
    ({"empty": "true", "box": "1,1,9,9"}, "true", 422, "takes no boxes or classes"),
    ({}, "true", 422, "nothing to save"),
    ({"box": "1,1,nine,9"}, "true", 422, "four numbers"),
    ({"box": "1,1,90,9"}, "true", 422, "outside the 48x32 frame"),
    ({"class_name": "unicorn"}, "true", 422, "unknown class"),
    ({"box": "1,1,9,9"}, None, 403, "HX-Request"),             # a cookie POST without htmx's header: CSRF
    ({"class_name": "person"}, "true", 200, "an evidence class: reject the violation if it is not one"),
]


@pytest.mark.parametrize(("form", "hx", "expected", "text"), FORMS, ids=[str(i) for i in range(len(FORMS))])
def test_the_label_form_checks_its_input(live: tuple[str, str], form: dict[str, str], hx: str | None, expected: int,
                                         text: str) -> None:
    url, db_url = live
    with httpx.Client(base_url=url, timeout=10) as http:
        assert page_login(http, FORMS_REVIEWER).status_code == 303
        held = http.post("/review/claim", json={"n": 1}, headers={"HX-Request": "true"}).json()["items"]
        violation_id = held[0]["id"]
        before = _labels(db_url)
        response = http.post(f"/ui/queue/{violation_id}/labels", data=form,
                             headers={"HX-Request": hx} if hx else {})
    assert response.status_code == expected and text in response.text, response.text
    assert _labels(db_url) == before + (1 if expected == 200 else 0)


def _labels(db_url: str) -> int:
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        count = int(session.scalar(select(func.count()).select_from(ReviewLabel)) or 0)
    engine.dispose()
    return count
