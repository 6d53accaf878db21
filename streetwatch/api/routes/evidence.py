"""Evidence images, addressed by the sha256 of their bytes.

A file never changes under its hash, so responses carry a strong ETag (the hash) and are
cacheable forever. The hash is checked against ``^[0-9a-f]{64}$`` before it touches a path,
and only hashes recorded in the database are served.

Any role may read evidence; a dispatcher or field inspector only the images of violations
routed to their unit.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path
from fastapi.responses import FileResponse, Response

from streetwatch.api.auth import CurrentUser
from streetwatch.api.deps import EvidenceStoreDep, SessionDep
from streetwatch.api.schemas import ErrorPublic
from streetwatch.store import queries

router = APIRouter(prefix="/evidence", tags=["evidence"])
log = logging.getLogger(__name__)

SHA256_PATTERN = r"^[0-9a-f]{64}$"
CACHE_FOREVER = "public, max-age=31536000, immutable"


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


@router.get(
    "/{sha256}",
    summary="Read an evidence image",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The image bytes."},
        304: {"description": "The client's cached copy (If-None-Match) is current."},
        403: {"model": ErrorPublic, "description": "The image shows no violation routed to your unit."},
        404: {"model": ErrorPublic, "description": "No evidence has this hash."},
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
    path = store.path_for(sha256)  # validated again there: it becomes a path
    if not path.is_file():
        log.error("evidence %s is in the database but its file %s is missing", sha256, path)
        raise HTTPException(404, f"evidence {sha256} is recorded but its file is missing")
    return FileResponse(path, media_type=row.media_type, headers=headers)
