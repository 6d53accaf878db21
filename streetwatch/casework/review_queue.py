"""The review queue: leases on pending violations, and decisions that respect them.

Leasing (``claim``): a reviewer takes the next N pending violations (oldest first) for T
minutes. Each item is taken with one conditional UPDATE::

    UPDATE violations SET lease_owner = :me, lease_expires_at = :until
    WHERE id = :id AND status = 'pending'
      AND (lease_owner IS NULL OR lease_expires_at < :now OR lease_owner = :me)

and counts only if it changed one row, so of two reviewers racing for an item exactly one
gets it, on SQLite (one writer at a time) and PostgreSQL (the second UPDATE waits for the
first's row lock, then re-checks the WHERE on the new row). No SELECT ... FOR UPDATE. A lease
that expires puts the item back in the queue; claiming again renews the items one still holds.
Times come from the application's clock: keep the servers' clocks in sync (NTP).

Deciding (``decide``): approve, reject (with a reason code from :class:`~streetwatch.core.vocab.RejectReason` and an
optional note), relabel (another class of the taxonomy, so possibly another family) or move
(a corrected position). Rules:

- A **reviewer** must hold a live lease on the violation: the decision's conditional UPDATE
  includes ``lease_owner = :me AND lease_expires_at >= :now``. Otherwise :class:`LeaseError`
  (HTTP 409), also when the lease expired and nobody else took the item yet.
- A **supervisor or admin** may decide without a lease, even over someone else's lease
  (``may_override``); the decision's audit entry says so (``lease_override``). Reopening a
  decided violation (relabel of an approved or rejected one) needs them too, since only
  pending items can be leased.
- approve / reject need a pending violation and end its lease. approve files the case the
  violation is a sighting of (``streetwatch.casework.case_workflow.file_on_approval``).
- relabel puts the violation back to pending (the new label is reviewed again) and keeps the
  decider's lease, so they can approve it at once; a new family moves it to a case of that family.
- move (pending only) sets the violation's position (the observation keeps the computed
  one: the pair is what calibration learns from) and moves it to the case at the new position.

Every decision appends a ``ReviewDecision`` row and an audit entry in the caller's
transaction; nothing here commits except ``claim`` and ``release``, which own theirs. An approval
also writes a confirm label record on the violation's detection, a relabel a relabel record
(``streetwatch.store.labels.label_decision``): one act gives the decision and the training label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, joinedload, sessionmaker

from streetwatch.casework.case_workflow import file_on_approval, reattach_violation
from streetwatch.casework.config import WorkflowConfig
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.vocab import DecisionAction, RejectReason, ViolationStatus, values_of
from streetwatch.store.audit import append_audit
from streetwatch.store.column_types import require_aware
from streetwatch.store.labels import label_decision
from streetwatch.store.models import ReviewDecision, Violation, utcnow
from streetwatch.store.queries import DecisionConflictError, InvalidDecisionError, NotFoundError

MAX_CLAIM: Final = 100
MAX_LEASE_MINUTES: Final = 240
_CANDIDATE_SLACK: Final = 8  # extra candidates per round: items other claimers take meanwhile


class LeaseError(DecisionConflictError):
    """The decider does not hold a live lease on the violation (a reviewer must)."""


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """What a reviewer decided.

    Attributes:
        action: approve, reject, relabel or move.
        reason_code: reject: a :class:`RejectReason` (fixed, so rejections can be counted and fed back to training).
        note: Free text (optional). A reject without ``reason_code`` needs it; a note that
            is itself a reason code is taken as the code.
        class_name: relabel: the class the object really is.
        family: relabel, optional: must be the new class's family.
        lat: move: the corrected latitude.
        lon: move: the corrected longitude.
    """

    action: str
    reason_code: str | None = None
    note: str | None = None
    class_name: str | None = None
    family: str | None = None
    lat: float | None = None
    lon: float | None = None


# The queue serves the likeliest problems first (streetwatch.pipeline.rules.priority), oldest first among equals.
QUEUE_ORDER = (Violation.priority.desc(), Violation.id)


# --- leases ----------------------------------------------------------------------------------------

def _check_claim(reviewer: str, n: int, lease_minutes: float) -> None:
    if not reviewer.strip():
        raise ValueError("reviewer must not be blank")
    if not 1 <= n <= MAX_CLAIM:
        raise ValueError(f"n must be within [1, {MAX_CLAIM}], got {n}")
    if not 0 < lease_minutes <= MAX_LEASE_MINUTES:
        raise ValueError(f"lease_minutes must be within (0, {MAX_LEASE_MINUTES}], got {lease_minutes}")


def claim(
    session_factory: sessionmaker[Session], reviewer: str, n: int, lease_minutes: float,
    *, now: datetime | None = None,
) -> list[Violation]:
    """Lease up to ``n`` pending violations to ``reviewer`` for ``lease_minutes``.

    Live leases the reviewer holds already are renewed and count towards ``n``. Each item
    is taken in its own short transaction with a conditional UPDATE (see the module docstring).

    Returns:
        The leased violations (oldest first, observation loaded), fewer than ``n`` when the
        queue runs dry; their ``lease_expires_at`` says until when.

    Raises:
        ValueError: A blank reviewer, ``n`` or ``lease_minutes`` out of range.
    """
    _check_claim(reviewer, n, lease_minutes)
    now = require_aware(now or utcnow())
    until = now + timedelta(minutes=lease_minutes)
    with session_factory.begin() as session:  # renew what I hold (a write first: takes the lock)
        session.execute(
            update(Violation).where(Violation.lease_owner == reviewer, Violation.status == ViolationStatus.PENDING,
                                    Violation.lease_expires_at >= now).values(lease_expires_at=until),
            execution_options={"synchronize_session": False})
    with session_factory() as session:
        mine = list(session.scalars(select(Violation.id).where(
            Violation.lease_owner == reviewer, Violation.status == ViolationStatus.PENDING,
            Violation.lease_expires_at == until,
        ).order_by(Violation.id).limit(n)))
    taken = list(mine)
    tried: set[int] = set(mine)
    while len(taken) < n:
        with session_factory() as session:
            candidates = list(session.scalars(
                select(Violation.id).where(
                    Violation.status == ViolationStatus.PENDING,
                    or_(Violation.lease_owner.is_(None), Violation.lease_expires_at < now),
                    Violation.id.not_in(tried) if tried else Violation.id.is_not(None),
                ).order_by(*QUEUE_ORDER).limit(2 * (n - len(taken)) + _CANDIDATE_SLACK)
            ))
        if not candidates:
            break
        for violation_id in candidates:
            tried.add(violation_id)
            if _lease_one(session_factory, violation_id, reviewer, now, until):
                taken.append(violation_id)
                if len(taken) == n:
                    break
    with session_factory() as session:
        rows = session.scalars(select(Violation).where(Violation.id.in_(taken))
                               .options(joinedload(Violation.observation)).order_by(*QUEUE_ORDER)).unique()
        return list(rows)


def _lease_one(session_factory: sessionmaker[Session], violation_id: int, reviewer: str, now: datetime,
               until: datetime) -> bool:
    statement = (
        update(Violation)
        .where(Violation.id == violation_id, Violation.status == ViolationStatus.PENDING,
               or_(Violation.lease_owner.is_(None), Violation.lease_expires_at < now,
                   Violation.lease_owner == reviewer))
        .values(lease_owner=reviewer, lease_expires_at=until)
    )
    with session_factory.begin() as session:
        result = session.execute(statement, execution_options={"synchronize_session": False})
        return int(result.rowcount) == 1  # type: ignore[attr-defined]


def release(
    session_factory: sessionmaker[Session], reviewer: str, violation_ids: Sequence[int] | None = None,
) -> int:
    """Give back the reviewer's leases (all of them, or those on ``violation_ids``).

    Returns:
        How many leases were released (leases of other reviewers are never touched).
    """
    statement = update(Violation).where(Violation.lease_owner == reviewer)
    if violation_ids is not None:
        statement = statement.where(Violation.id.in_(list(violation_ids)))
    with session_factory.begin() as session:
        result = session.execute(statement.values(lease_owner=None, lease_expires_at=None),
                                 execution_options={"synchronize_session": False})
        return int(result.rowcount)  # type: ignore[attr-defined]


def leased_to(session: Session, reviewer: str, now: datetime | None = None) -> list[Violation]:
    """The pending violations the reviewer holds a live lease on, in queue order (highest priority first)."""
    now = require_aware(now or utcnow())
    return list(session.scalars(
        select(Violation).where(Violation.lease_owner == reviewer, Violation.status == ViolationStatus.PENDING,
                                Violation.lease_expires_at >= now)
        .options(joinedload(Violation.observation)).order_by(*QUEUE_ORDER)).unique())


# --- decisions ------------------------------------------------------------------------------------

def _validate(request: DecisionRequest) -> DecisionRequest:
    action = request.action
    if action not in values_of(DecisionAction):
        raise InvalidDecisionError(f"action must be one of {', '.join(DecisionAction)}; got {action!r}")
    action = DecisionAction(action)
    note = request.note.strip() if request.note is not None and request.note.strip() else None
    code = request.reason_code
    if action == DecisionAction.REJECT:
        if code is None and note in values_of(RejectReason):
            code, note = note, None
        if code is not None and code not in values_of(RejectReason):
            raise InvalidDecisionError(f"reason_code must be one of {', '.join(RejectReason)}; got {code!r}")
        if code is None and note is None:
            raise InvalidDecisionError(f"a rejection needs a reason: reason_code one of {', '.join(RejectReason)}")
    elif code is not None:
        raise InvalidDecisionError(f"reason_code is only for reject, not for {action}")
    if action != DecisionAction.RELABEL and (request.class_name is not None or request.family is not None):
        raise InvalidDecisionError(f"class_name and family are only for relabel, not for {action}")
    if action == DecisionAction.MOVE:
        if request.lat is None or request.lon is None:
            raise InvalidDecisionError("move needs lat and lon: the corrected position")
        if not (-90.0 <= request.lat <= 90.0 and -180.0 <= request.lon <= 180.0):
            raise InvalidDecisionError(f"position ({request.lat}, {request.lon}) is not a WGS84 lat/lon")
    elif request.lat is not None or request.lon is not None:
        raise InvalidDecisionError(f"lat and lon are only for move, not for {action}")
    reason_code = None if code is None else RejectReason(code)
    return DecisionRequest(action, reason_code, note, request.class_name, request.family, request.lat, request.lon)


def _relabel_values(
    violation: Violation, new_family: str | None, new_class_name: str | None, taxonomy: Taxonomy | None
) -> dict[str, str]:
    """The columns a relabel sets: the new class's name, family, event code and names."""
    if taxonomy is None:
        raise InvalidDecisionError("relabel needs the taxonomy to check the new class")
    if new_class_name is None or not new_class_name.strip():
        raise InvalidDecisionError("relabel needs class_name: the class the object really is")
    spec = taxonomy.lookup(new_class_name)
    if spec is None:
        known = ", ".join(sorted(c.name for c in taxonomy.classes.values() if c.role == "violation"))
        raise InvalidDecisionError(f"unknown class {new_class_name!r}; violation classes are: {known}")
    event = taxonomy.event_for(spec)
    if spec.role != "violation" or event is None:
        raise InvalidDecisionError(f"class {spec.name!r} is evidence only (no event code): "
                                   "reject the violation instead of relabelling it")
    if new_family is not None and new_family != spec.family:
        raise InvalidDecisionError(f"class {spec.name!r} belongs to family {spec.family!r}, "
                                   f"not {new_family!r}")
    if spec.name == violation.class_name:
        raise InvalidDecisionError(f"violation {violation.id} is already labelled {spec.name!r}")
    return {"class_name": spec.name, "family": spec.family, "event_code": event.code,
            "name_zh": event.name_zh, "name_en": event.name_en}


def _explain_miss(session: Session, violation_id: int, action: str, actor: str, now: datetime) -> Exception:
    violation = session.get(Violation, violation_id, populate_existing=True)
    if violation is None:
        return NotFoundError(f"violation {violation_id} not found")
    if action != DecisionAction.RELABEL and violation.status != ViolationStatus.PENDING:
        return DecisionConflictError(f"violation {violation_id} is already {violation.status}; "
                                     f"relabel it to have it reviewed again")
    if violation.status != ViolationStatus.PENDING:
        return LeaseError(f"violation {violation_id} is {violation.status}: reopening a decided violation "
                          "needs a supervisor")
    owner, expires = violation.lease_owner, violation.lease_expires_at
    if owner is None or expires is None:
        return LeaseError(f"violation {violation_id} is not leased to you: claim it first (POST /review/claim)")
    if owner != actor:
        return LeaseError(f"violation {violation_id} is leased to {owner!r} until {expires.isoformat()}")
    return LeaseError(f"your lease on violation {violation_id} expired at {expires.isoformat()}: "
                      "claim it again")


def decide(
    session: Session,
    violation_id: int,
    request: DecisionRequest,
    *,
    actor: str,
    may_override: bool,
    taxonomy: Taxonomy | None,
    config: WorkflowConfig,
    now: datetime | None = None,
) -> ReviewDecision:
    """Record a decision and apply it (see the module docstring). The caller commits.

    Args:
        session: An open session; on SQLite its transaction must not have read yet (the
            decision's first statement is the write that takes the lock).
        violation_id: The violation.
        request: The decision.
        actor: Who decides (their username).
        may_override: Supervisors and admins: no lease needed.
        taxonomy: Needed to relabel.
        config: Routing and deadlines for the case an approval files; the case radius for a move.
        now: The decision's time (default: now).

    Returns:
        The new decision row (flushed).

    Raises:
        InvalidDecisionError: A malformed decision (unknown action or reason, missing fields).
        NotFoundError: No such violation.
        DecisionConflictError: approve/reject/move on a violation no longer pending.
        LeaseError: A reviewer without a live lease on the violation.
    """
    request = _validate(request)
    if not actor.strip():
        raise InvalidDecisionError("actor must not be blank")
    now = require_aware(now or utcnow())
    action = request.action
    guard: list[Any] = [Violation.id == violation_id]
    if action != DecisionAction.RELABEL:
        guard.append(Violation.status == ViolationStatus.PENDING)
    if not may_override:
        guard += [Violation.lease_owner == actor, Violation.lease_expires_at >= now]
    # The guarded write comes first: it checks status and lease and takes the row (PostgreSQL)
    # or writer (SQLite) lock in one statement, so nothing below can race another decision.
    result = session.execute(update(Violation).where(*guard).values(updated_at=now),
                             execution_options={"synchronize_session": False})
    if int(result.rowcount) != 1:  # type: ignore[attr-defined]
        raise _explain_miss(session, violation_id, action, actor, now)
    violation = session.get(Violation, violation_id, populate_existing=True)
    assert violation is not None  # just updated it
    details: dict[str, Any] = {"violation_id": violation_id, "reason_code": request.reason_code,
                               "note": request.note, "status_before": violation.status,
                               "lease_override": violation.lease_owner != actor}
    if action in (DecisionAction.APPROVE, DecisionAction.REJECT):
        violation.status = (ViolationStatus.APPROVED if action == DecisionAction.APPROVE
                            else ViolationStatus.REJECTED)
        violation.lease_owner = violation.lease_expires_at = None
        session.flush()
        if action == DecisionAction.APPROVE and violation.case_id is not None:
            details["filed_case"] = file_on_approval(session, violation.case_id, violation_id, actor,
                                                     config, now) is not None
    elif action == DecisionAction.MOVE:
        details.update(old_lat=violation.lat, old_lon=violation.lon, old_case_id=violation.case_id)
        violation.lat, violation.lon = request.lat, request.lon
        session.flush()
        reattach_violation(session, violation, config)
    else:
        old_family, old_class = violation.family, violation.class_name
        for name, value in _relabel_values(violation, request.family, request.class_name, taxonomy).items():
            setattr(violation, name, value)
        violation.status = ViolationStatus.PENDING
        details.update(old_family=old_family, old_class_name=old_class, old_case_id=violation.case_id)
        session.flush()
        if old_family != violation.family:  # another family is another problem: another case
            reattach_violation(session, violation, config)
    details["case_id"] = violation.case_id
    decision = ReviewDecision(
        violation_id=violation_id, action=action, reason=request.note, reason_code=request.reason_code,
        new_family=violation.family if action == DecisionAction.RELABEL else None,
        new_class_name=violation.class_name if action == DecisionAction.RELABEL else None,
        new_lat=request.lat, new_lon=request.lon, reviewer=actor, created_at=now,
    )
    session.add(decision)
    session.flush()
    append_audit(session, actor=actor, action=f"violation.{action}", entity_type="violation",
                 entity_id=violation_id, details={**details, "decision_id": decision.id}, now=now)
    if action in (DecisionAction.APPROVE, DecisionAction.RELABEL):  # one act, two records: the decision, the label
        label_decision(session, violation.observation_id,
                       violation.class_name if action == DecisionAction.RELABEL else None,
                       actor=actor, taxonomy=taxonomy, decision_id=decision.id, now=now)
    return decision
