"""The write side of a run: claim a video, keep the claim alive, store its results at once.

The protocol that makes re-runs and several workers safe, on SQLite and PostgreSQL alike:

1. ``claim_video`` inserts the video row as ``processing`` under the worker's name. The
   unique sha256 decides races: exactly one insert wins. A loser reads the row and either
   stops (``done``; ``processing`` with a fresh heartbeat) or takes it over (a stale
   heartbeat, or ``failed``) with a compare-and-set UPDATE that only matches the exact state
   it read, so of two workers taking over the same video only one succeeds.
2. ``heartbeat`` refreshes the claim while the worker processes; it says if the claim is lost.
3. ``commit_video_results`` writes evidence files (content-addressed, idempotent), then in
   ONE transaction checks ownership, inserts every row, attaches each located violation to
   its case (``streetwatch.store.cases``) and marks the video ``done``. A worker that lost its
   claim writes nothing; a database error leaves nothing behind.
4. ``mark_failed`` records why processing stopped, so another run may retry.

No SELECT ... FOR UPDATE anywhere: SQLite has none. Each write transaction starts with a
write, which takes SQLite's database lock (waiting on the busy timeout) and PostgreSQL's row
lock before anything is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Update, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.core import types
from streetwatch.core.coverage import PatrolPass
from streetwatch.core.errors import ConflictError, ProcessingError
from streetwatch.core.vocab import MediaKind, TimeStatus, VideoStatus, ViolationStatus
from streetwatch.store.cases import (
    DEFAULT_CASE_RADIUS_M,
    DEFAULT_RECURRENCE_GAP_S,
    CaseTally,
    attach_violations,
    lock_case_areas,
)
from streetwatch.store.column_types import as_utc, require_aware
from streetwatch.store.coverage import insert_passes
from streetwatch.store.evidence import EvidenceBackend
from streetwatch.store.labelling_queue import LabellingPolicy, sample_for_video
from streetwatch.store.models import Evidence, Observation, Video, Violation, utcnow
from streetwatch.store.shadow import ShadowRun, insert_shadow_run
from streetwatch.vision.calibration import CameraChoice

# A lost compare-and-set means another worker moved the row; re-reading it settles the
# claim within one or two rounds. The bound only guards against a livelock bug.
_MAX_CLAIM_ROUNDS = 5
_EVIDENCE_INSERT_CHUNK = 500  # rows per INSERT: stays far below SQLite's bound-parameter limit


@dataclass(frozen=True, slots=True)
class VideoMeta:
    """What is known about a video before processing it (the ingest result, mapped)."""

    sha256: str
    filename: str
    size_bytes: int
    container: str
    codec: str
    width: int
    height: int
    rotation: int
    duration_s: float
    media: MediaKind = MediaKind.VIDEO


@dataclass(frozen=True, slots=True)
class Claimed:
    """This worker now owns the video; ``resumed`` when it took over an earlier attempt."""

    video_id: int
    resumed: bool


@dataclass(frozen=True, slots=True)
class AlreadyProcessed:
    """The video is done; there is nothing to do."""

    video_id: int


@dataclass(frozen=True, slots=True)
class InProgressElsewhere:
    """Another worker holds a fresh claim on the video.

    Attributes:
        video_id: The video.
        worker: Who holds it (``host:pid:random`` for our workers).
        heartbeat_at: Its last heartbeat (aware UTC).
        stale_at: When the claim goes stale if no heartbeat comes: from then on, any run takes the
            video over.

    Two results are equal when they name the same video and worker (the times move on).
    """

    video_id: int
    worker: str | None
    heartbeat_at: datetime | None = field(default=None, compare=False)
    stale_at: datetime | None = field(default=None, compare=False)


ClaimResult = Claimed | AlreadyProcessed | InProgressElsewhere


@dataclass(frozen=True, slots=True)
class VideoResults:
    """Everything a run produced for one video, committed together.

    Attributes:
        gps_dropped: GPS fixes the quality gate dropped, by reason (reason -> count).
        time_status: How far the video's clock is trusted (a :class:`TimeStatus`).
        gps_kind: The kind of GPS source (gpx, nmea, csv, srt, gpmf, ...), None without GPS.
        camera: The camera the video was located with and where its values came from; None: unrecorded.
        shadow: A shadow model's detections beside the active model's (``process --shadow-model``), stored
            apart; None without one.
        truncated: The file ends before the footage its container declares: only part was analysed.
        analysed_s: Seconds of footage decoded and analysed (None: not measured).
        decode_note: A truncation or decoding trouble, in words.
        passes: The road segments and grid cells the video's GPS track drove (patrol coverage).
    """

    frames_sampled: int
    detections: int
    gps_source: str | None
    gps_fixes: int
    gps_offset_s: float
    start_utc: datetime | None
    model_name: str | None
    items: list[tuple[types.Observation, types.Violation | None]]
    gps_dropped: dict[str, int] = field(default_factory=dict)
    time_status: TimeStatus = TimeStatus.UNVERIFIED
    gps_kind: str | None = None
    camera: CameraChoice | None = None
    shadow: ShadowRun | None = None
    truncated: bool = False
    analysed_s: float | None = None
    decode_note: str | None = None
    passes: Sequence[PatrolPass] = ()


@dataclass(frozen=True, slots=True)
class CommitSummary:
    """What a commit stored: row counts and what happened to cases."""

    video_id: int
    observations: int
    violations: int
    cases: CaseTally


class OwnershipLostError(ConflictError, RuntimeError):
    """The worker no longer owns the video it tried to write (taken over, or finished)."""

    def __init__(self, video_id: int, worker: str, found_worker: str | None, found_status: str | None):
        self.video_id = video_id
        self.worker = worker
        self.found_worker = found_worker
        self.found_status = found_status
        found = (
            "no such video" if found_status is None else f"status {found_status!r}, worker {found_worker!r}"
        )
        super().__init__(
            f"video {video_id}: worker {worker!r} expected to own it in status {VideoStatus.PROCESSING.value!r}, "
            f"found {found}; "
            "nothing was written"
        )


class ResultsRejectedError(ProcessingError, RuntimeError):
    """The database refused a video's results (a constraint failed); nothing was written."""


def _rowcount(session: Session, statement: Update) -> int:
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return cast(CursorResult[Any], result).rowcount


def claim_video(
    session_factory: sessionmaker[Session], info: VideoMeta, worker: str, stale_after_s: float = 120.0
) -> ClaimResult:
    """Claim a video for processing, or learn why not.

    Args:
        session_factory: Makes sessions on the target database.
        info: The video's metadata; ``info.sha256`` identifies it.
        worker: This worker's name, unique among live workers (host, pid, a random part).
        stale_after_s: A ``processing`` claim whose heartbeat is older than this is abandoned
            and may be taken over.

    Returns:
        ``Claimed`` (new, or ``resumed=True`` after a takeover), ``AlreadyProcessed`` or
        ``InProgressElsewhere``.

    Raises:
        RuntimeError: If the row keeps changing under us (never expected) or has an unknown status.
    """
    insert_error: IntegrityError | None = None
    seen = None
    for _ in range(_MAX_CLAIM_ROUNDS):
        try:
            with session_factory.begin() as session:
                video = Video(
                    sha256=info.sha256, filename=info.filename, size_bytes=info.size_bytes,
                    container=info.container, codec=info.codec, width=info.width, height=info.height,
                    rotation=info.rotation, duration_s=info.duration_s, media=info.media,
                    status=VideoStatus.PROCESSING, worker=worker, heartbeat_at=utcnow(),
                )
                session.add(video)
                session.flush()
                return Claimed(video_id=video.id, resumed=False)
        except IntegrityError as exc:
            insert_error = exc  # most likely the sha256 exists; the read below says
        with session_factory() as session:
            seen = session.execute(
                select(Video.id, Video.status, Video.worker, Video.heartbeat_at)
                .where(Video.sha256 == info.sha256)
            ).one_or_none()
        if seen is None:
            # Not a duplicate after all (or deleted since): another constraint failed.
            continue
        video_id, status, owner, heartbeat_at = seen
        if status == VideoStatus.DONE:
            return AlreadyProcessed(video_id=video_id)
        if status not in (VideoStatus.PROCESSING, VideoStatus.FAILED):
            raise RuntimeError(f"video {video_id} has unknown status {status!r}; expected one of "
                               f"{VideoStatus.PROCESSING!r}, {VideoStatus.DONE!r}, {VideoStatus.FAILED!r}")
        last_beat = heartbeat_at
        fresh = last_beat is not None and (utcnow() - last_beat).total_seconds() < stale_after_s
        if status == VideoStatus.PROCESSING and fresh and owner != worker:
            assert last_beat is not None  # fresh
            beat = as_utc(last_beat)
            return InProgressElsewhere(video_id=video_id, worker=owner, heartbeat_at=beat,
                                       stale_at=beat + timedelta(seconds=stale_after_s))
        # Compare-and-set: matches only the exact state we read, so one taker wins.
        take_over = (
            update(Video)
            .where(
                Video.id == video_id,
                Video.status == status,
                Video.worker.is_not_distinct_from(owner),
                Video.heartbeat_at.is_not_distinct_from(heartbeat_at),
            )
            .values(worker=worker, heartbeat_at=utcnow(), status=VideoStatus.PROCESSING, error=None,
                    processed_at=None)
        )
        with session_factory.begin() as session:
            if _rowcount(session, take_over) == 1:
                return Claimed(video_id=video_id, resumed=True)
    if seen is None and insert_error is not None:
        raise insert_error  # the insert kept failing, and not because the video exists
    raise RuntimeError(f"could not settle the claim on video sha256 {info.sha256} "
                       f"in {_MAX_CLAIM_ROUNDS} rounds: its row kept changing")


def heartbeat(session_factory: sessionmaker[Session], video_id: int, worker: str) -> bool:
    """Refresh the worker's claim on a video.

    Returns:
        True if the worker still owns the video (and its heartbeat is now fresh); False if
        the claim was lost, in which case the worker should stop and not commit.
    """
    statement = (
        update(Video)
        .where(Video.id == video_id, Video.worker == worker, Video.status == VideoStatus.PROCESSING)
        .values(heartbeat_at=utcnow())
    )
    with session_factory.begin() as session:
        return _rowcount(session, statement) == 1


def mark_failed(session_factory: sessionmaker[Session], video_id: int, worker: str, error: str) -> bool:
    """Record that processing failed, if the worker still owns the video.

    Returns:
        True if the video is now ``failed``; False if the worker did not own it (nothing changed).
    """
    statement = (
        update(Video)
        .where(Video.id == video_id, Video.worker == worker, Video.status == VideoStatus.PROCESSING)
        .values(status=VideoStatus.FAILED, error=error, heartbeat_at=utcnow())
    )
    with session_factory.begin() as session:
        return _rowcount(session, statement) == 1


def epoch_to_utc(epoch_s: float | None) -> datetime | None:
    """UTC epoch seconds to an aware UTC datetime (None stays None)."""
    return None if epoch_s is None else datetime.fromtimestamp(float(epoch_s), UTC)


def observation_values(observation: types.Observation, violation: types.Violation | None) -> dict[str, Any]:
    """The column values of an ``observations`` row for one in-memory observation.

    Raises:
        ValueError: If the observation has no track points.
    """
    if not observation.points:
        raise ValueError(f"observation of track {observation.track_id} has no track points")
    location = observation.location
    # getattr: older Location types have neither field.
    uncertainty_m = getattr(location, "uncertainty_m", None)
    n_views = getattr(location, "n_views", None)
    return {
        "track_id": int(observation.track_id),
        "class_name": observation.class_name,
        "family": violation.family if violation is not None else observation.attributes.get("held_family"),
        "confidence": float(observation.confidence),
        "pts_start_s": float(observation.pts_start_s),
        "pts_end_s": float(observation.pts_end_s),
        "best_pts_s": float(observation.best.pts_s),
        "seen_at": epoch_to_utc(observation.time_utc),
        "location_status": types.LocationStatus(location.status).value,
        "lat": None if location.lat is None else float(location.lat),
        "lon": None if location.lon is None else float(location.lon),
        "bearing_deg": None if location.bearing_deg is None else float(location.bearing_deg),
        "range_m": None if location.range_m is None else float(location.range_m),
        "uncertainty_m": None if uncertainty_m is None else float(uncertainty_m),
        "n_views": 1 if n_views is None else int(n_views),
        "bbox": [float(v) for v in observation.best.xyxy],
        # float()/int() so numpy scalars never reach the JSON encoder
        "track_points": [
            {"frame_index": int(p.frame_index), "pts_s": float(p.pts_s),
             "xyxy": [float(v) for v in p.xyxy], "confidence": float(p.confidence)}
            for p in observation.points
        ],
        "frame_sha256": observation.frame.sha256,
        "crop_sha256": observation.crop.sha256,
        **motion_values(observation.motion),
        "attributes": dict(observation.attributes),
    }


def motion_values(motion: types.Motion | None) -> dict[str, Any]:
    """The motion columns of an ``observations`` row (all None for objects without a motion state)."""
    if motion is None:
        return {"motion_state": None, "motion_score": None, "motion_reason": None, "lateral_offset_m": None}
    return {"motion_state": types.MotionState(motion.state).value, "motion_score": float(motion.score),
            "motion_reason": motion.reason,
            "lateral_offset_m": None if motion.lateral_offset_m is None else float(motion.lateral_offset_m)}


def violation_values(observation_row: dict[str, Any], violation: types.Violation) -> dict[str, Any]:
    """The column values of a pending ``violations`` row, copying time and place from its observation."""
    return {
        "family": violation.family,
        "class_name": observation_row["class_name"],
        "event_code": violation.event_code,
        "name_zh": violation.name_zh,
        "name_en": violation.name_en,
        "reason": violation.reason,
        "rule": violation.rule,
        "rule_version": violation.rule_version,
        # the priority's parts in words travel with the rule's details (shown beside the reason)
        "extra": {**violation.extra, **({"priority": violation.priority_reason} if violation.priority_reason else {})},
        "priority": float(violation.priority),
        "status": ViolationStatus.PENDING,
        "seen_at": observation_row["seen_at"],
        "lat": observation_row["lat"],
        "lon": observation_row["lon"],
    }


def _unique_images(
    items: Sequence[tuple[types.Observation, types.Violation | None]],
) -> list[types.EvidenceImage]:
    # Several objects share one evidence frame; sorted so concurrent transactions lock
    # evidence rows in the same order and never deadlock on PostgreSQL.
    by_sha = {image.sha256: image for obs, _ in items for image in (obs.frame, obs.crop)}
    return [by_sha[sha] for sha in sorted(by_sha)]


def _insert_evidence_rows(session: Session, images: Sequence[types.EvidenceImage]) -> None:
    """Insert evidence rows, skipping ones present (another video, or a concurrent worker)."""
    now = utcnow()
    rows = [
        {"sha256": im.sha256, "media_type": im.media_type, "size_bytes": len(im.data),
         "width": int(im.width), "height": int(im.height), "created_at": now}
        for im in images
    ]
    dialect = session.get_bind().dialect.name
    for start in range(0, len(rows), _EVIDENCE_INSERT_CHUNK):
        chunk = rows[start:start + _EVIDENCE_INSERT_CHUNK]
        if dialect == "postgresql":
            # imported here: the PostgreSQL dialect module loads every driver's (~0.17 s of start-up)
            from sqlalchemy.dialects import postgresql

            session.execute(postgresql.insert(Evidence).values(chunk).on_conflict_do_nothing(
                index_elements=["sha256"]))
        elif dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            session.execute(sqlite.insert(Evidence).values(chunk).on_conflict_do_nothing(
                index_elements=["sha256"]))
        else:  # portable fallback: fine when writers of this database do not race
            present = set(session.scalars(
                select(Evidence.sha256).where(Evidence.sha256.in_([r["sha256"] for r in chunk]))))
            missing = [r for r in chunk if r["sha256"] not in present]
            if missing:
                session.execute(insert(Evidence), missing)


def _check_results(results: VideoResults) -> None:
    if results.start_utc is not None:
        require_aware(results.start_utc, "start_utc")
    if results.time_status not in {status.value for status in TimeStatus}:
        raise ValueError(f"time_status must be one of {', '.join(TimeStatus)}; got {results.time_status!r}")
    for reason, dropped in results.gps_dropped.items():
        if not isinstance(reason, str) or not reason:
            raise ValueError(f"gps_dropped keys must be non-empty reason names, got {reason!r}")
        if isinstance(dropped, bool) or not isinstance(dropped, int) or dropped < 0:
            raise ValueError(f"gps_dropped[{reason!r}] must be a count (an int >= 0), got {dropped!r}")


def commit_video_results(
    session_factory: sessionmaker[Session],
    video_id: int,
    worker: str,
    results: VideoResults,
    evidence: EvidenceBackend,
    *,
    case_radius_m: float = DEFAULT_CASE_RADIUS_M,
    recurrence_gap_s: float = DEFAULT_RECURRENCE_GAP_S,
    labelling: LabellingPolicy | None = None,
) -> CommitSummary:
    """Store a processed video's results all at once and mark it ``done``.

    Evidence files are written first (content-addressed, so an aborted commit leaves only
    harmless unreferenced files). Then one transaction checks that ``worker`` still owns
    the video, replaces its observations, inserts evidence rows, observations and pending
    violations (and a shadow model's detections, apart, and the patrol passes), attaches each located violation to its
    case (a new one, or the open case of the same family within ``case_radius_m``: see
    ``streetwatch.store.cases``), and marks the video ``done`` with its counters. Either all of it
    or none.

    Args:
        session_factory: Makes sessions on the target database.
        video_id: The claimed video.
        worker: The worker that claimed it.
        results: What processing produced.
        evidence: Where evidence images are written.
        case_radius_m: Violations of one family closer than this are sightings of one case.
        recurrence_gap_s: A sighting this long after its case's last one counts as a recurrence.
        labelling: The labelling queue's policy: its items for the video are added in the same
            transaction (``streetwatch.store.labelling_queue``); None adds none.

    Returns:
        The counts stored and what happened to cases.

    Raises:
        OwnershipLostError: If the worker no longer owns the video in status ``processing``.
        ResultsRejectedError: If the database refused a row (e.g. a duplicate track id).
        ValueError: If the results are malformed (naive ``start_utc``, an observation with
            no track points, an unknown ``time_status``, a negative drop count) or the case
            parameters are out of range; raised before anything is written.
        EvidenceIntegrityError: If an evidence image's bytes do not match its sha256.
    """
    _check_results(results)
    if not case_radius_m > 0:
        raise ValueError(f"case_radius_m must be a positive number of metres, got {case_radius_m}")
    if not recurrence_gap_s >= 0:
        raise ValueError(f"recurrence_gap_s must be zero or more seconds, got {recurrence_gap_s}")
    rows = [
        (observation_values(obs, vio), vio) for obs, vio in results.items
    ]  # converted before any write, so malformed input writes nothing
    images = _unique_images(results.items)
    for image in images:
        evidence.put(image)

    now = utcnow()
    violation_count = sum(1 for _, vio in rows if vio is not None)
    with session_factory() as session:
        try:
            with session.begin():
                # A write first: takes the lock, so nobody can take the video over until we commit.
                still_ours = (
                    update(Video)
                    .where(Video.id == video_id, Video.worker == worker, Video.status == VideoStatus.PROCESSING)
                    .values(heartbeat_at=now)
                )
                if _rowcount(session, still_ours) != 1:
                    found = session.execute(
                        select(Video.worker, Video.status).where(Video.id == video_id)
                    ).one_or_none()
                    raise OwnershipLostError(video_id, worker, found[0] if found else None,
                                             found[1] if found else None)
                observations = [Observation(video_id=video_id, **values) for values, _ in rows]
                violations = [
                    Violation(observation=observation, **violation_values(values, vio))
                    for observation, (values, vio) in zip(observations, rows, strict=True) if vio is not None
                ]
                # Before any case is read: concurrent commits near the same spot take turns.
                lock_case_areas(session, violations, case_radius_m)
                # Defensive: a committed video is "done" and never claimed again, so none are expected.
                session.execute(delete(Observation).where(Observation.video_id == video_id),
                                execution_options={"synchronize_session": False})
                _insert_evidence_rows(session, images)
                session.add_all(observations)
                session.add_all(violations)
                if results.shadow is not None:
                    insert_shadow_run(session, video_id, results.shadow)
                insert_passes(session, video_id, results.passes)  # patrol coverage, with the rest or not at all
                session.flush()
                tally = attach_violations(session, violations, radius_m=case_radius_m,
                                          recurrence_gap_s=recurrence_gap_s)
                if labelling is not None:
                    sample_for_video(session, video_id, labelling)
                _rowcount(session, update(Video).where(Video.id == video_id).values(
                    status=VideoStatus.DONE, processed_at=now, error=None,
                    frames_sampled=int(results.frames_sampled), detections=int(results.detections),
                    gps_source=results.gps_source, gps_fixes=int(results.gps_fixes),
                    gps_offset_s=float(results.gps_offset_s), start_utc=results.start_utc,
                    model_name=results.model_name, gps_dropped=dict(results.gps_dropped),
                    time_status=results.time_status, gps_kind=results.gps_kind, **_camera_columns(results.camera),
                    truncated=bool(results.truncated), decode_note=results.decode_note,
                    analysed_s=None if results.analysed_s is None else float(results.analysed_s),
                ))
        except IntegrityError as exc:
            raise ResultsRejectedError(
                f"video {video_id}: the database rejected its results, nothing was written: {exc.orig}"
            ) from exc
    return CommitSummary(video_id=video_id, observations=len(rows), violations=violation_count, cases=tally)


def _camera_columns(choice: CameraChoice | None) -> dict[str, Any]:
    """The ``videos`` columns that record the camera a video was located with."""
    if choice is None:
        return {}
    return {"camera_source": choice.source, "pitch_deg": choice.camera.pitch_deg,
            "pitch_sigma_deg": choice.pitch_sigma_deg, "mount_height_m": choice.camera.mount_height_m,
            "mount_height_sigma_m": choice.mount_height_sigma_m, "camera_note": choice.note}
