"""``streetwatch backup`` and ``streetwatch restore``: the database and the evidence in one tar file.

Register with ``app.command("backup")(backup)`` and ``app.command("restore")(restore)`` in
``streetwatch/cli/main.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console()
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: sqlite:///streetwatch.db).")]
EvidenceOption = Annotated[Path | None, typer.Option("--evidence", help="Evidence folder (default: ./evidence).")]


def backup(
    out_file: Annotated[Path, typer.Option("--out", help="The backup file to write (a tar).")],
    db: DbOption = None,
    evidence: EvidenceOption = None,
) -> None:
    """Back up the database and every evidence file into one tar, with a manifest of sha256s.

    SQLite is copied with its online backup API (writers may go on); PostgreSQL with pg_dump -Fc
    (from PATH or /usr/lib/postgresql/*/bin). The manifest records the audit log's head, which a
    restore checks.

    Example: streetwatch backup --db sqlite:///city.db --evidence evidence --out backups/city-2026-12-02.tar
    """
    from streetwatch.cli.errors import local_evidence_folder
    from streetwatch.core.settings import get_settings
    from streetwatch.store.backup import write_backup

    settings = get_settings(db_url=db, evidence_dir=evidence)
    summary = write_backup(settings.db_url, local_evidence_folder(settings.evidence_dir, "backup"), out_file)
    out.print(f"backup written: {summary.path} ({summary.dialect}, {summary.evidence_files} evidence file(s), "
              f"audit head {summary.audit_head_id} {summary.audit_head_hash})", highlight=False)


def restore(
    backup_file: Annotated[Path, typer.Argument(help="A tar written by streetwatch backup.", exists=True,
                                                dir_okay=False)],
    db: DbOption = None,
    evidence: EvidenceOption = None,
    force: Annotated[bool, typer.Option("--force", help="Restore over a database with tables or an evidence "
                                                        "folder with files.")] = False,
) -> None:
    """Restore a backup into a fresh database and evidence folder.

    Every file is checked against the manifest's sha256; the restored audit log must reach the head
    the backup recorded, and that head is anchored for the restored database, so
    `streetwatch audit verify` passes on it. A target that is not empty is refused unless --force.

    Example: streetwatch restore backups/city-2026-12-02.tar --db sqlite:///restored.db --evidence restored-evidence
    """
    from streetwatch.cli.errors import local_evidence_folder
    from streetwatch.core.settings import get_settings
    from streetwatch.store.audit_anchor import anchor_from_settings
    from streetwatch.store.backup import restore_backup

    settings = get_settings(db_url=db, evidence_dir=evidence)
    summary = restore_backup(backup_file, settings.db_url, local_evidence_folder(settings.evidence_dir, "restore"),
                             force=force,
                             anchor=anchor_from_settings(settings))
    out.print(f"restored {summary.path} into {settings.db_url} and {settings.evidence_dir}: "
              f"{summary.evidence_files} evidence file(s); audit log verified to head {summary.audit_head_id}",
              highlight=False)
