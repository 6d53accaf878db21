"""The hash-chained audit log: intact chains verify; edits, rewrites and deletions are caught where they are."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from streetwatch.casework.review_queue import DecisionRequest, claim, decide
from streetwatch.cli.audit_commands import audit_app
from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.store.audit import GENESIS_HASH, append_audit, canonical_entry, entry_hash, verify_audit_chain
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models_workflow import AuditEntry
from tests.casework.store_builders import CONFIG, T0, add_violations, spread


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url, pool_size=5, max_overflow=30)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def write_entries(factory: sessionmaker[Session], n: int = 4) -> None:
    with factory.begin() as session:
        for i in range(n):
            append_audit(session, actor=f"user-{i}", action="violation.approve", entity_type="violation",
                         entity_id=i + 1, details={"n": i, "lat": 31.2304 + i / 7, "note": "好", "at": T0},
                         now=T0 + timedelta(seconds=i))


def test_an_intact_chain_verifies(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        assert verify_audit_chain(session) == verify_audit_chain(session)
        empty = verify_audit_chain(session)
        assert empty.ok and empty.entries == 0 and empty.head_id is None
    write_entries(factory)
    with factory() as session:
        report = verify_audit_chain(session)
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert report.ok and report.entries == 4 and report.head_id == 4 and report.head_hash == entries[-1].hash
    assert [e.id for e in entries] == [1, 2, 3, 4] and entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))


def test_decisions_are_audited(factory: sessionmaker[Session]) -> None:
    taxonomy = load_taxonomy(DEFAULT_TAXONOMY)
    a, b = add_violations(factory, spread(2))
    claim(factory, "alice", 2, 10, now=T0)
    with factory() as session:
        decide(session, a, DecisionRequest("approve"), actor="alice", may_override=False, taxonomy=taxonomy,
               config=CONFIG, now=T0)
        decide(session, b, DecisionRequest("reject", reason_code="duplicate", note="same as #1"), actor="alice",
               may_override=False, taxonomy=taxonomy, config=CONFIG, now=T0)
        session.commit()
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.action, e.entity_id) for e in entries] == [
            ("case.file", str(session.get(AuditEntry, 1).entity_id)),  # type: ignore[union-attr]
            ("violation.approve", str(a)), ("label.confirm", "1"), ("violation.reject", str(b))]
        assert entries[2].details["decision_id"] == entries[1].details["decision_id"]  # the approval confirmed
        assert entries[3].details["reason_code"] == "duplicate" and entries[3].details["note"] == "same as #1"
        assert verify_audit_chain(session).ok


TAMPERING = [
    # (id, raw SQL (None: the forger who rehashes), first bad entry, last good entry, message)
    ("edit-actor", "UPDATE audit_log SET actor = 'mallory' WHERE id = 2", 2, 1, "does not match its contents"),
    ("edit-entity", "UPDATE audit_log SET entity_id = '99' WHERE id = 2", 2, 1, "does not match its contents"),
    ("delete", "DELETE FROM audit_log WHERE id = 2", 3, 1, "entries 2..2 are missing"),
    ("edit-and-rehash", None, 3, 2, "does not match the hash .* of entry 2"),
    ("edit-first-prev-hash", "UPDATE audit_log SET prev_hash = 'ff' WHERE id = 1", 1, None, "the chain's start"),
]


@pytest.mark.parametrize(("sql", "bad", "good", "message"), [c[1:] for c in TAMPERING],
                         ids=[c[0] for c in TAMPERING])
def test_tampering_is_caught_at_the_entry(factory: sessionmaker[Session], sql: str | None, bad: int,
                                          good: int | None, message: str) -> None:
    write_entries(factory)
    with factory.begin() as session:
        if sql is not None:
            session.execute(text(sql))
        else:  # a careful forger: changes entry 2 and gives it a correct hash of the new contents
            entry = session.get(AuditEntry, 2)
            assert entry is not None
            forged = entry_hash(entry.prev_hash, canonical_entry(entry.id, entry.created_at, "mallory", entry.action,
                                                                 entry.entity_type, entry.entity_id, entry.details))
            session.execute(text("UPDATE audit_log SET actor = 'mallory', hash = :h WHERE id = 2"), {"h": forged})
    with factory() as session:
        report = verify_audit_chain(session)
    assert not report.ok and report.first_bad_id == bad
    assert report.problem is not None and re.search(message, report.problem), report.problem
    assert report.head_id == good


def test_concurrent_writers_never_fork_the_chain(factory: sessionmaker[Session]) -> None:
    writers = 12
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            with factory.begin() as session:
                append_audit(session, actor=f"w{i}", action="case.dispatch", entity_type="case", entity_id=i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]
    with factory() as session:
        report = verify_audit_chain(session)
    assert report.ok and report.entries == writers


@pytest.mark.parametrize("details", [{"x": float("nan")}, {"x": {1, 2}}])
def test_details_must_be_json(factory: sessionmaker[Session], details: dict[str, object]) -> None:
    with factory() as session, pytest.raises(ValueError, match="must be plain JSON"):
        append_audit(session, actor="a", action="case.close", entity_type="case", entity_id=1, details=details)


def test_cli_verify_exit_codes(factory: sessionmaker[Session], db_url: str) -> None:
    runner = CliRunner()
    write_entries(factory, 3)
    ok = runner.invoke(audit_app, ["verify", "--db", db_url])
    assert ok.exit_code == 0, ok.output
    assert "3 entries checked" in ok.output and "head entry 3" in ok.output
    with factory.begin() as session:
        session.execute(text("UPDATE audit_log SET action = 'violation.reject' WHERE id = 2"))
    broken = runner.invoke(audit_app, ["verify", "--db", db_url])
    assert broken.exit_code == 1
    assert "audit log broken at entry 2" in broken.output and "Entries intact before it: 1..1" in broken.output
