"""The model registry's rows: register a version, change the active one (promote, roll back), read them.

Every write appends an audit entry in the caller's transaction (``model.register``, ``model.promote``,
``model.rollback``); the caller commits. Versions are numbered 1, 2, 3, ... in registration order, under
the audit log's writer lock, so two registrations never take the same number. The active version is
the newest ``model_activations`` row's; the registry's first version is active from its registration.

Whether a candidate may be promoted (the promotion gate) is decided before :func:`activate` is called
(``streetwatch.datasets.registry``); this module records what was decided and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from streetwatch.core.errors import ConflictError, MissingError
from streetwatch.core.vocab import ModelAction
from streetwatch.store.audit import append_audit, take_writer_lock
from streetwatch.store.column_types import require_aware
from streetwatch.store.model_files import StoredFile
from streetwatch.store.models import utcnow
from streetwatch.store.models_registry import ModelActivation, ModelVersion

__all__ = ["ActivationConflictError", "ModelActivation", "ModelVersion", "NewVersion", "VersionNotFoundError",
           "activate", "activations", "active_version", "add_version", "all_versions", "find_by_file_sha256",
           "get_version", "next_version_number", "rollback_target"]


class VersionNotFoundError(MissingError, LookupError):
    """No registered model version has this number."""


class ActivationConflictError(ConflictError, RuntimeError):
    """The version cannot be made active now: it is active already, or was never active (rollback)."""


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What a registration records (the files are already in ``folder``).

    Attributes:
        name: A short name, e.g. the dataset's (``city-2026-11``).
        folder: The version's folder under the models folder.
        weights: The weights file (.pt, or the ONNX file when nothing else was given).
        exports: The exports (ONNX, int8 ONNX).
        runtime_file: The file ``process`` runs: the weights or one of the exports.
        parent_version: The version it was fine-tuned from.
        data_manifest_sha256: sha256 of the training dataset's manifest.csv.
        train_command: The command that trained it.
        training: The training run's settings and duration.
        metrics: Its EvalReport on the frozen evaluation set (JSON), {} without one.
        note: Anything else worth knowing.
    """

    name: str
    folder: str
    weights: StoredFile
    runtime_file: str
    exports: Sequence[StoredFile] = ()
    parent_version: int | None = None
    data_manifest_sha256: str | None = None
    train_command: str | None = None
    training: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None


def all_versions(session: Session) -> list[ModelVersion]:
    """Every registered version, oldest first."""
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.version)))


def get_version(session: Session, version: int) -> ModelVersion:
    """One version.

    Raises:
        VersionNotFoundError: None has this number.
    """
    row = session.get(ModelVersion, version)
    if row is None:
        known = ", ".join(str(v.version) for v in all_versions(session)) or "none: the registry is empty"
        raise VersionNotFoundError(f"no model version {version} (registered: {known})")
    return row


def activations(session: Session) -> list[ModelActivation]:
    """Every change of the active version, oldest first."""
    return list(session.scalars(select(ModelActivation).order_by(ModelActivation.id)))


def active_version(session: Session) -> ModelVersion | None:
    """The active version (the newest activation's), None while the registry is empty."""
    latest = session.scalars(select(ModelActivation).order_by(ModelActivation.id.desc()).limit(1)).first()
    return None if latest is None else session.get(ModelVersion, latest.version)


def next_version_number(session: Session) -> int:
    """The number the next registration gets (1 for the first)."""
    return int(session.execute(select(func.coalesce(func.max(ModelVersion.version), 0))).scalar_one()) + 1


def find_by_file_sha256(session: Session, sha256: str) -> ModelVersion | None:
    """The oldest version one of whose files (weights or exports) has this sha256."""
    for row in all_versions(session):  # a registry holds tens of versions: no index on the exports' JSON
        if sha256 in row.file_hashes().values():
            return row
    return None


def add_version(session: Session, new: NewVersion, *, version: int, actor: str, now: datetime | None = None
                ) -> ModelVersion:
    """Insert version ``version`` and audit it (``model.register``); the first version becomes active.

    Take the number from :func:`next_version_number` after :func:`take_writer_lock` in the same
    transaction (the caller copies the files into its folder in between). The caller commits.

    Raises:
        VersionNotFoundError: The parent is not registered.
        ValueError: A blank actor or name, a runtime file that is not one of the version's files,
            or a number that is not the next one.
    """
    if not actor.strip() or not new.name.strip():
        raise ValueError(f"a model version needs a name and an actor, got {new.name!r} and {actor!r}")
    files = {new.weights.file, *(e.file for e in new.exports)}
    if new.runtime_file not in files:
        raise ValueError(f"the runtime file {new.runtime_file!r} is not one of the version's files {sorted(files)}")
    take_writer_lock(session)
    expected = next_version_number(session)
    if version != expected:
        raise ValueError(f"version {version} is not the next number ({expected}): take it under the writer lock")
    if new.parent_version is not None:
        get_version(session, new.parent_version)
    now = require_aware(now or utcnow())
    first = expected == 1
    row = ModelVersion(
        version=version, name=new.name, parent_version=new.parent_version,
        data_manifest_sha256=new.data_manifest_sha256, train_command=new.train_command, training=dict(new.training),
        metrics=dict(new.metrics), folder=new.folder, weights_file=new.weights.file,
        weights_sha256=new.weights.sha256, exports=[{"file": e.file, "sha256": e.sha256} for e in new.exports],
        runtime_file=new.runtime_file, note=new.note, created_by=actor, created_at=now)
    session.add(row)
    session.flush()
    activation = None
    if first:
        activation = ModelActivation(version=version, previous_version=None, action=ModelAction.REGISTER,
                                     forced=False, reason="the registry's first version", comparison={},
                                     actor=actor, created_at=now)
        session.add(activation)
        session.flush()
    details = {"name": new.name, "parent_version": new.parent_version, "folder": new.folder,
               "files": row.file_hashes(), "runtime_file": new.runtime_file,
               "data_manifest_sha256": new.data_manifest_sha256, "train_command": new.train_command,
               "eval_set_sha256": new.metrics.get("eval_set_sha256"), "active": first,
               "activation_id": activation.id if activation is not None else None}
    append_audit(session, actor=actor, action="model.register", entity_type="model_version", entity_id=version,
                 details=details, now=now)
    return row


def activate(session: Session, version: int, *, action: ModelAction, actor: str, reason: str | None = None,
             forced: bool = False, comparison: Mapping[str, Any] | None = None,
             expected_current: int | None = None, now: datetime | None = None) -> ModelActivation:
    """Make ``version`` the active one (a promotion or a rollback) and audit it (``model.<action>``).

    The caller commits.

    Args:
        expected_current: The active version the decision was made against (a promotion's comparison);
            if another is active by now, nothing is written.

    Raises:
        VersionNotFoundError: No such version.
        ActivationConflictError: It is active already; for a rollback, it was never active; the active
            version is not ``expected_current`` any more.
        ValueError: ``action`` is neither promote nor rollback, or a blank actor.
    """
    if action not in (ModelAction.PROMOTE, ModelAction.ROLLBACK):
        raise ValueError(f"activate promotes or rolls back, not {action!r}")
    if not actor.strip():
        raise ValueError("actor must not be blank")
    take_writer_lock(session)
    get_version(session, version)
    current = active_version(session)
    if current is not None and current.version == version:
        raise ActivationConflictError(f"version {version} is the active version already")
    if expected_current is not None and (current is None or current.version != expected_current):
        raise ActivationConflictError(f"the active version changed to {current.version if current else None} while "
                                      f"version {version} was compared with version {expected_current}: try again")
    if action == ModelAction.ROLLBACK and not was_active(session, version):
        raise ActivationConflictError(f"version {version} was never active: roll back only to a version that was; "
                                      "promote others")
    now = require_aware(now or utcnow())
    row = ModelActivation(version=version, previous_version=current.version if current else None, action=action,
                          forced=forced, reason=reason, comparison=dict(comparison or {}), actor=actor,
                          created_at=now)
    session.add(row)
    session.flush()
    append_audit(session, actor=actor, action=f"model.{action}", entity_type="model_version", entity_id=version,
                 details={"activation_id": row.id, "previous_version": row.previous_version, "forced": forced,
                          "reason": reason, "comparison": dict(comparison or {})}, now=now)
    return row


def was_active(session: Session, version: int) -> bool:
    """Whether ``version`` was ever the active version."""
    return session.scalars(select(ModelActivation.id).where(ModelActivation.version == version).limit(1)).first() \
        is not None


def rollback_target(session: Session) -> int | None:
    """The version a plain rollback goes back to: the one the active version was last promoted over.

    Rolling back twice walks back along the promotions: after 1 -> 2 -> 3 and a rollback to 2, the
    next rollback goes to 1. None when the active version was never promoted over another.
    """
    current = active_version(session)
    if current is None:
        return None
    promoted = session.scalars(
        select(ModelActivation).where(ModelActivation.version == current.version,
                                      ModelActivation.action == ModelAction.PROMOTE)
        .order_by(ModelActivation.id.desc()).limit(1)).first()
    return None if promoted is None else promoted.previous_version
