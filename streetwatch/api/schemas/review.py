"""Request and response models of the review queue: claims, leases, releases."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from streetwatch.api.schemas import DbId, UtcDatetime, ViolationPublic
from streetwatch.casework.review_queue import MAX_CLAIM, MAX_LEASE_MINUTES
from streetwatch.store.models import Violation


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClaimCreate(_In):
    """How many items, for how long."""

    n: int = Field(10, ge=1, le=MAX_CLAIM, description="How many pending violations to lease.")
    lease_minutes: float = Field(15, gt=0, le=MAX_LEASE_MINUTES, description="How long the lease lasts.")


class ReleaseCreate(_In):
    """Which leases to give back; all of yours when ``violation_ids`` is null."""

    violation_ids: list[DbId] | None = Field(None, max_length=1000)


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
