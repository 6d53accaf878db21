"""Evidence images, addressed by the sha256 of their bytes.

A file never changes under its hash, so responses carry a strong ETag (the hash) and are
cacheable forever. The hash is checked against ``^[0-9a-f]{64}$`` before it touches a path,
and only hashes recorded in the database are served. The bytes are hashed again before they
are sent: a file that was damaged or tampered with is never served under the hash it no longer
has (409, recorded once in the audit log), and the bytes sent are the ones checked.

Any role may read evidence; a dispatcher or field inspector only the images of violations
routed to their unit. Raw evidence is for the roles that judge it: reviewers and supervisors (and
admins, who hold every role) get the raw image; every other role (dispatchers, field inspectors,
and machines signing in with their API keys) gets its blurred copy, faces and plates unreadable
(:mod:`streetwatch.store.blurred`), under the same URL with its own ETag. ``/evidence/{sha256}/blurred``
is the blurred copy for anyone: what Open311 media links and webhooks point at.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path
from fastapi.responses import Response

from streetwatch.api.auth import AuthenticatedUser, CurrentUser
from streetwatch.api.deps import EvidenceStoreDep, SessionDep
from streetwatch.api.schemas import ErrorPublic
from streetwatch.core.vocab import EvidenceFault, Role
from streetwatch.store import queries
from streetwatch.store.blurred import blurred_evidence, vehicle_boxes_on
from streetwatch.store.evidence import JPEG_MEDIA_TYPE, EvidenceBackend, EvidenceMismatchError, EvidenceProblem
from streetwatch.store.evidence_checks import record_evidence_problem
from streetwatch.vision.blur import BLUR_VERSION

router = APIRouter(prefix="/evidence", tags=["evidence"])
log = logging.getLogger(__name__)

SHA256_PATTERN = r"^[0-9a-f]{64}$"
CACHE_FOREVER = "public, max-age=31536000, immutable"
NEVER_CACHE = {"Cache-Control": "no-store"}
RAW_EVIDENCE_ROLES = (Role.REVIEWER, Role.SUPERVISOR)  # admin holds every role


def sees_raw_evidence(user: AuthenticatedUser) -> bool:
    """Whether the user is served raw evidence (reviewers, supervisors, admins) or its blurred copy."""
    return user.has_any_role(*RAW_EVIDENCE_ROLES)


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"image/jpeg": {}}, "description": "The image bytes."},
    304: {"description": "The client's cached copy (If-None-Match) is current."},
    403: {"model": ErrorPublic, "description": "The image shows no violation routed to your unit."},
    404: {"model": ErrorPublic, "description": "No evidence has this hash."},
    409: {"model": ErrorPublic, "description": "The stored file no longer hashes to this hash (damaged or "
                                               "tampered with): not served; recorded in the audit log."},
    410: {"model": ErrorPublic, "description": "The image was purged under the retention policy."},
    422: {"description": "The hash is not 64 lowercase hex digits."},
}
Sha256Path = Annotated[str, Path(pattern=SHA256_PATTERN, description="sha256 of the image, lowercase hex.")]


@router.get("/{sha256}", summary="Read an evidence image (raw for reviewers and supervisors, blurred otherwise)",
            response_class=Response, responses=_RESPONSES)
def get_evidence(
    session: SessionDep,
    store: EvidenceStoreDep,
    user: CurrentUser,
    sha256: Sha256Path,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The image bytes, with `ETag` and `Cache-Control: immutable`: the raw image for reviewers,
    supervisors and admins; for other roles its blurred copy (faces and plates unreadable)."""
    return _serve(session, store, user, sha256, if_none_match, blurred=not sees_raw_evidence(user))


@router.get("/{sha256}/blurred", summary="Read an evidence image with faces and plates blurred",
            response_class=Response, responses=_RESPONSES)
def get_blurred_evidence(
    session: SessionDep,
    store: EvidenceStoreDep,
    user: CurrentUser,
    sha256: Sha256Path,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The image with every face and every text region on a vehicle blurred: what leaves the system
    (Open311 media, webhooks, notices). Made on first request and cached."""
    return _serve(session, store, user, sha256, if_none_match, blurred=True)


def _serve(session: SessionDep, store: EvidenceBackend, user: AuthenticatedUser, sha256: str,
           if_none_match: str | None, *, blurred: bool) -> Response:
    row = queries.get_evidence(session, sha256)
    if row is None:
        raise HTTPException(404, f"evidence {sha256} not found")
    if not user.sees_all_units and not any(user.can_see_unit(u) for u in queries.evidence_units(session, sha256)):
        raise HTTPException(403, f"evidence {sha256} shows no violation routed to your unit")
    if row.purged_at is not None:
        raise HTTPException(410, f"evidence {sha256} was purged under the retention policy on "
                                 f"{row.purged_at:%Y-%m-%d}", headers=NEVER_CACHE)
    etag = f'"{sha256}-blur-v{BLUR_VERSION}"' if blurred else f'"{sha256}"'
    # The same URL answers raw or blurred by role: a shared cache must not hand one to the other.
    headers = {"ETag": etag, "Cache-Control": CACHE_FOREVER.replace("public", "private")}
    if _etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    try:
        if blurred:
            data = blurred_evidence(store, sha256, vehicle_boxes_on(session, sha256))
        else:
            data = store.read_verified(sha256)  # the hash is validated again there: it becomes a path
    except FileNotFoundError:
        log.error("evidence %s is in the database but its file %s is missing", sha256, store.where(sha256))
        raise HTTPException(404, f"evidence {sha256} is recorded but its file is missing",
                            headers=NEVER_CACHE) from None
    except EvidenceMismatchError as exc:
        log.error("evidence %s failed its integrity check: %s hashes to %s", sha256, exc.path, exc.actual_sha256)
        problem = EvidenceProblem(sha256, EvidenceFault.MISMATCH, exc.path, exc.actual_sha256)
        session.rollback()  # end the reads: on SQLite the audit write must start a transaction of its own
        record_evidence_problem(session, problem, actor=user.username, seen_by="GET /evidence")
        session.commit()
        raise HTTPException(409, f"{exc}; it is not served, and the failure is recorded in the audit log",
                            headers=NEVER_CACHE) from None
    return Response(content=data, media_type=JPEG_MEDIA_TYPE if blurred else row.media_type, headers=headers)
