"""The audit log: every review decision and case transition, chained by sha256.

Each entry's hash covers the previous entry's hash and the entry itself::

    hash = sha256(prev_hash + canonical_json({id, created_at, actor, action,
                                              entity_type, entity_id, details}))

with ``prev_hash`` of the first entry 64 zeros. Canonical JSON: keys sorted, no spaces,
UTF-8, times as UTC ISO 8601 with microseconds. Editing any field of an entry changes its
hash (verification fails at that entry); rewriting its hash too breaks the next entry's
``prev_hash`` (verification fails there); deleting an entry leaves a gap in the ids.
Truncating the newest entries cannot be seen from the chain alone, so each commit that appended
entries also writes the new head to an anchor file outside the database, which
:func:`verify_audit_chain` compares (``streetwatch.store.audit_anchor`` has the threat model).

Writers serialize on one lock, so the chain never forks: PostgreSQL takes a transaction-scoped
advisory lock; SQLite's single writer lock is taken by a write before the last entry is read.
Ids are the previous id + 1, so even a writer that skipped the lock would fail on the primary
key rather than fork the chain. :func:`append_audit` flushes; the caller commits, so an entry
exists exactly when the change it describes committed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from streetwatch.store.audit_anchor import AnchorError, AnchorRecord, AuditAnchor, note_appended
from streetwatch.store.column_types import as_utc, require_aware
from streetwatch.store.models import utcnow
from streetwatch.store.models_workflow import AuditEntry

GENESIS_HASH: Final = "0" * 64
# pg_advisory_xact_lock key of the audit log's writers (any fixed 64-bit number not used elsewhere).
AUDIT_LOCK_KEY: Final = 0x5354_5741_5544_4954  # "STWAUDIT"
_VERIFY_BATCH: Final = 1000


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What verifying the chain found.

    Attributes:
        ok: True when every entry checked out.
        entries: Entries checked (up to and including the first bad one).
        head_id: Id of the last good entry (None for an empty log or a bad first entry).
        head_hash: Hash of the last good entry: anchor it outside the database.
        first_bad_id: Id of the first entry that fails (for a truncated chain: the first entry
            missing after the head), None when ``ok`` or when the anchor itself fails.
        problem: What is wrong with it, None when ``ok``.
        anchor: What the anchor check found, in words (None when no anchor was checked).
    """

    ok: bool
    entries: int
    head_id: int | None
    head_hash: str | None
    first_bad_id: int | None = None
    problem: str | None = None
    anchor: str | None = None


def _utc_text(value: datetime) -> str:
    return as_utc(value).isoformat(timespec="microseconds")


def jsonable(value: Any) -> Any:
    """``value`` with datetimes as UTC ISO text, dates as ISO text and tuples as lists (JSON-safe)."""
    if isinstance(value, datetime):
        return _utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def canonical_entry(
    entry_id: int, created_at: datetime, actor: str, action: str, entity_type: str, entity_id: str,
    details: Mapping[str, Any],
) -> bytes:
    """The bytes an entry's hash covers (besides the previous hash)."""
    body = {"id": entry_id, "created_at": _utc_text(created_at), "actor": actor, "action": action,
            "entity_type": entity_type, "entity_id": entity_id, "details": jsonable(details)}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_hash(prev_hash: str, canonical: bytes) -> str:
    """``sha256(prev_hash + canonical)`` as hex."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


_COLUMNS: Final = (AuditEntry.id, AuditEntry.created_at, AuditEntry.actor, AuditEntry.action,
                   AuditEntry.entity_type, AuditEntry.entity_id, AuditEntry.details, AuditEntry.prev_hash,
                   AuditEntry.hash)


def _hash_of(entry: Any) -> str:
    return entry_hash(entry.prev_hash, canonical_entry(entry.id, entry.created_at, entry.actor, entry.action,
                                                       entry.entity_type, entry.entity_id, entry.details))


def take_writer_lock(session: Session) -> None:
    """Take the audit log's writer lock now, in the caller's transaction (see the module docstring).

    A change that reads before it writes and is audited (a label record checks its observation
    first) takes it first, so that on SQLite its transaction starts with a write.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    elif dialect == "sqlite":
        # A write that changes nothing still takes SQLite's writer lock (a no-op if held already).
        session.execute(text("UPDATE audit_log SET id = id WHERE 1 = 0"))


def append_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: int | str,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Append one entry to the chain, in the caller's transaction (flushed, not committed).

    Args:
        session: The session of the change being audited.
        actor: Who did it (a username, or "system").
        action: What, as ``<entity>.<verb>``, e.g. ``violation.approve``.
        entity_type: ``violation`` or ``case``.
        entity_id: The row's id.
        details: JSON-able facts (datetimes are turned into ISO text).
        now: The entry's time (default: now, UTC).

    Raises:
        ValueError: A blank actor or action, a naive ``now``, or details that are not JSON
            (NaN, sets, objects).
    """
    if not actor.strip() or not action.strip():
        raise ValueError(f"an audit entry needs an actor and an action, got {actor!r} and {action!r}")
    created = require_aware(now or utcnow(), "audit time")
    stored_details = jsonable(dict(details or {}))
    try:
        json.dumps(stored_details, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit details of {action} must be plain JSON: {exc}") from None
    take_writer_lock(session)
    last = session.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    entry_id, prev = (1, GENESIS_HASH) if last is None else (last[0] + 1, last[1])
    entry = AuditEntry(id=entry_id, created_at=created, actor=actor, action=action, entity_type=entity_type,
                       entity_id=str(entity_id), details=stored_details, prev_hash=prev)
    entry.hash = _hash_of(entry)
    session.add(entry)
    session.flush()
    note_appended(session, entry.id, entry.hash)
    return entry


def verify_audit_chain(session: Session, anchor: AuditAnchor | None = None) -> AuditReport:
    """Recompute the chain from the first entry and report the first entry that does not fit.

    Checks, entry by entry in id order: ids are 1, 2, 3, ... with no gap; ``prev_hash`` is the
    previous entry's hash (64 zeros for the first); ``hash`` matches the entry's contents. With
    an ``anchor``, also that the chain still reaches the anchored entry with the anchored hash
    (so that cutting off the newest entries is seen), and that a non-empty chain has an anchor.
    """
    try:
        anchored = anchor.read() if anchor is not None else None
    except AnchorError as exc:
        chain = _verify_chain(session, None)
        return AuditReport(ok=False, entries=chain.entries, head_id=chain.head_id, head_hash=chain.head_hash,
                           first_bad_id=chain.first_bad_id, problem=chain.problem or str(exc), anchor=str(exc))
    report = _verify_chain(session, anchored)
    if anchor is None or not report.ok:
        return report
    if anchored is None:
        if report.head_id is None:
            return _with_anchor(report, f"no anchor at {anchor.path} yet (the log is empty)")
        note = (f"no anchor at {anchor.path}: truncation of the newest entries cannot be ruled out (the "
                "anchor was deleted, or this log predates anchors: check the head, then run "
                "`streetwatch audit anchor`)")
        return AuditReport(ok=False, entries=report.entries, head_id=report.head_id, head_hash=report.head_hash,
                           problem=note, anchor=note)
    how = ("signed, signature checked" if anchored.signature_checked
           else "signed, signature NOT checked: no audit_anchor_key" if anchored.signed else "hashed, not signed")
    if report.head_id is None or report.head_id < anchored.head_id:
        first_missing = 1 if report.head_id is None else report.head_id + 1
        note = (f"entries {first_missing}..{anchored.head_id} are missing at the end of the log: the anchor "
                f"{anchor.path} (written {anchored.written_at}) records entry {anchored.head_id} with hash "
                f"{anchored.head_hash[:12]}...; the newest entries were removed (truncated)")
        return AuditReport(ok=False, entries=report.entries, head_id=report.head_id, head_hash=report.head_hash,
                           first_bad_id=first_missing, problem=note, anchor=note)
    return _with_anchor(report, f"reaches the anchored entry {anchored.head_id} ({how}, written "
                                f"{anchored.written_at}, {anchor.path})")


def _with_anchor(report: AuditReport, note: str) -> AuditReport:
    return AuditReport(ok=report.ok, entries=report.entries, head_id=report.head_id, head_hash=report.head_hash,
                       first_bad_id=report.first_bad_id, problem=report.problem, anchor=note)


def _verify_chain(session: Session, anchored: AnchorRecord | None) -> AuditReport:
    """The chain walk of :func:`verify_audit_chain`; the anchored entry's hash is compared on the way."""
    checked = 0
    expected_id = 1
    prev_hash = GENESIS_HASH
    head_id: int | None = None
    after = 0
    while True:
        # Plain rows, not entities: a long log never fills the session's identity map.
        batch = session.execute(select(*_COLUMNS).where(AuditEntry.id > after)
                                .order_by(AuditEntry.id).limit(_VERIFY_BATCH)).all()
        if not batch:
            return AuditReport(ok=True, entries=checked, head_id=head_id,
                               head_hash=None if head_id is None else prev_hash)
        for entry in batch:
            checked += 1
            problem = None
            if entry.id != expected_id:
                problem = (f"entries {expected_id}..{entry.id - 1} are missing (deleted?)" if entry.id > expected_id
                           else f"unexpected id {entry.id} after {expected_id - 1}")
            elif entry.prev_hash != prev_hash:
                problem = (f"prev_hash {entry.prev_hash[:12]}... does not match the hash {prev_hash[:12]}... of "
                           + (f"entry {entry.id - 1} (that entry was changed, or this one)" if entry.id > 1
                              else "the chain's start"))
            elif _hash_of(entry) != entry.hash:
                problem = "its hash does not match its contents (the entry was changed after it was written)"
            elif anchored is not None and entry.id == anchored.head_id and entry.hash != anchored.head_hash:
                problem = (f"its hash differs from the anchored hash {anchored.head_hash[:12]}... (written "
                           f"{anchored.written_at}): the chain was rewritten from here on, or this is another "
                           "database's log")
            if problem is not None:
                return AuditReport(ok=False, entries=checked, head_id=head_id,
                                   head_hash=None if head_id is None else prev_hash,
                                   first_bad_id=entry.id, problem=problem)
            head_id, prev_hash, expected_id = entry.id, entry.hash, entry.id + 1
        after = batch[-1].id
