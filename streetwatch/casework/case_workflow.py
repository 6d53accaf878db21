"""Case transitions on stored rows: filing on approval, dispatch, return, handling, checks, closure.

The pure rules (which action from which state, who may, deadlines) are in
``streetwatch.casework``; this module applies them in the caller's transaction and records, with
each transition, in that same transaction:

- a ``CaseEvent`` row (append-only; the KPIs are computed from these),
- an audit log entry (``streetwatch.store.audit``),
- an outbox event (``streetwatch.casework.dispatch.outbox.enqueue``) of the transition's type
  (``case.filed``, ``case.dispatched``, ... see ``streetwatch.casework.states.TRANSITIONS``), with
  the stable key ``case-event-<id>`` so a retried delivery never reads as a second transition.

Evidence: a dispatch sends the case, with its evidence, to the unit that acts on it, so with an
evidence store it first checks every image of the case's violations against its sha256 and
refuses (:class:`EvidenceRefusedError`, 409) when one is missing or damaged;
:func:`record_dispatch_refusal` then writes why to the audit log, in a transaction of its own.

Concurrency: a transition's first statement writes the case row (its ``updated_at``), which
takes PostgreSQL's row lock and SQLite's writer lock, so two transitions of one case take turns
and the second sees the first's result (and may find its action no longer allowed).
Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from streetwatch.casework.config import WorkflowConfig
from streetwatch.casework.deadlines import TimeLimit
from streetwatch.casework.dispatch.outbox import enqueue
from streetwatch.casework.kpis import CaseEventRecord
from streetwatch.casework.routing import route_case
from streetwatch.casework.states import TRANSITIONS, check_permitted, next_state, parse_action
from streetwatch.core.dedup import cell_of
from streetwatch.core.errors import BadInputError, ConflictError, MissingError
from streetwatch.core.vocab import CaseAction, CaseStatus
from streetwatch.store.audit import append_audit, jsonable
from streetwatch.store.cases import attach_violations, lock_case_areas
from streetwatch.store.column_types import require_aware
from streetwatch.store.evidence import EvidenceProblem
from streetwatch.store.evidence_checks import case_evidence, record_evidence_problem
from streetwatch.store.models import Case, Violation, utcnow
from streetwatch.store.models_workflow import CaseEvent

if TYPE_CHECKING:
    from streetwatch.store.evidence import EvidenceBackend

# Actions whose request must say why.
NOTE_REQUIRED = frozenset({CaseAction.RETURN, CaseAction.REWORK, CaseAction.EXTEND})
DISPATCH_REFUSED = "case.dispatch_refused"  # the audit action of a dispatch refused for its evidence


class CaseNotFoundError(MissingError, LookupError):
    """No case has the id."""


class TransitionInputError(BadInputError, ValueError):
    """A transition request missing what its action needs (a note, an extension length, ...)."""


class EvidenceRefusedError(ConflictError, RuntimeError):
    """A dispatch refused because evidence of the case is missing or no longer matches its sha256 (409).

    Attributes:
        case_id: The case.
        action: The refused action.
        problems: Each image that failed, and how.
    """

    def __init__(self, case_id: int, action: CaseAction, problems: Sequence[EvidenceProblem]) -> None:
        self.case_id, self.action, self.problems = case_id, action, tuple(problems)
        listed = "; ".join(p.describe() for p in self.problems[:3])
        more = f" (and {len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
        super().__init__(f"case {case_id} cannot be {action.value}ed: {len(self.problems)} evidence image(s) "
                         f"fail their integrity check: {listed}{more}; the refusal is recorded in the audit log")


def case_snapshot(case: Case) -> dict[str, Any]:
    """The case's workflow fields, JSON-able, for outbox payloads and audit details."""
    return {
        "id": case.id, "family": case.family, "event_code": case.event_code, "status": case.status,
        "lat": case.lat, "lon": case.lon, "unit": case.unit, "grid_id": case.grid_id,
        "sightings": case.sightings,
        **{name: getattr(case, name)
           for name in ("filed_at", "dispatched_at", "handle_due", "close_due", "handled_at", "closed_at")},
    }


def _lock_case(session: Session, case_id: int, now: datetime) -> Case:
    # A write first (see the module docstring), then a fresh read.
    locked = session.execute(update(Case).where(Case.id == case_id).values(updated_at=now),
                             execution_options={"synchronize_session": False})
    if locked.rowcount == 0:  # type: ignore[attr-defined]
        raise CaseNotFoundError(f"case {case_id} not found")
    case = session.get(Case, case_id, populate_existing=True)
    assert case is not None  # just updated it
    return case


def _record(
    session: Session, case: Case, action: CaseAction, from_status: str, actor: str, note: str | None,
    details: dict[str, Any], now: datetime,
) -> CaseEvent:
    event = CaseEvent(case_id=case.id, action=action.value, from_status=from_status, to_status=case.status,
                      actor=actor, note=note, unit=case.unit, grid_id=case.grid_id,
                      handle_due=case.handle_due, close_due=case.close_due,
                      details=jsonable(details), created_at=now)
    session.add(event)
    session.flush()
    snapshot = case_snapshot(case)
    append_audit(session, actor=actor, action=f"case.{action.value}", entity_type="case", entity_id=case.id,
                 details={"from": from_status, "to": case.status, "note": note, "event_id": event.id,
                          **details, "case": snapshot}, now=now)
    enqueue(session, event_type=TRANSITIONS[action].event_type, aggregate_id=case.id,
            payload={"case": snapshot, "action": action.value, "from_status": from_status, "actor": actor,
                     "note": note, "at": now, "case_event_id": event.id, **details},
            key=f"case-event-{event.id}")
    return event


def _route(case: Case, config: WorkflowConfig) -> str:
    route = route_case(case.family, case.lat, case.lon, unit=case.unit, grid_id=case.grid_id,
                       units=config.units, zones=config.zones)
    case.unit, case.grid_id = route.unit, route.grid_id
    return route.source


def file_on_approval(
    session: Session, case_id: int, violation_id: int, actor: str, config: WorkflowConfig,
    now: datetime | None = None,
) -> CaseEvent | None:
    """File (立案) an ``open`` case because one of its violations was approved.

    Routes it to its unit and grid (see ``streetwatch.casework.routing``). A case already filed or
    further along is left as it is: the approved violation just joins it.

    Returns:
        The ``file`` event, or None when the case was not ``open``.
    """
    now = require_aware(now or utcnow())
    case = _lock_case(session, case_id, now)
    if case.status != CaseStatus.OPEN:
        return None
    from_status = case.status
    source = _route(case, config)
    case.status, case.filed_at = next_state(case.status, CaseAction.FILE, case.id), now
    session.flush()
    return _record(session, case, CaseAction.FILE, from_status, actor, None,
                   {"violation_id": violation_id, "routed_by": source}, now)


def transition_case(
    session: Session,
    case_id: int,
    action: str,
    *,
    actor: str,
    roles: frozenset[str] | set[str],
    config: WorkflowConfig,
    note: str | None = None,
    unit: str | None = None,
    extend_by: TimeLimit | None = None,
    now: datetime | None = None,
    evidence: EvidenceBackend | None = None,
) -> CaseEvent:
    """Apply one action of the state machine to a case.

    Args:
        session: The caller's session; the caller commits.
        case_id: The case.
        action: A ``CaseAction`` value (dispatch, return, handle, check, rework, extend, close, file).
        actor: Who (their username).
        roles: Their roles (checked against ``streetwatch.casework.states``; admin passes).
        config: Deadlines (dispatch starts the clock, extend pushes it) and routing (file).
        note: Why; required for return, rework and extend.
        unit: dispatch or return only: send the case to this unit instead of its current one.
        extend_by: extend only: how much working time to add to both deadlines.
        now: The transition's time (default: now).
        evidence: Where the evidence images are; with it, a dispatch first checks every image of
            the case (see the module docstring). None: no check (stores without files, tests).

    Returns:
        The new event row.

    Raises:
        ValueError: An unknown action.
        NotPermittedError: The roles do not allow the action.
        TransitionInputError: A missing note, a misplaced ``unit`` or ``extend_by``.
        CaseNotFoundError: No such case.
        IllegalTransitionError: The case's state does not allow the action.
        EvidenceRefusedError: A dispatch of a case whose evidence is missing or damaged.
    """
    act = parse_action(action)
    check_permitted(roles, act)
    note = note.strip() if note is not None and note.strip() else None
    if act in NOTE_REQUIRED and note is None:
        raise TransitionInputError(f"{act.value} needs a note saying why")
    if unit is not None and act not in (CaseAction.DISPATCH, CaseAction.RETURN):
        raise TransitionInputError(f"unit is only for dispatch or return, not for {act.value}")
    if (extend_by is not None) != (act == CaseAction.EXTEND):
        raise TransitionInputError("extend needs extend_by (working time to add)" if act == CaseAction.EXTEND
                                   else f"extend_by is only for extend, not for {act.value}")
    now = require_aware(now or utcnow())
    case = _lock_case(session, case_id, now)
    from_status = case.status
    case.status = next_state(case.status, act, case.id)
    if act == CaseAction.DISPATCH and evidence is not None:
        problems = [p for sha in case_evidence(session, case_id) if (p := evidence.check(sha)) is not None]
        if problems:
            raise EvidenceRefusedError(case_id, act, problems)
    details: dict[str, Any] = {}
    if unit is not None and unit.strip():
        details["previous_unit"], case.unit = case.unit, unit.strip()
    if act == CaseAction.FILE:
        details["routed_by"] = _route(case, config)
        case.filed_at = now
    elif act == CaseAction.DISPATCH:
        due = config.deadlines.deadlines(case.event_code, now)  # every dispatch restarts the clock
        case.dispatched_at, case.handle_due, case.close_due = now, due.handle_due, due.close_due
        case.handled_at = None
    elif act == CaseAction.RETURN:
        case.handle_due = case.close_due = None
    elif act == CaseAction.HANDLE:
        case.handled_at = now
    elif act == CaseAction.REWORK:
        case.handled_at = None  # back to the same unit; its deadlines keep running
    elif act == CaseAction.EXTEND:
        assert extend_by is not None and case.handle_due is not None and case.close_due is not None
        details.update(extend_by=str(extend_by), previous_handle_due=case.handle_due,
                       previous_close_due=case.close_due)
        case.handle_due = config.deadlines.extend(case.handle_due, extend_by)
        case.close_due = config.deadlines.extend(case.close_due, extend_by)
    elif act == CaseAction.CLOSE:
        case.closed_at = now
    session.flush()
    return _record(session, case, act, from_status, actor, note, details, now)


def record_dispatch_refusal(session: Session, refusal: EvidenceRefusedError, *, actor: str,
                            now: datetime | None = None) -> None:
    """Write a refused dispatch, and each failed image, to the audit log (in the caller's transaction).

    Call it in a fresh transaction after rolling back the refused one; the caller commits.
    """
    append_audit(session, actor=actor, action=DISPATCH_REFUSED, entity_type="case", entity_id=refusal.case_id,
                 details={"action": refusal.action, "reason": "evidence failed its integrity check",
                          "problems": [{"sha256": p.sha256, "fault": p.fault, "actual_sha256": p.actual_sha256}
                                       for p in refusal.problems]}, now=now)
    for problem in refusal.problems:
        record_evidence_problem(session, problem, actor=actor, seen_by=f"dispatch of case {refusal.case_id}")


# --- moving a violation between cases ---------------------------------------------------------------

def refresh_case_stats(session: Session, case: Case) -> None:
    """Recompute a case's sightings, mean position and first/last seen from its violations.

    A case left with no violation keeps its position and times, with ``sightings`` 0.
    """
    count, lat, lon, first, last = session.execute(
        select(func.count(Violation.id), func.avg(Violation.lat), func.avg(Violation.lon),
               func.min(Violation.seen_at), func.max(Violation.seen_at))
        .where(Violation.case_id == case.id, Violation.lat.is_not(None), Violation.lon.is_not(None))
    ).one()
    case.sightings = int(count)
    if count:
        case.lat, case.lon = float(lat), float(lon)
        case.h3_cell = cell_of(case.lat, case.lon)
        case.first_seen, case.last_seen = first, last


def reattach_violation(session: Session, violation: Violation, config: WorkflowConfig) -> int | None:
    """Move a violation whose position or family changed to the case it now belongs to.

    Its old case's statistics are recomputed without it; it then joins the matching case
    nearby (or starts one) exactly as at ingest (``streetwatch.store.cases``).

    Returns:
        The new case id (None when the violation has no position).
    """
    old_case_id = violation.case_id
    violation.case_id = None
    session.flush()
    if old_case_id is not None:
        old = session.get(Case, old_case_id)
        if old is not None:
            refresh_case_stats(session, old)
    if violation.lat is None or violation.lon is None:
        session.flush()
        return None
    lock_case_areas(session, [violation], config.case_radius_m)
    attach_violations(session, [violation], radius_m=config.case_radius_m)
    return violation.case_id


def case_events(session: Session, case_id: int) -> list[CaseEvent]:
    """Every transition of the case, oldest first."""
    return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


# --- reading events for the KPIs ---------------------------------------------------------------------

def kpi_events(session: Session, since: datetime, until: datetime) -> list[CaseEventRecord]:
    """The events the KPIs of ``since <= t < until`` need: every event before ``until`` of each case
    filed or dispatched in the period (earlier events tell which cycle a later one belongs to)."""
    since, until = require_aware(since), require_aware(until)
    active = (select(CaseEvent.case_id)
              .where(CaseEvent.action.in_([CaseAction.FILE.value, CaseAction.DISPATCH.value]),
                     CaseEvent.created_at >= since, CaseEvent.created_at < until)
              .distinct())
    rows = session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(active), CaseEvent.created_at < until)
                           .order_by(CaseEvent.id))
    return [CaseEventRecord(id=e.id, case_id=e.case_id, action=e.action, at=e.created_at, unit=e.unit,
                            grid_id=e.grid_id, handle_due=e.handle_due,
                            close_due=e.close_due) for e in rows]

