"""The demo patrol: a short clip over a real street photo, and the GPS track that goes with it.

The clip pans and zooms over Ultralytics' bundled ``bus.jpg`` (a bus and people on a
street) as if a patrol car drove past; the GPX track drives east along a straight road
at the same time. Both are deterministic, so tests can check where things end up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from streetwatch.datasets import synthetic

DEMO_START_UTC = datetime(2026, 11, 2, 1, 30, 0, tzinfo=UTC)   # 09:30 in Shanghai
DEMO_START_LATLON = (31.230400, 121.473700)                      # Renmin Rd, Shanghai
DEMO_HEADING_DEG = 90.0
DEMO_SPEED_MPS = 4.0
DEMO_FPS = 25
DEMO_SIZE = (960, 540)


def demo_image_path() -> Path:
    from ultralytics.utils import ASSETS

    return Path(ASSETS) / "bus.jpg"


def make_demo_footage(workdir: Path, seconds: float = 12.0) -> tuple[Path, Path]:
    """Write ``patrol-demo.mp4`` and ``patrol-demo.gpx`` into ``workdir``; return their paths."""
    workdir.mkdir(parents=True, exist_ok=True)
    video = workdir / "patrol-demo.mp4"
    gpx = workdir / "patrol-demo.gpx"
    synthetic.make_patrol_clip(video, demo_image_path(), seconds=seconds, fps=DEMO_FPS, size=DEMO_SIZE)
    synthetic.write_gpx_track(gpx, start_utc=DEMO_START_UTC, seconds=seconds + 1.0,
                              start_latlon=DEMO_START_LATLON, heading_deg=DEMO_HEADING_DEG,
                              speed_mps=DEMO_SPEED_MPS, hz=1.0)
    return video, gpx
