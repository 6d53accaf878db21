"""The labelling queue on the review page: ``/ui/labelling``.

One frame at a time, with the same labelling tools as the review queue (``review.js``): drag to
redraw the detection's box, C for its class, B then drag for an object the detector missed, E for
"nothing here"; Enter saves the label records and ends the item as labelled, S skips it. Items are
leased in batches like violations (``streetwatch.store.labelling_queue``) and never file cases.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse

from streetwatch.api.auth import AuthenticatedUser, Role, require_roles
from streetwatch.api.deps import SessionDep, SessionFactoryDep, TaxonomyDep, get_taxonomy
from streetwatch.api.routes.labelling import LABELLER_ROLES
from streetwatch.api.schemas import DbId
from streetwatch.api.web import LEASE_MINUTES, PageUser, _render, _require, frame_context, held_position
from streetwatch.api.web_labels import PageEdits, write_frame_edits
from streetwatch.core.labels import LabelError
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.vocab import LabelKind, LabellingStatus
from streetwatch.store import labelling_queue, labels, queries
from streetwatch.store.db import Session, SessionFactory
from streetwatch.store.models import Observation
from streetwatch.store.models_labels import LabellingItem

router = APIRouter(prefix="/ui/labelling", include_in_schema=False)
BATCH = 10
Labeller = Annotated[AuthenticatedUser, Depends(require_roles(*LABELLER_ROLES))]


def _held(factory: SessionFactory, session: Session, user: AuthenticatedUser, *, top_up: bool) -> list[LabellingItem]:
    if top_up:
        session.commit()  # end this session's read: claim works in its own transactions
        labelling_queue.claim(factory, user.username, BATCH, LEASE_MINUTES)
    return labelling_queue.leased_to(session, user.username)


def _pick(held: list[LabellingItem], wanted: int | None) -> LabellingItem | None:
    if not held:
        return None
    return next((item for item in held if item.id == wanted), held[0])


def _context(session: Session, taxonomy: Taxonomy, item: LabellingItem, held: list[LabellingItem]) -> dict[str, Any]:
    obs = session.get(Observation, item.observation_id)
    if obs is None:
        raise queries.NotFoundError(f"observation {item.observation_id} of labelling item {item.id} is gone")
    return frame_context(session, taxonomy, obs) | held_position([h.id for h in held], item.id) | {"it": item}


def _fragment(request: Request, session: Session, held: list[LabellingItem], current: LabellingItem | None,
              flash: str | None = None, status_code: int = 200) -> HTMLResponse:
    context: dict[str, Any] = {"flash": flash, "empty": current is None}
    if current is not None:
        context |= _context(session, get_taxonomy(request), current, held)
    return _render(request, "_label_item.html", context, status_code=status_code)


@router.get("")
def labelling_page(request: Request, factory: SessionFactoryDep, session: SessionDep, user: PageUser,
                   id: Annotated[DbId | None, Query()] = None) -> HTMLResponse:
    _require(user, LABELLER_ROLES)
    held = _held(factory, session, user, top_up=True)
    current = _pick(held, id)
    context: dict[str, Any] = {"user": user, "flash": None, "empty": current is None, "page": "labelling"}
    if current is not None:
        context |= _context(session, get_taxonomy(request), current, held)
    return _render(request, "labelling.html", context)


@router.get("/item")
def labelling_item(request: Request, factory: SessionFactoryDep, session: SessionDep, user: PageUser,
                   id: Annotated[DbId | None, Query()] = None) -> HTMLResponse:
    """One held item as a fragment (J/K); tops the batch up when nothing is held."""
    _require(user, LABELLER_ROLES)
    held = _held(factory, session, user, top_up=False) or _held(factory, session, user, top_up=True)
    return _fragment(request, session, held, _pick(held, id))


def save_item_labels(session: Session, item_id: int, edits: PageEdits, *, actor: str, may_override: bool,
                     taxonomy: Taxonomy) -> str:
    """Write the edits as label records on the item's frame and end the item labelled, in one transaction."""
    item = session.get(LabellingItem, item_id)
    if item is None:
        raise queries.NotFoundError(f"labelling item {item_id} not found")
    observation_id = item.observation_id
    session.commit()  # end the read: on SQLite the writing transaction must start with its write (the lock)

    def write(request: labels.LabelRequest) -> labels.ReviewLabel:
        return labels.record_label(session, observation_id, request, actor=actor, taxonomy=taxonomy)

    def relabel(class_name: str) -> str:  # a labelling item is no violation: a label record only
        write(labels.LabelRequest(LabelKind.RELABEL, class_name=class_name))
        return f"labelled {class_name}"

    try:
        done = write_frame_edits(edits, write, relabel)
        labelling_queue.finish(session, item_id, LabellingStatus.LABELLED, actor=actor, may_override=may_override)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return f"label #{item_id} done: " + "; ".join(done)


@router.post("/{item_id}/labels")
def labelling_labels(
    request: Request, factory: SessionFactoryDep, session: SessionDep, taxonomy: TaxonomyDep, item_id: DbId,
    user: Labeller,
    box: Annotated[str | None, Form(max_length=200)] = None,
    class_name: Annotated[str | None, Form(max_length=64)] = None,
    missed_box: Annotated[str | None, Form(max_length=200)] = None,
    missed_class: Annotated[str | None, Form(max_length=64)] = None,
    empty: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """Save the label edits and end the item; answer with the next held item (the same one on an error)."""
    status_code, stay = 200, False
    try:
        edits = PageEdits.parse(box, class_name, missed_box, missed_class, empty)
        flash = save_item_labels(session, item_id, edits, actor=user.username, taxonomy=taxonomy,
                                 may_override=user.has_any_role(Role.SUPERVISOR))
    except (LabelError, queries.InvalidDecisionError) as exc:
        flash, status_code, stay = f"label #{item_id} not saved: {exc}", 422, True
    except (queries.DecisionConflictError, queries.NotFoundError) as exc:
        flash = f"label #{item_id} not saved: {exc}"
    held = _held(factory, session, user, top_up=True)
    return _fragment(request, session, held, _pick(held, item_id if stay else None), flash, status_code)


@router.post("/{item_id}/skip")
def labelling_skip(request: Request, factory: SessionFactoryDep, session: SessionDep, item_id: DbId,
                   user: Labeller) -> HTMLResponse:
    """End the item skipped; answer with the next held item."""
    try:
        session.commit()
        labelling_queue.finish(session, item_id, LabellingStatus.SKIPPED, actor=user.username,
                               may_override=user.has_any_role(Role.SUPERVISOR))
        session.commit()
        flash = f"label #{item_id} skipped"
    except (queries.DecisionConflictError, queries.NotFoundError, queries.InvalidDecisionError) as exc:
        session.rollback()
        flash = f"label #{item_id} not skipped: {exc}"
    held = _held(factory, session, user, top_up=True)
    return _fragment(request, session, held, _pick(held, None), flash)
