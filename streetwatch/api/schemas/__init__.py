"""Pydantic models at the API edge: ``XPublic`` out, ``XCreate`` in, ``XsPage`` for lists.

Every request and response model of the API lives in this package: the shared ones and those of
violations, cases, observations and videos here; the case workflow's, the review queue's, signing
in and the exports' in ``schemas.workflow``, ``schemas.review``, ``schemas.auth`` and
``schemas.exports``.

Request models forbid unknown fields, so a client cannot smuggle ``status`` or ``sha256``
into a request and believe it was applied. Times are always returned as UTC with an offset.

Input types shared by every route: :data:`DbId` for a row's id (in a path, a body or a query; the
database's INTEGER range, so an id no row can have is a 422, not a failed query) and
:data:`QueryTime` / :data:`UtcQueryTime` for times in filters and periods (1900 to 2999).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from streetwatch.core.taxonomy import Taxonomy
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
from streetwatch.store.column_types import as_utc, check_time_range
from streetwatch.store.filters import BBox, QueryError
from streetwatch.store.models import MAX_ROW_ID, Case, Observation, Violation
from streetwatch.store.queries import CaseDetail, VideoCounts

# A time in UTC with its offset; a naive time in a request means UTC (the store returns aware ones).
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
# A time a client filters by or names a period with: within 1900..2999 (``check_time_range``), so
# year 1 or 9999 in a far zone is a 422 rather than an overflow. QueryTime keeps a naive time naive
# (a route that reads it in another zone, as /kpis does); UtcQueryTime reads it as UTC.
_DATE_TIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _date_time_text(value: Any) -> Any:
    # pydantic would also take "0.5" (a Unix time) or a bare date; the schema says date-time.
    if isinstance(value, str) and not _DATE_TIME_TEXT.match(value.strip()):
        raise ValueError(f"times are ISO 8601 date-times like 2026-05-01T08:00:00+08:00, got {value!r}")
    return value


QueryTime = Annotated[datetime, BeforeValidator(_date_time_text), AfterValidator(check_time_range)]
UtcQueryTime = Annotated[datetime, BeforeValidator(_date_time_text), AfterValidator(check_time_range),
                         AfterValidator(as_utc)]
# A row's id, in a path, a body or a query: 1 to the database's INTEGER maximum (MAX_ROW_ID).
DbId = Annotated[int, annotated_types.Ge(1), annotated_types.Le(MAX_ROW_ID)]
# Families come from the taxonomy (a city may add its own), so routes check them, not a Literal.
Family = Annotated[str, Field(min_length=1, max_length=32, description="A family of models/taxonomy.yaml.")]


def evidence_url(sha256: str) -> str:
    """The API path that serves an evidence image."""
    return f"/evidence/{sha256}"


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- shared parts ------------------------------------------------------------------------------

class TrackPointPublic(_Out):
    """One sighting of the tracked object in one sampled frame."""

    frame_index: int
    pts_s: float = Field(description="Presentation time in the video, seconds.")
    xyxy: tuple[float, float, float, float] = Field(description="Box in pixels: x1, y1, x2, y2.")
    confidence: float


class VideoRef(_Out):
    """The video an observation comes from."""

    id: int
    filename: str
    sha256: str


class DecisionPublic(_Out):
    """One reviewer decision (decisions are never changed or deleted)."""

    id: int
    action: DecisionAction
    reason: str | None = Field(description="The reviewer's note (free text).")
    reason_code: RejectReason | None = Field(description="reject: why, from a fixed list.")
    new_family: str | None
    new_class_name: str | None
    new_lat: float | None = Field(description="move: the corrected latitude.")
    new_lon: float | None = Field(description="move: the corrected longitude.")
    reviewer: str
    created_at: UtcDatetime


# --- violations --------------------------------------------------------------------------------

class ViolationPublic(BaseModel):
    """A violation as listed: what, where, when, how sure, and its evidence images."""

    id: int
    status: ViolationStatus
    family: str
    class_name: str
    event_code: str
    name_zh: str = Field(description="Event name in Chinese, from the taxonomy.")
    name_en: str = Field(description="Event name in English, from the taxonomy.")
    reason: str = Field(description="Why the rule judged this a violation.")
    rule: str
    confidence: float = Field(description="Best detector confidence along the track.")
    seen_at: UtcDatetime | None = Field(description="UTC time of the evidence frame, if GPS time is known.")
    lat: float | None
    lon: float | None
    location_status: LocationStatus
    observation_id: int
    video_id: int
    case_id: int | None = Field(description="The case (real-world problem) it is a sighting of; "
                                            "null while its position is unknown.")
    frame_url: str = Field(description="The full evidence frame (JPEG).")
    crop_url: str = Field(description="The object cut out of the frame (JPEG).")
    text: str | None = Field(None, description="Text the OCR read on the object (ads).")
    phones: list[str] = Field(default_factory=list, description="Phone numbers in that text, digits only.")
    plate: str | None = Field(None, description="The plate read on a parked vehicle: personal data, shown to "
                              "the roles that handle cases, masked in exports, Open311 and webhooks.")
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @classmethod
    def fields_from(cls, violation: Violation) -> dict[str, Any]:
        obs = violation.observation
        attributes = obs.attributes or {}
        return {
            "text": attributes.get("text") or None, "plate": attributes.get("plate") or None,
            "phones": [p for p in str(attributes.get("phones") or "").split(",") if p],
            "id": violation.id, "status": violation.status, "family": violation.family,
            "class_name": violation.class_name, "event_code": violation.event_code,
            "name_zh": violation.name_zh, "name_en": violation.name_en, "reason": violation.reason,
            "rule": violation.rule, "confidence": obs.confidence, "seen_at": violation.seen_at,
            "lat": violation.lat, "lon": violation.lon, "location_status": obs.location_status,
            "observation_id": obs.id, "video_id": obs.video_id, "case_id": violation.case_id,
            "frame_url": evidence_url(obs.frame_sha256), "crop_url": evidence_url(obs.crop_sha256),
            "created_at": violation.created_at, "updated_at": violation.updated_at,
        }

    @classmethod
    def from_row(cls, violation: Violation) -> ViolationPublic:
        return cls(**cls.fields_from(violation))


class ViolationDetail(ViolationPublic):
    """A violation with everything a reviewer needs to decide on it."""

    rule_version: str
    extra: dict[str, Any] = Field(description="The rule's own details, e.g. the zone it matched.")
    detector_class_name: str = Field(description="The class the detector gave (before any relabel).")
    bearing_deg: float | None = Field(description="From the camera to the object, clockwise from north.")
    range_m: float | None = Field(description="From the camera to the object, along the ground.")
    bbox: tuple[float, float, float, float] = Field(description="Box in the evidence frame: x1, y1, x2, y2.")
    pts_start_s: float
    pts_end_s: float
    best_pts_s: float
    video: VideoRef
    track_points: list[TrackPointPublic]
    decisions: list[DecisionPublic]
    lease_owner: str | None = Field(None, description="The reviewer holding it in the review queue, if any.")
    lease_expires_at: UtcDatetime | None = Field(None, description="Until when (expired leases mean nothing).")

    @classmethod
    def from_row(cls, violation: Violation) -> ViolationDetail:
        obs = violation.observation
        return cls(
            **cls.fields_from(violation),
            rule_version=violation.rule_version, extra=violation.extra or {},
            detector_class_name=obs.class_name,
            bearing_deg=obs.bearing_deg, range_m=obs.range_m, bbox=obs.bbox,
            pts_start_s=obs.pts_start_s, pts_end_s=obs.pts_end_s, best_pts_s=obs.best_pts_s,
            video=VideoRef.model_validate(obs.video),
            track_points=[TrackPointPublic.model_validate(p) for p in obs.track_points],
            decisions=[DecisionPublic.model_validate(d) for d in violation.decisions],
            lease_owner=violation.lease_owner, lease_expires_at=violation.lease_expires_at,
        )


class ViolationsPage(BaseModel):
    """One page of violations, newest first."""

    items: list[ViolationPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class DecisionCreate(_In):
    """A reviewer's decision on a violation."""

    action: DecisionAction
    reviewer: str | None = Field(None, min_length=1, max_length=255, description="Who decides: optional, "
                                 "the signed-in user; if given it must be that user's name.")
    reason: str | None = Field(None, max_length=4000, description="A note: why. To reject, send `reason_code` "
                               "(a note alone is accepted and stored without a code).")
    reason_code: RejectReason | None = Field(None, description="reject: why, from a fixed list.")
    class_name: str | None = Field(
        None, min_length=1, max_length=64, description="For relabel: the class the object really is."
    )
    lat: float | None = Field(None, ge=-90, le=90, description="For move: the corrected latitude (WGS84).")
    lon: float | None = Field(None, ge=-180, le=180, description="For move: the corrected longitude (WGS84).")

    @model_validator(mode="after")
    def _fields_fit_action(self) -> DecisionCreate:
        if self.action == DecisionAction.REJECT and not self.reason and self.reason_code is None:
            raise ValueError("a rejection needs a reason: reason_code false_detection, compliant, duplicate "
                             "or unclear_image")
        if self.action != DecisionAction.REJECT and self.reason_code is not None:
            raise ValueError(f"reason_code is only for reject, not for {self.action}")
        if self.action == DecisionAction.RELABEL and not self.class_name:
            raise ValueError("relabel needs class_name: the class the object really is")
        if self.action != DecisionAction.RELABEL and self.class_name is not None:
            raise ValueError(f"class_name is only for relabel, not for {self.action}")
        if self.action == DecisionAction.MOVE and (self.lat is None or self.lon is None):
            raise ValueError("move needs lat and lon: the corrected position")
        if self.action != DecisionAction.MOVE and (self.lat is not None or self.lon is not None):
            raise ValueError(f"lat and lon are only for move, not for {self.action}")
        return self


# --- observations ------------------------------------------------------------------------------

class ObservationPublic(_Out):
    """One tracked, geolocated object, violation or not."""

    id: int
    video_id: int
    track_id: int
    class_name: str
    family: str | None
    confidence: float
    location_status: LocationStatus
    lat: float | None
    lon: float | None
    bearing_deg: float | None
    range_m: float | None
    uncertainty_m: float | None = Field(description="Radius (m) likely to hold the true position.")
    n_views: int = Field(description="Camera positions the position was triangulated from.")
    seen_at: UtcDatetime | None
    pts_start_s: float
    pts_end_s: float
    best_pts_s: float
    bbox: tuple[float, float, float, float]
    frame_url: str
    crop_url: str
    violation_id: int | None = Field(description="The violation filed for it, if any.")

    @classmethod
    def from_row(cls, obs: Observation) -> ObservationPublic:
        return cls(
            id=obs.id, video_id=obs.video_id, track_id=obs.track_id, class_name=obs.class_name,
            family=obs.family, confidence=obs.confidence, location_status=obs.location_status,
            lat=obs.lat, lon=obs.lon, bearing_deg=obs.bearing_deg, range_m=obs.range_m,
            uncertainty_m=obs.uncertainty_m, n_views=obs.n_views, seen_at=obs.seen_at,
            pts_start_s=obs.pts_start_s, pts_end_s=obs.pts_end_s, best_pts_s=obs.best_pts_s,
            bbox=obs.bbox,
            frame_url=evidence_url(obs.frame_sha256), crop_url=evidence_url(obs.crop_sha256),
            violation_id=obs.violation.id if obs.violation is not None else None,
        )


class ObservationsPage(BaseModel):
    """One page of observations, newest first."""

    items: list[ObservationPublic]
    next_cursor: str | None


# --- videos --------------------------------------------------------------------------------------

class VideoPublic(_Out):
    """A video and how its processing went."""

    id: int
    sha256: str
    filename: str
    status: VideoStatus = Field(description="processing, done or failed.")
    error: str | None = Field(description="Why processing failed, if it did.")
    size_bytes: int
    container: str
    codec: str
    width: int
    height: int
    rotation: int
    duration_s: float
    media: MediaKind = Field(MediaKind.VIDEO, description="video, or photo (one frame: no motion, duration 0).")
    frames_sampled: int
    detections: int
    observations: int = Field(description="Objects tracked and stored.")
    violations: int = Field(description="Violations filed.")
    gps_source: str | None
    gps_fixes: int
    gps_offset_s: float
    gps_kind: str | None = Field(description="Kind of GPS source: gpx, nmea, csv, srt, gpmf, ...")
    gps_dropped: dict[str, int] = Field(description="GPS fixes the quality gate dropped, by reason.")
    time_status: TimeStatus = Field(
        description="verified: clock offset estimated from the data; configured: taken from settings; "
                    "unverified: unknown, so times may be off."
    )
    start_utc: UtcDatetime | None
    model_name: str | None
    camera_source: str | None = Field(None, description="Where the camera's pitch and height came from: "
                                      "configured, estimated (from the footage) or default.")
    pitch_deg: float | None = Field(None, description="Downward pitch the video was located with.")
    pitch_sigma_deg: float | None = Field(None, description="Its uncertainty (one sigma), when estimated.")
    mount_height_m: float | None = Field(None, description="Camera height the video was located with.")
    mount_height_sigma_m: float | None = Field(None, description="Its uncertainty (one sigma), when estimated.")
    camera_note: str | None = Field(None, description="What was estimated from how much footage, and what not.")
    truncated: bool = Field(False, description="The file ends before the footage its container declares (cut "
                                               "off): only analysed_s seconds were analysed.")
    analysed_s: float | None = Field(None, description="Seconds of footage decoded and analysed.")
    decode_note: str | None = Field(None, description="A truncation or decoding trouble, in words.")
    worker: str | None
    heartbeat_at: UtcDatetime | None
    created_at: UtcDatetime
    processed_at: UtcDatetime | None

    @classmethod
    def from_row(cls, row: VideoCounts) -> VideoPublic:
        fields = {name: getattr(row.video, name) for name in cls.model_fields
                  if name not in ("observations", "violations")}
        return cls(**fields, observations=row.observations, violations=row.violations)


class VideosPage(BaseModel):
    """One page of videos, newest first."""

    items: list[VideoPublic]
    next_cursor: str | None


# --- cases ---------------------------------------------------------------------------------------

class CasePublic(_Out):
    """One real-world problem: every violation of its family seen within a few metres of it."""

    id: int
    family: str
    event_code: str
    name_zh: str | None = Field(description="Event name in Chinese, from the taxonomy (if it knows the code).")
    name_en: str | None = Field(description="Event name in English, from the taxonomy (if it knows the code).")
    status: CaseStatus
    lat: float = Field(description="Mean position of its sightings.")
    lon: float
    h3_cell: str = Field(description="H3 cell of the position.")
    first_seen: UtcDatetime | None
    last_seen: UtcDatetime | None
    sightings: int = Field(description="Violations attached to it.")
    recurrence_count: int = Field(
        description="复发: times it was seen again after a long gap (24 h by default) or after being closed."
    )
    grid_id: str | None = Field(description="网格: the grid cell it is routed to, if known.")
    unit: str | None = Field(description="责任单位: the responsible unit, if known.")
    filed_at: UtcDatetime | None = Field(description="立案: when an approval filed it.")
    dispatched_at: UtcDatetime | None = Field(description="派遣: when it was last dispatched (the SLA clock starts).")
    handle_due: UtcDatetime | None = Field(description="处置时限: handle by then (working time from dispatch).")
    close_due: UtcDatetime | None = Field(description="结案时限: close by then.")
    handled_at: UtcDatetime | None
    closed_at: UtcDatetime | None
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @classmethod
    def fields_from(cls, case: Case, taxonomy: Taxonomy) -> dict[str, Any]:
        event = taxonomy.events.get(case.event_code)
        fields = {name: getattr(case, name) for name in CasePublic.model_fields if name not in ("name_zh", "name_en")}
        return {**fields, "name_zh": event.name_zh if event else None, "name_en": event.name_en if event else None}

    @classmethod
    def from_row(cls, case: Case, taxonomy: Taxonomy) -> CasePublic:
        return cls(**cls.fields_from(case, taxonomy))


class CaseDetailPublic(CasePublic):
    """A case with a summary of its sightings."""

    violations_by_status: dict[str, int] = Field(description="Its violations counted by review status.")
    recent_violations: list[ViolationPublic] = Field(description="Its newest violations (at most 50).")

    @classmethod
    def from_detail(cls, detail: CaseDetail, taxonomy: Taxonomy) -> CaseDetailPublic:
        return cls(
            **cls.fields_from(detail.case, taxonomy), violations_by_status=detail.violations_by_status,
            recent_violations=[ViolationPublic.from_row(v) for v in detail.recent_violations],
        )


class CasesPage(BaseModel):
    """One page of cases, newest first."""

    items: list[CasePublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


# --- query parameters ----------------------------------------------------------------------------

class _PageQuery(_In):
    limit: int = Field(50, ge=1, le=500, description="Page size.")
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the previous page.")


class PlaceTimeFilter(_In):
    """Time and place filters, validated; shared by the paged lists and the exports."""


    since: UtcQueryTime | None = Field(None, description="Seen at or after (ISO 8601; naive means UTC; "
                                       "1900 to 2999).")
    until: UtcQueryTime | None = Field(None, description="Seen before (ISO 8601; naive means UTC; 1900 to 2999).")
    bbox: str | None = Field(
        None, description="min_lon,min_lat,max_lon,max_lat (WGS84)", examples=["116.30,39.90,116.40,39.95"]
    )

    @field_validator("bbox")
    @classmethod
    def _valid_bbox(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                BBox.parse(value)
            except QueryError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _since_before_until(self) -> PlaceTimeFilter:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(f"since ({self.since.isoformat()}) must be before "
                             f"until ({self.until.isoformat()})")
        return self

    def parsed_bbox(self) -> BBox | None:
        return None if self.bbox is None else BBox.parse(self.bbox)


class _PlaceTimeQuery(PlaceTimeFilter):
    limit: int = Field(50, ge=1, le=500, description="Page size.")
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the previous page.")


class ViolationsQuery(_PlaceTimeQuery):
    """Filters for listing violations."""

    family: Family | None = None
    status: ViolationStatus | None = None
    phone: str | None = Field(None, max_length=32, pattern=r"^[0-9 +()\-]+$",
                              description="Only violations whose ad text carried this phone number "
                              "(digits; spaces, dashes, parentheses and +86 allowed).")


class ObservationsQuery(_PlaceTimeQuery):
    """Filters for listing observations."""

    family: Family | None = None
    class_name: str | None = Field(None, max_length=64, description="The detector's class.")
    location_status: LocationStatus | None = None
    video_id: DbId | None = None


class CasesQuery(_PlaceTimeQuery):
    """Filters for listing cases; ``since`` / ``until`` apply to when a case was last seen."""

    family: Family | None = None
    status: CaseStatus | None = None
    grid: str | None = Field(None, max_length=64, description="Only this grid.")
    overdue: bool | None = Field(None, description="true: only cases past a deadline; false: only the others.")


class VideosQuery(_PageQuery):
    """Filters for listing videos."""

    status: VideoStatus | None = None


class HealthPublic(BaseModel):
    """Whether the API and its database answer."""

    status: Literal["ok", "error"]
    db: str = Field(description='"ok", or what went wrong reaching the database.')


class ErrorPublic(BaseModel):
    """An error, as FastAPI returns it."""

    detail: str
