"""``streetwatch audit verify`` on a SQLite log whose newest entries were deleted: the anchor beside the
database file, found without any setting, tells that they are gone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from streetwatch.cli.audit_commands import audit_app
from streetwatch.store.audit import append_audit
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from tests.casework.store_builders import T0


def write_entries(factory: sessionmaker[Session], n: int) -> None:
    for i in range(n):  # one commit each, as the API appends
        with factory.begin() as session:
            append_audit(session, actor=f"user-{i}", action="case.dispatch", entity_type="case", entity_id=i + 1,
                         now=T0 + timedelta(seconds=i))


def test_audit_verify_catches_a_cut_off_tail_of_a_sqlite_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'city.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        write_entries(factory, 5)
        with factory.begin() as session:
            session.execute(text("DELETE FROM audit_log WHERE id > 3"))
    finally:
        engine.dispose()

    result = CliRunner().invoke(audit_app, ["verify", "--db", url])

    assert result.exit_code == 1, result.output
    assert "entries 4..5 are missing at the end of the log" in " ".join(result.output.split())
