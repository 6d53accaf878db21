"""The demo patrol: short clips over a real street photo, and the GPS tracks that go with them.

The clip pans and zooms over Ultralytics' bundled ``bus.jpg`` (a bus and people on a
street) as if a patrol car drove past; the GPX track drives east along a straight road
at the same time. Both are deterministic, so tests can check where things end up.

The bus fills the picture, so its motion cannot be read from one pass (parked and waiting look
alike); :func:`make_demo_patrols` adds a second pass 40 minutes later that finds it at the same
spot: the digital chalk mark files it as overstaying.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from streetwatch.datasets import synthetic

DEMO_START_UTC = datetime(2026, 11, 2, 1, 30, 0, tzinfo=UTC)   # 09:30 in Shanghai
DEMO_START_LATLON = (31.230400, 121.473700)                      # Renmin Rd, Shanghai
DEMO_HEADING_DEG = 90.0
DEMO_SPEED_MPS = 2.0   # a patrol car creeping along the kerb, 7 km/h
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


SECOND_PASS_AFTER = timedelta(minutes=40)


def make_demo_patrols(workdir: Path, seconds: float = 5.0) -> list[Path]:
    """Two passes along the demo street, 40 minutes apart: ``patrol-demo.mp4`` and ``patrol-demo-2.mp4``,
    each with a GPX sidecar of the same name (found by ``streetwatch process`` without flags)."""
    first, _ = make_demo_footage(workdir, seconds)
    second = workdir / "patrol-demo-2.mp4"
    # half a second longer: other bytes, so it is another video, not the same one again
    synthetic.make_patrol_clip(second, demo_image_path(), seconds=seconds + 0.5, fps=DEMO_FPS, size=DEMO_SIZE)
    synthetic.write_gpx_track(second.with_suffix(".gpx"), start_utc=DEMO_START_UTC + SECOND_PASS_AFTER,
                              seconds=seconds + 1.5, start_latlon=DEMO_START_LATLON, heading_deg=DEMO_HEADING_DEG,
                              speed_mps=DEMO_SPEED_MPS, hz=1.0)
    return [first, second]
