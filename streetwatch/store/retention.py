"""Retention: remove raw footage and evidence the city no longer needs, keep what open work needs.

The policy (``streetwatch purge --older-than 90d``; docs/privacy.md):

- **Evidence** (frames and crops) older than the cut-off is removed, unless something still needs it:
  a violation pending review; a violation (not rejected) of a case that is not closed, or was closed
  after the cut-off; a frame with reviewers' label records (the city's training data) or in the
  frozen evaluation set. Its row stays, marked ``purged_at``, so observations keep their reference
  and ``streetwatch audit verify`` no longer expects the file; its cached blurred copies go too.
- **Raw footage** (the video files in the folders named with ``--footage``): a file is removed when
  it is a video processed before the cut-off (same name and size, then the same sha256, so only
  the very file that was processed goes) none of whose evidence is still needed.

Every removal is an audit entry (``evidence.purge``, ``video.purge_footage``) with what went and
why, appended in one transaction before any file is deleted: a crash after the commit leaves a
file the next run deletes, never a file gone without its record.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from streetwatch.core.vocab import CaseStatus, ViolationStatus
from streetwatch.store.audit import append_audit, take_writer_lock
from streetwatch.store.blurred import drop_blurred
from streetwatch.store.evidence import EvidenceStore, file_sha256
from streetwatch.store.models import Case, Evidence, Observation, Video, Violation
from streetwatch.store.models_labels import ReviewLabel
from streetwatch.store.models_registry import EvalFrame

PURGE_EVIDENCE: Final = "evidence.purge"
PURGE_FOOTAGE: Final = "video.purge_footage"
VIDEO_SUFFIXES: Final = frozenset({".mp4", ".mov", ".avi", ".ts", ".mkv", ".m4v"})


@dataclass(frozen=True, slots=True)
class FootageFile:
    """A raw video file to remove: the video it is, and where it lies."""

    video_id: int
    sha256: str
    path: Path


@dataclass(slots=True)
class PurgePlan:
    """What a purge removes, and how much older material it keeps because open work needs it."""

    cutoff: datetime
    evidence: list[str] = field(default_factory=list)
    footage: list[FootageFile] = field(default_factory=list)
    evidence_kept: int = 0
    videos_kept: int = 0
    leftover_files: list[str] = field(default_factory=list)  # purged earlier, file still there


def needed_evidence(session: Session, cutoff: datetime) -> set[str]:
    """The sha256 of every image open work needs (see the module's policy)."""
    images = select(Observation.frame_sha256, Observation.crop_sha256).join(
        Violation, Violation.observation_id == Observation.id)
    pending = images.where(Violation.status == ViolationStatus.PENDING)
    in_cases = (images.join(Case, Case.id == Violation.case_id)
                .where(Violation.status != ViolationStatus.REJECTED)
                .where(or_(Case.status != CaseStatus.CLOSED, Case.closed_at.is_(None), Case.closed_at >= cutoff)))
    needed: set[str] = set()
    for stmt in (pending, in_cases):
        for frame, crop in session.execute(stmt):
            needed.update(sha for sha in (frame, crop) if sha)
    needed.update(session.scalars(select(ReviewLabel.frame_sha256)))
    needed.update(session.scalars(select(EvalFrame.frame_sha256)))
    return needed


def plan_purge(session: Session, store: EvidenceStore, cutoff: datetime,
               footage_dirs: Sequence[Path] = ()) -> PurgePlan:
    """What :func:`apply_purge` would remove for this cut-off (nothing is changed)."""
    plan = PurgePlan(cutoff)
    needed = needed_evidence(session, cutoff)
    for sha in session.scalars(select(Evidence.sha256).where(Evidence.created_at < cutoff,
                                                             Evidence.purged_at.is_(None)).order_by(Evidence.sha256)):
        if sha in needed:
            plan.evidence_kept += 1
        else:
            plan.evidence.append(sha)
    purged = session.scalars(select(Evidence.sha256).where(Evidence.purged_at.is_not(None)))
    plan.leftover_files = [sha for sha in purged if store.exists(sha)]
    if footage_dirs:
        plan.footage, plan.videos_kept = _footage_to_purge(session, cutoff, needed, footage_dirs)
    return plan


def _footage_to_purge(session: Session, cutoff: datetime, needed: set[str], footage_dirs: Sequence[Path]
                      ) -> tuple[list[FootageFile], int]:
    old = session.execute(select(Video.id, Video.sha256, Video.filename, Video.size_bytes)
                          .where(Video.processed_at.is_not(None), Video.processed_at < cutoff)).all()
    if not old:
        return [], 0
    still_needed = {vid for vid, frame, crop in session.execute(
        select(Observation.video_id, Observation.frame_sha256, Observation.crop_sha256)
        .where(Observation.video_id.in_([row.id for row in old]))) if frame in needed or crop in needed}
    by_name = {(Path(row.filename).name, row.size_bytes): row for row in old if row.id not in still_needed}
    found: list[FootageFile] = []
    for path in _video_files(footage_dirs):
        row = by_name.get((path.name, path.stat().st_size))
        if row is not None and file_sha256(path) == row.sha256:
            found.append(FootageFile(row.id, row.sha256, path))
    return found, len(still_needed)


def _video_files(folders: Iterable[Path]) -> Iterable[Path]:
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                path = Path(root) / name
                if path.suffix.lower() in VIDEO_SUFFIXES and not name.startswith(".") and path.is_file():
                    yield path


def apply_purge(session: Session, store: EvidenceStore, plan: PurgePlan, *, actor: str, now: datetime,
                policy: str) -> int:
    """Record every removal of ``plan`` in the audit log, commit, then delete the files.

    Args:
        session: A session with no transaction of its own under way; this commits.
        store: The evidence folder.
        plan: From :func:`plan_purge`, in this session.
        actor: Who purges (recorded in the audit log).
        now: The purge's time (``purged_at``).
        policy: The policy in words, recorded with each removal (e.g. ``"older than 90 days"``).

    Returns:
        The number of files deleted (evidence, footage and leftovers of earlier purges).
    """
    take_writer_lock(session)
    for sha in plan.evidence:
        row = session.get(Evidence, sha)
        if row is None or row.purged_at is not None:
            continue
        row.purged_at = now
        append_audit(session, actor=actor, action=PURGE_EVIDENCE, entity_type="evidence", entity_id=sha,
                     details={"policy": policy, "cutoff": plan.cutoff, "created_at": row.created_at,
                              "path": str(store.path_for(sha)), "size_bytes": row.size_bytes}, now=now)
    for item in plan.footage:
        append_audit(session, actor=actor, action=PURGE_FOOTAGE, entity_type="video", entity_id=item.video_id,
                     details={"policy": policy, "cutoff": plan.cutoff, "sha256": item.sha256, "path": str(item.path)},
                     now=now)
    session.commit()
    deleted = 0
    for sha in [*plan.evidence, *plan.leftover_files]:
        path = store.path_for(sha)
        if path.is_file():
            path.unlink()
            deleted += 1
        drop_blurred(store, sha)
    for item in plan.footage:
        if item.path.is_file():
            item.path.unlink()
            deleted += 1
    return deleted
