"""The labelling queue over HTTP: frames where a label teaches the detector most, apart from the violations.

The pipeline adds a few items per video (low-confidence detections, classes the model is weak on:
``streetwatch.store.labelling_queue``). A reviewer leases items (``POST /labelling/claim``), labels
each item's frame with ``POST /observations/{observation_id}/labels`` and ends it
(``POST /labelling/{id}/finish``: `labelled`, or `skipped`). Items never file cases. The review page
has the same queue at ``/ui/labelling``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from streetwatch.api.auth import ALL_UNITS_ROLES, AuthenticatedUser, Role, require_roles
from streetwatch.api.deps import SessionDep, SessionFactoryDep
from streetwatch.api.errors import BAD_BODY
from streetwatch.api.schemas import DbId, ErrorPublic
from streetwatch.api.schemas.labelling import (
    LabellingClaimCreate,
    LabellingFinishCreate,
    LabellingItemPublic,
    LabellingItemsPublic,
)
from streetwatch.core.vocab import LabellingStatus
from streetwatch.store import labelling_queue

router = APIRouter(prefix="/labelling", tags=["labelling"])
LABELLER_ROLES = (Role.REVIEWER, Role.SUPERVISOR)
Labeller = Annotated[AuthenticatedUser, Depends(require_roles(*LABELLER_ROLES))]
ItemId = Annotated[DbId, Path(description="The labelling item.")]
PAGE = 100


@router.get("", summary="Labelling items", response_model=LabellingItemsPublic,
            dependencies=[Depends(require_roles(*ALL_UNITS_ROLES))])
def list_items(
    session: SessionDep,
    status: Annotated[LabellingStatus | None, Query(description="Only items in this status.")] = None,
    cursor: Annotated[DbId | None, Query(description="The `next_cursor` of the previous page.")] = None,
) -> LabellingItemsPublic:
    """Items by id, with the count of each status in the whole queue."""
    rows = labelling_queue.list_items(session, status=status, limit=PAGE + 1, after_id=cursor)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return LabellingItemsPublic(items=[LabellingItemPublic.of(r) for r in rows],
                                next_cursor=str(rows[-1].id) if more else None, counts=labelling_queue.counts(session))


@router.post("/claim", summary="Lease the next labelling items", response_model=LabellingItemsPublic,
             responses=BAD_BODY)
def claim_items(factory: SessionFactoryDep, session: SessionDep, body: LabellingClaimCreate,
                user: Labeller) -> LabellingItemsPublic:
    """Lease up to `n` pending items (most informative first) for `lease_minutes`; those you hold are renewed."""
    labelling_queue.claim(factory, user.username, body.n, body.lease_minutes)
    held = labelling_queue.leased_to(session, user.username)
    return LabellingItemsPublic(items=[LabellingItemPublic.of(r) for r in held], counts=labelling_queue.counts(session))


FINISH_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorPublic, "description": "Not a reviewer or supervisor."},
    404: {"model": ErrorPublic, "description": "No labelling item has this id."},
    409: {"model": ErrorPublic, "description": "Finished already, or you hold no live lease on it."},
    **BAD_BODY,
    422: {"description": "`labelled` while the frame has no label record written since the item was made."},
}


@router.post("/{item_id}/finish", summary="End a labelling item", response_model=LabellingItemPublic,
             responses=FINISH_ERRORS)
def finish_item(session: SessionDep, item_id: ItemId, body: LabellingFinishCreate,
                user: Labeller) -> LabellingItemPublic:
    """End the item as `labelled` or `skipped` (audited). Reviewers need the item's live lease; supervisors
    may end any pending item (an override, recorded)."""
    session.commit()  # SQLite: the write must be the transaction's first statement
    item = labelling_queue.finish(session, item_id, body.outcome, actor=user.username,
                                  may_override=user.has_any_role(Role.SUPERVISOR))
    session.commit()
    return LabellingItemPublic.of(item)
