"""The authorization matrix: every endpoint x every role x own / other / unrouted object.

``MATRIX`` is written out by hand: for each route, the status each caller must get. A route of
the app without an entry fails ``test_every_route_has_a_matrix_entry``, so a new endpoint cannot
ship without deciding who may call it.

Callers: nobody (no credentials), and one user per role. The dispatcher and the field inspector
work for unit A. Objects: ``own`` is routed to unit A, ``other`` to unit B, ``unrouted`` to no
unit (a violation without a case, a case whose unit is not known yet). Rule: reviewers,
supervisors and admins see every unit; the unit-scoped roles see their unit's cases, the
violations of those cases and their evidence, and no videos or observations (raw footage
crosses units).

The review pages (``/ui``, api/web.py) are in the same table. Their callers sign in as a browser
does: the login token in the session cookie, and ``HX-Request: true`` on POSTs (what htmx sends;
the cookie's CSRF rule, api/auth.py), and the page's CSRF cookie and token on the sign-in and
sign-out forms (api/csrf.py). Redirects are not followed: an anonymous page visit answers 303 to the
sign-in form. Signing out revokes the caller's login tokens; the cell puts them back for the next.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.api.app import create_app
from streetwatch.api.auth import CSRF_HEADER, SESSION_COOKIE
from streetwatch.api.csrf import CSRF_COOKIE, CSRF_FIELD, new_csrf_token
from streetwatch.core.settings import Settings
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models import Case, Observation, Violation
from streetwatch.store.models_auth import User
from tests.api.auth_support import TEST_AUTH_SECRET, TEST_PASSWORD, UNIT_A, UNIT_B, TestUser
from tests.api.seed import SeedData

ANON = "anonymous"
CALLERS = (ANON, "admin", "reviewer", "supervisor", "dispatcher", "field_inspector")
OWN, OTHER, UNROUTED = "own", "other", "unrouted"
OBJECTS = (OWN, OTHER, UNROUTED)

# Shorthands for rows of the table.
EVERYONE = dict.fromkeys(CALLERS, 200)
SIGNED_IN = {**EVERYONE, ANON: 401}
CITY_WIDE = {**SIGNED_IN, "dispatcher": 403, "field_inspector": 403}  # no unit-scoped roles
DECIDERS = CITY_WIDE  # reviewer, supervisor, admin
# Review pages: an anonymous visitor is sent to the sign-in form instead of a 401.
SIGN_IN_FORM = "/ui/login"
PAGE_SIGNED_IN = {**EVERYONE, ANON: 303}
PAGE_QUEUE = {**PAGE_SIGNED_IN, "dispatcher": 403, "field_inspector": 403}  # reviewer, supervisor, admin
# Patrol coverage (api/routes/coverage.py): supervisors and dispatchers (their unit's roads), admin.
COVERAGE = {**SIGNED_IN, "reviewer": 403, "field_inspector": 403}


def per_object(own: int, other: int, unrouted: int) -> tuple[int, int, int]:
    return (own, other, unrouted)


JSON_FORMAT = {"fmt": "json"}
# Targets routed to a unit, so tested as own / other / unrouted objects.
ROUTED_TARGETS = frozenset({"violation", "pending_violation", "case", "evidence"})


UNIT_SCOPED_READ = {  # caller -> (own, other, unrouted)
    ANON: per_object(401, 401, 401),
    "admin": per_object(200, 200, 200),
    "reviewer": per_object(200, 200, 200),
    "supervisor": per_object(200, 200, 200),
    "dispatcher": per_object(200, 403, 403),
    "field_inspector": per_object(200, 403, 403),
}
DECIDE = {
    ANON: per_object(401, 401, 401),
    "admin": per_object(200, 200, 200),
    # Authorized, but a reviewer must hold a live lease from POST /review/claim (tests/api/test_workflow_api.py).
    "reviewer": per_object(409, 409, 409),
    "supervisor": per_object(200, 200, 200),
    "dispatcher": per_object(403, 403, 403),
    "field_inspector": per_object(403, 403, 403),
}
# The page's decision answers with the next item even when the decision is refused for want of a
# lease (a flash says "not decided"), so the reviewer's 200 records nothing: see ``decided_by``.
PAGE_DECIDE = {**DECIDE, "reviewer": per_object(200, 200, 200)}
DECIDED_BY = frozenset({"admin", "supervisor"})  # no lease needed


@dataclass(frozen=True, slots=True)
class Entry:
    """Who gets what from one route.

    Attributes:
        expect: caller -> status, or caller -> (own, other, unrouted) statuses for object routes.
        target: The kind of object the path's free parameter names (violation, case, evidence,
            video, service), or None.
        params: Fixed path parameters (e.g. the format of an Open311 resource).
        json: A JSON body to send.
        form: A form body to send; ``"{service_code}"`` is replaced by a real event code.
        challenge: Whether a 401 carries ``WWW-Authenticate: Bearer`` (Open311 answers in its
            own error format, without it).
        page: A review page: callers send the session cookie (not a bearer token), POSTs carry
            ``HX-Request: true``, and a 303 must lead to the sign-in form.
        probe: For a mount (no methods of its own): the path of a file to GET under it.
        decided_by: For a ``pending_violation`` target: the callers whose call must record the
            decision; for everyone else the violation must stay pending.
    """

    expect: dict[str, int] | dict[str, tuple[int, int, int]]
    target: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    challenge: bool = True
    page: bool = False
    probe: str | None = None
    decided_by: frozenset[str] = frozenset()


MATRIX: dict[tuple[str, str], Entry] = {
    # FastAPI's own pages: public.
    ("GET", "/openapi.json"): Entry(EVERYONE),
    ("GET", "/docs"): Entry(EVERYONE),
    ("GET", "/docs/oauth2-redirect"): Entry(EVERYONE),
    ("GET", "/redoc"): Entry(EVERYONE),
    ("GET", "/health"): Entry(EVERYONE),
    # Uploads: uploaders (cars; tests/api/test_uploads_api.py) and admins. Sent empty, the admin's
    # request passes the role check and is refused for what it lacks (a file name, its sha256).
    ("POST", "/uploads"): Entry({**dict.fromkeys(CALLERS, 403), ANON: 401, "admin": 422}),
    ("GET", "/metrics"): Entry(EVERYONE),   # backlog counts for Prometheus, like /health (docs/scaling.md)
    # Signing in needs no credentials; /auth/me needs some.
    ("POST", "/auth/token"): Entry(EVERYONE, form={"username": "reviewer", "password": TEST_PASSWORD}),
    ("GET", "/auth/me"): Entry(SIGNED_IN),
    ("POST", "/auth/logout"): Entry({**SIGNED_IN, **dict.fromkeys(CALLERS[1:], 204)}),  # revokes: see _restore
    ("GET", "/violations"): Entry(SIGNED_IN),
    ("GET", "/violations/{violation_id}"): Entry(UNIT_SCOPED_READ, target="violation"),
    ("POST", "/violations/{violation_id}/decision"): Entry(
        DECIDE, target="pending_violation", json={"action": "reject", "reason": "false detection"},
        decided_by=DECIDED_BY),
    ("GET", "/cases"): Entry(SIGNED_IN),
    ("GET", "/cases/{case_id}"): Entry(UNIT_SCOPED_READ, target="case"),
    ("GET", "/evidence/{sha256}"): Entry(UNIT_SCOPED_READ, target="evidence"),
    ("GET", "/evidence/{sha256}/blurred"): Entry(UNIT_SCOPED_READ, target="evidence"),
    ("GET", "/observations"): Entry(CITY_WIDE),
    ("GET", "/videos"): Entry(CITY_WIDE),
    # Label records on evidence frames (api/routes/labels.py): written by deciders (no lease needed: a label
    # is about the frame, not the violation's review), read by the city-wide roles, as observations are.
    ("POST", "/observations/{observation_id}/labels"): Entry(
        {**CITY_WIDE, "admin": 201, "reviewer": 201, "supervisor": 201}, target="observation",
        json={"kind": "confirm"}),
    ("GET", "/observations/{observation_id}/labels"): Entry(CITY_WIDE, target="observation"),
    ("GET", "/evidence/{sha256}/labels"): Entry(CITY_WIDE, target="frame"),
    ("GET", "/videos/{video_id}"): Entry(CITY_WIDE, target="video"),
    # Open311 GeoReport v2 (streetwatch.casework.dispatch / api/routes/open311.py): read by any role; a case of
    # another unit is "not found" there (404), as the spec has no 403.
    ("GET", "/open311/v2/services.{fmt}"): Entry(SIGNED_IN, params=JSON_FORMAT, challenge=False),
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): Entry(
        SIGNED_IN, target="service", params=JSON_FORMAT, challenge=False),
    ("GET", "/open311/v2/requests.{fmt}"): Entry(SIGNED_IN, params=JSON_FORMAT, challenge=False),
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): Entry(
        {**UNIT_SCOPED_READ, "dispatcher": per_object(200, 404, 404), "field_inspector": per_object(200, 404, 404)},
        target="case", params=JSON_FORMAT, challenge=False),
    ("POST", "/open311/v2/requests.{fmt}"): Entry(
        {**SIGNED_IN, "reviewer": 403, "field_inspector": 403, "dispatcher": 201, "supervisor": 201, "admin": 201},
        params=JSON_FORMAT, challenge=False,
        form={"service_code": "{service_code}", "lat": "39.91", "long": "116.39", "description": "stall at gate"}),
    # The review queue (api/routes/review.py): reviewers, supervisors, admins.
    ("POST", "/review/claim"): Entry(CITY_WIDE, json={"n": 1, "lease_minutes": 1}),
    ("POST", "/review/release"): Entry(CITY_WIDE, json={"violation_ids": []}),
    ("GET", "/review/leases"): Entry(CITY_WIDE),
    # The labelling queue (api/routes/labelling.py): listed city-wide, worked by reviewers and supervisors.
    # Finishing item 999999 (none such): those allowed get 404, the others 401/403 first.
    ("GET", "/labelling"): Entry(CITY_WIDE),
    ("POST", "/labelling/claim"): Entry(CITY_WIDE, json={"n": 1, "lease_minutes": 1}),
    ("POST", "/labelling/{item_id}/finish"): Entry(
        {**CITY_WIDE, "admin": 404, "reviewer": 404, "supervisor": 404}, params={"item_id": "999999"},
        json={"outcome": "skipped"}),
    # Case workflow (api/routes/workflow.py). "handle" on an open case: a caller allowed to handle it gets
    # 409 (not from 'open'), so the table shows the role and unit checks without changing the case.
    ("POST", "/cases/{case_id}/transition"): Entry({
        ANON: per_object(401, 401, 401),
        "admin": per_object(409, 409, 409),
        "reviewer": per_object(403, 403, 403),
        "supervisor": per_object(409, 409, 409),
        "dispatcher": per_object(403, 403, 403),       # dispatchers do not handle
        "field_inspector": per_object(409, 403, 403),  # their unit only
    }, target="case", json={"action": "handle"}),
    ("GET", "/cases/{case_id}/events"): Entry(UNIT_SCOPED_READ, target="case"),
    # Rectification notices (api/routes/notices.py): issued by the roles that work cases, their unit only; the
    # matrix's cases are open, so an allowed caller gets 409 (not filed) and nothing is archived; downloading
    # is a unit-scoped read, 404 while the case has no notice.
    ("POST", "/cases/{case_id}/notice"): Entry({
        ANON: per_object(401, 401, 401),
        "admin": per_object(409, 409, 409),
        "reviewer": per_object(403, 403, 403),
        "supervisor": per_object(409, 409, 409),
        "dispatcher": per_object(409, 403, 403),
        "field_inspector": per_object(409, 403, 403),
    }, target="case"),
    ("GET", "/cases/{case_id}/notice.pdf"): Entry({
        caller: tuple(404 if status == 200 else status for status in statuses)  # type: ignore[misc]
        for caller, statuses in UNIT_SCOPED_READ.items()}, target="case"),
    ("GET", "/kpis"): Entry(SIGNED_IN),  # unit-scoped roles see their unit's KPIs only
    ("GET", "/reports/monthly"): Entry(CITY_WIDE),
    # Hot spots (api/routes/hotspots.py): any role; unit-scoped roles see their unit's cases only.
    ("GET", "/hotspots"): Entry(SIGNED_IN),
    ("GET", "/hotspots/recurring"): Entry(SIGNED_IN),
    # Exports: any role; unit-scoped roles get their unit's rows only.
    ("GET", "/exports/violations.geojson"): Entry(SIGNED_IN),
    ("GET", "/exports/violations.csv"): Entry(SIGNED_IN),
    ("GET", "/exports/cases.geojson"): Entry(SIGNED_IN),
    ("GET", "/exports/cases.csv"): Entry(SIGNED_IN),
    # Patrol coverage: no road network in this database, so one segment's passes are 404 to those allowed.
    ("GET", "/coverage/roads"): Entry(COVERAGE),
    ("GET", "/coverage/roads/{segment_id}"): Entry(
        {**COVERAGE, "admin": 404, "supervisor": 404, "dispatcher": 404}, params={"segment_id": "renmin-1"}),
    ("GET", "/coverage/cells"): Entry(COVERAGE),
    ("GET", "/coverage/grids"): Entry(COVERAGE),
    ("GET", "/coverage.geojson"): Entry(COVERAGE),
    ("GET", "/coverage.csv"): Entry(COVERAGE),
    # The review pages (api/web.py). Signing in and out: the form is public; a good password answers
    # 303 whoever asks; signing out needs a session.
    ("GET", "/ui/login"): Entry(EVERYONE, page=True),
    ("POST", "/ui/login"): Entry({**EVERYONE, **dict.fromkeys(CALLERS, 303)}, page=True,
                                 form={"username": "reviewer", "password": TEST_PASSWORD}),
    ("POST", "/ui/logout"): Entry({**SIGNED_IN, **dict.fromkeys(CALLERS[1:], 204)}, page=True),
    ("GET", "/ui/queue"): Entry(PAGE_QUEUE, page=True),
    ("GET", "/ui/queue/item"): Entry(PAGE_QUEUE, page=True),
    ("POST", "/ui/queue/{violation_id}/decision"): Entry(
        PAGE_DECIDE, target="pending_violation", page=True,
        form={"action": "reject", "reason_code": "false_detection"}, decided_by=DECIDED_BY),
    # Labels drawn on the page's frame: saved by deciders, lease or not (the page answers with the item).
    ("POST", "/ui/queue/{violation_id}/labels"): Entry(
        {**DECIDE, "reviewer": per_object(200, 200, 200)}, target="violation", page=True, form={"box": "1,1,9,9"}),
    # The labelling queue's page (api/web_labelling.py); an item that does not exist gets a flash, not an error.
    ("GET", "/ui/labelling"): Entry(PAGE_QUEUE, page=True),
    ("GET", "/ui/labelling/item"): Entry(PAGE_QUEUE, page=True),
    ("POST", "/ui/labelling/{item_id}/labels"): Entry(CITY_WIDE, page=True, params={"item_id": "999999"},
                                                     form={"box": "1,1,9,9"}),
    ("POST", "/ui/labelling/{item_id}/skip"): Entry(CITY_WIDE, page=True, params={"item_id": "999999"}),
    ("GET", "/ui/cases"): Entry(PAGE_SIGNED_IN, page=True),  # unit-scoped roles: their unit's cases
    ("GET", "/ui/dashboard"): Entry(PAGE_SIGNED_IN, page=True),  # every role has KPIs
    ("GET", "/ui/coverage"): Entry({**COVERAGE, ANON: 303}, page=True),  # api/web_coverage.py
    ("*", "/ui/static"): Entry(EVERYONE, page=True, probe="/ui/static/vendor/htmx.min.js"),
}


def app_operations(app: Any) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, HEAD aside (Starlette adds it to GET routes).

    A route without methods (a mount, a websocket) counts as ``("*", path)``: it needs an entry too.
    """
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI with nested included routers
    except ImportError:
        routes: list[Any] = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    operations: set[tuple[str, str]] = set()
    for route in routes:
        methods = getattr(route, "methods", None) or {"*"}
        operations |= {(method, route.path) for method in methods if method != "HEAD"}
    return operations


# --- the world the matrix runs in ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class World:
    client: TestClient
    session_factory: sessionmaker[Session]
    objects: dict[str, dict[str, str]]  # kind -> own/other/unrouted -> the path parameter
    case_ids: dict[str, int | None]     # own/other/unrouted -> case id (None: no case)


def _case(session: Session, unit: str | None, family: str, event_code: str) -> Case:
    case = Case(family=family, event_code=event_code, status="open", lat=39.9, lon=116.3,
                h3_cell="8a31aa5a0a6ffff", sightings=0, recurrence_count=0, unit=unit)
    session.add(case)
    session.flush()
    return case


def _fresh_pending(session: Session, case_id: int | None) -> int:
    """A new pending violation in the case (a copy of a seeded one, on its own observation)."""
    model = session.scalars(select(Violation).order_by(Violation.id)).first()
    assert model is not None
    obs = model.observation
    max_track = max(session.scalars(select(Observation.track_id)).all())
    new_obs = Observation(
        video_id=obs.video_id, track_id=max_track + 1, class_name=obs.class_name, family=obs.family,
        confidence=obs.confidence, pts_start_s=obs.pts_start_s, pts_end_s=obs.pts_end_s,
        best_pts_s=obs.best_pts_s, location_status=obs.location_status, bbox=obs.bbox,
        track_points=obs.track_points, frame_sha256=obs.frame_sha256, crop_sha256=obs.crop_sha256,
    )
    session.add(new_obs)
    session.flush()
    violation = Violation(
        observation_id=new_obs.id, family=model.family, class_name=model.class_name,
        event_code=model.event_code, name_zh=model.name_zh, name_en=model.name_en, reason=model.reason,
        rule=model.rule, rule_version=model.rule_version, status="pending", case_id=case_id,
    )
    session.add(violation)
    session.commit()
    return violation.id


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, seeded_template: tuple[Path, SeedData]
) -> Iterator[World]:
    template, data = seeded_template
    root = tmp_path_factory.mktemp("auth-matrix")
    shutil.copytree(template, root, dirs_exist_ok=True)
    url = f"sqlite:///{root / 'streetwatch.db'}"
    engine = make_engine(url)
    factory = make_session_factory(engine)
    by_obs = {o.id: o for o in data.observations}
    with factory() as session:
        first = session.scalars(select(Violation).order_by(Violation.id)).first()
        assert first is not None
        cases = {OWN: _case(session, UNIT_A, first.family, first.event_code),
                 OTHER: _case(session, UNIT_B, first.family, first.event_code),
                 UNROUTED: _case(session, None, first.family, first.event_code)}
        seeded = [v.id for v in data.violations]
        # Every third seeded violation goes to unit A, every third to unit B, the rest stay caseless.
        routed = {OWN: seeded[0::3], OTHER: seeded[1::3]}
        for scope, ids in routed.items():
            for violation_id in ids:
                row = session.get(Violation, violation_id)
                assert row is not None
                row.case_id = cases[scope].id
        session.commit()
        violation_of = {OWN: routed[OWN][0], OTHER: routed[OTHER][0], UNROUTED: seeded[2]}
        obs_of = {scope: next(v.observation_id for v in data.violations if v.id == vid)
                  for scope, vid in violation_of.items()}
        objects = {
            "violation": {scope: str(vid) for scope, vid in violation_of.items()},
            "case": {scope: str(case.id) for scope, case in cases.items()},
            "evidence": {scope: by_obs[obs_id].frame_sha256 for scope, obs_id in obs_of.items()},
            "video": dict.fromkeys(OBJECTS, str(data.videos[0].id)),
            "observation": dict.fromkeys(OBJECTS, str(obs_of[OWN])),  # raw output: not routed to units
            "frame": dict.fromkeys(OBJECTS, by_obs[obs_of[OWN]].frame_sha256),
            "service": dict.fromkeys(OBJECTS, first.event_code),
        }
        case_ids: dict[str, int | None] = {OWN: cases[OWN].id, OTHER: cases[OTHER].id, UNROUTED: None}
    settings = Settings(db_url=url, evidence_dir=root / "evidence", uploads_dir=root / "uploads",
                        auth_secret=TEST_AUTH_SECRET)
    with TestClient(create_app(settings)) as client:
        yield World(client, factory, objects, case_ids)
    engine.dispose()


def _headers(caller: str, users: dict[str, TestUser], entry: Entry, method: str) -> dict[str, str]:
    if not entry.page:
        return {} if caller == ANON else users[caller].headers()
    # As a browser on the page: the cookies (sent by hand, so no cookie jar carries one caller's
    # session into the next cell), htmx's header on state-changing requests, the page's CSRF cookie.
    headers = {CSRF_HEADER: "true"} if method == "POST" else {}
    cookies = [f"{CSRF_COOKIE}={PAGE_CSRF}"] + ([] if caller == ANON else [f"{SESSION_COOKIE}={users[caller].token()}"])
    return headers | {"Cookie": "; ".join(cookies)}


PAGE_CSRF = new_csrf_token(TEST_AUTH_SECRET)  # the page's forms carry it (api/csrf.py)
CSRF_FORMS = frozenset({"/ui/login", "/ui/logout"})


def _restore_tokens(world: World, path: str, caller: str) -> None:
    """Signing out revoked the caller's tokens: put their version back so the next cells' tokens work."""
    if path in ("/auth/logout", "/ui/logout") and caller != ANON:
        with world.session_factory() as session:
            session.execute(update(User).where(User.username == caller).values(token_version=0))
            session.commit()


def _violation_status(world: World, violation_id: str) -> str:
    with world.session_factory() as session:
        row = session.get(Violation, int(violation_id))
        assert row is not None
        return row.status


def _cells() -> Iterator[Any]:
    for (method, path), entry in MATRIX.items():
        for caller in CALLERS:
            expected = entry.expect[caller]
            if isinstance(expected, tuple):
                for scope, status in zip(OBJECTS, expected, strict=True):
                    yield pytest.param(method, path, caller, scope, status, id=f"{method} {path} {caller} {scope}")
            else:
                yield pytest.param(method, path, caller, None, expected, id=f"{method} {path} {caller}")


# --- the tests ----------------------------------------------------------------------------------

# The page's cookie edge cases (no or wrong HX-Request header, bearer on a POST, a real browser)
# are in tests/e2e/test_review_page.py.

def test_every_route_has_a_matrix_entry(world: World) -> None:
    operations = app_operations(world.client.app)
    missing = sorted(operations - MATRIX.keys())
    stale = sorted(MATRIX.keys() - operations)
    assert not missing, f"routes without an authorization matrix entry (add them to MATRIX): {missing}"
    assert not stale, f"matrix entries for routes the app no longer has: {stale}"


def test_every_entry_names_every_caller() -> None:
    for key, entry in MATRIX.items():
        assert set(entry.expect) == set(CALLERS), key
        shapes = {isinstance(v, tuple) for v in entry.expect.values()}
        assert shapes == {entry.target in ROUTED_TARGETS}, key
        assert (key[0] == "*") == (entry.probe is not None), f"{key}: a probe path for mounts only"
        assert entry.decided_by <= set(CALLERS) and (
            entry.target == "pending_violation" or not entry.decided_by), key


@pytest.mark.parametrize(("method", "path", "caller", "scope", "expected"), list(_cells()))
def test_matrix(
    world: World, users: dict[str, TestUser], method: str, path: str, caller: str, scope: str | None,
    expected: int,
) -> None:
    entry = MATRIX[(method, path)]
    free = [name for name in re.findall(r"{(\w+)}", path) if name not in entry.params]
    assert len(free) == (entry.target is not None), f"{path}: path parameters {free} need a target"
    values = dict(entry.params)
    if entry.target == "pending_violation":
        assert scope is not None
        with world.session_factory() as session:
            values[free[0]] = str(_fresh_pending(session, world.case_ids[scope]))
    elif entry.target is not None:
        values[free[0]] = world.objects[entry.target][scope or OWN]
    url = entry.probe or path.format(**values)
    form = None if entry.form is None else {
        key: value.format(service_code=world.objects["service"][OWN]) for key, value in entry.form.items()}
    if path in CSRF_FORMS:
        form = (form or {}) | {CSRF_FIELD: PAGE_CSRF}
    world.client.cookies.clear()  # a sign-in cell's cookie must not sign in the next caller
    response = world.client.request("GET" if method == "*" else method, url, json=entry.json, data=form,
                                    headers=_headers(caller, users, entry, method), follow_redirects=False)
    world.client.cookies.clear()
    _restore_tokens(world, path, caller)
    assert response.status_code == expected, f"{caller} {method} {url} ({scope}): {response.text[:300]}"
    if expected == 401 and entry.challenge:
        assert response.headers.get("www-authenticate") == "Bearer"
    if expected == 303 and entry.page and method == "GET":
        assert response.headers.get("location") == SIGN_IN_FORM, f"{caller} {url}: {response.headers}"
    if entry.target == "pending_violation":
        status = _violation_status(world, values[free[0]])
        assert (status != "pending") == (caller in entry.decided_by), f"{caller} {url} ({scope}): {status}"


# --- lists show only what the caller may see ----------------------------------------------------

def _all_ids(client: TestClient, path: str, headers: dict[str, str]) -> list[int]:
    ids: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = client.get(path, params=params, headers=headers)
        assert page.status_code == 200, page.text
        ids += [item["id"] for item in page.json()["items"]]
        if (cursor := page.json()["next_cursor"]) is None:
            return ids


def _visible(world: World, unit: str | None) -> Callable[[str], set[int]]:
    def ids(kind: str) -> set[int]:
        with world.session_factory() as session:
            if kind == "cases":
                stmt = select(Case.id) if unit is None else select(Case.id).where(Case.unit == unit)
            else:
                stmt = select(Violation.id) if unit is None else (
                    select(Violation.id).join(Case, Case.id == Violation.case_id).where(Case.unit == unit))
            return set(session.scalars(stmt))
    return ids


@pytest.mark.parametrize(
    ("username", "unit"),
    [("admin", None), ("reviewer", None), ("supervisor", None), ("dispatcher", UNIT_A),
     ("field_inspector", UNIT_A), ("dispatcher_b", UNIT_B)],
)
@pytest.mark.parametrize("kind", ["violations", "cases"])
def test_lists_hold_exactly_what_the_caller_may_see(
    world: World, users: dict[str, TestUser], username: str, unit: str | None, kind: str
) -> None:
    expected = _visible(world, unit)(kind)
    assert expected, f"the world must give {username} something to see"
    got = _all_ids(world.client, f"/{kind}", users[username].headers())
    assert len(got) == len(set(got))
    assert set(got) == expected
    if unit is not None:  # and something is hidden from them
        assert expected < _visible(world, None)(kind)


@pytest.mark.parametrize(
    ("username", "unit"),
    [("admin", None), ("supervisor", None), ("dispatcher", UNIT_A), ("field_inspector", UNIT_A),
     ("dispatcher_b", UNIT_B)],
)
def test_cases_page_shows_exactly_what_the_caller_may_see(
    world: World, users: dict[str, TestUser], username: str, unit: str | None
) -> None:
    expected = _visible(world, unit)("cases")
    cookie = {"Cookie": f"{SESSION_COOKIE}={users[username].token()}"}
    page = world.client.get("/ui/cases", headers=cookie, follow_redirects=False)
    assert page.status_code == 200, page.text[:300]
    assert {int(i) for i in re.findall(r'id="case-(\d+)"', page.text)} == expected
    if unit is not None:  # asking for another unit's cases by name is refused, not answered empty
        other = UNIT_B if unit == UNIT_A else UNIT_A
        refused = world.client.get("/ui/cases", params={"unit": other}, headers=cookie, follow_redirects=False)
        assert refused.status_code == 403, refused.text[:300]
