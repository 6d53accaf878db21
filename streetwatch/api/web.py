"""The review page: server-rendered HTML (Jinja2 + vendored htmx and Leaflet) under ``/ui/``.

* ``/ui/login``: a form; a good password sets the login token (the same JWT as ``POST
  /auth/token``) in an HttpOnly, SameSite=Strict cookie that :mod:`streetwatch.api.auth` accepts.
  The sign-in and sign-out forms carry a CSRF token (:mod:`streetwatch.api.csrf`); signing in is
  throttled and audited as ``POST /auth/token`` is (:mod:`streetwatch.api.sign_in`), and signing out
  revokes the user's login tokens.
* ``/ui/queue``: claims the next items for the reviewer and shows one: evidence frame with
  its box, crop, the track as a strip, the rule's reason, a small map. Keys (``review.js``):
  A approve, R then 1-4 reject with a reason, J/K next/previous. A decision is an htmx POST
  that answers with the next item, so a reviewer clears an item in about a second. Labels for
  training (``web_labels``): drag on the frame to redraw the detection's box, C to change its
  class, B then drag for an object the detector missed, E for "nothing here", Enter to save.
* ``/ui/cases``: cases with filters (family, status, unit, grid, overdue) and a map; per case its
  rectification notice (整改通知单): a link to the newest PDF, and "issue" for the roles that work cases.
* ``/ui/dashboard``: the workflow KPIs per unit and grid for a period.

Cookie-authenticated POSTs must carry ``HX-Request: true`` (htmx sends it); see ``streetwatch.api.auth``.
The map's tiles come from ``settings.web.tile_url`` (``STREETWATCH_TILE_URL``); without one it draws a
plain grid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from streetwatch.api.auth import (
    DECIDER_ROLES,
    SESSION_COOKIE,
    AuthenticatedUser,
    Role,
    get_current_user,
    require_roles,
)
from streetwatch.api.csrf import csrf_matches, page_csrf_token, set_csrf_cookie
from streetwatch.api.deps import SessionDep, SessionFactoryDep, SettingsDep, TaxonomyDep, get_taxonomy
from streetwatch.api.errors import unprocessable
from streetwatch.api.routes import workflow as workflow_routes
from streetwatch.api.routes.workflow import WorkflowConfigDep
from streetwatch.api.schemas import DbId, evidence_url
from streetwatch.api.sign_in import SignInRefused, sign_in, sign_out
from streetwatch.api.web_labels import PageEdits, label_context, save_page_edits
from streetwatch.casework import review_queue
from streetwatch.casework.notice_content import ISSUABLE
from streetwatch.casework.notices import cases_with_notices
from streetwatch.core.labels import LabelError
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.vocab import CaseStatus, DecisionAction, RejectReason, ViolationStatus
from streetwatch.store import queries
from streetwatch.store.db import Session, SessionFactory
from streetwatch.store.models import Observation, Violation, utcnow

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/ui", include_in_schema=False)

QUEUE_ROLES = (Role.REVIEWER, Role.SUPERVISOR)
QUEUE_BATCH = 10  # items leased at once; topped up after every decision
LEASE_MINUTES = 15.0
CASES_PAGE = 100  # cases a page of /ui/cases shows; "next" pages on
REJECT_KEYS: tuple[tuple[str, str, str], ...] = tuple(  # key, reason code, label
    (str(key), reason.value, reason.value.replace("_", " ")) for key, reason in enumerate(RejectReason, start=1)
)


def mount_web(app: FastAPI) -> None:
    """Add the page's routes and its static files (``/ui/static``) to ``app``."""
    app.include_router(router)
    app.add_exception_handler(_LoginRedirect, login_redirect_handler)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")


# --- who is looking ---------------------------------------------------------------------------------

class _LoginRedirect(Exception):
    pass


def _page_user(request: Request, session: SessionDep) -> AuthenticatedUser:
    try:
        return get_current_user(request, session, None, None)
    except HTTPException as exc:
        if exc.status_code == 401:
            raise _LoginRedirect from None
        raise


PageUser = Annotated[AuthenticatedUser, Depends(_page_user)]


def _require(user: AuthenticatedUser, roles: tuple[Role, ...]) -> None:
    if not user.has_any_role(*roles):
        raise HTTPException(403, f"this page needs role {' or '.join(roles)}; {user.username!r} has "
                                 f"{', '.join(sorted(user.roles)) or 'none'}")


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200,
            headers: dict[str, str] | None = None) -> HTMLResponse:
    web = request.app.state.settings.web  # the settings create_app was given (settings.web)
    csrf_token, new = page_csrf_token(request)  # the sign-in and sign-out forms carry it
    base = {"tile_url": web.tile_url or "", "tile_attribution": web.tile_attribution, "csrf_token": csrf_token}
    response = templates.TemplateResponse(request, name, base | context, status_code=status_code, headers=headers)
    if new:
        set_csrf_cookie(request, response, csrf_token)
    return response


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    return _render(request, "login.html", {"error": None, "user": None})


@router.post("/login")
def login(
    request: Request, session: SessionDep, settings: SettingsDep,
    username: Annotated[str, Form(max_length=255)], password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str | None, Form(max_length=256)] = None,
) -> Response:
    if not csrf_matches(request, csrf_token):
        return _render(request, "login.html", {"error": "the sign-in form expired or came from another site: "
                                                        "sign in again here", "user": None}, status_code=403)
    try:
        signed_in = sign_in(request, session, username, password, via="page")
    except SignInRefused as exc:
        headers = None if exc.retry_after_s is None else {"Retry-After": str(exc.retry_after_s)}
        return _render(request, "login.html", {"error": str(exc), "user": None}, status_code=exc.status,
                       headers=headers)
    target = "/ui/queue" if AuthenticatedUser.from_user(signed_in.user).has_any_role(*QUEUE_ROLES) else "/ui/cases"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, signed_in.token, max_age=settings.auth_token_minutes * 60, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout")
def logout(
    request: Request, session: SessionDep, user: Annotated[AuthenticatedUser, Depends(get_current_user)],
    csrf_token: Annotated[str | None, Form(max_length=256)] = None,
) -> Response:
    """Sign out: the session's token (and every other login token of the user) stops working."""
    if not csrf_matches(request, csrf_token):
        raise HTTPException(403, "sign-out needs the page's CSRF token (csrf_token): reload the page")
    try:
        sign_out(request, session, user, via="page")
    except SignInRefused as exc:  # an API key: nothing to sign out of
        raise HTTPException(exc.status, str(exc)) from None
    response = Response(status_code=204, headers={"HX-Redirect": "/ui/login"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- the queue ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BoxView:
    """A box as percentages of its frame, for a CSS overlay."""

    left: float
    top: float
    width: float
    height: float

    @classmethod
    def of(cls, xyxy: Any, frame_w: int, frame_h: int) -> BoxView:
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        w, h = max(frame_w, 1), max(frame_h, 1)
        return cls(100 * x1 / w, 100 * y1 / h, 100 * (x2 - x1) / w, 100 * (y2 - y1) / h)


def frame_context(session: Session, taxonomy: Taxonomy, obs: Observation) -> dict[str, Any]:
    """What ``_labeller.html`` draws for an observation's evidence frame: its size, its boxes as views, the labels."""
    frame = queries.get_evidence(session, obs.frame_sha256)
    # Old rows may lack sizes: fall back to the box's own extent so the overlay stays inside.
    frame_w = frame.width if frame is not None and frame.width else int(max(obs.bbox[2], 1))
    frame_h = frame.height if frame is not None and frame.height else int(max(obs.bbox[3], 1))
    labelled = label_context(session, obs, taxonomy, frame_w, frame_h)
    for other in labelled["other_objects"]:
        other["view"] = BoxView.of(other["box"], frame_w, frame_h)
    return labelled | {"obs": obs, "frame_url": evidence_url(obs.frame_sha256), "frame_w": frame_w, "frame_h": frame_h,
                       "box": BoxView.of(labelled["label_box"], frame_w, frame_h), "model_name": obs.video.model_name}


def held_position(ids: list[int], current: int) -> dict[str, Any]:
    """Where ``current`` stands among the held items, and its neighbours (J/K)."""
    pos = ids.index(current)
    return {"position": pos + 1, "held": len(ids), "prev_id": ids[pos - 1] if pos > 0 else None,
            "next_id": ids[pos + 1] if pos + 1 < len(ids) else None}


def _item_context(session: Session, taxonomy: Taxonomy, violation: Violation, held: list[Violation]
                  ) -> dict[str, Any]:
    obs = violation.observation
    context = frame_context(session, taxonomy, obs)
    frame_w, frame_h = context["frame_w"], context["frame_h"]
    points = [
        {"t": float(p["pts_s"]), "frame": int(p["frame_index"]), "conf": float(p["confidence"]),
         "box": BoxView.of(p["xyxy"], frame_w, frame_h), "best": abs(float(p["pts_s"]) - obs.best_pts_s) < 1e-6}
        for p in (obs.track_points or [])
    ]
    return context | held_position([v.id for v in held], violation.id) | {
        "v": violation, "crop_url": evidence_url(obs.crop_sha256), "points": points, "reject_keys": REJECT_KEYS,
    }


def _held(factory: SessionFactory, session: Session, user: AuthenticatedUser, *, top_up: bool
          ) -> list[Violation]:
    if top_up:
        session.commit()  # end this session's read: claim works in its own transactions
        review_queue.claim(factory, user.username, QUEUE_BATCH, LEASE_MINUTES)
    return sorted(review_queue.leased_to(session, user.username), key=lambda v: v.id)


def _pick(held: list[Violation], wanted: int | None, *, after: int | None = None) -> Violation | None:
    if not held:
        return None
    if wanted is not None:
        return next((v for v in held if v.id == wanted), held[0])
    if after is not None:
        return next((v for v in held if v.id > after), held[0])
    return held[0]


def _item_fragment(request: Request, session: Session, held: list[Violation], current: Violation | None,
                   flash: str | None = None, status_code: int = 200) -> HTMLResponse:
    context: dict[str, Any] = {"flash": flash, "empty": current is None}
    if current is not None:
        context |= _item_context(session, get_taxonomy(request), current, held)
    return _render(request, "_item.html", context, status_code=status_code)


@router.get("/queue")
def queue(request: Request, factory: SessionFactoryDep, session: SessionDep, user: PageUser,
          id: Annotated[DbId | None, Query()] = None) -> HTMLResponse:
    _require(user, QUEUE_ROLES)
    held = _held(factory, session, user, top_up=True)
    current = _pick(held, id)
    context: dict[str, Any] = {"user": user, "flash": None, "empty": current is None, "page": "queue"}
    if current is not None:
        context |= _item_context(session, get_taxonomy(request), current, held)
    return _render(request, "queue.html", context)


@router.get("/queue/item")
def queue_item(request: Request, factory: SessionFactoryDep, session: SessionDep, user: PageUser,
               id: Annotated[DbId | None, Query()] = None) -> HTMLResponse:
    """One held item as a fragment (J/K); tops the lease batch up when nothing is held."""
    _require(user, QUEUE_ROLES)
    held = _held(factory, session, user, top_up=False) or _held(factory, session, user, top_up=True)
    return _item_fragment(request, session, held, _pick(held, id))


@router.post("/queue/{violation_id}/decision")
def queue_decide(
    request: Request, factory: SessionFactoryDep, session: SessionDep, config: WorkflowConfigDep,
    taxonomy: TaxonomyDep, violation_id: DbId,
    user: Annotated[AuthenticatedUser, Depends(require_roles(*DECIDER_ROLES))],
    action: Annotated[Literal[DecisionAction.APPROVE, DecisionAction.REJECT], Form()],
    reason_code: Annotated[str | None, Form(max_length=32)] = None,
) -> HTMLResponse:
    """Approve or reject, then answer with the next held item."""
    flash: str | None
    status_code = 200
    try:
        session.commit()  # SQLite: the decision's first statement must be its write
        review_queue.decide(
            session, violation_id, review_queue.DecisionRequest(action=action, reason_code=reason_code),
            actor=user.username, taxonomy=taxonomy, config=config, may_override=user.has_any_role(Role.SUPERVISOR),
        )
        session.commit()
        outcome = (ViolationStatus.APPROVED.value if action == DecisionAction.APPROVE
                   else f"{ViolationStatus.REJECTED.value} ({reason_code})")
        flash = f"#{violation_id} {outcome}"
    except queries.InvalidDecisionError as exc:
        session.rollback()
        flash, status_code = f"#{violation_id}: {exc}", 422
    except (queries.DecisionConflictError, queries.NotFoundError) as exc:
        session.rollback()
        flash = f"#{violation_id} not decided: {exc}"  # someone else got there first: move on
    held = _held(factory, session, user, top_up=True)
    current = _pick(held, None, after=violation_id)
    return _item_fragment(request, session, held, current, flash, status_code)


@router.post("/queue/{violation_id}/labels")
def queue_labels(
    request: Request, factory: SessionFactoryDep, session: SessionDep, config: WorkflowConfigDep,
    taxonomy: TaxonomyDep, violation_id: DbId,
    user: Annotated[AuthenticatedUser, Depends(require_roles(*DECIDER_ROLES))],
    box: Annotated[str | None, Form(max_length=200)] = None,
    class_name: Annotated[str | None, Form(max_length=64)] = None,
    missed_box: Annotated[str | None, Form(max_length=200)] = None,
    missed_class: Annotated[str | None, Form(max_length=64)] = None,
    empty: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """Save the label edits staged on the frame (``web_labels``), then answer with the same item."""
    status_code = 200
    try:
        edits = PageEdits.parse(box, class_name, missed_box, missed_class, empty)
        flash = save_page_edits(session, violation_id, edits, actor=user.username, taxonomy=taxonomy, config=config,
                                may_override=user.has_any_role(Role.SUPERVISOR))
    except (LabelError, queries.InvalidDecisionError) as exc:
        flash, status_code = f"#{violation_id} labels not saved: {exc}", 422
    except (queries.DecisionConflictError, queries.NotFoundError) as exc:
        flash = f"#{violation_id} labels not saved: {exc}"
    held = _held(factory, session, user, top_up=True)
    return _item_fragment(request, session, held, _pick(held, violation_id), flash, status_code)


# --- cases and dashboard ----------------------------------------------------------------------------

@router.get("/cases")
def cases(
    request: Request, session: SessionDep, taxonomy: TaxonomyDep, user: PageUser,
    family: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    unit: Annotated[str | None, Query(max_length=255)] = None,
    grid: Annotated[str | None, Query(max_length=64)] = None,
    overdue: Annotated[bool, Query()] = False,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """A page of cases, newest first; "next" follows the list's cursor, so every case is reachable."""
    family, status, unit, grid, cursor = (v or None for v in (family, status, unit, grid, cursor))
    scope = user.unit_scope
    if scope is not None and unit not in (None, scope):
        raise HTTPException(403, f"you may only see the cases of your unit {scope!r}")
    now = utcnow()
    try:
        rows, next_cursor = queries.list_cases(session, family=family, status=status, unit=scope or unit, grid=grid,
                                               overdue=overdue or None, now=now, limit=CASES_PAGE, cursor=cursor)
    except queries.QueryError as exc:
        raise unprocessable(str(exc), "query") from None
    filters = {"family": family, "status": status, "unit": unit, "grid": grid, "overdue": overdue}
    next_query = None if next_cursor is None else urlencode(
        {**{k: v for k, v in filters.items() if v}, "cursor": next_cursor})
    markers = [{"id": c.id, "lat": c.lat, "lon": c.lon, "label": f"#{c.id} {c.family} {c.status}"} for c in rows]
    overdue_ids = queries.overdue_case_ids(session, [c.id for c in rows], now)
    notice_ids = cases_with_notices(session, [c.id for c in rows])
    return _render(request, "cases.html", {
        "user": user, "page": "cases", "cases": rows, "overdue_ids": overdue_ids, "notice_ids": notice_ids,
        "may_issue": user.has_any_role(*workflow_routes.WORKFLOW_ROLES), "issuable": ISSUABLE,
        "markers_json": json.dumps(markers), "families": sorted(taxonomy.families), "statuses": tuple(CaseStatus),
        "filters": filters, "next_query": next_query,
    })


@router.get("/dashboard")
def dashboard(
    request: Request, session: SessionDep, config: WorkflowConfigDep, user: PageUser,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> HTMLResponse:
    _require(user, workflow_routes.KPI_ROLES)
    until = utcnow()
    kpis = workflow_routes.kpis(session=session, config=config, user=user, unit=None, grid=None,
                                since=until - timedelta(days=days), until=until)
    return _render(request, "dashboard.html", {"user": user, "page": "dashboard", "k": kpis, "days": days})


def login_redirect_handler(_request: Request, _exc: Exception) -> Response:
    """Pages answer an anonymous visitor with the login form (htmx: a full-page redirect)."""
    return RedirectResponse("/ui/login", status_code=303, headers={"HX-Redirect": "/ui/login"})
