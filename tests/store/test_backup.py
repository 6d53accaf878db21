"""``streetwatch backup`` / ``restore``: a seeded database with an audit log and its evidence, backed up,
restored into a fresh database and evidence folder, and ``streetwatch audit verify`` passes on the copy; on SQLite
(online backup API) and PostgreSQL (pg_dump / pg_restore). A target that is not empty is refused, a damaged backup
is refused."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from streetwatch.cli.main import app
from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.store.audit import append_audit
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.models import Evidence, Observation
from streetwatch.store.models_workflow import AuditEntry
from tests.api.seed import SeedData, seed_database
from tests.db_fixtures import PostgresServer

runner = CliRunner()


@pytest.fixture
def source(db_url: str, tmp_path: Path) -> tuple[str, Path, SeedData]:
    """A migrated database (``db_url``: SQLite and PostgreSQL) with seeded data, evidence and 5 audit entries."""
    evidence = tmp_path / "evidence"
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        seed = seed_database(session, evidence, load_taxonomy(DEFAULT_TAXONOMY), count=9)
        for i in range(5):
            append_audit(session, actor="reviewer1", action="violation.approve", entity_type="violation",
                         entity_id=i + 1, details={"note": f"entry {i}"})
        session.commit()
    engine.dispose()
    return db_url, evidence, seed


@pytest.fixture
def target_url(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of the same kind as ``db_url`` (no tables: restore creates them)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'city.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"restore_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


def _counts(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        counts = tuple(session.scalar(select(func.count()).select_from(t)) or 0
                       for t in (Observation, Evidence, AuditEntry))
    engine.dispose()
    return counts  # type: ignore[return-value]


def test_backup_restores_into_a_fresh_database_and_the_audit_chain_verifies(
        source: tuple[str, Path, SeedData], target_url: str, tmp_path: Path) -> None:
    url, evidence, seed = source
    backup_file = tmp_path / "backups" / "city.tar"
    made = runner.invoke(app, ["backup", "--db", url, "--evidence", str(evidence), "--out", str(backup_file)])
    assert made.exit_code == 0, made.output
    assert "18 evidence file(s)" in made.output and "audit head 5" in made.output
    with tarfile.open(backup_file) as tar:
        names = set(tar.getnames())
    assert "manifest.json" in names and ({"database.sqlite3", "database.pgdump"} & names)

    restored_evidence = tmp_path / "restored-evidence"
    restored = runner.invoke(app, ["restore", str(backup_file), "--db", target_url, "--evidence",
                                   str(restored_evidence)])
    assert restored.exit_code == 0, restored.output
    assert _counts(target_url) == _counts(url) == (9, 18, 5)
    copy = EvidenceStore(restored_evidence)
    for obs in seed.observations:
        assert copy.read_verified(obs.frame_sha256) == seed.evidence_bytes(obs.frame_sha256)
    verified = runner.invoke(app, ["audit", "verify", "--db", target_url, "--evidence", str(restored_evidence)])
    assert verified.exit_code == 0, verified.output
    assert "audit log intact: 5 entries checked" in verified.output

    # Restoring again over what is now there is refused (exit 4, a conflict) unless --force.
    again = runner.invoke(app, ["restore", str(backup_file), "--db", target_url, "--evidence",
                                str(restored_evidence)])
    assert again.exit_code == 4 and "not empty" in again.output
    forced = runner.invoke(app, ["restore", str(backup_file), "--db", target_url, "--evidence",
                                 str(restored_evidence), "--force"])
    assert forced.exit_code == 0, forced.output
    assert _counts(target_url) == (9, 18, 5)


def test_a_damaged_backup_is_refused(source: tuple[str, Path, SeedData], target_url: str, tmp_path: Path) -> None:
    url, evidence, seed = source
    good, bad = tmp_path / "good.tar", tmp_path / "bad.tar"
    assert runner.invoke(app, ["backup", "--db", url, "--evidence", str(evidence), "--out", str(good)]).exit_code == 0
    victim = f"evidence/{seed.observations[0].frame_sha256[:2]}/{seed.observations[0].frame_sha256[2:4]}/" \
             f"{seed.observations[0].frame_sha256}.jpg"
    with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member)
            body = data.read() if data is not None else b""
            if member.name == victim:
                body = body[:-1] + bytes([body[-1] ^ 1])
            dst.addfile(member, io.BytesIO(body))
    result = runner.invoke(app, ["restore", str(bad), "--db", target_url, "--evidence", str(tmp_path / "ev2")])
    assert result.exit_code == 1 and "manifest says" in result.output
