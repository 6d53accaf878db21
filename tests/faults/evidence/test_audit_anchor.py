"""The audit chain's head is anchored outside the database: cutting off the newest entries is seen.

On SQLite the anchor sits beside the database file by default; on PostgreSQL it is wherever
``audit_anchor_path`` says (here a file in the test's folder).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from streetwatch.cli.audit_commands import audit_app
from streetwatch.core.settings import Settings
from streetwatch.store.audit import append_audit, verify_audit_chain
from streetwatch.store.audit_anchor import AuditAnchor, anchor_from_settings
from streetwatch.store.db import make_engine, make_session_factory
from tests.casework.store_builders import T0

KEY = "k" * 40


@pytest.fixture
def anchor(db_url: str, tmp_path: Path) -> AuditAnchor:
    """The anchor ``audit verify`` finds for this database (beside SQLite, configured for PostgreSQL)."""
    path = None if db_url.startswith("sqlite") else tmp_path / "audit-head.json"
    found = anchor_from_settings(Settings(db_url=db_url, audit_anchor_path=path))
    assert found is not None
    return found


@pytest.fixture
def factory(db_url: str, anchor: AuditAnchor) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    try:
        yield make_session_factory(engine, audit_anchor=anchor)
    finally:
        engine.dispose()


def write_entries(factory: sessionmaker[Session], n: int, first: int = 0) -> None:
    for i in range(first, first + n):  # one commit each, as the API appends
        with factory.begin() as session:
            append_audit(session, actor=f"user-{i}", action="violation.approve", entity_type="violation",
                         entity_id=i + 1, details={"n": i}, now=T0 + timedelta(seconds=i))


def verify(factory: sessionmaker[Session], anchor: AuditAnchor | None):  # type: ignore[no-untyped-def]
    with factory() as session:
        return verify_audit_chain(session, anchor)


def test_each_commit_moves_the_anchor_and_an_intact_chain_verifies(factory: sessionmaker[Session],
                                                                   anchor: AuditAnchor) -> None:
    write_entries(factory, 3)
    record = anchor.read()
    assert record is not None and record.head_id == 3 and not record.signed
    report = verify(factory, anchor)
    assert report.ok and report.head_id == 3 and report.head_hash == record.head_hash
    assert report.anchor is not None and "reaches the anchored entry 3" in report.anchor


def test_a_rolled_back_append_does_not_move_the_anchor(factory: sessionmaker[Session], anchor: AuditAnchor) -> None:
    write_entries(factory, 2)
    with factory() as session:
        append_audit(session, actor="a", action="case.close", entity_type="case", entity_id=1)
        session.rollback()
    record = anchor.read()
    assert record is not None and record.head_id == 2
    assert verify(factory, anchor).ok


def test_truncating_the_newest_entries_is_detected(factory: sessionmaker[Session], anchor: AuditAnchor,
                                                   db_url: str) -> None:
    write_entries(factory, 5)
    with factory.begin() as session:
        session.execute(text("DELETE FROM audit_log WHERE id > 3"))
    assert verify(factory, None).ok  # the chain alone cannot tell

    report = verify(factory, anchor)

    assert not report.ok and report.head_id == 3 and report.first_bad_id == 4
    assert report.problem is not None and "entries 4..5 are missing at the end of the log" in report.problem
    assert "truncated" in report.problem
    # The command says so and fails.
    env = {"STREETWATCH_AUDIT_ANCHOR_PATH": str(anchor.path)}
    result = CliRunner().invoke(audit_app, ["verify", "--db", db_url, "--no-check-evidence"], env=env)
    assert result.exit_code == 1, result.output
    assert "entries 4..5 are missing at the end of the log" in " ".join(result.output.split())


def test_a_chain_rewritten_from_some_entry_on_is_detected(factory: sessionmaker[Session],
                                                          anchor: AuditAnchor) -> None:
    write_entries(factory, 3)
    with factory.begin() as session:  # a forger replaces the whole log with a consistent one, one entry longer
        session.execute(text("DELETE FROM audit_log"))
    anchored = anchor.read()
    write_entries(factory, 4, first=10)
    assert anchor.read() == anchored or anchor.read().head_id == 4  # type: ignore[union-attr]
    anchor.reset(anchored.head_id, anchored.head_hash)  # type: ignore[union-attr]  # the old anchor, kept aside

    report = verify(factory, anchor)

    assert not report.ok and report.first_bad_id == 3
    assert report.problem is not None and "differs from the anchored hash" in report.problem


def test_a_deleted_anchor_fails_verification(factory: sessionmaker[Session], anchor: AuditAnchor) -> None:
    write_entries(factory, 2)
    anchor.path.unlink()

    report = verify(factory, anchor)

    assert not report.ok and report.problem is not None and f"no anchor at {anchor.path}" in report.problem


def test_a_signed_anchor_cannot_be_forged_without_the_key(db_url: str, tmp_path: Path) -> None:
    signed = AuditAnchor(tmp_path / "signed-head.json", KEY.encode())
    engine = make_engine(db_url)
    try:
        factory = make_session_factory(engine, audit_anchor=signed)
        write_entries(factory, 4)
        stored = json.loads(signed.path.read_text())
        assert "hmac_sha256" in stored and "sha256" not in stored
        assert verify(factory, signed).ok
        with factory.begin() as session:
            session.execute(text("DELETE FROM audit_log WHERE id = 4"))
        # Mallory can write the file but not sign it: she moves the anchor back to entry 3.
        with factory() as session:
            head = verify_audit_chain(session)
        stored.update(head_id=3, head_hash=head.head_hash)
        signed.path.write_text(json.dumps(stored))

        report = verify(factory, signed)
        assert not report.ok and report.problem is not None and "bad signature" in report.problem
        # An unsigned anchor where a key is configured is refused too.
        AuditAnchor(signed.path).reset(3, str(head.head_hash))
        report = verify(factory, signed)
        assert not report.ok and report.problem is not None and "not signed" in report.problem
    finally:
        engine.dispose()


def test_the_anchor_command_starts_an_anchor_for_an_old_log(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "started-head.json"
    engine = make_engine(db_url)
    try:
        write_entries(make_session_factory(engine, audit_anchor=None), 2)  # before anchors existed
    finally:
        engine.dispose()
    env = {"STREETWATCH_AUDIT_ANCHOR_PATH": str(path), "STREETWATCH_AUDIT_ANCHOR_KEY": KEY}
    runner = CliRunner()
    unanchored = runner.invoke(audit_app, ["verify", "--db", db_url, "--no-check-evidence"], env=env)
    assert unanchored.exit_code == 1 and "streetwatch audit anchor" in " ".join(unanchored.output.split())

    started = runner.invoke(audit_app, ["anchor", "--db", db_url], env=env)
    assert started.exit_code == 0, started.output
    assert re.search(r"anchored entry 2, sha256 [0-9a-f]{64}", " ".join(started.output.split()))
    verified = runner.invoke(audit_app, ["verify", "--db", db_url, "--no-check-evidence"], env=env)
    assert verified.exit_code == 0, verified.output
    assert "signature checked" in " ".join(verified.output.split())
    assert Settings(audit_anchor_key=SecretStr(KEY)).audit_anchor_key is not None
