"""The speed work must not change what streetwatch finds: same objects, same tracks.

``reference_tracks.json`` was recorded before the speed changes (float ONNX detector, every
frame decoded, Ultralytics' BoT-SORT with its full-resolution motion compensation) by
``python -m tests.pipeline.test_same_tracks --record``. The test runs today's pipeline on the
same clips and matches every recorded track to today's tracks: sightings at the same moments
(within one sampling interval: non-reference frames are skipped now, so an instant may be
served a frame or two later), of the same class, overlapping (IoU >= 0.5). One short track per
clip may be lost to the int8 detector (see ``MAX_SHORT_LOST``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from streetwatch.core.settings import get_settings
from streetwatch.datasets.demo import make_demo_patrols
from streetwatch.pipeline.run import process_videos

REFERENCE = Path(__file__).parent / "data" / "reference_tracks.json"
REAL_CLIP = Path(__file__).resolve().parents[3] / "shared" / "data" / "street_clips" / "video" / \
    "hubei_parked_bays_handheld_1.mp4"
MIN_SIGHTINGS = 3        # shorter tracks are at the tracker's confirmation threshold: not compared
SAME_MOMENT_S = 0.21     # one 5 fps sampling interval, plus a frame
MIN_IOU = 0.5
MIN_FOLLOWED = 0.8       # share of a reference track's sightings that one of today's tracks must cover
# The int8 detector may lose one short track per clip, never a longer one. Measured with the second
# training run's weights: the person cut by the left edge of the demo photo scores 0.54-0.71 in the
# float export and 0.19-0.36 in int8, so its 6-sighting track is gone from both demo patrols.
SHORT_TRACK = 8          # sightings
MAX_SHORT_LOST = 1


@dataclass(frozen=True)
class Track:
    class_name: str
    motion: str | None
    family: str | None
    sightings: list[tuple[float, list[float]]]


def run_clips(workdir: Path) -> dict[str, list[Track]]:
    """Process the demo patrols and the real clip (when present); each clip's tracks by clip name."""
    clips = make_demo_patrols(workdir / "demo")
    if REAL_CLIP.is_file():
        clips.append(REAL_CLIP)
    found: dict[str, list[Track]] = {}
    for clip in clips:
        db = workdir / f"{clip.stem}.db"
        settings = get_settings(db_url=f"sqlite:///{db}", evidence_dir=workdir / "evidence")
        summary = process_videos([clip], settings, progress=False)
        assert not summary.failed, summary.outcomes
        engine = create_engine(f"sqlite:///{db}")
        with engine.connect() as connection:
            rows = connection.execute(text(
                "select o.class_name, o.motion_state, v.family, o.track_points from observations o "
                "left join violations v on v.observation_id = o.id order by o.pts_start_s")).all()
        engine.dispose()
        found[clip.name] = [Track(r[0], r[1], r[2], [(float(p["pts_s"]), [float(x) for x in p["xyxy"]])
                                                     for p in json.loads(r[3])]) for r in rows]
    return found


def iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def followed_share(reference: Track, candidate: Track) -> float:
    """Share of the reference's sightings that the candidate has too (same moment, overlapping box)."""
    if candidate.class_name != reference.class_name:
        return 0.0
    hits = sum(any(abs(t - u) <= SAME_MOMENT_S and iou(box, other) >= MIN_IOU for u, other in candidate.sightings)
               for t, box in reference.sightings)
    return hits / len(reference.sightings)


def load_reference() -> dict[str, list[Track]]:
    data: dict[str, Any] = json.loads(REFERENCE.read_text())
    return {clip: [Track(t["class_name"], t["motion"], t["family"], [(s[0], s[1]) for s in t["sightings"]])
                   for t in tracks] for clip, tracks in data["clips"].items()}


@pytest.mark.slow
def test_same_tracks_as_before_the_speed_work(tmp_path: Path) -> None:
    reference = load_reference()
    today = run_clips(tmp_path)
    for clip, recorded in reference.items():
        if clip not in today:
            pytest.skip(f"{clip} not available here (../shared missing)")
        compared = [t for t in recorded if len(t.sightings) >= MIN_SIGHTINGS]
        lost = []
        for track in compared:
            best = max(today[clip], key=lambda c: followed_share(track, c), default=None)
            share = followed_share(track, best) if best is not None else 0.0
            if share < MIN_FOLLOWED:
                lost.append((f"{track.class_name} at {track.sightings[0][0]:.1f}-{track.sightings[-1][0]:.1f} s "
                             f"({len(track.sightings)} sightings): best follower covers {share:.0%}",
                             len(track.sightings)))
            elif best is not None:
                assert (best.family, best.motion) == (track.family, track.motion), (
                    f"{clip}: {track.class_name} at {track.sightings[0][0]:.1f} s was "
                    f"{track.family}/{track.motion}, now {best.family}/{best.motion}")
        long_lost = [line for line, n in lost if n >= SHORT_TRACK]
        assert not long_lost and len(lost) <= MAX_SHORT_LOST, (
            f"{clip}: tracks no longer found as before:\n" + "\n".join(line for line, _ in lost))
        new = [t for t in today[clip] if len(t.sightings) >= MIN_SIGHTINGS
               and max((followed_share(r, t) for r in recorded), default=0.0) == 0.0
               and max((followed_share(t, r) for r in recorded), default=0.0) < 0.5]
        assert len(new) <= max(1, len(compared) // 10), (
            f"{clip}: {len(new)} tracks that were not there before: "
            + ", ".join(f"{t.class_name} at {t.sightings[0][0]:.1f} s" for t in new))


def record(workdir: Path) -> None:
    """Write ``reference_tracks.json`` from the pipeline as it is now."""
    found = run_clips(workdir)
    REFERENCE.write_text(json.dumps({"note": "recorded by python -m tests.pipeline.test_same_tracks --record",
                                     "clips": {clip: [{"class_name": t.class_name, "motion": t.motion,
                                                       "family": t.family,
                                                       "sightings": [[round(s[0], 4), [round(x, 1) for x in s[1]]]
                                                                     for s in t.sightings]}
                                                      for t in tracks]
                                               for clip, tracks in found.items()}}, indent=None) + "\n")
    print({clip: len(tracks) for clip, tracks in found.items()})


if __name__ == "__main__" and "--record" in sys.argv:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        record(Path(tmp))
