"""Fine-tuning a detector with Ultralytics, offline.

Nothing here downloads: no AMP check weights, no fonts for plots, no hub. The run's own
folder keeps Ultralytics' logs and checkpoints; the caller copies the best weights where
they belong and writes the model card.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """What a training run needs. ``hours`` (if set) bounds the run and overrides ``epochs``."""

    data_yaml: Path
    start_weights: Path
    run_dir: Path
    epochs: int = 30
    hours: float | None = None
    imgsz: int = 640
    batch: int = 16
    device: str = "cpu"
    workers: int = 2
    freeze: int = 0          # number of leading layers to freeze (10 = the whole backbone)
    seed: int = 0
    patience: int = 50


def train_detector(config: TrainConfig) -> Path:
    """Train and return the path of the best checkpoint (by validation fitness)."""
    from ultralytics import YOLO

    for path in (config.data_yaml, config.start_weights):
        if not path.exists():
            raise FileNotFoundError(f"not found: {path}")
    model = YOLO(str(config.start_weights), task="detect")
    extra = {"time": config.hours} if config.hours else {}
    model.train(
        data=str(config.data_yaml), epochs=config.epochs, imgsz=config.imgsz, batch=config.batch,
        device=config.device, workers=config.workers, freeze=config.freeze or None, seed=config.seed,
        deterministic=True, patience=config.patience, project=str(config.run_dir.parent.resolve()),
        name=config.run_dir.name, exist_ok=True, plots=False, amp=config.device != "cpu", verbose=False,
        **extra,
    )
    best = config.run_dir.resolve() / "weights" / "best.pt"
    if not best.exists():
        raise RuntimeError(f"training finished without a best checkpoint at {best}")
    return best
