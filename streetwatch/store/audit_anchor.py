"""The audit chain's head, anchored outside the database, so that cutting off the newest entries is seen.

The hash chain (:mod:`streetwatch.store.audit`) catches an entry that was changed or removed
from the middle, but not the newest entries removed from the end: what is left is still a
valid chain. So every commit that appended entries also writes the new head (its id and
hash) to a small checkpoint file, the *anchor*, and ``streetwatch audit verify`` checks that
the chain still reaches the anchored entry with the anchored hash.

Threat model:

* **Detected**: anyone who can change the database but not the anchor file. A ``DELETE`` of
  the newest entries, a database restored from an older backup over a newer one, a replica
  that lost its last transactions: the anchored entry is gone (truncated), or has another
  hash (the chain was rewritten from some entry on).
* **Detected with a key** (``audit_anchor_key``): someone who can also write the anchor file
  but does not hold the key cannot write a valid anchor for a shorter chain; the anchor is
  signed with HMAC-SHA256. Without a key the anchor carries a plain sha256, which only catches
  a damaged file.
* **Not detected**: someone holding the database, the anchor file *and* the key; putting back
  an older, validly signed anchor file together with an equally old database (a replay).
  Keep the anchor where the database's users cannot write (another volume or host, via
  ``audit_anchor_path``), and keep the head hash that ``audit verify`` prints somewhere else too
  (a ticket, a daily e-mail) for the strongest guarantee. Deleting the anchor file is not
  hidden either: a non-empty chain without its anchor fails verification.

The anchor is written right after the commit (a SQLAlchemy ``after_commit`` hook), never
before: it never names an entry that did not commit. A crash between the commit and the
write leaves it one commit behind, which is harmless: it is a lower bound, "the chain reached
at least entry N with hash H". Writers take an exclusive ``flock`` on ``<anchor>.lock``, and the
anchor only ever moves forward, so concurrent processes never move it back; the file is
replaced atomically (written aside, then renamed).

Where: ``audit_anchor_path`` in the settings, or by default ``<database file>.audit-anchor.json``
beside a SQLite database. A PostgreSQL audit log is anchored only when a path is configured.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction

from streetwatch.core.errors import ProcessingError
from streetwatch.core.settings import Settings

log = logging.getLogger(__name__)

ANCHOR_SUFFIX: Final = ".audit-anchor.json"
ANCHOR_FORMAT: Final = 1
# Session.info keys: the anchor a session factory was configured with, and the head its open
# transaction appended (written out when it commits).
ANCHOR_INFO_KEY: Final = "streetwatch.audit_anchor"
_PENDING_INFO_KEY: Final = "streetwatch.audit_pending_head"


class AnchorError(ProcessingError, ValueError):
    """The anchor file cannot be read or does not check out (unreadable, not ours, bad signature)."""


@dataclass(frozen=True, slots=True)
class AnchorRecord:
    """What an anchor says: the chain reached entry ``head_id`` with hash ``head_hash``.

    Attributes:
        head_id: The anchored entry's id.
        head_hash: Its hash.
        written_at: When the anchor was written (UTC, ISO 8601).
        signed: Whether it carries an HMAC (True) or a plain sha256 (False).
        signature_checked: Whether that HMAC was checked against the configured key.
    """

    head_id: int
    head_hash: str
    written_at: str
    signed: bool
    signature_checked: bool


def _body(head_id: int, head_hash: str, written_at: str) -> bytes:
    return json.dumps({"format": ANCHOR_FORMAT, "head_id": head_id, "head_hash": head_hash,
                       "written_at": written_at}, sort_keys=True, separators=(",", ":")).encode("ascii")


@dataclass(frozen=True, slots=True)
class AuditAnchor:
    """Where the head checkpoint is kept, and the key that signs it (None: hashed only)."""

    path: Path
    key: bytes | None = None

    def read(self) -> AnchorRecord | None:
        """The anchor, or None when there is no file.

        Raises:
            AnchorError: If the file is unreadable, malformed, or its checksum or signature fails.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AnchorError(f"cannot read the audit anchor {self.path}: {exc.strerror or exc}") from None
        try:
            stored = json.loads(raw)
            head_id, head_hash, written_at = int(stored["head_id"]), str(stored["head_hash"]), str(stored["written_at"])
            if stored.get("format") != ANCHOR_FORMAT:
                raise ValueError(f"format {stored.get('format')!r}, expected {ANCHOR_FORMAT}")
        except (ValueError, KeyError, TypeError) as exc:
            raise AnchorError(f"the audit anchor {self.path} is not an anchor file: {exc}") from None
        body = _body(head_id, head_hash, written_at)
        mac, checksum = stored.get("hmac_sha256"), stored.get("sha256")
        if mac is not None:
            if self.key is None:
                return AnchorRecord(head_id, head_hash, written_at, signed=True, signature_checked=False)
            if not hmac.compare_digest(str(mac), self._mac(body)):
                raise AnchorError(f"the audit anchor {self.path} has a bad signature: it was not written with "
                                  "the configured audit_anchor_key (forged, or signed with another key)")
            return AnchorRecord(head_id, head_hash, written_at, signed=True, signature_checked=True)
        if self.key is not None:
            raise AnchorError(f"the audit anchor {self.path} is not signed, but audit_anchor_key is set: "
                              "it was replaced, or written before the key was configured")
        if checksum != hashlib.sha256(body).hexdigest():
            raise AnchorError(f"the audit anchor {self.path} does not match its own checksum (damaged or edited)")
        return AnchorRecord(head_id, head_hash, written_at, signed=False, signature_checked=False)

    def advance(self, head_id: int, head_hash: str) -> bool:
        """Move the anchor to entry ``head_id`` unless it already names that entry or a later one.

        Returns:
            True when the anchor was written.
        """
        with self._locked():
            try:
                current = self.read()
            except AnchorError as exc:
                # Never overwrite an anchor that fails: that would hide what verification must report.
                log.error("audit anchor not advanced to entry %d: %s", head_id, exc)
                return False
            if current is not None and current.head_id >= head_id:
                return False
            self._write(head_id, head_hash)
            return True

    def reset(self, head_id: int, head_hash: str) -> None:
        """Write the anchor at entry ``head_id`` whatever it says now (``streetwatch audit anchor``)."""
        with self._locked():
            self._write(head_id, head_hash)

    def _mac(self, body: bytes) -> str:
        assert self.key is not None
        return hmac.new(self.key, body, hashlib.sha256).hexdigest()

    def _write(self, head_id: int, head_hash: str) -> None:
        written_at = datetime.now(UTC).isoformat(timespec="microseconds")
        body = _body(head_id, head_hash, written_at)
        stored: dict[str, Any] = json.loads(body)
        if self.key is not None:
            stored["hmac_sha256"] = self._mac(body)
        else:
            stored["sha256"] = hashlib.sha256(body).hexdigest()
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                json.dump(stored, handle, sort_keys=True, indent=1)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _locked(self) -> _FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return _FileLock(self.path.with_name(self.path.name + ".lock"))


class _FileLock:
    """An exclusive ``flock`` on a lock file, held for a ``with`` block."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def anchor_beside(url: str, key: bytes | None = None) -> AuditAnchor | None:
    """The default anchor of a database: ``<file>.audit-anchor.json`` beside a SQLite file, else None."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:"):
        return None
    path = Path(database).expanduser().resolve()
    return AuditAnchor(path.with_name(path.name + ANCHOR_SUFFIX), key)


def anchor_from_settings(settings: Settings) -> AuditAnchor | None:
    """The anchor the settings name (``audit_anchor_path``), or the default one for their database."""
    key = settings.audit_anchor_key.get_secret_value().encode() if settings.audit_anchor_key else None
    if settings.audit_anchor_path is not None:
        return AuditAnchor(Path(settings.audit_anchor_path).expanduser().resolve(), key)
    return anchor_beside(settings.db_url, key)


def session_anchor(session: Session) -> AuditAnchor | None:
    """The anchor of a session: the one its factory was given, else the default for its database."""
    if ANCHOR_INFO_KEY in session.info:
        configured: AuditAnchor | None = session.info[ANCHOR_INFO_KEY]
        return configured
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return anchor_beside(engine.url.render_as_string(hide_password=True))


def note_appended(session: Session, entry_id: int, entry_hash: str) -> None:
    """Remember the head this session's transaction appended; it is anchored when the transaction commits."""
    pending = session.info.get(_PENDING_INFO_KEY)
    if pending is None or pending[0] < entry_id:
        session.info[_PENDING_INFO_KEY] = (entry_id, entry_hash)


@event.listens_for(Session, "after_commit")
def _anchor_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING_INFO_KEY, None)
    if pending is None:
        return
    try:
        anchor = session_anchor(session)
        if anchor is not None:
            anchor.advance(*pending)
    except (OSError, AnchorError) as exc:
        # The change itself committed: failing the caller now would misreport it. The anchor lags
        # (a lower bound still), and the log says why.
        log.error("audit anchor not written after entry %d: %s", pending[0], exc)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(_PENDING_INFO_KEY, None)
