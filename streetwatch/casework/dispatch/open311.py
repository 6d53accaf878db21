"""Our cases as Open311 GeoReport v2 services and service requests (pure mapping + queries).

- A **service** is an event code of the taxonomy (``models/taxonomy.yaml``): ``service_code`` is
  the code, ``service_name`` the Chinese and English names, ``group`` the family.
- A **service request** is a case: ``service_request_id`` is the case id, ``status`` is ``closed``
  for a closed case and ``open`` for every other workflow state (the state itself is in
  ``status_notes``), ``agency_responsible`` the unit, ``expected_datetime`` the close deadline.
- A 311 system may POST a request: it becomes a new ``open`` case of that service at the given
  position (a supervisor files it, as with any case), and an :class:`Open311Request` row keeps its
  text, photo URL and address. The position is required: we do not geocode addresses.

The HTTP side (formats, errors, auth) is in ``api/routes/open311.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from streetwatch.casework.dispatch.outbox import CASE_REPORTED, enqueue
from streetwatch.casework.dispatch.payloads import case_payload
from streetwatch.core.dedup import cell_of
from streetwatch.core.errors import BadInputError
from streetwatch.core.privacy import mask_plates_in
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.vocab import CaseStatus, Open311Status, ViolationStatus
from streetwatch.store.column_types import as_utc, check_time_range
from streetwatch.store.models import MAX_ROW_ID, Case, Observation, Violation, parse_row_id
from streetwatch.store.models_outbox import Open311Request

DEFAULT_WINDOW: Final = timedelta(days=90)   # the spec's default span when no dates are given
MAX_RESULTS: Final = 1000                    # the spec lets servers cap a query here
STATUS_NOTES: Final = {
    CaseStatus.OPEN: "reported, awaiting confirmation (待立案)",
    CaseStatus.FILED: "filed (已立案)",
    CaseStatus.DISPATCHED: "dispatched to the responsible unit (已派遣)",
    CaseStatus.HANDLED: "handled by the unit, awaiting on-site check (已处置)",
    CaseStatus.CHECKED: "checked on site (已核查)",
    CaseStatus.CLOSED: "closed (已结案)",
}


class Open311Error(BadInputError, ValueError):
    """A request the spec's error format answers: ``code`` is the HTTP status."""

    http_status: ClassVar[int] = 400  # the default; each error carries its own ``code``

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def service_name(taxonomy: Taxonomy, code: str) -> str:
    event = taxonomy.events[code]
    return f"{event.name_zh} {event.name_en}"


def services(taxonomy: Taxonomy) -> list[dict[str, Any]]:
    """The GeoReport ``services`` list: one realtime service per event code, grouped by family."""
    out = []
    for code, event in sorted(taxonomy.events.items()):
        family = taxonomy.families[event.family]
        classes = sorted(c.name for c in taxonomy.classes.values() if c.event_code == code)
        keywords = [event.family, event.name_en, event.name_zh, family.name_zh, *classes]
        out.append({
            "service_code": code,
            "service_name": service_name(taxonomy, code),
            "description": f"{family.name_zh} / {family.name_en}: {event.name_zh} ({event.name_en})",
            "metadata": False,  # no extra attributes to fill in
            "type": "realtime",
            "keywords": ", ".join(dict.fromkeys(keywords)),
            "group": event.family,
        })
    return out


def service_definition(taxonomy: Taxonomy, code: str) -> dict[str, Any]:
    """The GeoReport service definition of ``code`` (no attributes: our services need none)."""
    if code not in taxonomy.events:
        raise Open311Error(404, f"service_code {code!r} not found; known: {', '.join(sorted(taxonomy.events))}")
    return {"service_code": code, "attributes": []}


def w3c(value: datetime | None) -> str | None:
    """A W3C datetime with offset (the spec's format), in UTC."""
    if value is None:
        return None
    return as_utc(value).isoformat(timespec="seconds")


def parse_w3c(name: str, text: str | None) -> datetime | None:
    """Parse a ``start_date``/``end_date`` argument; it must carry a timezone, as the spec says."""
    if text is None or text == "":
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C datetime like 2026-12-01T08:00:00+08:00, "
                                f"got {text!r}") from None
    if value.tzinfo is None:
        raise Open311Error(400, f"{name} needs a timezone (Z or ±HH:MM), got {text!r}")
    try:
        return check_time_range(value)
    except ValueError as exc:
        raise Open311Error(400, f"{name}: {exc}") from None


def _csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """The GET ``requests`` filters, checked."""

    ids: tuple[int, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()

    @classmethod
    def parse(cls, *, service_request_id: str | None, service_code: str | None, start_date: str | None,
              end_date: str | None, status: str | None) -> RequestQuery:
        """Check the spec's query arguments (comma-separated lists allowed); 400 with the reason."""
        ids = []
        for part in _csv(service_request_id):
            if (case_id := parse_row_id(part)) is None:
                raise Open311Error(400, f"service_request_id must be case ids (integers from 1 to {MAX_ROW_ID}), "
                                        f"got {part!r}")
            ids.append(case_id)
        statuses = [s.lower() for s in _csv(status)]
        if bad := [s for s in statuses if s not in {known.value for known in Open311Status}]:
            raise Open311Error(400, f"status must be open and/or closed, got {', '.join(bad)}")
        start, end = parse_w3c("start_date", start_date), parse_w3c("end_date", end_date)
        if start and end and start > end:
            raise Open311Error(400, f"start_date {start_date} is after end_date {end_date}")
        return cls(tuple(ids), tuple(_csv(service_code)), start, end, tuple(statuses))


def _filtered(query: RequestQuery, unit_scope: str | None, now: datetime) -> Select[Case]:
    statement = select(Case)
    if unit_scope is not None:
        statement = statement.where(Case.unit == unit_scope)
    if query.ids:  # the spec: a list of ids overrides every other filter
        return statement.where(Case.id.in_(query.ids)).order_by(Case.id)
    if query.service_codes:
        statement = statement.where(Case.event_code.in_(query.service_codes))
    end = query.end
    start = query.start
    if start is None and end is None:
        start = now - DEFAULT_WINDOW
    elif start is None and end is not None:
        start = end - DEFAULT_WINDOW
    if start is not None:
        statement = statement.where(Case.created_at >= start)
    if end is not None:
        statement = statement.where(Case.created_at <= end)
    if len(set(query.statuses)) == 1:
        closed = Case.status == CaseStatus.CLOSED
        statement = statement.where(closed if query.statuses[0] == Open311Status.CLOSED else ~closed)
    return statement.order_by(Case.created_at.desc(), Case.id.desc())


def find_cases(session: Session, query: RequestQuery, *, unit_scope: str | None,
               now: datetime | None = None) -> list[Case]:
    """Cases matching the filters, newest first, at most :data:`MAX_RESULTS`."""
    statement = _filtered(query, unit_scope, now or datetime.now(UTC)).limit(MAX_RESULTS)
    return list(session.scalars(statement))


def _evidence_of(session: Session, case_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Per case, its newest non-rejected violation's (reason, evidence frame sha256)."""
    if not case_ids:
        return {}
    newest = (select(func.max(Violation.id)).where(Violation.case_id.in_(case_ids),
                                                   Violation.status != ViolationStatus.REJECTED)
              .group_by(Violation.case_id))
    rows = session.execute(
        select(Violation.case_id, Violation.reason, Observation.frame_sha256)
        .join(Observation, Observation.id == Violation.observation_id)
        .where(Violation.id.in_(newest))
    ).all()
    return {case_id: (reason, sha) for case_id, reason, sha in rows if case_id is not None}


def service_requests(session: Session, cases: Sequence[Case], taxonomy: Taxonomy,
                     *, media_base_url: str) -> list[dict[str, Any]]:
    """The spec's service request objects for ``cases`` (field order as in the spec)."""
    ids = [c.id for c in cases]
    evidence = _evidence_of(session, ids)
    received = {r.case_id: r for r in session.scalars(select(Open311Request).where(Open311Request.case_id.in_(ids)))}
    out = []
    for case in cases:
        reason, sha = evidence.get(case.id, (None, None))
        posted = received.get(case.id)
        description = posted.description if posted is not None else reason
        media_url = (f"{media_base_url.rstrip('/')}/evidence/{sha}/blurred" if sha
                     else posted.media_url if posted is not None else None)
        out.append({
            "service_request_id": str(case.id),
            "status": Open311Status.CLOSED if case.status == CaseStatus.CLOSED else Open311Status.OPEN,
            "status_notes": STATUS_NOTES.get(case.status, case.status),
            "service_name": service_name(taxonomy, case.event_code) if case.event_code in taxonomy.events
            else case.event_code,
            "service_code": case.event_code,
            "description": mask_plates_in(description) if description else description,
            "agency_responsible": case.unit,
            "service_notice": None,
            "requested_datetime": w3c(case.created_at),
            "updated_datetime": w3c(case.updated_at),
            "expected_datetime": w3c(case.close_due),
            "address": posted.address_string if posted is not None else None,
            "address_id": None,
            "zipcode": None,
            "lat": case.lat,
            "long": case.lon,
            "media_url": media_url,
        })
    return out


def _coordinate(name: str, text: str | None, limit: float) -> float:
    if text is None or text.strip() == "":
        raise Open311Error(400, f"{name} is required: this server files requests by position and does not "
                                "geocode address_string")
    try:
        value = float(text)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number in degrees, got {text!r}") from None
    if not math.isfinite(value) or abs(value) > limit:
        raise Open311Error(400, f"{name} must be within ±{limit:g} degrees, got {text!r}")
    return value


def create_request(
    session: Session, taxonomy: Taxonomy, form: dict[str, str], *, submitted_by: str
) -> Case:
    """File a POSTed service request as a new ``open`` case (flushed, not committed).

    Args:
        session: The request's session; the caller commits.
        taxonomy: For the service code's family.
        form: The POST's form fields (``api_key`` already checked and removed or ignored).
        submitted_by: The authenticated user's name.

    Raises:
        Open311Error: 400 for a missing or unknown service code, or a missing/invalid position.
    """
    code = (form.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    if code not in taxonomy.events:
        raise Open311Error(400, f"service_code {code!r} not found; known: {', '.join(sorted(taxonomy.events))}")
    lat = _coordinate("lat", form.get("lat"), 90.0)
    lon = _coordinate("long", form.get("long"), 180.0)
    attributes = {key[len("attribute["):-1]: value for key, value in form.items()
                  if key.startswith("attribute[") and key.endswith("]")}
    case = Case(family=taxonomy.events[code].family, event_code=code, status=CaseStatus.OPEN, lat=lat, lon=lon,
                h3_cell=cell_of(lat, lon), sightings=0, recurrence_count=0)
    session.add(case)
    session.flush()
    session.add(Open311Request(
        case_id=case.id, service_code=code, description=(form.get("description") or None),
        media_url=(form.get("media_url") or None), address_string=(form.get("address_string") or None),
        attributes=attributes, jurisdiction_id=(form.get("jurisdiction_id") or None), submitted_by=submitted_by,
    ))
    session.flush()
    return case


def report_request(
    session: Session, taxonomy: Taxonomy, form: dict[str, str], *, submitted_by: str, media_base_url: str | None,
) -> Case:
    """File a POSTed service request (:func:`create_request`) and queue its ``case.reported`` message
    for the outbox, in the caller's transaction (flushed, not committed)."""
    case = create_request(session, taxonomy, form, submitted_by=submitted_by)
    payload = case_payload(session, case, media_base_url=media_base_url,
                           extra={"source": "open311", "description": form.get("description") or None,
                                  "media_url": form.get("media_url") or None})
    enqueue(session, event_type=CASE_REPORTED, aggregate_id=case.id, payload=payload)
    return case
