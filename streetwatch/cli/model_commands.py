"""CLI commands for the model side: train, eval."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


def train(
    data: Annotated[Path, typer.Argument(help="YOLO data.yaml (e.g. from a recipe in datasets/recipes).")],
    start: Annotated[Path, typer.Option("--from", help="Checkpoint to fine-tune from.")],
    out: Annotated[Path, typer.Option(help="Where the trained weights go (.pt).")],
    epochs: Annotated[int, typer.Option(help="Epochs (a --hours budget overrides).")] = 30,
    hours: Annotated[float | None, typer.Option(help="Stop after this many hours of training.")] = None,
    imgsz: Annotated[int, typer.Option(help="Training image size.")] = 640,
    batch: Annotated[int, typer.Option(help="Images per batch.")] = 16,
    freeze: Annotated[int, typer.Option(help="Leading layers to freeze (10 = backbone).")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:0 ...")] = "cpu",
    run_dir: Annotated[Path, typer.Option(help="Ultralytics run folder (logs, checkpoints).")]
    = Path("var/runs/train"),
) -> None:
    """Fine-tune a detector offline with Ultralytics and copy the best weights to OUT.

    Example (the v0 model's recipe, see models/streetwatch-v0/model.yaml; v1's is in models/streetwatch-v1/model.yaml):
      python -m streetwatch.datasets.recipes.streetwatch_v0 --base var/base/yolov8n-coco.pt
      streetwatch train var/datasets/streetwatch-v0/data.yaml --from var/base/streetwatch-v0-init.pt \\
          --out models/streetwatch-v0/streetwatch-v0.pt --imgsz 512 --freeze 10 --hours 0.75
    """
    from streetwatch.vision.training import TrainConfig, train_detector

    best = train_detector(TrainConfig(data_yaml=data, start_weights=start, run_dir=run_dir, epochs=epochs,
                                      hours=hours, imgsz=imgsz, batch=batch, device=device, freeze=freeze))
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    console.print(f"wrote {out} (sha256 {digest})")


def evaluate(
    model: Annotated[Path, typer.Argument(help="Detector weights (.pt).")],
    dataset: Annotated[Path, typer.Argument(help="YOLO data.yaml; its 'val' split is used.")],
    imgsz: Annotated[int, typer.Option(help="Evaluation image size.")] = 640,
    split: Annotated[str, typer.Option(help="Dataset split to evaluate on.")] = "val",
    device: Annotated[str, typer.Option(help="cpu, cuda, ...")] = "cpu",
) -> None:
    """Print per-class precision, recall, mAP50 and mAP50-95 of MODEL on DATASET.

    This is how the model card's metrics are reproduced, and how a city checks a model on
    footage it labelled itself.
    """
    from streetwatch.datasets.evaluate import evaluate as run_evaluation

    try:
        rows = run_evaluation(model, dataset, imgsz=imgsz, split=split, device=device)
    except FileNotFoundError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    table = Table(title=f"{model.name} on {dataset} ({split})")
    for column in ("class", "images", "instances", "precision", "recall", "mAP50", "mAP50-95"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for r in rows:
        table.add_row(r.name, str(r.images), str(r.instances), f"{r.precision:.3f}", f"{r.recall:.3f}",
                      f"{r.map50:.3f}", f"{r.map50_95:.3f}")
    Console().print(table)
