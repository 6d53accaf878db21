"""The model registry's files: one folder per version under the models folder, every file checked by sha256.

::

    MODELS_DIR/
      v1/  streetwatch-v1.pt  streetwatch-v1-384x640.onnx  streetwatch-v1-384x640-int8.onnx  model.yaml
      v2/  city-2026-11.pt  city-2026-11-384x640.onnx  model.yaml

Files are copied in (through a temporary name, so a half-copied file never carries the final name) and
their sha256 recorded in ``model_versions``; a file is checked against its hash before it is used, so a
changed or truncated file is an error, not a silently different detector. ``model.yaml`` is a card
written for people (and for ``dataset export``'s class order); the database is the record.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from streetwatch.core.errors import BadInputError, ProcessingError

CARD: Final = "model.yaml"
_CHUNK: Final = 1 << 20


class ModelFileError(ProcessingError):
    """A registered model file is missing, or its bytes are not the ones registered."""


class ModelSourceError(BadInputError, FileNotFoundError):
    """A file to register does not exist or is not a model file."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file in a version's folder and the sha256 of its bytes."""

    file: str
    sha256: str


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ModelFiles:
    """The folder tree under ``root`` (``Settings.models_dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def folder_for(version: int) -> str:
        """The folder name of a version (relative to the root)."""
        return f"v{version}"

    def path(self, folder: str, file: str) -> Path:
        """Where a version's file lives (it may not exist)."""
        return self.root / folder / file

    def add(self, folder: str, source: Path, name: str | None = None) -> StoredFile:
        """Copy ``source`` into ``folder`` as ``name`` (default: its own name) and hash it.

        A file of that name left by an earlier, failed registration is replaced.

        Raises:
            ModelSourceError: ``source`` is not a file, or ``name`` is not a plain file name.
        """
        if not source.is_file():
            raise ModelSourceError(f"model file not found: {source}")
        name = name or source.name
        if Path(name).name != name or name in (".", "..", CARD):
            raise ModelSourceError(f"{name!r} cannot be a registered file's name")
        target = self.path(folder, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{name}.partial")
        shutil.copyfile(source, partial)
        os.replace(partial, target)
        return StoredFile(name, sha256_file(target))

    def verified(self, folder: str, file: str, sha256: str) -> Path:
        """The path of a registered file, after checking that its bytes are the ones registered.

        Raises:
            ModelFileError: The file is missing or its sha256 differs.
        """
        path = self.path(folder, file)
        if not path.is_file():
            raise ModelFileError(f"registered model file {path} is missing (is --models-dir / STREETWATCH_MODELS_DIR "
                                 f"the folder the registry was made with?)")
        found = sha256_file(path)
        if found != sha256:
            raise ModelFileError(f"registered model file {path} was changed: sha256 {found[:12]}... is not the "
                                 f"registered {sha256[:12]}...")
        return path

    def write_card(self, folder: str, card: dict[str, Any]) -> Path:
        """Write ``model.yaml`` (for people, and ``dataset export``'s class order) into a version's folder."""
        path = self.path(folder, CARD)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(card, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path
