"""CLI commands for the model side: train (optionally into the model registry), eval."""

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
    data: Annotated[Path, typer.Argument(help="YOLO data.yaml (from `dataset export`, or a recipe's).")],
    start: Annotated[Path | None, typer.Option("--from", help="Checkpoint to fine-tune from (default with --register: "
                                               "the active version's weights).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where the trained weights go (.pt); optional with --register.")]
    = None,
    epochs: Annotated[int, typer.Option(help="Epochs (a --hours budget overrides).")] = 30,
    hours: Annotated[float | None, typer.Option(help="Stop after this many hours of training.")] = None,
    imgsz: Annotated[int, typer.Option(help="Training image size.")] = 640,
    batch: Annotated[int, typer.Option(help="Images per batch.")] = 16,
    freeze: Annotated[int, typer.Option(help="Leading layers to freeze (10 = backbone).")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:0 ...")] = "cpu",
    run_dir: Annotated[Path, typer.Option(help="Ultralytics run folder (logs, checkpoints).")]
    = Path("var/runs/train"),
    register: Annotated[bool, typer.Option(help="Export the ONNX, measure it on the frozen evaluation set and "
                                           "register it as a candidate version (see `models promote`).")] = False,
    name: Annotated[str | None, typer.Option(help="The candidate's name (default: the dataset folder's name).")]
    = None,
    export_size: Annotated[str, typer.Option(help="The ONNX export's input HEIGHTxWIDTH (multiples of 32).")]
    = "384x640",
    db: Annotated[str | None, typer.Option("--db", help="Database URL, for --register (default: "
                                           "sqlite:///streetwatch.db).")] = None,
    evidence: Annotated[Path | None, typer.Option("--evidence", help="Evidence folder, for --register (default: "
                                                  "./evidence).")] = None,
    models_dir: Annotated[Path | None, typer.Option("--models-dir", help="The registry's files, for --register "
                                                    "(default: var/models).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who trains it, for the registry and the audit log.")] = None,
) -> None:
    """Fine-tune a detector offline with Ultralytics; copy the best weights to OUT and/or register them.

    With --register: the frozen evaluation set must exist (`dataset freeze-eval`) and the dataset must hold none
    of its videos (checked against its manifest.csv); the best weights are exported to ONNX, measured on the
    frozen set and registered as a candidate version with their parent (the --from weights' version), the
    manifest's sha256, this command and the scores. `models compare` and `models promote` take it from there.

    Example (a city's own labels, on the CPU with the backbone frozen):
      streetwatch dataset export --since 2026-11-01 --out var/datasets/city-2026-11
      streetwatch train var/datasets/city-2026-11/data.yaml --register --imgsz 512 --freeze 10 --epochs 5

    Example (the v0 model's recipe, see models/streetwatch-v0/model.yaml; v1's is in models/streetwatch-v1/model.yaml):
      python -m streetwatch.datasets.recipes.streetwatch_v0 --base var/base/yolov8n-coco.pt
      streetwatch train var/datasets/streetwatch-v0/data.yaml --from var/base/streetwatch-v0-init.pt \\
          --out models/streetwatch-v0/streetwatch-v0.pt --imgsz 512 --freeze 10 --hours 0.75
    """
    import time

    from streetwatch.vision.training import TrainConfig, train_detector

    if out is None and not register:
        raise _fail("say where the weights go: --out PATH, or --register (or both)")
    candidate = None
    if register:
        from streetwatch.core.settings import get_settings
        from streetwatch.datasets.candidates import prepare_candidate

        settings = get_settings(db_url=db, evidence_dir=evidence, models_dir=models_dir)
        candidate = prepare_candidate(settings, data, start, name=name, export_size=export_size)
        start = candidate.start
        console.print(f"candidate {candidate.name}: fine-tuned from {start} (version {candidate.parent_version}), "
                      f"measured on {candidate.eval_frames} frozen frames after training", highlight=False)
    if start is None:
        raise _fail("--from is required without --register")
    config = TrainConfig(data_yaml=data, start_weights=start, run_dir=run_dir, epochs=epochs, hours=hours,
                         imgsz=imgsz, batch=batch, device=device, freeze=freeze)
    started = time.monotonic()
    best = train_detector(config)
    seconds = time.monotonic() - started
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, out)
        digest = hashlib.sha256(out.read_bytes()).hexdigest()
        console.print(f"wrote {out} (sha256 {digest})")
    if candidate is not None:
        from streetwatch.cli.registry_commands import actor, report_registered
        from streetwatch.core.taxonomy import load_taxonomy
        from streetwatch.datasets.candidates import register_candidate

        info = register_candidate(candidate, best, config, seconds=seconds, actor=actor(by))
        taxonomy = load_taxonomy(candidate.settings.taxonomy_path)
        report_registered(info, {name: spec.family for name, spec in taxonomy.classes.items()})


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


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
