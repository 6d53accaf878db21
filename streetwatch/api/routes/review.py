"""The review queue over HTTP: claim the next items, release them, list what you hold.

A reviewer claims N pending violations for T minutes (``POST /review/claim``), decides on each
with ``POST /violations/{id}/decision`` while the lease lives (a decision without a live lease
is 409), and releases what they will not finish (``POST /review/release``). Supervisors and
admins may decide without a lease (an override, recorded in the audit log).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from streetwatch.api.auth import AuthenticatedUser, Role, require_roles
from streetwatch.api.deps import SessionDep, SessionFactoryDep
from streetwatch.api.schemas import UtcDatetime, ViolationPublic
from streetwatch.casework.review_queue import MAX_CLAIM, MAX_LEASE_MINUTES, claim, leased_to, release
from streetwatch.store.models import Violation

router = APIRouter(prefix="/review", tags=["review"])
QUEUE_ROLES = (Role.REVIEWER, Role.SUPERVISOR)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClaimCreate(_In):
    """How many items, for how long."""

    n: int = Field(10, ge=1, le=MAX_CLAIM, description="How many pending violations to lease.")
    lease_minutes: float = Field(15, gt=0, le=MAX_LEASE_MINUTES, description="How long the lease lasts.")


class ReleaseCreate(_In):
    """Which leases to give back; all of yours when ``violation_ids`` is null."""

    violation_ids: list[int] | None = Field(None, max_length=1000)


class ReviewItemPublic(ViolationPublic):
    """A violation leased to you."""

    lease_expires_at: UtcDatetime = Field(description="Decide before then, or claim again to renew.")

    @classmethod
    def from_leased(cls, violation: Violation) -> ReviewItemPublic:
        assert violation.lease_expires_at is not None  # leased
        return cls(**cls.fields_from(violation), lease_expires_at=violation.lease_expires_at)


class ReviewItemsPublic(BaseModel):
    """The items you hold, oldest first."""

    items: list[ReviewItemPublic]


class ReleasedPublic(BaseModel):
    """How many leases were given back."""

    released: int


Reviewer = Annotated[AuthenticatedUser, Depends(require_roles(*QUEUE_ROLES))]


@router.post("/claim", summary="Lease the next pending violations", response_model=ReviewItemsPublic)
def claim_items(factory: SessionFactoryDep, body: ClaimCreate, user: Reviewer) -> ReviewItemsPublic:
    """Lease up to `n` pending violations (oldest first) for `lease_minutes`.

    Items you already hold are renewed and count towards `n`; an empty list means the queue is
    empty. Fifty reviewers claiming at once never get the same item.
    """
    rows = claim(factory, user.username, body.n, body.lease_minutes)
    return ReviewItemsPublic(items=[ReviewItemPublic.from_leased(v) for v in rows])


@router.post("/release", summary="Give leases back", response_model=ReleasedPublic)
def release_items(factory: SessionFactoryDep, body: ReleaseCreate, user: Reviewer) -> ReleasedPublic:
    """Return your leased items to the queue (all of them, or those listed)."""
    return ReleasedPublic(released=release(factory, user.username, body.violation_ids))


@router.get("/leases", summary="What you hold", response_model=ReviewItemsPublic)
def my_leases(session: SessionDep, user: Reviewer) -> ReviewItemsPublic:
    """The pending violations leased to you whose lease has not expired, oldest first."""
    return ReviewItemsPublic(items=[ReviewItemPublic.from_leased(v) for v in leased_to(session, user.username)])
