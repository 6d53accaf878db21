"""Video fixtures: tiny real clips and real broken files, made by the synthetic footage generator.

Clips are small (160x96, about a second) so that tests stay fast on two cores. Helpers are
plain functions (usable from any test or fixture); the pytest fixtures wrap them.

Use from a conftest.py: ``from tests.video_fixtures import *  # noqa: F403``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from streetwatch.datasets import broken_files, synthetic

__all__ = [
    "BAD_FILE_KINDS",
    "TINY_SIZE",
    "bad_video_files",
    "broken_files",
    "clip_factory",
    "make_bad_file",
    "make_clip",
    "patrol_clip",
    "synthetic",
    "tiny_mp4",
    "video_dir",
]

TINY_SIZE = (160, 96)



def make_clip(
    path: Path,
    *,
    seconds: float = 1.0,
    fps: float = 30.0,
    codec: str = "libx264",
    size: tuple[int, int] = TINY_SIZE,
    rotation: int = 0,
    pts_s: Sequence[float] | None = None,
    container_format: str | None = None,
) -> Path:
    """A tiny clip of a white square sliding over a coloured background."""
    width, height = size
    n_frames = len(pts_s) if pts_s is not None else max(1, round(seconds * fps))

    def draw(index: int, t: float) -> npt.NDArray[np.uint8]:
        return synthetic.moving_square(index, t, width, height)

    return synthetic.write_video(
        path,
        draw,
        fps,
        codec,
        pts_s=pts_s,
        n_frames=n_frames,
        rotation=rotation,
        container_format=container_format,
    )


# kind -> (file name, expected IngestError.reason)
BAD_FILE_KINDS: dict[str, tuple[str, str]] = {
    "zero_byte": ("zero.mp4", "empty"),
    "missing": ("never_written.mp4", "not_found"),
    "random_bytes": ("random.mp4", "not_video"),
    "text_as_mp4": ("notes.mp4", "not_video"),
    "png_as_mp4": ("picture.mp4", "not_video"),
    "truncated_mp4": ("cut.mp4", "truncated"),
    "audio_only": ("voice.mp4", "no_video_stream"),
    "scrambled_payload": ("scrambled.mp4", "undecodable"),
}


def make_bad_file(kind: str, directory: Path) -> Path:
    """Write one broken file of ``kind`` (a key of :data:`BAD_FILE_KINDS`) into ``directory``."""
    name, _ = BAD_FILE_KINDS[kind]
    path = directory / name
    if kind == "zero_byte":
        return broken_files.write_zero_byte(path)
    if kind == "missing":
        return path
    if kind == "random_bytes":
        return broken_files.write_random_bytes(path, n=8192, seed=7)
    if kind == "text_as_mp4":
        return broken_files.write_text_file_as_mp4(path, "2024-05-01 08:00:01 REC start\nGPS lost\n")
    if kind == "png_as_mp4":
        return broken_files.write_image_as_video(path)
    if kind == "audio_only":
        return broken_files.write_audio_only(path)
    source = make_clip(directory / f"source_for_{name}", seconds=1.0)
    if kind == "truncated_mp4":
        return broken_files.write_truncated_mp4(source, path, keep_fraction=0.6)
    if kind == "scrambled_payload":
        return broken_files.write_scrambled_payload(source, path, seed=3)
    raise KeyError(f"unknown bad-file kind {kind!r}; known: {sorted(BAD_FILE_KINDS)}")


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide folder for generated clips."""
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def tiny_mp4(video_dir: Path) -> Path:
    """A 1 s, 30 fps, 160x96 H.264 MP4."""
    return make_clip(video_dir / "tiny.mp4")


@pytest.fixture(scope="session")
def patrol_clip(video_dir: Path) -> Path:
    """A 4 s, 10 fps, 320x192 H.264 MP4 panning over ultralytics' bus.jpg street photo."""
    return synthetic.make_patrol_clip(video_dir / "patrol.mp4", seconds=4.0, fps=10.0, size=(320, 192))


@pytest.fixture
def clip_factory(tmp_path: Path) -> Callable[..., Path]:
    """``clip_factory(name, **make_clip_kwargs)`` writes a tiny clip into the test's tmp_path."""

    def factory(name: str = "clip.mp4", **kwargs: object) -> Path:
        return make_clip(tmp_path / name, **kwargs)  # type: ignore[arg-type]

    return factory


@pytest.fixture(scope="session")
def bad_video_files(video_dir: Path) -> dict[str, Path]:
    """One file of every broken kind in :data:`BAD_FILE_KINDS`, keyed by kind."""
    directory = video_dir / "bad"
    directory.mkdir(exist_ok=True)
    return {kind: make_bad_file(kind, directory) for kind in BAD_FILE_KINDS}
