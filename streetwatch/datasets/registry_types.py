"""The model registry's types that flow: a model named on the command line, a model to register, a version read back.

Also the bundled model as a source (it becomes version 1 when the registry gets its first version) and
the card written into each version's folder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import yaml

from streetwatch.core.errors import BadInputError
from streetwatch.core.model_metrics import EvalReport
from streetwatch.core.settings import DEFAULT_MODEL, DEFAULT_WEIGHTS_PT
from streetwatch.store.model_files import CARD, ModelSourceError, StoredFile
from streetwatch.store.models_registry import ModelVersion

NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MODEL_SUFFIXES: Final = (".pt", ".onnx")
_VERSION: Final = re.compile(r"[vV]?(\d+)")


class ModelRefError(BadInputError, ValueError):
    """A model named on the command line is neither a version nor a model file."""


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model as a command names it: ``active``, a version (``3`` or ``v3``), or a weights file."""

    text: str
    version: int | None = None
    path: Path | None = None

    @classmethod
    def of(cls, text: str) -> ModelRef:
        """Parse a reference.

        Raises:
            ModelRefError: ``text`` is none of the three.
        """
        stripped = text.strip()
        if stripped.lower() == "active":
            return cls(stripped)
        if match := _VERSION.fullmatch(stripped):
            return cls(stripped, version=int(match.group(1)))
        path = Path(stripped)
        if path.is_file() and path.suffix.lower() in MODEL_SUFFIXES:
            return cls(stripped, path=path)
        raise ModelRefError(f"{text!r} is neither a version (active, 3, v3) nor an existing .pt/.onnx file")


@dataclass(frozen=True, slots=True)
class ModelSource:
    """A model to register: its files and where it came from.

    Attributes:
        weights: The weights (.pt; or an .onnx file when that is all there is).
        name: A short name (letters, digits, ``.``, ``_``, ``-``), e.g. the dataset's.
        exports: Exports of the weights (ONNX, int8 ONNX).
        runtime: The file ``process`` should run (default: the first export, else the weights).
        parent_version: The registered version it was fine-tuned from.
        data_manifest_sha256: sha256 of its training dataset's manifest.csv.
        train_command: The command that trained it.
        training: The training run's settings and duration.
        note: Anything else worth knowing.
        renames: A file's name in the registry folder, by source path (default: its own name).
    """

    weights: Path
    name: str
    exports: tuple[Path, ...] = ()
    runtime: Path | None = None
    parent_version: int | None = None
    data_manifest_sha256: str | None = None
    train_command: str | None = None
    training: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None
    renames: Mapping[Path, str] = field(default_factory=dict)

    @property
    def runtime_path(self) -> Path:
        return self.runtime or (self.exports[0] if self.exports else self.weights)

    def stored_name(self, path: Path) -> str:
        return self.renames.get(path, path.name)

    def check(self) -> None:
        """Raise ``ModelSourceError`` for a bad name, a missing or non-model file, a runtime not among the files,
        or two files that would share a name."""
        if not NAME_PATTERN.fullmatch(self.name):
            raise ModelSourceError(f"model name {self.name!r}: use 1-64 letters, digits, '.', '_' or '-' "
                                   "(starting with a letter or digit)")
        files = [self.weights, *self.exports]
        for path in files:
            if not path.is_file():
                raise ModelSourceError(f"model file not found: {path}")
            if path.suffix.lower() not in MODEL_SUFFIXES:
                raise ModelSourceError(f"{path}: a registered model file is a .pt or .onnx file")
        if self.runtime_path not in files:
            raise ModelSourceError(f"the runtime file {self.runtime_path} is not the weights or one of the exports")
        names = [self.stored_name(p) for p in files]
        if len(set(names)) != len(names):
            raise ModelSourceError(f"two files would share a name in the version's folder: {names}")


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """A registered version, read back (``label`` is the provenance name its detections carry)."""

    version: int
    name: str
    parent_version: int | None
    data_manifest_sha256: str | None
    train_command: str | None
    training: Mapping[str, Any]
    metrics: EvalReport | None
    folder: Path
    weights: StoredFile
    exports: tuple[StoredFile, ...]
    runtime_file: str
    note: str | None
    created_by: str
    created_at: datetime
    active: bool

    @classmethod
    def of(cls, row: ModelVersion, models_dir: Path, active_version: int | None) -> VersionInfo:
        return cls(row.version, row.name, row.parent_version, row.data_manifest_sha256, row.train_command,
                   dict(row.training), EvalReport.model_validate(row.metrics) if row.metrics else None,
                   models_dir / row.folder, StoredFile(row.weights_file, row.weights_sha256),
                   tuple(StoredFile(str(e["file"]), str(e["sha256"])) for e in row.exports), row.runtime_file,
                   row.note, row.created_by, row.created_at, row.version == active_version)

    @property
    def label(self) -> str:
        return f"{self.name}@v{self.version}"

    @property
    def file_hashes(self) -> dict[str, str]:
        return {f.file: f.sha256 for f in (self.weights, *self.exports)}

    @property
    def weights_path(self) -> Path:
        return self.folder / self.weights.file

    @property
    def runtime_path(self) -> Path:
        return self.folder / self.runtime_file


def bundled_source(weights: Path = DEFAULT_WEIGHTS_PT, runtime: Path = DEFAULT_MODEL) -> ModelSource:
    """The bundled model (its PyTorch weights, its ONNX exports, what ``process`` runs), from its model card."""
    card_path = weights.parent / CARD
    card: dict[str, Any] = yaml.safe_load(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
    exports = [weights.parent / str(card[key]["file"]) for key in ("onnx_float", "onnx")
               if isinstance(card.get(key), dict) and "file" in card[key]]
    if runtime not in exports:
        exports.append(runtime)
    training = card.get("training") or {}
    return ModelSource(
        weights=weights, name=str(card.get("name") or weights.stem), exports=tuple(p for p in exports if p.is_file()),
        runtime=runtime, train_command=str(training.get("commands") or "") or None,
        training={k: v for k, v in training.items() if k != "commands"},
        note=f"the bundled model, registered implicitly as the registry's first version; its model card is "
             f"{card_path.name} in streetwatch's assets ({card.get('architecture', 'YOLOv8n')})")


def model_card(row: ModelVersion, names: Mapping[int, str]) -> dict[str, Any]:
    """The ``model.yaml`` written into a version's folder: for people, and ``dataset export``'s class order."""
    return {"name": row.name, "version": row.version, "label": row.label, "parent_version": row.parent_version,
            "file": row.weights_file, "sha256": row.weights_sha256, "exports": list(row.exports),
            "runtime": row.runtime_file, "data_manifest_sha256": row.data_manifest_sha256,
            "train_command": row.train_command, "created_by": row.created_by,
            "created_at": row.created_at.isoformat(), "classes": {int(k): str(v) for k, v in sorted(names.items())},
            "note": "written by `streetwatch models register`; the database's model_versions row is the record"}
