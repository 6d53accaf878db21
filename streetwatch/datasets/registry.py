"""The model registry end to end: files under the models folder, rows in the database, scores on the frozen set.

``streetwatch models list/show/register/compare/promote/rollback`` and ``train --register`` work through
:class:`Registry`. A version's files are copied into its folder (``streetwatch.store.model_files``) and
their sha256 recorded with its provenance (``streetwatch.store.registry``). The bundled model becomes
version 1, implicitly, when the first model is registered: until then the registry is empty and
``process`` runs the bundled model as it always did.

Promotion is gated: the candidate and the active version are measured on the frozen evaluation set
(``streetwatch.datasets.frozen_eval``; a version's stored scores are reused while the set and its labels
are unchanged), and a candidate more than ``Settings.promote_tolerance`` below the active version on any
family (``Settings.promote_scores``) is refused unless forced with a reason, which the audit log keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from streetwatch.core.errors import BadInputError, ConflictError
from streetwatch.core.model_metrics import AgreementReport, EvalReport, Regression, family_regressions
from streetwatch.core.settings import Settings
from streetwatch.core.taxonomy import Taxonomy, load_taxonomy
from streetwatch.core.vocab import ModelAction
from streetwatch.datasets.registry_types import ModelRef, ModelSource, VersionInfo, bundled_source, model_card
from streetwatch.store import registry as rows
from streetwatch.store.audit import take_writer_lock
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from streetwatch.store.eval_set import frozen_frames
from streetwatch.store.evidence_backends import evidence_store_for
from streetwatch.store.labels import LabelledFrame
from streetwatch.store.model_files import ModelFiles, sha256_file
from streetwatch.store.shadow import shadow_frames

SYSTEM_ACTOR: Final = "system"


class RegistryError(BadInputError, ValueError):
    """A registry command cannot do what was asked: the message says why and what to do instead."""


class AlreadyRegisteredError(ConflictError, RuntimeError):
    """The weights are registered already."""


class PromotionRefusedError(ConflictError, RuntimeError):
    """The candidate is worse than the active version on a family beyond the tolerance (or cannot be measured)."""

    def __init__(self, message: str, comparison: Comparison | None = None) -> None:
        super().__init__(message)
        self.comparison = comparison


@dataclass(frozen=True, slots=True)
class Measured:
    """A model measured on the frozen set: its provenance name, its registry version (if any), its report."""

    label: str
    version: int | None
    report: EvalReport


@dataclass(frozen=True, slots=True)
class Comparison:
    """Two models on the frozen set, the families where the candidate is worse, and the agreement on shadow footage."""

    current: Measured
    candidate: Measured
    tolerance: float
    scores: tuple[str, ...]
    regressions: list[Regression]
    agreement: AgreementReport | None = None

    def summary(self) -> dict[str, Any]:
        """What the audit log keeps of it: per family both versions' scores, the gate and what it found."""
        return {"current": self.current.label, "candidate": self.candidate.label,
                "eval_set_sha256": self.current.report.eval_set_sha256, "frames": self.current.report.frames,
                "conf": self.current.report.conf, "tolerance": self.tolerance, "scores": list(self.scores),
                "families": {family: {"current": score.model_dump(),
                                      "candidate": (self.candidate.report.families[family].model_dump()
                                                    if family in self.candidate.report.families else None)}
                             for family, score in self.current.report.families.items()},
                "regressions": [str(r) for r in self.regressions]}


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A detector file to run and the provenance name its detections carry."""

    path: Path
    label: str
    version: int | None = None


class Registry:
    """The registry of one deployment: its database (migrated on opening) and models folder, from the settings."""

    def __init__(self, settings: Settings, taxonomy: Taxonomy | None = None) -> None:
        self.settings = settings
        self.taxonomy = taxonomy or load_taxonomy(settings.taxonomy_path)
        self.files = ModelFiles(settings.models_dir)
        upgrade(settings.db_url)
        self._engine = make_engine(settings.db_url)
        self._sessions = make_session_factory(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- reading ---------------------------------------------------------------------------------

    def versions(self) -> list[VersionInfo]:
        """Every version, oldest first."""
        with self._sessions() as session:
            active = rows.active_version(session)
            return [VersionInfo.of(r, self.files.root, active.version if active else None)
                    for r in rows.all_versions(session)]

    def version(self, number: int) -> VersionInfo:
        """One version (raises ``VersionNotFoundError``)."""
        with self._sessions() as session:
            active = rows.active_version(session)
            row = rows.get_version(session, number)
            return VersionInfo.of(row, self.files.root, active.version if active else None)

    def active(self) -> VersionInfo | None:
        """The active version, None while the registry is empty."""
        with self._sessions() as session:
            active = rows.active_version(session)
            return None if active is None else VersionInfo.of(active, self.files.root, active.version)

    def activations(self) -> list[rows.ModelActivation]:
        """Every change of the active version, oldest first."""
        with self._sessions() as session:
            return rows.activations(session)

    def resolve(self, ref: ModelRef) -> int:
        """A version number for ``active``, ``3`` or ``v3`` (raises ``VersionNotFoundError``, ``RegistryError``)."""
        if ref.path is not None:
            raise RegistryError(f"{ref.text!r} is a file, not a registered version: register it first "
                                "(streetwatch models register)")
        if ref.version is not None:
            return self.version(ref.version).version
        active = self.active()
        if active is None:
            raise RegistryError("the registry is empty, so nothing is active: register a model first")
        return active.version

    def runtime(self, number: int) -> ResolvedModel:
        """The file ``process`` runs for a version, after checking its sha256 (raises ``ModelFileError``)."""
        info = self.version(number)
        path = self.files.verified(info.folder.name, info.runtime_file, info.file_hashes[info.runtime_file])
        return ResolvedModel(path, info.label, info.version)

    def frozen_frames(self) -> list[LabelledFrame]:
        with self._sessions() as session:
            return frozen_frames(session)

    # --- registering -----------------------------------------------------------------------------

    def ensure_first_version(self) -> None:
        """Register the bundled model as version 1 if the registry is empty (no-op otherwise)."""
        with self._sessions() as session:
            if rows.next_version_number(session) != 1:
                return
        self._register(bundled_source(), actor=SYSTEM_ACTOR, only_if_empty=True)

    def register(self, source: ModelSource, *, actor: str) -> VersionInfo:
        """Copy the files in, measure the runtime file on the frozen set (when there is one), record the version.

        The bundled model is registered first, as version 1, if the registry is empty.

        Raises:
            AlreadyRegisteredError: These weights are registered already.
            ModelSourceError: A file does not exist.
            VersionNotFoundError: The parent is not registered.
        """
        self.ensure_first_version()
        return self._register(source, actor=actor, only_if_empty=False)

    def _register(self, source: ModelSource, *, actor: str, only_if_empty: bool) -> VersionInfo:
        # Imported here, not at the top: the metrics import supervision (about 0.7 s), which
        # `streetwatch process` (it resolves the active model here) should not pay for.
        from streetwatch.datasets.frozen_eval import eval_detector, evaluate_detector

        source.check()
        digest = sha256_file(source.weights)
        with self._sessions() as session:
            known = rows.find_by_file_sha256(session, digest)
        if known is not None and not only_if_empty:
            raise AlreadyRegisteredError(f"{source.weights} is registered already, as version {known.version} "
                                         f"({known.label})")
        frames = self.frozen_frames()
        detector = eval_detector(source.runtime_path, source.name)
        report = (evaluate_detector(detector, frames, evidence_store_for(self.settings), self.taxonomy,
                                    conf=self.settings.conf_threshold) if frames else None)
        with self._sessions() as session, session.begin():
            take_writer_lock(session)  # the version number is taken, and its folder filled, under the lock
            number = rows.next_version_number(session)
            if only_if_empty and number != 1:
                return self.version(1)
            if source.parent_version is not None:
                rows.get_version(session, source.parent_version)  # before any file is copied
            folder = self.files.folder_for(number)
            weights = self.files.add(folder, source.weights, source.stored_name(source.weights))
            exports = [self.files.add(folder, p, source.stored_name(p)) for p in source.exports]
            runtime = source.stored_name(source.runtime_path)
            metrics: dict[str, Any] = {} if report is None else report.model_copy(
                update={"model": f"{source.name}@v{number}"}).model_dump(mode="json")
            new = rows.NewVersion(
                name=source.name, folder=folder, weights=weights, exports=exports, runtime_file=runtime,
                parent_version=source.parent_version, data_manifest_sha256=source.data_manifest_sha256,
                train_command=source.train_command, training=dict(source.training),
                metrics=metrics, note=source.note)
            row = rows.add_version(session, new, version=number, actor=actor)
            self.files.write_card(folder, model_card(row, dict(detector.names)))
        return self.version(number)

    def parent_of(self, weights: Path) -> int | None:
        """The registered version whose files include ``weights`` (by sha256), if any."""
        digest = sha256_file(weights)
        with self._sessions() as session:
            row = rows.find_by_file_sha256(session, digest)
            return None if row is None else row.version

    # --- measuring, comparing, promoting -----------------------------------------------------------

    def measure(self, ref: ModelRef, frames: Sequence[LabelledFrame] | None = None) -> Measured:
        """A version (or an unregistered file) measured on the frozen set; a version's stored report is reused
        while the set, its labels and the confidence are unchanged.

        Raises:
            RegistryError: The frozen evaluation set is empty.
        """
        from streetwatch.datasets.frozen_eval import eval_detector, eval_set_fingerprint, evaluate_detector

        frames = self.frozen_frames() if frames is None else frames
        if not frames:
            raise RegistryError("the frozen evaluation set is empty: choose it first with "
                                "`streetwatch dataset freeze-eval`")
        stored: EvalReport | None = None
        if ref.path is not None:
            label, version, path = ref.path.stem, None, ref.path
        else:
            number = self.resolve(ref)
            resolved = self.runtime(number)
            label, version, path = resolved.label, resolved.version, resolved.path
            stored = self.version(number).metrics
        fingerprint = eval_set_fingerprint(frames)
        if stored is not None and stored.eval_set_sha256 == fingerprint and stored.conf == self.settings.conf_threshold:
            return Measured(label, version, stored)
        report = evaluate_detector(eval_detector(path, label), frames, evidence_store_for(self.settings),
                                   self.taxonomy, conf=self.settings.conf_threshold)
        return Measured(label, version, report)

    def compare(self, current: ModelRef, candidate: ModelRef) -> Comparison:
        """Both models on the frozen set, the gate's verdict, and the candidate's agreement on shadow footage."""
        from streetwatch.datasets.frozen_eval import shadow_agreement

        frames = self.frozen_frames()
        mine, theirs = self.measure(current, frames), self.measure(candidate, frames)
        scores = tuple(self.settings.promote_scores)
        regressions = family_regressions(mine.report, theirs.report, self.settings.promote_tolerance, scores)
        with self._sessions() as session:
            shadowed = shadow_frames(session, shadow_model=theirs.label, shadow_version=theirs.version)
            agreement = shadow_agreement(shadowed, theirs.label)
        return Comparison(mine, theirs, self.settings.promote_tolerance, tuple(str(s) for s in scores), regressions,
                          agreement)

    def promote(self, candidate: ModelRef, *, actor: str, force: bool = False, reason: str | None = None
                ) -> tuple[rows.ModelActivation, Comparison | None]:
        """Make the candidate the active version if it is not worse on any family (or if forced, with a reason).

        Raises:
            PromotionRefusedError: It is worse beyond the tolerance, or the frozen set is empty; not forced.
            RegistryError: ``force`` without a reason.
            ActivationConflictError: It is the active version already.
        """
        if force and not (reason and reason.strip()):
            raise RegistryError("--force needs --reason TEXT: the audit log records why the gate was overridden")
        number = self.resolve(candidate)
        active = self.active()
        assert active is not None  # a registered candidate means a registry with an active version
        if number == active.version:
            raise rows.ActivationConflictError(f"version {number} is the active version already")
        comparison = self.compare(ModelRef.of(str(active.version)), ModelRef.of(str(number))) \
            if self.frozen_frames() else None
        if comparison is None:
            problem = "there is no frozen evaluation set to measure it on (streetwatch dataset freeze-eval)"
        else:
            problem = "; ".join(str(r) for r in comparison.regressions)
        if problem and not force:
            raise PromotionRefusedError(
                f"version {number} is not promoted: {problem} (tolerance {self.settings.promote_tolerance}). "
                "Promote it anyway with --force --reason TEXT (recorded in the audit log)", comparison)
        summary = comparison.summary() if comparison is not None else {"eval_set": None}
        with self._sessions() as session, session.begin():
            row = rows.activate(session, number, action=ModelAction.PROMOTE, actor=actor, reason=reason,
                                forced=bool(problem), comparison=summary, expected_current=active.version)
        return row, comparison

    def rollback(self, to: ModelRef | None, *, actor: str, reason: str | None = None) -> rows.ModelActivation:
        """Make an earlier active version active again (by default the one the active version was promoted over).

        Raises:
            RegistryError: Nothing to roll back to.
            ActivationConflictError: The version was never active, or is active.
        """
        with self._sessions() as session:
            target = rows.rollback_target(session) if to is None else None
        number = self.resolve(to) if to is not None else target
        if number is None:
            raise RegistryError("nothing to roll back to: the active version was not promoted over another; "
                                "name one with --to VERSION")
        with self._sessions() as session, session.begin():
            return rows.activate(session, number, action=ModelAction.ROLLBACK, actor=actor, reason=reason)


def process_model(settings: Settings) -> ResolvedModel:
    """The detector ``process`` runs: ``--model`` (or ``STREETWATCH_MODEL_PATH``) when given, else the registry's
    active version (its file checked by sha256), else the bundled model while the registry is empty."""
    if "model_path" not in settings.model_fields_set:
        with Registry(settings) as registry:
            active = registry.active()
            if active is not None:
                return registry.runtime(active.version)
    return ResolvedModel(settings.model_path, settings.model_label or settings.model_path.stem)


def shadow_model(settings: Settings, text: str) -> ResolvedModel:
    """The model named by ``--shadow-model``: a registered version (``3``, ``v3``) or a weights file; a file
    that is a registered version's carries that version's name.

    Raises:
        ModelRefError: Neither a version nor a model file.
        VersionNotFoundError: No such version.
    """
    ref = ModelRef.of(text)
    with Registry(settings) as registry:
        if ref.path is None:
            return registry.runtime(registry.resolve(ref))
        version = registry.parent_of(ref.path)
        label = registry.version(version).label if version is not None else ref.path.stem
        return ResolvedModel(ref.path, label, version)
