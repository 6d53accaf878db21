"""Three generated patrol clips with GPS along known streets of the sample road network, processed for real.

``streetwatch.datasets.road_network`` writes the network (12 segments) and the clips with their GPX
sidecars; the pipeline processes them with the bundled detector, so the passes in the database are
the ones ``process`` records. Used by the coverage API tests and the coverage page test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from streetwatch.core.settings import Settings, get_settings
from streetwatch.datasets.road_network import make_sample_patrols, write_sample_grids, write_sample_roads
from streetwatch.pipeline.run import Processed, process_videos
from tests.api.auth_support import TEST_AUTH_SECRET
from tests.pipeline.run_helpers import shared_detector


@dataclass(frozen=True, slots=True)
class PatrolledCity:
    """A database holding the three sample patrols, and the settings that read it with the road network and
    the sample city grid cells (网格)."""

    settings: Settings
    roads_path: Path
    clips: list[Path]
    video_ids: dict[str, int]   # clip name (stem) -> video id


def patrolled_city(root: Path, now: datetime) -> PatrolledCity:
    """Write the network and the clips under ``root``, process the clips into a new SQLite database."""
    roads = write_sample_roads(root / "roads.geojson")
    grids = write_sample_grids(root / "grids.geojson")
    clips = make_sample_patrols(root / "patrols", now)
    settings = get_settings(db_url=f"sqlite:///{root / 'streetwatch.db'}", evidence_dir=root / "evidence",
                            roads_path=roads, zones_paths=[grids], sample_fps=1.0, ocr=False,
                            auth_secret=TEST_AUTH_SECRET)
    summary = process_videos(clips, settings, progress=False, detector=shared_detector())
    assert all(isinstance(o, Processed) for o in summary.outcomes), summary.outcomes
    ids = {o.path.stem: o.video_id for o in summary.outcomes if isinstance(o, Processed)}
    return PatrolledCity(settings, roads, clips, ids)
