"""``streetwatch dataset export``: the evidence frames reviewers labelled, as a YOLO dataset.

Each frame with a label record written since the given time becomes one image; its label file holds
the objects its records add up to (``streetwatch.core.labels.resolve_frame``: the latest record per
object wins; confirmed detections are positives, relabels change the class, adjusted boxes replace
the box, missed objects add a box, and a frame marked empty gets an empty label file, a hard negative).
Images are the evidence files, copied byte for byte. Splits are by video, by the hash of the video's
content, so one video's frames are never in both train and val. See ``yolo_layout`` for the layout.

Frames of the frozen evaluation set are never exported, nor any frame of a video that has one
(``streetwatch dataset freeze-eval``): models are measured on footage they were not trained on.

What it does not know: detections on a labelled frame that nobody labelled are not in its label file
(the detector's unreviewed output is never a label), so label every object of a frame you label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import supervision as sv

from streetwatch.core.taxonomy import Taxonomy
from streetwatch.datasets.yolo_layout import (
    SPLITS,
    DatasetClasses,
    DatasetError,
    ManifestRow,
    Split,
    assign_splits,
    detections,
    prepare_out,
    write_data_yaml,
    write_manifest,
    write_split,
)
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.eval_set import frozen_shas, frozen_video_ids
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.evidence_backends import open_evidence_store
from streetwatch.store.labels import LabelledFrame, labelled_frames


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote."""

    out: Path
    images: Mapping[Split, int]
    boxes: Mapping[Split, int]
    empty_images: int
    videos: Mapping[Split, int]
    held_out: int = 0   # labelled frames left out: in (a video of) the frozen evaluation set


def read_labelled_frames(db_url: str, since: datetime) -> tuple[list[LabelledFrame], list[LabelledFrame]]:
    """The frames with label records written at or after ``since``, all of their records resolved: those to
    export, and those held out (in the frozen evaluation set, or of a video with a frame in it)."""
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            frames = labelled_frames(session, since)
            shas, video_ids = frozen_shas(session), frozen_video_ids(session)
    finally:
        engine.dispose()
    held = {f.frame_sha256 for f in frames if f.frame_sha256 in shas or f.video_id in video_ids}
    return [f for f in frames if f.frame_sha256 not in held], [f for f in frames if f.frame_sha256 in held]


def export_reviewed(
    db_url: str, evidence_dir: Path | str, out: Path, *, since: datetime, val_share: float, taxonomy: Taxonomy,
    classes: DatasetClasses,
) -> ExportSummary:
    """Write the labelled frames since ``since`` as a YOLO dataset in ``out`` (a new or empty folder).

    Raises:
        DatasetError: ``out`` holds files, ``val_share`` is out of range, an evidence file is missing,
            or a label's class is not in the taxonomy any more.
    """
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a date without a zone means UTC, as everywhere in streetwatch
    frames, held_out = read_labelled_frames(db_url, since)
    splits = assign_splits((f.video_sha256 for f in frames), val_share)
    store = open_evidence_store(evidence_dir)
    if not isinstance(store, EvidenceStore):  # the YOLO writer copies files: it needs them on disk
        raise DatasetError(f"dataset export reads evidence from a local folder, not {store.location}: copy the "
                           f"bucket to one first (e.g. `aws s3 sync {store.location} ./evidence`) and pass that")
    images: dict[Split, dict[str, sv.Detections]] = {split: {} for split in SPLITS}
    rows: list[ManifestRow] = []
    for frame in frames:
        path = store.path_for(frame.frame_sha256)
        if not path.is_file():
            raise DatasetError(f"the evidence file of frame {frame.frame_sha256} is missing at {path}: "
                               "is --evidence the folder the footage was processed into?")
        names = [_class_of(taxonomy, o.class_name, o.label_id) for o in frame.labels.objects]
        ids = [classes.index(name, f"label record {o.label_id}") for name, o in zip(names, frame.labels.objects,
                                                                                   strict=True)]
        split = splits[frame.video_sha256]
        images[split][str(path)] = detections([o.box for o in frame.labels.objects], ids)
        rows.append(ManifestRow(
            image=f"images/{split}/{path.name}", split=split, evidence_sha256=frame.frame_sha256,
            video_sha256=frame.video_sha256, frame_pts_s=f"{frame.pts_s:.3f}",
            frame_time_utc=frame.seen_at.isoformat() if frame.seen_at else "", boxes=len(ids),
            classes=" ".join(names), label_ids=" ".join(str(i) for i in frame.labels.label_ids),
            model_names=" ".join(frame.model_names), source="review", licence=""))
    prepare_out(out)
    for split in SPLITS:
        write_split(out, split, classes, images[split])
    write_data_yaml(out, classes, source=f"streetwatch review labels written since {since.isoformat()}",
                    exported_at=datetime.now(UTC).isoformat(timespec="seconds"), taxonomy_version=taxonomy.version,
                    manifest="manifest.csv")
    write_manifest(out, rows)
    return ExportSummary(
        out=out, images={s: len(images[s]) for s in SPLITS},
        boxes={s: sum(len(d) for d in images[s].values()) for s in SPLITS},
        empty_images=sum(row.boxes == 0 for row in rows),
        videos={s: len({r.video_sha256 for r in rows if r.split == s}) for s in SPLITS},
        held_out=len(held_out),
    )


def _class_of(taxonomy: Taxonomy, class_name: str, label_id: int) -> str:
    spec = taxonomy.lookup(class_name)
    if spec is None:
        raise DatasetError(f"label record {label_id}: class {class_name!r} is not in the taxonomy any more "
                           "(add it back, or as an alias of the class it became)")
    return spec.name
