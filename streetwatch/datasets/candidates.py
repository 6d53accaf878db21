"""``streetwatch train --register``: a training run's best weights become a candidate version of the registry.

Before training (so that an hour of CPU is not spent on a run that cannot be registered):
:func:`prepare_candidate` checks that the frozen evaluation set exists and that the dataset holds none of
its videos (by the dataset's manifest.csv), registers the bundled model as version 1 if the registry is
empty, and picks the weights to start from (the active version's) and so the parent. After training:
:func:`register_candidate` exports the best weights to ONNX, and registers both, measured on the frozen
set, with the manifest's sha256 and the command.
"""

from __future__ import annotations

import csv
import re
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from streetwatch.core.settings import Settings
from streetwatch.datasets.registry import Registry, RegistryError
from streetwatch.datasets.registry_types import NAME_PATTERN, ModelSource, VersionInfo
from streetwatch.datasets.yolo_layout import DatasetError
from streetwatch.store.model_files import sha256_file
from streetwatch.vision.export import export_onnx
from streetwatch.vision.training import TrainConfig

MANIFEST: Final = "manifest.csv"
_SIZE: Final = re.compile(r"(\d+)x(\d+)")


@dataclass(frozen=True, slots=True)
class Candidate:
    """What a registering training run was checked for, and will record."""

    settings: Settings
    data_yaml: Path
    start: Path
    parent_version: int | None
    name: str
    export_size: tuple[int, int]
    data_manifest_sha256: str | None
    eval_frames: int


def parse_size(text: str) -> tuple[int, int]:
    """``"384x640"`` -> ``(384, 640)``.

    Raises:
        DatasetError: Not HEIGHTxWIDTH in positive multiples of 32.
    """
    match = _SIZE.fullmatch(text.strip().lower())
    size = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not all(side > 0 and side % 32 == 0 for side in size):
        raise DatasetError(f"--export-size must be HEIGHTxWIDTH in positive multiples of 32, e.g. 384x640; "
                           f"got {text!r}")
    return size


def prepare_candidate(settings: Settings, data_yaml: Path, start: Path | None, *, name: str | None,
                      export_size: str) -> Candidate:
    """Check that the run can be registered, and choose what it starts from (see the module docstring).

    Raises:
        RegistryError: The frozen evaluation set is empty, or the active version has no .pt weights.
        DatasetError: No data.yaml, a bad name or export size, or the dataset holds frozen videos' frames.
    """
    size = parse_size(export_size)
    if not data_yaml.is_file():
        raise DatasetError(f"data.yaml not found: {data_yaml}")
    spec: dict[str, Any] = yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}
    manifest = data_yaml.parent / str(spec.get("manifest") or MANIFEST)
    name = name or data_yaml.resolve().parent.name
    if not NAME_PATTERN.fullmatch(name):
        raise DatasetError(f"candidate name {name!r}: use --name with 1-64 letters, digits, '.', '_' or '-'")
    with Registry(settings) as registry:
        frames = registry.frozen_frames()
        if not frames:
            raise RegistryError("--register measures the candidate on the frozen evaluation set, and there is none "
                                "yet: choose it with `streetwatch dataset freeze-eval`, then export the dataset again")
        if manifest.is_file():
            _check_held_out(manifest, {f.frame_sha256 for f in frames}, {f.video_sha256 for f in frames})
        registry.ensure_first_version()
        if start is None:
            active = registry.active()
            assert active is not None  # ensure_first_version made one
            if not active.weights.file.endswith(".pt"):
                raise RegistryError(f"the active version {active.label} has no PyTorch weights to fine-tune: give "
                                    "--from WEIGHTS.pt")
            start = registry.files.verified(active.folder.name, active.weights.file, active.weights.sha256)
        parent = registry.parent_of(start)
    return Candidate(settings, data_yaml, start, parent, name, size,
                     sha256_file(manifest) if manifest.is_file() else None, len(frames))


def _check_held_out(manifest: Path, frame_shas: set[str], video_shas: set[str]) -> None:
    with manifest.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    leaked = [r for r in rows if r.get("evidence_sha256") in frame_shas or r.get("video_sha256") in video_shas]
    if leaked:
        raise DatasetError(f"{manifest}: {len(leaked)} images are frames of the frozen evaluation set's videos "
                           f"(e.g. {leaked[0].get('image')}); a model is never trained on what it is measured on: "
                           "export the dataset again (dataset export leaves them out)")


def train_command(candidate: Candidate, config: TrainConfig) -> str:
    """The command line that reproduces the run (the options that change what is trained)."""
    argv = ["streetwatch", "train", str(candidate.data_yaml), "--from", str(candidate.start), "--epochs",
            str(config.epochs), "--imgsz", str(config.imgsz), "--batch", str(config.batch), "--freeze",
            str(config.freeze), "--device", config.device]
    if config.hours:
        argv += ["--hours", str(config.hours)]
    argv += ["--register", "--name", candidate.name, "--export-size", "x".join(map(str, candidate.export_size))]
    return shlex.join(argv)


def register_candidate(candidate: Candidate, best: Path, config: TrainConfig, *, seconds: float, actor: str
                       ) -> VersionInfo:
    """Export the best weights to ONNX and register both as a candidate, measured on the frozen set."""
    height, width = candidate.export_size
    training = {"epochs": config.epochs, "hours": config.hours, "imgsz": config.imgsz, "batch": config.batch,
                "freeze": config.freeze, "device": config.device, "seed": config.seed,
                "seconds": round(seconds, 1), "data": str(candidate.data_yaml.resolve()),
                "export_size": f"{height}x{width}"}
    with tempfile.TemporaryDirectory(prefix="streetwatch-candidate-") as workdir:
        onnx = export_onnx(best, Path(workdir) / f"{candidate.name}-{height}x{width}.onnx", imgsz=(height, width))
        source = ModelSource(weights=best, name=candidate.name, exports=(onnx,), runtime=onnx,
                             parent_version=candidate.parent_version,
                             data_manifest_sha256=candidate.data_manifest_sha256,
                             train_command=train_command(candidate, config), training=training,
                             renames={best: f"{candidate.name}.pt"})
        with Registry(candidate.settings) as registry:
            return registry.register(source, actor=actor)
