"""SQLAlchemy 2 models: what streetwatch keeps.

Every schema change goes through an Alembic migration in ``migrations/versions``.
Times are stored as timezone-aware UTC datetimes; positions as WGS84 lat/lon floats
(PostGIS geometry comes later, behind the same columns).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from streetwatch.core.vocab import (
    CaseStatus,
    DecisionAction,
    LocationStatus,
    MediaKind,
    RejectReason,
    TimeStatus,
    VideoStatus,
    ViolationStatus,
)
from streetwatch.store.column_types import StrEnumType, UtcDateTime

# Every table's id is an SQL INTEGER: 32 bits on PostgreSQL (SQLite's go to 2^63 - 1, but the
# schema is one for both). No row can have an id outside 1..MAX_ROW_ID, and an id beyond it is
# refused before it reaches a query (PostgreSQL and SQLite answer it with different errors).
MAX_ROW_ID: Final = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_row_id(text: str) -> int | None:
    """The id ``text`` names (ASCII digits, within ``1..MAX_ROW_ID``), or None if it names none.

    ``str.isdigit`` alone lets through superscripts and other scripts' digits (``"²"``), which
    ``int`` then refuses.
    """
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ROW_ID else None


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012 (SQLAlchemy reads it)


class Video(Base):
    """One footage file, keyed by the sha256 of its content: a video, or a photo (``media``), which is
    a one-frame item: ``duration_s`` 0, ``container`` its image format (jpeg, png, heic)."""

    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(1024))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    container: Mapped[str] = mapped_column(String(64))
    codec: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float] = mapped_column(Float)
    media: Mapped[MediaKind] = mapped_column(StrEnumType(MediaKind, 16), default=MediaKind.VIDEO,
                                             server_default=MediaKind.VIDEO.value)
    status: Mapped[VideoStatus] = mapped_column(StrEnumType(VideoStatus, 16), default=VideoStatus.PROCESSING,
                                                index=True)
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    frames_sampled: Mapped[int] = mapped_column(Integer, default=0)
    detections: Mapped[int] = mapped_column(Integer, default=0)
    gps_source: Mapped[str | None] = mapped_column(String(1024))
    gps_fixes: Mapped[int] = mapped_column(Integer, default=0)
    gps_offset_s: Mapped[float] = mapped_column(Float, default=0.0)
    start_utc: Mapped[datetime | None] = mapped_column(UtcDateTime())
    model_name: Mapped[str | None] = mapped_column(String(255))
    # GPS fixes the quality gate dropped, by reason (e.g. {"hdop": 3, "jump": 1}).
    gps_dropped: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    time_status: Mapped[TimeStatus] = mapped_column(StrEnumType(TimeStatus, 16), default=TimeStatus.UNVERIFIED,
                                                    server_default=TimeStatus.UNVERIFIED.value)
    # Where the GPS came from: gpx | nmea | csv | srt | gpmf | ... (None without GPS)
    gps_kind: Mapped[str | None] = mapped_column(String(16))
    # The camera the video was located with: where its pitch and height came from
    # (configured | estimated | default), the values, and the uncertainties of estimated ones.
    camera_source: Mapped[str | None] = mapped_column(String(16))
    pitch_deg: Mapped[float | None] = mapped_column(Float)
    pitch_sigma_deg: Mapped[float | None] = mapped_column(Float)
    mount_height_m: Mapped[float | None] = mapped_column(Float)
    mount_height_sigma_m: Mapped[float | None] = mapped_column(Float)
    camera_note: Mapped[str | None] = mapped_column(Text)
    # The file ends before the footage its container declares (cut off): only part was analysed.
    truncated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    analysed_s: Mapped[float | None] = mapped_column(Float)     # seconds of footage decoded and analysed
    decode_note: Mapped[str | None] = mapped_column(Text)       # a truncation or decoding trouble, in words
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    observations: Mapped[list[Observation]] = relationship(back_populates="video")


class Evidence(Base):
    """An evidence file on disk, addressed by the sha256 of its bytes."""

    __tablename__ = "evidence"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # When ``streetwatch purge`` removed the file under the retention policy (None: kept).
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Observation(Base):
    """One tracked, geolocated object in one video, violation or not."""

    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("video_id", "track_id"),
        Index("ix_observations_lat_lon", "lat", "lon"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[int] = mapped_column(Integer)
    class_name: Mapped[str] = mapped_column(String(64), index=True)
    family: Mapped[str | None] = mapped_column(String(32), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    pts_start_s: Mapped[float] = mapped_column(Float)
    pts_end_s: Mapped[float] = mapped_column(Float)
    best_pts_s: Mapped[float] = mapped_column(Float)
    seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    location_status: Mapped[LocationStatus] = mapped_column(StrEnumType(LocationStatus, 16))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    bearing_deg: Mapped[float | None] = mapped_column(Float)
    range_m: Mapped[float | None] = mapped_column(Float)
    # Radius (m) that likely holds the true position; None when geolocation gave none.
    uncertainty_m: Mapped[float | None] = mapped_column(Float)
    # How many camera positions the position was triangulated from (1: one view or flat-ground ranging).
    n_views: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    bbox: Mapped[list[Any]] = mapped_column(JSON)          # [x1, y1, x2, y2] in the evidence frame
    track_points: Mapped[list[Any]] = mapped_column(JSON)  # [{frame_index, pts_s, xyxy, confidence}]
    frame_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"))
    crop_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"))
    # Vehicles: parked | moving | stopped_in_traffic | unknown (streetwatch.core.vocab.MotionState),
    # how sure, the evidence in words, and the distance right (+) / left (-) of the patrol car's path.
    motion_state: Mapped[str | None] = mapped_column(String(24), index=True)
    motion_score: Mapped[float | None] = mapped_column(Float)
    motion_reason: Mapped[str | None] = mapped_column(Text)
    lateral_offset_m: Mapped[float | None] = mapped_column(Float)
    # What later stages add, e.g. held_event / held_priority / held_reason of a candidate kept out of
    # the review queue (below its family's threshold).
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    video: Mapped[Video] = relationship(back_populates="observations")
    violation: Mapped[Violation | None] = relationship(back_populates="observation")


class Violation(Base):
    """An observation that a rule judged to be a violation; people review it."""

    __tablename__ = "violations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    observation_id: Mapped[int] = mapped_column(
        ForeignKey("observations.id", ondelete="CASCADE"), unique=True
    )
    family: Mapped[str] = mapped_column(String(32), index=True)
    class_name: Mapped[str] = mapped_column(String(64))
    event_code: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[str] = mapped_column(String(32))
    # The rule's own details (streetwatch.core.types.Violation.extra), e.g. the zone it matched.
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # How much a reviewer's look is worth, 0..1: the review queue serves the highest first.
    priority: Mapped[float] = mapped_column(Float, default=0.5, server_default="0.5", index=True)
    status: Mapped[ViolationStatus] = mapped_column(StrEnumType(ViolationStatus, 16), default=ViolationStatus.PENDING,
                                                    index=True)
    # Copied from the observation so that list queries filter without a join.
    seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # The real-world problem this violation is a sighting of; None while its position is unknown.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    # Review queue lease (streetwatch.casework.review_queue): who holds the item, until when.
    lease_owner: Mapped[str | None] = mapped_column(String(255), index=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    observation: Mapped[Observation] = relationship(back_populates="violation")
    case: Mapped[Case | None] = relationship(back_populates="violations")
    decisions: Mapped[list[ReviewDecision]] = relationship(
        back_populates="violation", order_by="ReviewDecision.id"
    )


class Case(Base):
    """One real-world problem (a stall, a pile, a parked car, a sign), seen once or many times.

    Violations of the same family within a few metres are sightings of one case
    (``streetwatch.store.cases`` attaches them on commit). Position is the running mean of the
    sightings; ``h3_cell`` is that position's H3 cell, for neighbourhood search.
    """

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    event_code: Mapped[str] = mapped_column(String(32))
    status: Mapped[CaseStatus] = mapped_column(StrEnumType(CaseStatus, 16), default=CaseStatus.OPEN, index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    h3_cell: Mapped[str] = mapped_column(String(16), index=True)
    # None only while no sighting has a known time.
    first_seen: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    sightings: Mapped[int] = mapped_column(Integer, default=0)
    # 复发: times the problem was seen again after a long gap, or after the case was closed.
    recurrence_count: Mapped[int] = mapped_column(Integer, default=0)
    # For routing to a 网格 (grid cell) and its 责任单位 (responsible unit); filled in by routing.
    grid_id: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(255))
    # Workflow times (streetwatch.casework.case_workflow); the SLA deadlines are set at dispatch.
    filed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    handle_due: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    close_due: Mapped[datetime | None] = mapped_column(UtcDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    violations: Mapped[list[Violation]] = relationship(back_populates="case", order_by="Violation.id")


class ReviewDecision(Base):
    """One person's decision on a violation. Append-only: never updated, never deleted."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    violation_id: Mapped[int] = mapped_column(ForeignKey("violations.id", ondelete="CASCADE"), index=True)
    action: Mapped[DecisionAction] = mapped_column(StrEnumType(DecisionAction, 16))
    reason: Mapped[str | None] = mapped_column(Text)
    new_family: Mapped[str | None] = mapped_column(String(32))
    new_class_name: Mapped[str | None] = mapped_column(String(64))
    # reject: why (None for free-text-only rejections).
    reason_code: Mapped[RejectReason | None] = mapped_column(StrEnumType(RejectReason, 32))
    # move: the corrected position.
    new_lat: Mapped[float | None] = mapped_column(Float)
    new_lon: Mapped[float | None] = mapped_column(Float)
    reviewer: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    violation: Mapped[Violation] = relationship(back_populates="decisions")


# The tables of other areas live in their own modules; importing them registers them on Base.
from streetwatch.store import (  # noqa: E402,F401
    models_auth,
    models_coverage,
    models_labels,
    models_notices,
    models_outbox,
    models_registry,
    models_uploads,
    models_workflow,
)
