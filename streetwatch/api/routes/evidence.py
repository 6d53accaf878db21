"""Evidence images, addressed by the sha256 of their bytes.

A file never changes under its hash, so responses carry a strong ETag (the hash) and are
cacheable forever. The hash is checked against ``^[0-9a-f]{64}$`` before it touches a path,
and only hashes recorded in the database are served. The bytes are hashed again before they
are sent: a file that was damaged or tampered with is never served under the hash it no longer
has (409, recorded once in the audit log), and the bytes sent are the ones checked.

Any role may read evidence; a dispatcher or field inspector only the images of violations
routed to their unit.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path
from fastapi.responses import Response

from streetwatch.api.auth import CurrentUser
from streetwatch.api.deps import EvidenceStoreDep, SessionDep
from streetwatch.api.schemas import ErrorPublic
from streetwatch.core.vocab import EvidenceFault
from streetwatch.store import queries
from streetwatch.store.evidence import EvidenceMismatchError, EvidenceProblem
from streetwatch.store.evidence_checks import record_evidence_problem

router = APIRouter(prefix="/evidence", tags=["evidence"])
log = logging.getLogger(__name__)

SHA256_PATTERN = r"^[0-9a-f]{64}$"
CACHE_FOREVER = "public, max-age=31536000, immutable"
NEVER_CACHE = {"Cache-Control": "no-store"}


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


@router.get(
    "/{sha256}",
    summary="Read an evidence image",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The image bytes."},
        304: {"description": "The client's cached copy (If-None-Match) is current."},
        403: {"model": ErrorPublic, "description": "The image shows no violation routed to your unit."},
        404: {"model": ErrorPublic, "description": "No evidence has this hash."},
        409: {"model": ErrorPublic, "description": "The stored file no longer hashes to this hash (damaged or "
                                                   "tampered with): not served; recorded in the audit log."},
        422: {"description": "The hash is not 64 lowercase hex digits."},
    },
)
def get_evidence(
    session: SessionDep,
    store: EvidenceStoreDep,
    user: CurrentUser,
    sha256: Annotated[str, Path(pattern=SHA256_PATTERN, description="sha256 of the image, lowercase hex.")],
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The image bytes, with `ETag: "<sha256>"` and `Cache-Control: immutable`."""
    row = queries.get_evidence(session, sha256)
    if row is None:
        raise HTTPException(404, f"evidence {sha256} not found")
    if not user.sees_all_units and not any(user.can_see_unit(u) for u in queries.evidence_units(session, sha256)):
        raise HTTPException(403, f"evidence {sha256} shows no violation routed to your unit")
    etag = f'"{sha256}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_FOREVER}
    if _etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    try:
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
    return Response(content=data, media_type=row.media_type, headers=headers)
