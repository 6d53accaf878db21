"""What a rectification notice (整改通知单) of a case prints, read from the case's stored state.

:func:`build_notice_content` gathers everything the page shows into one frozen
:class:`NoticeContent`; the renderer (:mod:`streetwatch.casework.notice_pdf`) draws nothing else, so the
same content always gives the same bytes. Its :meth:`NoticeContent.fingerprint` (sha256 of the content
as canonical JSON, the evidence frame by its sha256) is the "case state" a notice was made from.

What comes from where:

- Case number ``SW-<id>`` and notice number ``ZG-<date issued>-<id>``.
- Event: the case's event code with its Chinese and English names from the taxonomy.
- Where: the address text of the evidence violation if its rule recorded one (``extra["address"]``),
  the zone it lies in (``extra["zone_name"]``), the case's grid cell and position (WGS84, 6 decimals),
  and the zones of the city's zones files within the locator map's reach.
- Evidence: the frame and box of the case's newest approved violation (the newest one not rejected
  when none is approved yet); the frame must still hash to its sha256.
- Deadline (整改期限): the case's handling deadline (``handle_due``, set at dispatch by the deadline rules,
  pushed back by extensions); for a case filed but not dispatched yet, the same rules counted from filing.
- Date issued (签发日期): when the deadline's clock started (dispatch, or filing), in the calendar's zone.
  Not the wall clock: a notice printed again for the same case state is the same notice.
- Legal basis, demand and issuing unit: the notices file (:mod:`streetwatch.casework.notice_config`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.casework.config import WorkflowConfig
from streetwatch.casework.notice_config import NoticeConfig
from streetwatch.core.errors import ConflictError
from streetwatch.core.geo import destination
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.vocab import CaseStatus, ViolationStatus
from streetwatch.store.blurred import blurred_evidence, vehicle_boxes_on
from streetwatch.store.evidence import EvidenceBackend
from streetwatch.store.models import Case, Evidence, Violation

MAP_HALF_SIZE_M: Final = 60.0  # the locator map shows this far around the case, each way
# Statuses a notice is issued in: filed, and any stage before closing. An open case is not confirmed
# yet; a closed one has nothing left to rectify (its archived notices stay downloadable).
ISSUABLE: Final = frozenset({CaseStatus.FILED, CaseStatus.DISPATCHED, CaseStatus.HANDLED, CaseStatus.CHECKED})


class NoticeRefusedError(ConflictError, RuntimeError):
    """No notice can be issued for the case in its present state (not filed, closed, no usable evidence)."""


@dataclass(frozen=True, slots=True)
class MapZone:
    """A zone drawn on the locator map: its id, kind and outer rings as (lon, lat) pairs."""

    zone_id: str
    kind: str
    rings: tuple[tuple[tuple[float, float], ...], ...]


@dataclass(frozen=True, slots=True)
class NoticeContent:
    """Everything a notice page prints (times are local wall-clock times in ``timezone``)."""

    case_id: int
    case_number: str
    notice_number: str
    event_code: str
    event_zh: str
    event_en: str
    address: str | None
    zone_name: str | None
    grid_id: str | None
    unit: str | None
    lat: float
    lon: float
    seen_at: str | None
    timezone: str
    issued_on: str         # YYYY-MM-DD
    issued_at: str         # YYYY-MM-DDTHH:MM:SS, the PDF's creation date
    deadline: str          # YYYY-MM-DD HH:MM
    deadline_source: str   # "dispatch" (the case's handle_due) or "filing" (the rules from filing)
    legal_basis_zh: str
    legal_basis_en: str
    demand_zh: str
    demand_en: str
    issuing_unit: str
    issuing_unit_en: str
    contact: str
    evidence_sha256: str
    frame_width: int
    frame_height: int
    bbox: tuple[float, float, float, float]
    class_name: str
    map_zones: tuple[MapZone, ...]

    def as_json(self) -> dict[str, Any]:
        """The content as plain JSON values (tuples as lists)."""
        return json.loads(json.dumps(asdict(self), ensure_ascii=False))

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of the content: the case state the notice was made from."""
        text = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def case_number(case_id: int) -> str:
    """The case number printed on notices: ``SW-`` and the case id, at least six digits."""
    return f"SW-{case_id:06d}"


def _local(value: datetime, zone: ZoneInfo) -> datetime:
    return value.astimezone(zone)


def evidence_violation(session: Session, case_id: int) -> Violation | None:
    """The violation whose frame a notice shows: the newest approved one, else the newest not rejected."""
    for statuses in ((ViolationStatus.APPROVED,), (ViolationStatus.APPROVED, ViolationStatus.PENDING)):
        found = session.scalars(select(Violation).where(Violation.case_id == case_id, Violation.status.in_(statuses))
                                .order_by(Violation.id.desc()).limit(1)).first()
        if found is not None:
            return found
    return None


def _map_zones(config: WorkflowConfig, lat: float, lon: float) -> tuple[MapZone, ...]:
    if config.zones is None:
        return ()
    from shapely.geometry import MultiPolygon, box  # shapely: only when the city has zones

    reach = MAP_HALF_SIZE_M * math.sqrt(2.0)
    south, west = destination(lat, lon, 225.0, reach)
    north, east = destination(lat, lon, 45.0, reach)
    window = box(west, south, east, north)
    zones = []
    for zone in config.zones:
        if not zone.geometry.intersects(window):
            continue
        polygons = zone.geometry.geoms if isinstance(zone.geometry, MultiPolygon) else [zone.geometry]
        rings = tuple(tuple((round(x, 7), round(y, 7)) for x, y in polygon.exterior.coords) for polygon in polygons)
        zones.append(MapZone(zone.id, zone.kind, rings))
    return tuple(sorted(zones, key=lambda z: z.zone_id))


def _deadline(case: Case, config: WorkflowConfig) -> tuple[datetime, datetime, str]:
    """(clock start, deadline, source) of the case's handling deadline."""
    if case.handle_due is not None and case.dispatched_at is not None:
        return case.dispatched_at, case.handle_due, "dispatch"
    start = case.filed_at or case.created_at
    return start, config.deadlines.deadlines(case.event_code, start).handle_due, "filing"


def build_notice_content(
    session: Session, case: Case, *, taxonomy: Taxonomy, config: WorkflowConfig, notices: NoticeConfig,
    evidence: EvidenceBackend,
) -> tuple[NoticeContent, bytes]:
    """The notice content of a case in its present state, and the evidence frame's verified bytes.

    Raises:
        NoticeRefusedError: The case is open or closed, has no violation to show, or its evidence
            frame is missing or no longer hashes to its sha256 (409).
    """
    if case.status not in ISSUABLE:
        why = ("it is not filed yet (approve a violation of it first)" if case.status == CaseStatus.OPEN
               else "it is closed: nothing is left to rectify (its archived notices can still be downloaded)")
        raise NoticeRefusedError(f"no notice can be issued for case {case.id} in state {case.status!r}: {why}")
    violation = evidence_violation(session, case.id)
    if violation is None:
        raise NoticeRefusedError(f"case {case.id} has no violation that is not rejected: no evidence to show")
    observation = violation.observation
    problem = evidence.check(observation.frame_sha256)
    if problem is not None:
        raise NoticeRefusedError(f"case {case.id}: the evidence frame cannot be used: {problem.describe()}")
    # A notice leaves the system (it is handed to the shop or owner): faces and plates blurred (docs/privacy.md).
    frame = blurred_evidence(evidence, observation.frame_sha256, vehicle_boxes_on(session, observation.frame_sha256))
    row = session.get(Evidence, observation.frame_sha256)
    width, height = (row.width, row.height) if row is not None else (0, 0)
    if not (width and height):  # older rows lack sizes: read them from the JPEG itself
        import io

        from PIL import Image

        with Image.open(io.BytesIO(frame)) as image:
            width, height = image.size
    zone = config.deadlines.calendar.timezone
    start, due, source = _deadline(case, config)
    issued = _local(start, zone)
    event = taxonomy.events.get(case.event_code)
    basis = notices.basis_for(case.event_code)
    extra = violation.extra or {}
    address = extra.get("address")
    zone_name = extra.get("zone_name")
    lat, lon = round(case.lat, 6), round(case.lon, 6)
    x1, y1, x2, y2 = (float(v) for v in observation.bbox[:4])
    content = NoticeContent(
        case_id=case.id, case_number=case_number(case.id),
        notice_number=f"ZG-{issued:%Y%m%d}-{case.id:06d}",
        event_code=case.event_code,
        event_zh=event.name_zh if event is not None else violation.name_zh,
        event_en=event.name_en if event is not None else violation.name_en,
        address=str(address) if address else None, zone_name=str(zone_name) if zone_name else None,
        grid_id=case.grid_id, unit=case.unit, lat=lat, lon=lon,
        seen_at=None if violation.seen_at is None else f"{_local(violation.seen_at, zone):%Y-%m-%d %H:%M}",
        timezone=zone.key, issued_on=f"{issued:%Y-%m-%d}", issued_at=f"{issued:%Y-%m-%dT%H:%M:%S}",
        deadline=f"{_local(due, zone):%Y-%m-%d %H:%M}", deadline_source=source,
        legal_basis_zh=basis.text_zh, legal_basis_en=basis.text_en,
        demand_zh=notices.demand, demand_en=notices.demand_en,
        issuing_unit=notices.issuing_unit, issuing_unit_en=notices.issuing_unit_en, contact=notices.contact,
        evidence_sha256=observation.frame_sha256, frame_width=int(width), frame_height=int(height),
        bbox=(round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)), class_name=violation.class_name,
        map_zones=_map_zones(config, lat, lon),
    )
    return content, frame
