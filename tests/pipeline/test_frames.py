"""iter_frames on real clips: sampling by real time (also VFR), rotation, scaling, corruption."""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import math
import os
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from streetwatch.pipeline.frames import DecodeStats, TimeSampler, VideoDecodeError, decode_ahead, iter_frames
from streetwatch.pipeline.ingest import VideoInfo, probe_video
from tests.video_fixtures import broken_files, make_bad_file, make_clip, synthetic

IRREGULAR_PTS = [0.0, 0.03, 0.05, 0.2, 0.21, 0.5, 0.55, 0.9, 1.0, 1.33]


def reference_sample(times: list[float], sample_fps: float) -> list[int]:
    """Brute force: for each instant k/f up to the last frame, the first frame at or after it."""
    chosen: list[int] = []
    for k in range(math.floor(times[-1] * sample_fps + 1e-9) + 1):
        instant = k / sample_fps
        first = next(i for i, t in enumerate(times) if t >= instant - 1e-9)
        if first not in chosen:
            chosen.append(first)
    return chosen


@pytest.mark.parametrize(
    ("fps", "seconds", "sample_fps", "expected_count"),
    [
        (30.0, 4.0, 5.0, 20),
        (30.0, 4.0, None, 120),
        (25.0, 2.0, 10.0, 20),
        (30.0, 1.0, 7.0, 7),
        (30.0, 1.0, 30.0, 30),
        (10.0, 2.0, 30.0, 20),  # asking for more than there is gives every frame once
    ],
)
def test_constant_rate_sampling(
    tmp_path: Path, fps: float, seconds: float, sample_fps: float | None, expected_count: int
) -> None:
    path = make_clip(tmp_path / "clip.mp4", seconds=seconds, fps=fps)
    stats = DecodeStats()
    frames = list(iter_frames(path, "vid", sample_fps=sample_fps, stats=stats))
    assert len(frames) == expected_count == stats.yielded_frames
    assert stats.decoded_frames == round(seconds * fps)
    all_times = [i / fps for i in range(stats.decoded_frames)]
    expected = reference_sample(all_times, sample_fps) if sample_fps else list(range(len(all_times)))
    assert [f.index for f in frames] == expected
    assert [f.pts_s for f in frames] == pytest.approx([all_times[i] for i in expected], abs=1e-6)
    assert all(f.video_id == "vid" and f.image.shape == (96, 160, 3) for f in frames)


@pytest.mark.parametrize(
    ("suffix", "container_format", "codec", "sample_fps", "expected_pts"),
    [
        (".mp4", None, "libx264", 5.0, [0.0, 0.2, 0.5, 0.9, 1.0, 1.33]),
        (".mkv", None, "libx264", 5.0, [0.0, 0.2, 0.5, 0.9, 1.0, 1.33]),
        (".mov", None, "libx264", 5.0, [0.0, 0.2, 0.5, 0.9, 1.0, 1.33]),
        (".ts", "mpegts", "libx264", 5.0, [0.0, 0.2, 0.5, 0.9, 1.0, 1.33]),
        (".mkv", None, "mpeg4", 5.0, [0.0, 0.2, 0.5, 0.9, 1.0, 1.33]),
        (".mp4", None, "libx264", 2.0, [0.0, 0.5, 1.0]),
        (".mp4", None, "libx264", 10.0, [0.0, 0.2, 0.5, 0.9, 1.0, 1.33]),  # 0.2 served 0.1 and 0.2
        (".mp4", None, "libx264", 20.0, [0.0, 0.05, 0.2, 0.5, 0.55, 0.9, 1.0, 1.33]),
        (".mp4", None, "libx264", None, IRREGULAR_PTS),
    ],
)
def test_variable_frame_rate_is_sampled_by_real_time(
    tmp_path: Path,
    suffix: str,
    container_format: str | None,
    codec: str,
    sample_fps: float | None,
    expected_pts: list[float],
) -> None:
    path = make_clip(
        tmp_path / f"vfr{suffix}", pts_s=IRREGULAR_PTS, codec=codec, container_format=container_format
    )
    frames = list(iter_frames(path, "vid", sample_fps=sample_fps))
    assert [f.pts_s for f in frames] == pytest.approx(expected_pts, abs=1e-6)
    assert [f.index for f in frames] == [IRREGULAR_PTS.index(t) for t in expected_pts]
    if sample_fps is not None:
        assert [f.index for f in frames] == reference_sample(IRREGULAR_PTS, sample_fps)


def test_times_are_relative_to_the_first_frame(tmp_path: Path) -> None:
    # MPEG-TS starts its clock at an arbitrary offset (here the muxer's 1.4 s delay and more).
    pts = [5.0, 5.1, 5.25, 5.4, 5.6]
    frames = list(
        iter_frames(make_clip(tmp_path / "late.ts", pts_s=pts, container_format="mpegts"), "v", None)
    )
    assert [f.pts_s for f in frames] == pytest.approx([t - 5.0 for t in pts], abs=1e-6)


@pytest.mark.parametrize(
    ("times", "sample_fps", "taken"),
    [
        ([0, Fraction(1, 5), Fraction(2, 5)], 5.0, [True, True, True]),
        ([0, Fraction(1, 10), Fraction(1, 5)], 5.0, [True, False, True]),
        ([0, Fraction(7, 10), Fraction(4, 5), Fraction(1)], 5.0, [True, True, True, True]),
        ([0, Fraction(3, 4), Fraction(79, 100), Fraction(81, 100)], 5.0, [True, True, False, True]),
        ([Fraction(-1, 10), 0], 5.0, [False, True]),
        ([0, Fraction(1, 3), Fraction(2, 3), Fraction(9, 10)], 1.5, [True, False, True, False]),
    ],
)
def test_time_sampler(times: list[Fraction], sample_fps: float, taken: list[bool]) -> None:
    sampler = TimeSampler(sample_fps)
    assert [sampler.take(Fraction(t)) for t in times] == taken


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_rotated_footage_comes_out_upright(tmp_path: Path, suffix: str, rotation: int) -> None:
    upright = synthetic.corner_marker_image(160, 96)  # red top-left, green top-right, blue bottom-left
    # Stored turned counter-clockwise by `rotation`; the display matrix turns it back clockwise.
    stored = np.ascontiguousarray(np.rot90(upright, k=rotation // 90))
    path = synthetic.write_video(tmp_path / f"r{rotation}{suffix}", [stored] * 3, 10.0, rotation=rotation)
    info = probe_video(path)
    assert isinstance(info, VideoInfo) and info.rotation == rotation
    assert (info.width, info.height) == (160, 96)  # as displayed
    frames = list(iter_frames(path, "v", sample_fps=None))
    assert len(frames) == 3
    image = frames[0].image
    assert image.shape == (96, 160, 3) and image.flags["C_CONTIGUOUS"]
    assert_corner_colours(image)
    assert np.abs(image.astype(int) - upright.astype(int)).mean() < 4


def test_rotation_matches_opencv_autorotation(tmp_path: Path) -> None:
    """OpenCV's FFmpeg backend turns frames upright by itself: an independent reference."""
    cv2 = pytest.importorskip("cv2")
    upright = synthetic.corner_marker_image(160, 96)
    for rotation in (90, 180, 270):
        stored = np.ascontiguousarray(np.rot90(upright, k=rotation // 90))
        path = synthetic.write_video(tmp_path / f"cv{rotation}.mp4", [stored] * 2, 10.0, rotation=rotation)
        capture = cv2.VideoCapture(str(path))
        try:
            ok, reference = capture.read()
        finally:
            capture.release()
        assert ok and reference.shape == (96, 160, 3)
        ours = next(iter(iter_frames(path, "v", sample_fps=None))).image
        assert np.abs(ours.astype(int) - reference.astype(int)).mean() < 4


def assert_corner_colours(image: np.ndarray) -> None:
    height, width = image.shape[:2]
    corners = {
        "top-left": image[2, 2],
        "top-right": image[2, width - 3],
        "bottom-left": image[height - 3, 2],
        "bottom-right": image[height - 3, width - 3],
    }
    dominant = {name: int(np.argmax(pixel)) if pixel.max() > 150 else None for name, pixel in corners.items()}
    # BGR channel order: 2 = red, 1 = green, 0 = blue.
    assert dominant == {"top-left": 2, "top-right": 1, "bottom-left": 0, "bottom-right": None}, corners


@pytest.mark.parametrize(
    ("rotation", "max_side", "shape"),
    [
        (0, 100, (60, 100, 3)),
        (0, 320, (192, 320, 3)),
        (0, 1000, (192, 320, 3)),  # never upscaled
        (90, 100, (100, 60, 3)),
        (0, None, (192, 320, 3)),
    ],
)
def test_downscale_to_max_side(
    tmp_path: Path, rotation: int, max_side: int | None, shape: tuple[int, int, int]
) -> None:
    path = make_clip(tmp_path / "big.mp4", seconds=0.2, size=(320, 192), rotation=rotation)
    frames = list(iter_frames(path, "v", sample_fps=None, max_side=max_side))
    assert {f.image.shape for f in frames} == {shape}


@pytest.mark.parametrize(
    ("suffix", "symptom"),
    [
        (".mp4", "bad_packets"),  # H.264 in MP4: the decoder rejects the damaged packets
        (".mkv", "ended_early"),  # Matroska: the demuxer loses sync and stops without an error of its own
    ],
)
def test_corrupt_middle_is_survived_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, suffix: str, symptom: str
) -> None:
    clean = make_clip(tmp_path / f"clean{suffix}", seconds=2.0)
    broken = broken_files.corrupt_middle(clean, tmp_path / f"broken{suffix}", start=0.3, end=0.5, seed=1)
    stats = DecodeStats()
    with caplog.at_level(logging.WARNING, logger="streetwatch.pipeline.frames"):
        frames = list(iter_frames(broken, "v", sample_fps=None, stats=stats))
    assert 0 < len(frames) < 60
    if symptom == "bad_packets":
        assert stats.bad_packets > 0 and stats.first_error
        assert "corrupt packet" in caplog.text
    else:
        # The demuxer stops; the one damaged packet it delivered first is rejected by the decoder (decoding in
        # one thread reports it; FFmpeg's frame threads used to let it pass unreported).
        assert stats.ended_early and stats.bad_packets <= 1
        assert "decoding stopped" in caplog.text
    assert broken.name in caplog.text
    clean_stats = DecodeStats()
    assert len(list(iter_frames(clean, "v", sample_fps=None, stats=clean_stats))) == 60
    assert (clean_stats.bad_packets, clean_stats.ended_early) == (0, False)


def test_too_many_bad_packets_raise(tmp_path: Path) -> None:
    clean = make_clip(tmp_path / "clean.mp4", seconds=2.0)
    broken = broken_files.corrupt_middle(clean, tmp_path / "broken.mp4", start=0.3, end=0.5, seed=1)
    with pytest.raises(VideoDecodeError, match=r"broken\.mp4: too corrupt: 1 packets rejected") as caught:
        list(iter_frames(broken, "v", sample_fps=None, max_bad_packets=0))
    assert caught.value.stats.bad_packets == 1
    assert caught.value.stats.decoded_frames > 0  # frames before the damage were decoded


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "cannot open as a video"),
        ("random_bytes", "cannot open as a video"),
        ("audio_only", r"no video stream \(streams: audio\)"),
    ],
)
def test_unusable_files_raise(tmp_path: Path, kind: str, message: str) -> None:
    with pytest.raises(VideoDecodeError, match=message):
        list(iter_frames(make_bad_file(kind, tmp_path), "v"))


@pytest.mark.parametrize(("sample_fps", "max_side"), [(0.0, None), (-5.0, None), (5.0, 0)])
def test_bad_arguments(tmp_path: Path, sample_fps: float, max_side: int | None) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        iter_frames(tmp_path / "unused.mp4", "v", sample_fps=sample_fps, max_side=max_side)  # no next()


def test_stopping_early_closes_cleanly(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "clip.mp4", seconds=1.0)
    frames = iter_frames(path, "v", sample_fps=None)
    first_two = [next(frames), next(frames)]
    frames.close()  # type: ignore[attr-defined]
    assert [f.index for f in first_two] == [0, 1]


# --- the synthetic footage generator ------------------------------------------------------


@pytest.mark.parametrize(
    ("source_size", "zoom", "pan"),
    [
        ((810, 1080), (1.0, 1.8), (0.0, 1.0)),
        ((1920, 1080), (1.0, 1.0), (0.0, 1.0)),
        ((640, 480), (1.2, 2.5), (1.0, 0.2)),
    ],
)
def test_patrol_window_glides(
    source_size: tuple[int, int], zoom: tuple[float, float], pan: tuple[float, float]
) -> None:
    size, duration, fps = (160, 96), 3.0, 30
    windows = [
        synthetic.patrol_window(i / fps, duration, source_size, size, zoom=zoom, pan=pan)
        for i in range(round(duration * fps) + 1)
    ]
    for x0, y0, w, h in windows:  # inside the photo, with the output's aspect ratio
        assert 0 <= x0 and x0 + w <= source_size[0] + 1e-6 and 0 <= y0 and y0 + h <= source_size[1] + 1e-6
        assert w / h == pytest.approx(size[0] / size[1])
    for (x_a, y_a, w_a, _), (x_b, y_b, w_b, _) in itertools.pairwise(windows):
        scale = size[0] / w_a  # output pixels per source pixel
        assert abs(x_b - x_a) * scale < 8 and abs(y_b - y_a) * scale < 2 and abs(w_b - w_a) * scale < 4
    first, last = windows[0], windows[-1]
    # It really travels: from pan[0] to pan[1] of the free room, from zoom[0] to zoom[1].
    assert first[0] == pytest.approx(pan[0] * (source_size[0] - first[2]))
    assert last[0] == pytest.approx(pan[1] * (source_size[0] - last[2]))
    assert last[2] == pytest.approx(first[2] * zoom[0] / zoom[1])


def test_patrol_frames_are_deterministic() -> None:
    source = synthetic.load_image(synthetic.default_street_image())
    source = synthetic.prepare_patrol_source(source, (160, 96), (1.0, 1.8))
    assert max(source.shape[:2]) < 810  # shrunk once, properly, before warping
    for t in (0.0, 0.7, 2.0):
        a = synthetic.render_patrol_frame(source, t, 2.0, (160, 96))
        assert a.shape == (96, 160, 3) and a.dtype == np.uint8
        assert np.array_equal(a, synthetic.render_patrol_frame(source, t, 2.0, (160, 96)))


def test_patrol_clip_holds_the_rendered_frames(tmp_path: Path) -> None:
    path = synthetic.make_patrol_clip(tmp_path / "patrol.mp4", seconds=2.0, fps=10.0, size=(160, 96))
    decoded = list(iter_frames(path, "p", sample_fps=None))
    assert [round(f.pts_s, 6) for f in decoded] == [round(i / 10, 6) for i in range(20)]
    source = synthetic.prepare_patrol_source(
        synthetic.load_image(synthetic.default_street_image()), (160, 96), (1.0, 1.8)
    )
    for frame in decoded[::5]:
        rendered = synthetic.render_patrol_frame(source, frame.pts_s, 2.0, (160, 96))
        other = synthetic.render_patrol_frame(source, 2.0 - frame.pts_s, 2.0, (160, 96))
        error = np.abs(frame.image.astype(int) - rendered).mean()
        assert error < 8 < np.abs(frame.image.astype(int) - other).mean() or frame.pts_s == 1.0, error


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"rotation": 45}, "rotation must be one of"),
        ({"rotation": 90, "container_format": "mpegts"}, "cannot store a rotation"),
        ({"pts_s": [0.0, 0.1, 0.1]}, "must increase strictly"),
        ({"pts_s": [0.0, 0.1], "n_frames": 3}, "n_frames=3 but 2 timestamps"),
        ({"n_frames": None}, "needs n_frames or pts_s"),
        ({"codec": "mpeg4", "container_format": "avi", "pts_s": [0.0, 0.1]}, "AVI stores frame numbers"),
    ],
)
def test_write_video_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, object], error: str) -> None:
    arguments: dict[str, object] = {"n_frames": 3, **kwargs}
    if "pts_s" in kwargs and "n_frames" not in kwargs:
        arguments.pop("n_frames")
    with pytest.raises(ValueError, match=error):
        synthetic.write_video(tmp_path / "x.mp4", synthetic.moving_square, 10.0, **arguments)


def test_gpx_track_is_straight_at_constant_speed(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    import gpxpy
    from pyproj import Geod

    start = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    path = synthetic.write_gpx_track(tmp_path / "t.gpx", start, 10.0, (31.2304, 121.4737), 45.0, 8.0, hz=2.0)
    points = gpxpy.parse(path.read_text()).tracks[0].segments[0].points
    assert len(points) == 21
    assert points[0].time == start and (points[-1].time - start).total_seconds() == pytest.approx(10.0)
    geod = Geod(ellps="WGS84")
    for a, b in itertools.pairwise(points):
        azimuth, _, distance = geod.inv(a.longitude, a.latitude, b.longitude, b.latitude)
        assert distance == pytest.approx(4.0, abs=1e-3) and azimuth == pytest.approx(45.0, abs=1e-3)


def test_skip_nonref_decodes_fewer_frames_and_serves_every_instant(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "b.mp4", seconds=4.0, fps=30.0)  # libx264 defaults: B-frames, some non-reference
    full, skipped = DecodeStats(), DecodeStats()
    every = list(iter_frames(clip, "v", sample_fps=5.0, stats=full))
    fast = list(iter_frames(clip, "v", sample_fps=5.0, stats=skipped, skip_nonref=True))
    assert full.decoded_frames == 120
    assert skipped.decoded_frames < 0.8 * full.decoded_frames   # the decoder really dropped frames
    assert len(fast) == len(every) == 20                         # ... and no sampling instant went unserved
    for k, frame in enumerate(fast):
        assert k / 5.0 <= frame.pts_s <= k / 5.0 + 3 / 30.0 + 1e-9   # served at most three frames late
    # Sampling near the frame rate needs every frame: nothing is skipped then.
    dense = DecodeStats()
    assert len(list(iter_frames(clip, "v", sample_fps=20.0, stats=dense, skip_nonref=True))) == 80
    assert dense.decoded_frames == 120


def _ffmpeg_threads() -> int:
    """Threads of this process that FFmpeg started and named (``av:h264:df0``, ...)."""
    names = []
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):   # a thread may end while we look
            names.append(Path(f"/proc/self/task/{task}/comm").read_text())
    return sum(name.startswith("av:") for name in names)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through Linux's /proc")
def test_one_decode_thread_gives_the_same_frames_without_ffmpeg_threads(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "b.mp4", seconds=3.0, fps=30.0)   # B-frames, as the bench clip has
    gc.collect()   # decoders an earlier test left open
    before = _ffmpeg_threads()
    one = iter_frames(clip, "v", sample_fps=5.0, skip_nonref=True, decode_threads=1)
    frames_one = [next(one)]
    threads_one = _ffmpeg_threads() - before   # a decoder's workers exist while it is open
    frames_one += list(one)
    auto = iter_frames(clip, "v", sample_fps=5.0, skip_nonref=True, decode_threads=0)
    frames_auto = [next(auto)]
    threads_auto = _ffmpeg_threads() - before
    frames_auto += list(auto)
    assert threads_one == 0 < threads_auto
    assert [f.pts_s for f in frames_one] == [f.pts_s for f in frames_auto] and len(frames_one) == 15
    for a, b in zip(frames_one, frames_auto, strict=True):
        np.testing.assert_array_equal(a.image, b.image)   # decoding is exact: the thread count changes no pixel
    with pytest.raises(ValueError, match="decode_threads"):
        iter_frames(clip, "v", decode_threads=-1)


def test_decode_ahead_yields_everything_in_order_then_the_error() -> None:
    def items() -> Iterator[int]:
        yield from range(50)
        raise VideoDecodeError(Path("x.mp4"), "broken at the end", DecodeStats())

    seen: list[int] = []
    with pytest.raises(VideoDecodeError, match="broken at the end"):
        for item in decode_ahead(items(), depth=4):
            seen.append(item)
    assert seen == list(range(50))
    with pytest.raises(ValueError, match="depth"):
        decode_ahead(iter(()), depth=0)


def test_decode_ahead_stops_its_thread_when_the_consumer_stops(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0)
    before = {t.name for t in threading.enumerate()}
    ahead = decode_ahead(iter_frames(clip, "v", sample_fps=None), depth=2)
    first = [frame.index for frame in itertools.islice(ahead, 3)]
    assert first == [0, 1, 2]
    assert "streetwatch-decode" in {t.name for t in threading.enumerate()}
    ahead.close()
    assert {t.name for t in threading.enumerate()} <= before | {"MainThread"}


def test_nvdec_decodes_the_same_frames_or_says_why_the_cpu_did(patrol_clip: Path) -> None:
    """``nvdec_device`` asks for NVIDIA's decoder (FFmpeg's cuda hwaccel in PyAV). Where no GPU can be
    opened (this project's CI) the CPU decodes, the same frames, and the stats say why; on a GPU the
    frames agree with the CPU's to within a grey level or two (colour conversion differs)."""
    on_cpu = list(iter_frames(patrol_clip, "v", sample_fps=5.0))
    stats = DecodeStats()
    asked = list(iter_frames(patrol_clip, "v", sample_fps=5.0, stats=stats, nvdec_device=0))
    assert [f.pts_s for f in asked] == [f.pts_s for f in on_cpu] and on_cpu
    if stats.decoder == "pyav":
        assert (stats.decoder_note or "").startswith("NVDEC could not be used on CUDA device 0")
        assert all(np.array_equal(a.image, b.image) for a, b in zip(asked, on_cpu, strict=True))
    else:
        assert stats.decoder == "nvdec" and stats.decoder_note is None
        assert max(np.abs(a.image.astype(int) - b.image.astype(int)).mean() for a, b in zip(asked, on_cpu,
                                                                                             strict=True)) < 3
    plain = DecodeStats()
    list(iter_frames(patrol_clip, "v", sample_fps=5.0, stats=plain))
    assert (plain.decoder, plain.decoder_note) == ("pyav", None)


def test_pyav_can_decode_on_nvidia_gpus() -> None:
    """The device plan offers NVDEC when PyAV's FFmpeg has the cuda device type (PyPI's wheels do)."""
    from av.codec.hwaccel import hwdevices_available

    from streetwatch.vision.device import Probes

    assert "cuda" in hwdevices_available()
    assert Probes().nvdec()
