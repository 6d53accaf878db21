"""Recording accepted uploads (``POST /uploads``): once per file, with an audit entry.

The route (``streetwatch.api.routes.uploads``) streams the file to disk and checks its hash; this
records it. Uploads are kept in a table (``uploads``) rather than derived from the content-addressed
file names: the names alone cannot say who sent a file, when, or what the car called it, and the
audit entry needs a row id to point at.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from streetwatch.core.vocab import UploadKind
from streetwatch.store.audit import append_audit
from streetwatch.store.models_uploads import Upload

UPLOAD_ACCEPTED = "upload.accept"  # the audit action of an accepted upload


@dataclass(frozen=True, slots=True)
class UploadFacts:
    """What is known of a file that arrived whole and hashed to its declared sha256."""

    sha256: str
    kind: UploadKind
    video_sha256: str
    filename: str
    size_bytes: int
    uploaded_by: str
    path: str


def find_upload(session: Session, sha256: str, video_sha256: str) -> Upload | None:
    """The upload of this file (for this video), if it was accepted before."""
    return session.scalar(select(Upload).where(Upload.sha256 == sha256, Upload.video_sha256 == video_sha256))


def record_upload(session: Session, facts: UploadFacts) -> tuple[Upload, bool]:
    """Record an accepted upload and audit it, in one committed transaction, unless it is known.

    Returns:
        The row, and whether it was new (False: the same file was accepted before, maybe
        by a concurrent request that committed first).
    """
    known = find_upload(session, facts.sha256, facts.video_sha256)
    if known is not None:
        return known, False
    row = Upload(sha256=facts.sha256, kind=facts.kind, video_sha256=facts.video_sha256,
                 filename=facts.filename, size_bytes=facts.size_bytes, uploaded_by=facts.uploaded_by,
                 path=facts.path)
    session.add(row)
    try:
        session.flush()
        append_audit(session, actor=facts.uploaded_by, action=UPLOAD_ACCEPTED, entity_type="upload",
                     entity_id=row.id, details={"sha256": facts.sha256, "kind": facts.kind.value,
                                                "video_sha256": facts.video_sha256, "filename": facts.filename,
                                                "size_bytes": facts.size_bytes, "path": facts.path})
        session.commit()
    except IntegrityError:  # the same file, committed by another request in between
        session.rollback()
        raced = find_upload(session, facts.sha256, facts.video_sha256)
        if raced is None:
            raise
        return raced, False
    return row, True
