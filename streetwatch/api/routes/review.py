"""The review queue over HTTP: claim the next items, release them, list what you hold.

A reviewer claims N pending violations for T minutes (``POST /review/claim``), decides on each
with ``POST /violations/{id}/decision`` while the lease lives (a decision without a live lease
is 409), and releases what they will not finish (``POST /review/release``). Supervisors and
admins may decide without a lease (an override, recorded in the audit log).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from streetwatch.api.auth import AuthenticatedUser, Role, require_roles
from streetwatch.api.deps import SessionDep, SessionFactoryDep
from streetwatch.api.errors import BAD_BODY
from streetwatch.api.schemas.review import (
    ClaimCreate,
    ReleaseCreate,
    ReleasedPublic,
    ReviewItemPublic,
    ReviewItemsPublic,
)
from streetwatch.casework.review_queue import claim, leased_to, release

router = APIRouter(prefix="/review", tags=["review"])
QUEUE_ROLES = (Role.REVIEWER, Role.SUPERVISOR)


Reviewer = Annotated[AuthenticatedUser, Depends(require_roles(*QUEUE_ROLES))]


@router.post("/claim", summary="Lease the next pending violations", response_model=ReviewItemsPublic,
             responses=BAD_BODY)
def claim_items(factory: SessionFactoryDep, body: ClaimCreate, user: Reviewer) -> ReviewItemsPublic:
    """Lease up to `n` pending violations (oldest first) for `lease_minutes`.

    Items you already hold are renewed and count towards `n`; an empty list means the queue is
    empty. Fifty reviewers claiming at once never get the same item.
    """
    rows = claim(factory, user.username, body.n, body.lease_minutes)
    return ReviewItemsPublic(items=[ReviewItemPublic.from_leased(v) for v in rows])


@router.post("/release", summary="Give leases back", response_model=ReleasedPublic, responses=BAD_BODY)
def release_items(factory: SessionFactoryDep, body: ReleaseCreate, user: Reviewer) -> ReleasedPublic:
    """Return your leased items to the queue (all of them, or those listed)."""
    return ReleasedPublic(released=release(factory, user.username, body.violation_ids))


@router.get("/leases", summary="What you hold", response_model=ReviewItemsPublic)
def my_leases(session: SessionDep, user: Reviewer) -> ReviewItemsPublic:
    """The pending violations leased to you whose lease has not expired, oldest first."""
    return ReviewItemsPublic(items=[ReviewItemPublic.from_leased(v) for v in leased_to(session, user.username)])
