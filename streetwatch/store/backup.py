"""Backups: the database and the evidence in one tar file, restored into a fresh database.

``streetwatch backup`` writes a tar holding:

- ``database.sqlite3`` (SQLite, a consistent copy taken with SQLite's online backup API while the
  database stays in use) or ``database.pgdump`` (PostgreSQL, ``pg_dump -Fc``, one snapshot);
- ``evidence/ab/cd/<sha256>.jpg``, every evidence file (derived blurred copies are left out: they
  are made again on demand);
- ``manifest.json``: the format, when, which database kind, the sha256 of every member, and the
  audit log's head (id and hash) in the copy.

``streetwatch restore`` checks every member against the manifest, refuses a target database or
evidence folder that is not empty (unless ``--force``), restores, checks that the restored audit
chain reaches the head the manifest names, and anchors that head for the restored database (a
restored chain with no anchor would fail ``streetwatch audit verify``).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from streetwatch.core.errors import BadInputError, ConflictError, ProcessingError
from streetwatch.store.audit import verify_audit_chain
from streetwatch.store.audit_anchor import AuditAnchor
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.evidence import EvidenceStore, file_sha256

BACKUP_FORMAT: Final = "streetwatch-backup/1"
MANIFEST: Final = "manifest.json"
SQLITE_MEMBER: Final = "database.sqlite3"
PG_MEMBER: Final = "database.pgdump"


class BackupError(ProcessingError):
    """A backup could not be written or restored (a tool failed, a member does not match the manifest)."""


@dataclass(frozen=True, slots=True)
class BackupSummary:
    """What a backup holds or a restore put back."""

    path: Path
    dialect: str
    evidence_files: int
    audit_head_id: int | None
    audit_head_hash: str | None


def _pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore`` on PATH, else the newest under ``/usr/lib/postgresql/*/bin``."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not candidates:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client)")
    return candidates[-1]


def _libpq_url(url: str) -> str:
    """A SQLAlchemy URL as libpq takes it (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BadInputError(f"backup and restore need a SQLite file, got {url!r}")
    return Path(database).expanduser()


def _audit_head(url: str) -> tuple[int | None, str | None]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine, audit_anchor=None)() as session:
            report = verify_audit_chain(session)
    finally:
        engine.dispose()
    if not report.ok:
        raise BackupError(f"the audit log of {make_url(url).render_as_string()} is broken: {report.problem}")
    return report.head_id, report.head_hash


def write_backup(db_url: str, evidence_dir: Path, out: Path) -> BackupSummary:
    """Write a backup tar of the database and the evidence folder to ``out`` (atomically)."""
    dialect = make_url(db_url).get_backend_name()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".streetwatch-backup.", dir=out.parent) as work:
        work_dir = Path(work)
        if dialect == "sqlite":
            member = SQLITE_MEMBER
            source = sqlite3.connect(_sqlite_path(db_url))
            target = sqlite3.connect(work_dir / member)
            try:
                source.backup(target)  # a consistent copy while writers go on
            finally:
                target.close()
                source.close()
            head_id, head_hash = _audit_head(f"sqlite:///{work_dir / member}")
        elif dialect == "postgresql":
            member = PG_MEMBER
            _run([_pg_tool("pg_dump"), "-Fc", "--no-owner", "--no-acl", "-f", str(work_dir / member),
                  "-d", _libpq_url(db_url)])
            head_id, head_hash = _audit_head(db_url)  # read after the dump: the dump holds at least this much
        else:
            raise BadInputError(f"backup knows SQLite and PostgreSQL, not {dialect!r}")
        evidence = [(sha, path) for sha, path in EvidenceStore(evidence_dir).files()]
        manifest: dict[str, Any] = {
            "format": BACKUP_FORMAT, "created_at": datetime.now(UTC).isoformat(), "dialect": dialect,
            "database": {"member": member, "sha256": file_sha256(work_dir / member)},
            "evidence": [{"member": _evidence_member(sha), "sha256": sha} for sha, _ in evidence],
            "audit_head": {"id": head_id, "hash": head_hash},
        }
        (work_dir / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        partial = work_dir / "backup.tar"
        with tarfile.open(partial, "w") as tar:
            tar.add(work_dir / MANIFEST, MANIFEST)
            tar.add(work_dir / member, member)
            for sha, path in evidence:
                tar.add(path, _evidence_member(sha))
        os.replace(partial, out)
    return BackupSummary(out, dialect, len(evidence), head_id, head_hash)


def _evidence_member(sha: str) -> str:
    return f"evidence/{sha[:2]}/{sha[2:4]}/{sha}.jpg"


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shown = [part if "://" not in part else "<database url>" for part in command]
        raise BackupError(f"{' '.join(shown)} failed ({result.returncode}): {result.stderr.strip()[:2000]}")


def restore_backup(backup: Path, db_url: str, evidence_dir: Path, *, force: bool = False,
                   anchor: AuditAnchor | None = None) -> BackupSummary:
    """Restore a backup into ``db_url`` and ``evidence_dir``.

    Args:
        backup: The tar ``write_backup`` wrote.
        db_url: The target database (SQLite file or PostgreSQL database; created for SQLite).
        evidence_dir: The target evidence folder.
        force: Restore over a database with tables, or an evidence folder with files.
        anchor: Where to anchor the restored audit head (default: none written).

    Raises:
        ConflictError: The target is not empty and ``force`` is not given.
        BackupError: A member is missing or does not hash as the manifest says; the restored
            audit chain does not reach the manifest's head; a tool failed.
    """
    dialect = make_url(db_url).get_backend_name()
    store = EvidenceStore(evidence_dir)
    with tarfile.open(backup, "r") as tar, tempfile.TemporaryDirectory(prefix="streetwatch-restore.") as work:
        work_dir = Path(work)
        manifest = _read_manifest(tar)
        if manifest["dialect"] != dialect:
            raise BadInputError(f"{backup} holds a {manifest['dialect']} database; {db_url!r} is {dialect}")
        _refuse_non_empty(db_url, store, force)
        database = manifest["database"]
        db_file = _extract_checked(tar, database["member"], database["sha256"], work_dir / "db")
        for item in manifest["evidence"]:
            target = store.path_for(item["sha256"])
            target.parent.mkdir(parents=True, exist_ok=True)
            _extract_checked(tar, item["member"], item["sha256"], target)
        if dialect == "sqlite":
            path = _sqlite_path(db_url)
            path.parent.mkdir(parents=True, exist_ok=True)
            source, target_db = sqlite3.connect(db_file), sqlite3.connect(path)
            try:
                source.backup(target_db)
            finally:
                target_db.close()
                source.close()
        else:
            _run([_pg_tool("pg_restore"), "--no-owner", "--no-acl", "--clean", "--if-exists", "--exit-on-error",
                  "-d", _libpq_url(db_url), str(db_file)])
    head_id, head_hash = _audit_head(db_url)
    wanted = manifest["audit_head"]
    if (head_id, head_hash) != (wanted["id"], wanted["hash"]):
        raise BackupError(f"the restored audit log ends at entry {head_id} ({head_hash}); the backup recorded "
                          f"entry {wanted['id']} ({wanted['hash']})")
    if anchor is not None and head_id is not None and head_hash is not None:
        anchor.advance(head_id, head_hash)
    return BackupSummary(backup, dialect, len(manifest["evidence"]), head_id, head_hash)


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        handle = tar.extractfile(MANIFEST)
        manifest: dict[str, Any] = json.loads(handle.read()) if handle is not None else {}
    except (KeyError, ValueError) as exc:
        raise BackupError(f"not a streetwatch backup (no readable {MANIFEST}): {exc}") from None
    if manifest.get("format") != BACKUP_FORMAT:
        raise BackupError(f"not a streetwatch backup: format {manifest.get('format')!r}, expected {BACKUP_FORMAT}")
    return manifest


def _extract_checked(tar: tarfile.TarFile, member: str, sha256: str, target: Path) -> Path:
    """Copy one member to ``target`` after checking it hashes as the manifest says."""
    try:
        handle = tar.extractfile(member)
    except KeyError:
        handle = None
    if handle is None:
        raise BackupError(f"the backup lacks {member}, which its manifest lists")
    digest = hashlib.sha256()
    partial = target.with_name(f".{target.name}.restoring")
    with partial.open("wb") as out:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise BackupError(f"{member} in the backup hashes to {digest.hexdigest()}, its manifest says {sha256}")
    os.replace(partial, target)
    return target


def _refuse_non_empty(db_url: str, store: EvidenceStore, force: bool) -> None:
    if force:
        return
    if any(True for _ in store.files()):
        raise ConflictError(f"the evidence folder {store.root} is not empty: restore into an empty one, "
                            "or pass --force")
    if make_url(db_url).get_backend_name() == "sqlite" and not _sqlite_path(db_url).exists():
        return
    engine = make_engine(db_url)
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    tables = [t for t in tables if t != "spatial_ref_sys"]  # PostGIS's own table
    if tables:
        raise ConflictError(f"the database {make_url(db_url).render_as_string()} already has tables "
                            f"({', '.join(sorted(tables)[:5])}, ...): restore into an empty one, or pass --force")
