"""The JSON body of case events, the same for every receiver (webhooks and the Open311 push).

The workflow builds it with :func:`case_payload` when it enqueues an event, so receivers see
the case as it was when the event happened. The Open311 client reads ``service_code``, ``lat``,
``lon``, ``description``, ``media_url`` and ``address`` from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.core.privacy import mask_plates_in
from streetwatch.core.vocab import ViolationStatus
from streetwatch.store.column_types import as_utc
from streetwatch.store.models import Case, Observation, Violation


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat()


def case_payload(
    session: Session,
    case: Case,
    *,
    media_base_url: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A case as an event payload.

    Args:
        session: To find the case's newest non-rejected violation (its reason and evidence frame).
        case: The case, flushed (it needs an id).
        media_base_url: This API's public URL; with it, ``media_url`` points at the evidence frame.
        extra: More fields for this event (e.g. ``{"action": "dispatch", "actor": "li.wei"}``); they
            win over the case's own fields of the same name.

    Returns:
        JSON-ready fields: ids, codes, state, place, times (ISO 8601 UTC), description, evidence.
    """
    newest = session.execute(
        select(Violation.name_zh, Violation.name_en, Violation.reason, Observation.frame_sha256)
        .join(Observation, Observation.id == Violation.observation_id)
        .where(Violation.case_id == case.id, Violation.status != ViolationStatus.REJECTED)
        .order_by(Violation.id.desc())
        .limit(1)
    ).first()
    description = (None if newest is None
                   else mask_plates_in(f"{newest.name_zh} ({newest.name_en}): {newest.reason}"))
    sha = None if newest is None else newest.frame_sha256
    payload: dict[str, Any] = {
        "case_id": case.id,
        "service_code": case.event_code,
        "event_code": case.event_code,
        "family": case.family,
        "status": case.status,
        "lat": case.lat,
        "lon": case.lon,
        "h3_cell": case.h3_cell,
        "grid_id": case.grid_id,
        "unit": case.unit,
        "sightings": case.sightings,
        "first_seen": _iso(case.first_seen),
        "last_seen": _iso(case.last_seen),
        "filed_at": _iso(getattr(case, "filed_at", None)),
        "dispatched_at": _iso(getattr(case, "dispatched_at", None)),
        "handle_due": _iso(getattr(case, "handle_due", None)),
        "close_due": _iso(getattr(case, "close_due", None)),
        "closed_at": _iso(getattr(case, "closed_at", None)),
        "description": description,
        "evidence_sha256": sha,
        "media_url": f"{media_base_url.rstrip('/')}/evidence/{sha}/blurred" if media_base_url and sha else None,
    }
    payload.update(extra or {})
    return payload
