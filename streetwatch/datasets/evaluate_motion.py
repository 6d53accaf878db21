"""Motion states against hand labels: precision and recall of "parked" on real clips.

The labels (``datasets/labels/street_clips_motion.yaml``) give, per vehicle, one sighting: a time
``t`` and a box. Each label is matched to the stored observation (of the clip's database) that has
a track point within half a sampling interval of ``t`` whose box overlaps the label's best (IoU >=
``min_iou``); a label with no match counts as *not found* (its truth still counts for recall).
``unsure`` labels are left out.

    python -m streetwatch.datasets.evaluate_motion datasets/labels/street_clips_motion.yaml \\
        --db-pattern 'sqlite:///runs/{clip}/sw.db'

prints, per clip and over all clips, the labels, how many were matched, and the parked
confusion (true/false positives, false negatives) with precision and recall.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.queries import observation_motion_tracks
from streetwatch.vision.geometry import box_iou

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class MatchCounts:
    """Parked-versus-rest counts of one clip (or all)."""

    labels: int = 0
    matched: int = 0
    true_parked: int = 0       # labelled parked, judged parked
    false_parked: int = 0      # labelled moving / stopped, judged parked
    missed_parked: int = 0     # labelled parked, judged otherwise or not found

    def __add__(self, other: MatchCounts) -> MatchCounts:
        return MatchCounts(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)))

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return self.labels, self.matched, self.true_parked, self.false_parked, self.missed_parked

    @property
    def precision(self) -> float | None:
        judged = self.true_parked + self.false_parked
        return self.true_parked / judged if judged else None

    @property
    def recall(self) -> float | None:
        truth = self.true_parked + self.missed_parked
        return self.true_parked / truth if truth else None


iou = box_iou   # the name this module's callers and tests use


def match_label(label: dict[str, Any], observations: Sequence[tuple[str | None, list[dict[str, Any]]]],
                max_dt_s: float, min_iou: float) -> str | None:
    """The motion state of the observation that best matches ``label``; None if none matches.

    Args:
        label: One vehicle entry (``t``, ``box``).
        observations: (motion_state, track_points) of the clip's stored observations.
        max_dt_s: A track point farther in time from the label than this is not compared.
        min_iou: Least box overlap for a match.
    """
    t, box = float(label["t"]), tuple(float(v) for v in label["box"])
    best_state: str | None = None
    best = min_iou
    for state, points in observations:
        for point in points:
            if abs(float(point["pts_s"]) - t) <= max_dt_s:
                overlap = iou(box, [float(v) for v in point["xyxy"]])
                if overlap >= best:
                    best, best_state = overlap, state or "none"
    return best_state


def evaluate_clip(labels: Sequence[dict[str, Any]], db_url: str, sample_fps: float,
                  min_iou: float = 0.3) -> MatchCounts:
    """Parked counts of one clip's labels against the observations in ``db_url`` (one video)."""
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            observations = observation_motion_tracks(session)
    finally:
        engine.dispose()
    counts = MatchCounts()
    for label in labels:
        truth = str(label["label"])
        if truth == "unsure":
            continue
        state = match_label(label, observations, 0.5 / sample_fps + 1e-3, min_iou)
        judged_parked = state == "parked"
        counts = counts + MatchCounts(
            labels=1, matched=int(state is not None),
            true_parked=int(truth == "parked" and judged_parked),
            false_parked=int(truth != "parked" and judged_parked),
            missed_parked=int(truth == "parked" and not judged_parked))
    return counts


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streetwatch.datasets.evaluate_motion",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("labels", type=Path, help="the labels YAML (datasets/labels/street_clips_motion.yaml)")
    parser.add_argument("--db-pattern", required=True,
                        help="database URL per clip, with {clip} for the clip name, e.g. sqlite:///runs/{clip}/sw.db")
    parser.add_argument("--min-iou", type=float, default=0.3, help="least box overlap for a match")
    args = parser.parse_args(argv)
    data = yaml.safe_load(args.labels.read_text(encoding="utf-8"))
    sample_fps = float(data.get("sample_fps", 5.0))
    total = MatchCounts()
    print(f"{'clip':34s} {'labels':>6s} {'matched':>7s} {'TP':>4s} {'FP':>4s} {'FN':>4s} {'precision':>9s} "
          f"{'recall':>7s}")
    for clip, entry in data["clips"].items():
        counts = evaluate_clip(entry.get("vehicles", []), args.db_pattern.format(clip=clip), sample_fps,
                               args.min_iou)
        total = total + counts
        print(f"{clip:34s} {counts.labels:6d} {counts.matched:7d} {counts.true_parked:4d} {counts.false_parked:4d} "
              f"{counts.missed_parked:4d} {_pct(counts.precision):>9s} {_pct(counts.recall):>7s}")
    print(f"{'all':34s} {total.labels:6d} {total.matched:7d} {total.true_parked:4d} {total.false_parked:4d} "
          f"{total.missed_parked:4d} {_pct(total.precision):>9s} {_pct(total.recall):>7s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
