"""``streetwatch dataset``: reviewers' labels out as a YOLO dataset; labelled sets from elsewhere in.

Register with ``app.add_typer(dataset_app, name="dataset")`` in ``streetwatch/cli/main.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streetwatch.cli.errors import streetwatch_typer
from streetwatch.core.errors import BadInputError

dataset_app = streetwatch_typer(
    help="Training data: export what reviewers labelled on the review page as a YOLO dataset, and import "
         "labelled sets made elsewhere (CVAT, Label Studio) into the same layout.",
    no_args_is_help=True,
)
out_console = Console()
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: sqlite:///streetwatch.db).")]
ValShare = Annotated[float, typer.Option("--val-share", help="Share of videos (export) or images (import) "
                                         "held out for validation, chosen by hash.")]
OutOption = Annotated[Path, typer.Option("--out", help="A new (or empty) folder for the dataset.")]


class SinceError(BadInputError, ValueError):
    """--since is not an ISO 8601 date or time."""


def _since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SinceError(f"--since must be an ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T08:00+08:00; "
                         f"got {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataset_app.command("export")
def export(
    since: Annotated[str, typer.Option("--since", help="Frames with a label written at or after this ISO date or "
                                       "time (UTC unless it says its zone).")],
    out: OutOption,
    db: DbOption = None,
    evidence: Annotated[Path | None, typer.Option("--evidence", help="Evidence folder (default: ./evidence).")]
    = None,
    val_share: ValShare = 0.2,
    models_dir: Annotated[Path | None, typer.Option("--models-dir", help="The model registry's files (default: "
                                                    "var/models): the active version's classes come first.")]
    = None,
) -> None:
    """Write the evidence frames reviewers labelled as a YOLO dataset: images/, labels/, data.yaml, manifest.csv.

    Each labelled frame is one image; its label file holds what its label records add up to (the latest
    record per object wins; a frame marked empty gets an empty file). Class ids follow the current
    detector's model card (the registry's active version, else the bundled model), then the taxonomy's
    other classes (data.yaml says so). Splits are by video, never one video in both. manifest.csv says,
    per image, its evidence and video hashes, frame time, split and the label records behind it. Frames
    of the frozen evaluation set's videos are never exported (`dataset freeze-eval`).

    Example: streetwatch dataset export --since 2026-11-01 --out var/datasets/city-2026-11 --db sqlite:///city.db
    """
    from streetwatch.core.settings import get_settings
    from streetwatch.core.taxonomy import load_taxonomy
    from streetwatch.datasets.registry import process_model
    from streetwatch.datasets.review_export import export_reviewed
    from streetwatch.datasets.yolo_layout import dataset_classes

    settings = get_settings(db_url=db, evidence_dir=evidence, models_dir=models_dir)
    taxonomy = load_taxonomy(settings.taxonomy_path)
    since_time = _since(since)
    classes = dataset_classes(taxonomy, process_model(settings).path)
    summary = export_reviewed(settings.db_url, settings.evidence_dir, out, since=since_time, val_share=val_share,
                              taxonomy=taxonomy, classes=classes)
    table = Table(title=f"dataset export -> {summary.out}")
    for column in ("split", "videos", "images", "boxes"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for split in ("train", "val"):
        table.add_row(split, str(summary.videos[split]), str(summary.images[split]), str(summary.boxes[split]))
    out_console.print(table)
    out_console.print(f"{summary.empty_images} images marked empty (hard negatives); data.yaml and manifest.csv "
                      f"in {summary.out}", highlight=False)
    if summary.held_out:
        out_console.print(f"{summary.held_out} labelled frames held out: they are of the frozen evaluation set's "
                          "videos", highlight=False)
    if not summary.images["val"] and summary.images["train"]:
        out_console.print("[yellow]warning:[/] no video fell into val: label frames of more videos, or raise "
                          "--val-share")


@dataset_app.command("import")
def import_(
    src: Annotated[Path, typer.Argument(help="The labelled set: a folder as CVAT or Label Studio exports it.")],
    format: Annotated[str, typer.Option("--format", help="yolo, coco or voc (Pascal VOC).")],
    out: OutOption,
    val_share: ValShare = 0.2,
    licence: Annotated[str, typer.Option("--licence", help="The set's licence or provenance, recorded in "
                                         "data.yaml and manifest.csv.")] = "",
) -> None:
    """Read a labelled set made elsewhere and write it in our YOLO layout, class names mapped by the taxonomy.

    Class names are looked up by name or alias (models/taxonomy.yaml's `aliases`); a class the taxonomy
    does not know is an error naming it and the annotation file that uses it.

    Example: streetwatch dataset import exports/cvat-stalls --format coco --out var/datasets/stalls --licence "ours"
    """
    from streetwatch.core.settings import get_settings
    from streetwatch.core.taxonomy import load_taxonomy
    from streetwatch.datasets.review_import import import_labelled
    from streetwatch.datasets.yolo_layout import dataset_classes

    settings = get_settings()
    taxonomy = load_taxonomy(settings.taxonomy_path)
    summary = import_labelled(src, format, out, taxonomy=taxonomy, val_share=val_share, licence=licence,
                              classes=dataset_classes(taxonomy, settings.model_path))
    per_class = ", ".join(f"{name} {n}" for name, n in sorted(summary.classes.items())) or "none"
    out_console.print(f"imported {sum(summary.images.values())} images ({summary.images['train']} train, "
                      f"{summary.images['val']} val; {summary.duplicates} duplicates skipped) into {summary.out}; "
                      f"boxes: {per_class}", highlight=False)


@dataset_app.command("freeze-eval")
def freeze_eval(
    share: Annotated[float, typer.Option("--share", help="Videos whose hash scores below this share are evaluation "
                                         "videos.")] = 0.2,
    grow: Annotated[bool, typer.Option("--grow", help="Grow the set: frames labelled since on its videos, and new "
                                       "videos that score below --share.")] = False,
    video: Annotated[list[str] | None, typer.Option("--video", help="Add this video (its sha256, or 8+ of its first "
                                                    "characters); repeatable.")] = None,
    db: DbOption = None,
    by: Annotated[str | None, typer.Option("--by", help="Who freezes it, for the audit log (default: your login "
                                           "name).")] = None,
) -> None:
    """Choose the frozen evaluation set: reviewed frames held out of every training export, that models are
    compared on (`models compare`, `models promote`).

    The first run picks whole videos among those with labelled frames (by hash, about --share of them; at least
    one, never all). After that the set only grows, and only when told: --grow, or --video. Nothing is removed;
    each addition is in the audit log. Label every object of a frame you label: an unlabelled object counts as
    a false detection.

    Example: streetwatch dataset freeze-eval --db sqlite:///city.db, later: streetwatch dataset freeze-eval --grow
    """
    from streetwatch.cli.registry_commands import actor
    from streetwatch.core.settings import get_settings
    from streetwatch.core.taxonomy import load_taxonomy
    from streetwatch.datasets.eval_freeze import freeze_eval as run_freeze

    settings = get_settings(db_url=db)
    summary = run_freeze(settings.db_url, load_taxonomy(settings.taxonomy_path), actor=actor(by), share=share,
                         grow=grow, videos=video or ())
    out_console.print(f"frozen evaluation set: {summary.frames} frames of {summary.videos} videos "
                      f"({summary.added_frames} frames added now, {summary.added_videos} new videos; "
                      f"{summary.empty_frames} frames marked empty)", highlight=False)
    table = Table(title="instances in the frozen set")
    for column in ("family / class", "instances"):
        table.add_column(column, justify="left" if column.startswith("family") else "right")
    for family, n in summary.families.items():
        table.add_row(f"[bold]{family}[/]", str(n))
    for name, n in summary.instances.items():
        table.add_row(f"  {name}", str(n))
    out_console.print(table)
