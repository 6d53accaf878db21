"""Synthetic footage for tests and demos: real video files written with PyAV.

Everything here writes genuine files that FFmpeg can read (H.264/H.265/MPEG-4 in MP4, MOV,
Matroska, AVI or MPEG-TS); the broken files a night of footage also contains are written by
:mod:`streetwatch.datasets.broken_files`. Nothing is downloaded; the only picture used by
default is the street photo that ships inside the ultralytics wheel.

Rotation convention: ``rotation`` is the clockwise angle (0, 90, 180, 270) a player must
turn the stored picture to show it upright -- the meaning of the legacy ``rotate`` tag
that phones write, and of OpenCV's ``CAP_PROP_ORIENTATION_META``.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
FrameSource = Iterable[Image] | Callable[[int, float], Image]

# Timestamps given explicitly (variable frame rate) are written on a 90 kHz clock, the
# MPEG clock: fine enough for any real camera and exact for the common rates. MPEG-4 part 2
# cannot express a 1/90000 time base (16-bit denominator), so it gets milliseconds.
VFR_TIME_BASE = Fraction(1, 90_000)
_VFR_TIME_BASE_BY_CODEC = {"mpeg4": Fraction(1, 1000)}
# Containers that store a display matrix (rotation); AVI and MPEG-TS have no place for it.
ROTATION_CONTAINERS = frozenset({"mp4", "mov", "matroska"})
_DEFAULT_CODEC_OPTIONS: dict[str, dict[str, str]] = {
    "libx265": {"x265-params": "log-level=error"},
    # MB-tree's floating-point lookahead made libx264's bytes differ from run to run on the same
    # input (seen on a shared 2-core VM); without it the same frames always give the same file.
    "libx264": {"x264-params": "mbtree=0"},
}


def available_encoders() -> frozenset[str]:
    """Names of the video encoders usable through PyAV's bundled FFmpeg."""
    names = set()
    for name in ("libx264", "libx265", "mpeg4", "mpeg2video", "mjpeg", "libvpx-vp9", "libsvtav1"):
        try:
            av.Codec(name, "w")
        except Exception:  # any failure means "not usable here"
            continue
        names.add(name)
    return frozenset(names)


def write_video(
    path: str | Path,
    frames: FrameSource,
    fps: float,
    codec: str = "libx264",
    *,
    pts_s: Sequence[float] | None = None,
    n_frames: int | None = None,
    rotation: int = 0,
    container_format: str | None = None,
    pix_fmt: str = "yuv420p",
    codec_options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode BGR frames into a real video file.

    Args:
        path: Output file; its suffix picks the container unless ``container_format`` is given.
        frames: HxWx3 uint8 BGR images, or a callable ``(index, t_s) -> image`` (then
            ``n_frames`` or ``pts_s`` says how many frames to make).
        fps: Nominal frame rate; frame ``i`` is shown at ``i / fps`` unless ``pts_s`` is given.
        codec: FFmpeg encoder name (see :func:`available_encoders`).
        pts_s: Explicit presentation times in seconds, strictly increasing, one per frame:
            variable frame rate. Written on a 1/90000 clock (1/1000 for ``mpeg4``), without
            B-frames for x264/x265 unless ``codec_options`` says otherwise.
        n_frames: Number of frames to draw from a callable ``frames``.
        rotation: Clockwise display rotation stored as the stream's display matrix
            (0, 90, 180 or 270). Only MP4, MOV and Matroska can store it.
        container_format: FFmpeg muxer name (e.g. ``"mpegts"``), if the suffix is not enough.
        pix_fmt: Pixel format handed to the encoder.
        codec_options: Encoder options (e.g. ``{"preset": "ultrafast"}``).
        container_options: Muxer options (e.g. ``{"movflags": "+faststart"}``).

    Returns:
        The path written.

    Raises:
        ValueError: On inconsistent arguments (odd sizes, non-increasing pts, rotation in a
            container that cannot store it, a frame count that does not match ``pts_s``).
    """
    path = Path(path)
    if rotation % 90 != 0 or not 0 <= rotation < 360:
        raise ValueError(f"rotation must be one of 0, 90, 180, 270 (clockwise degrees), got {rotation}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    vfr_time_base = _VFR_TIME_BASE_BY_CODEC.get(codec, VFR_TIME_BASE)
    if pts_s is not None:
        _check_increasing(pts_s, vfr_time_base)
        if n_frames is not None and n_frames != len(pts_s):
            raise ValueError(f"n_frames={n_frames} but {len(pts_s)} timestamps were given in pts_s")
        n_frames = len(pts_s)
    images = _frame_iterator(frames, fps, pts_s, n_frames)

    rate = Fraction(repr(float(fps))).limit_denominator(100_000)
    options = {**_DEFAULT_CODEC_OPTIONS.get(codec, {}), **(codec_options or {})}
    if pts_s is not None and codec in ("libx264", "libx265"):
        # x264/x265 derive B-frame dts from a constant rate; with explicit VFR timestamps that
        # leaves MP4 with a wrong duration. Phones' VFR footage has no such defect.
        options.setdefault("bf", "0")
    with av.open(str(path), "w", format=container_format, options=container_options or {}) as container:
        muxer = container.format.name
        if rotation and muxer not in ROTATION_CONTAINERS:
            raise ValueError(
                f"the {muxer!r} container cannot store a rotation; use one of {sorted(ROTATION_CONTAINERS)}"
            )
        if pts_s is not None and muxer == "avi":
            raise ValueError(
                "AVI stores frame numbers, not timestamps: variable frame rate needs MP4/MOV/MKV/TS"
            )
        stream = cast("av.VideoStream", container.add_stream(codec, rate=rate, options=options))
        stream.pix_fmt = pix_fmt
        time_base = vfr_time_base if pts_s is not None else 1 / rate
        stream.codec_context.time_base = time_base
        if rotation:
            # PyAV's angle is counter-clockwise (as VideoFrame.rotation reads it back).
            stream.set_display_rotation(-rotation)
        count = 0
        for index, image in enumerate(images):
            if index == 0:
                _set_size(stream, image, pix_fmt)
            _check_image(image, (stream.height, stream.width), index)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            frame.pts = round(pts_s[index] / time_base) if pts_s is not None else index
            frame.time_base = time_base
            container.mux(stream.encode(frame))
            count += 1
        if count == 0:
            raise ValueError(f"no frames were given for {path}")
        if n_frames is not None and count != n_frames:
            raise ValueError(f"expected {n_frames} frames (from pts_s/n_frames), the source gave {count}")
        container.mux(stream.encode(None))
    return path


def make_patrol_clip(
    path: str | Path,
    image: str | Path | Image | None = None,
    seconds: float = 4.0,
    fps: float = 30.0,
    size: tuple[int, int] = (320, 192),
    *,
    codec: str = "libx264",
    zoom: tuple[float, float] = (1.0, 1.8),
    pan: tuple[float, float] = (0.0, 1.0),
    bob_px: float = 1.5,
    rotation: int = 0,
    pts_s: Sequence[float] | None = None,
) -> Path:
    """Simulate a car driving past a scene by panning and zooming a window over a still photo.

    The crop window keeps the output's aspect ratio, grows closer (``zoom`` from start to end)
    and slides left to right (``pan``, as fractions of the free horizontal range) with a
    smooth ease-in-out; a small vertical bob imitates road bumps. Deterministic.

    Args:
        path: Output video file.
        image: A BGR image or an image file; default: ultralytics' ``bus.jpg`` street photo.
        seconds: Clip length (ignored when ``pts_s`` is given).
        fps: Frame rate.
        size: Output ``(width, height)``, both even.
        codec: Encoder name.
        zoom: Magnification at the start and at the end (1.0 = the full image height).
        pan: Horizontal window position at the start and at the end, 0 = left, 1 = right.
        bob_px: Amplitude of the vertical bob in output pixels.
        rotation: Clockwise display rotation to store. The pixels are stored turned the
            other way, so a reader that honours the rotation sees the scene upright.
        pts_s: Explicit presentation times (variable frame rate).

    Returns:
        The path written.
    """
    source = prepare_patrol_source(load_image(image), size, zoom)
    duration = float(pts_s[-1]) if pts_s is not None and len(pts_s) else seconds
    n_frames = len(pts_s) if pts_s is not None else max(1, round(seconds * fps))

    def render(index: int, t: float) -> Image:
        frame = render_patrol_frame(source, t, duration, size, zoom=zoom, pan=pan, bob_px=bob_px)
        # Store the picture turned against the display rotation: players turn it back.
        return np.ascontiguousarray(np.rot90(frame, k=rotation // 90))

    return write_video(path, render, fps, codec, pts_s=pts_s, n_frames=n_frames, rotation=rotation)


def prepare_patrol_source(image: Image, size: tuple[int, int], zoom: tuple[float, float]) -> Image:
    """Shrink a large photo (area-averaged) to the resolution the closest zoom needs.

    ``warpAffine`` interpolates bilinearly; minifying a photo 5x that way aliases (shimmers
    from frame to frame), so most of the shrinking is done once here, properly.
    """
    out_w, out_h = size
    src_h, src_w = image.shape[:2]
    base_h = min(float(src_h), src_w * out_h / out_w)
    factor = min(1.0, 1.25 * out_h * max(zoom) / base_h)
    if factor >= 1.0:
        return image
    new_size = (max(1, round(src_w * factor)), max(1, round(src_h * factor)))
    return np.asarray(cv2.resize(image, new_size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def render_patrol_frame(
    source: Image,
    t: float,
    duration: float,
    size: tuple[int, int],
    *,
    zoom: tuple[float, float] = (1.0, 1.8),
    pan: tuple[float, float] = (0.0, 1.0),
    bob_px: float = 1.5,
) -> Image:
    """One upright frame of the patrol pan at time ``t`` of ``duration`` seconds (pure function).

    Args:
        source: The still photo, BGR.
        t: Time of the frame in seconds.
        duration: Length of the whole pan in seconds.
        size: Output ``(width, height)``.
        zoom: Magnification at the start and at the end (1.0 = the full image height).
        pan: Horizontal window position at the start and at the end, 0 = left, 1 = right.
        bob_px: Amplitude of the vertical bob, in output pixels.

    Returns:
        An HxWx3 uint8 BGR image.
    """
    src_w, src_h = source.shape[1], source.shape[0]
    x0, y0, window_w, _ = patrol_window(t, duration, (src_w, src_h), size, zoom=zoom, pan=pan, bob_px=bob_px)
    scale = size[0] / window_w
    matrix = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])
    warped = cv2.warpAffine(source, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.asarray(warped, dtype=np.uint8)


def patrol_window(
    t: float,
    duration: float,
    source_size: tuple[int, int],
    size: tuple[int, int],
    *,
    zoom: tuple[float, float] = (1.0, 1.8),
    pan: tuple[float, float] = (0.0, 1.0),
    bob_px: float = 1.5,
) -> tuple[float, float, float, float]:
    """The crop window ``(x0, y0, width, height)`` in source pixels at time ``t`` of the pan.

    The window keeps the output's aspect ratio, narrows from ``zoom[0]`` to ``zoom[1]`` and
    slides from ``pan[0]`` to ``pan[1]`` with a cosine ease (no jerk at start or end), plus a
    1.7 Hz vertical bob of ``bob_px`` output pixels.
    """
    (src_w, src_h), (out_w, out_h) = source_size, size
    base_h = min(float(src_h), src_w * out_h / out_w)  # tallest window with the output aspect
    u = 0.0 if duration <= 0 else min(1.0, max(0.0, t / duration))
    ease = 0.5 - 0.5 * math.cos(math.pi * u)
    window_h = base_h / (zoom[0] + (zoom[1] - zoom[0]) * ease)
    window_w = window_h * out_w / out_h
    x0 = (pan[0] + (pan[1] - pan[0]) * ease) * (src_w - window_w)
    y0 = (src_h - window_h) / 2 + bob_px * window_h / out_h * math.sin(2 * math.pi * 1.7 * t)
    return x0, min(max(y0, 0.0), src_h - window_h), window_w, window_h


def default_street_image() -> Path:
    """The street photo (a bus and pedestrians) shipped in the ultralytics wheel."""
    # Found without importing ultralytics, which takes seconds to import.
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("ultralytics is not installed: its assets/bus.jpg is the default image")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "bus.jpg"


def write_gpx_track(
    path: str | Path,
    start_utc: datetime,
    seconds: float,
    start_latlon: tuple[float, float],
    heading_deg: float,
    speed_mps: float,
    hz: float = 1.0,
    elevation_m: float | None = None,
) -> Path:
    """Write a GPX 1.1 track of a vehicle driving a straight road at constant speed.

    Points are placed on the WGS84 geodesic from ``start_latlon`` along ``heading_deg``,
    at ``t = i / hz`` for ``i = 0 .. floor(seconds * hz)``.

    Args:
        path: Output ``.gpx`` file.
        start_utc: Timezone-aware time of the first point.
        seconds: Track length in seconds.
        start_latlon: ``(lat, lon)`` of the first point in degrees.
        heading_deg: Direction of travel, degrees clockwise from true north.
        speed_mps: Ground speed in metres per second.
        hz: Points per second.
        elevation_m: Constant elevation to write, if any.

    Returns:
        The path written.
    """
    import gpxpy.gpx
    from pyproj import Geod

    if start_utc.tzinfo is None:
        raise ValueError(f"start_utc must be timezone-aware (UTC), got naive {start_utc.isoformat()}")
    if hz <= 0 or seconds < 0:
        raise ValueError(f"need hz > 0 and seconds >= 0, got hz={hz}, seconds={seconds}")
    geod = Geod(ellps="WGS84")
    lat0, lon0 = start_latlon
    gpx = gpxpy.gpx.GPX()
    track = gpxpy.gpx.GPXTrack(name="synthetic patrol")
    segment = gpxpy.gpx.GPXTrackSegment()
    for i in range(math.floor(seconds * hz + 1e-9) + 1):
        t = i / hz
        lon, lat, _ = geod.fwd(lon0, lat0, heading_deg, speed_mps * t)
        segment.points.append(
            gpxpy.gpx.GPXTrackPoint(
                latitude=lat, longitude=lon, elevation=elevation_m, time=start_utc + timedelta(seconds=t)
            )
        )
    track.segments.append(segment)
    gpx.tracks.append(track)
    path = Path(path)
    path.write_text(gpx.to_xml(version="1.1"), encoding="utf-8")
    return path


# --- test patterns --------------------------------------------------------------------------


def checkerboard(width: int, height: int, cell: int = 8) -> Image:
    """A grey checkerboard, BGR uint8."""
    ys, xs = np.indices((height, width))
    board = (((ys // cell) + (xs // cell)) % 2 * 160 + 48).astype(np.uint8)
    return np.repeat(board[:, :, None], 3, axis=2)


def corner_marker_image(width: int, height: int) -> Image:
    """An asymmetric pattern: red block top-left, green block top-right, blue bottom-left.

    Any rotation or mirror of it is distinguishable, which is what rotation tests need.
    """
    image = np.full((height, width, 3), 40, np.uint8)
    bh, bw = max(2, height // 4), max(2, width // 4)
    image[:bh, :bw] = (0, 0, 255)
    image[:bh, -bw:] = (0, 255, 0)
    image[-bh:, :bw] = (255, 0, 0)
    return image


def moving_square(index: int, t: float, width: int = 160, height: int = 96) -> Image:
    """Frame ``index`` of a white square crossing a coloured background, for quick clips."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = (int(40 + 60 * math.sin(t)) % 256, 90, 150)
    side = max(4, height // 4)
    x = int((index * 3) % max(1, width - side))
    image[height // 3 : height // 3 + side, x : x + side] = 255
    return image


# --- helpers --------------------------------------------------------------------------------


def _frame_iterator(
    frames: FrameSource, fps: float, pts_s: Sequence[float] | None, n_frames: int | None
) -> Iterator[Image]:
    if not callable(frames):
        return iter(frames)
    if n_frames is None:
        raise ValueError("a callable frame source needs n_frames or pts_s to say how many frames to make")
    times = list(pts_s) if pts_s is not None else [i / fps for i in range(n_frames)]
    return (frames(i, t) for i, t in enumerate(times))


def _check_increasing(pts_s: Sequence[float], time_base: Fraction) -> None:
    for i in range(1, len(pts_s)):
        if round(pts_s[i] / time_base) <= round(pts_s[i - 1] / time_base):
            raise ValueError(
                f"pts_s must increase strictly (at {time_base} s resolution): "
                f"pts_s[{i - 1}]={pts_s[i - 1]} then pts_s[{i}]={pts_s[i]}"
            )
    if len(pts_s) and pts_s[0] < 0:
        raise ValueError(f"pts_s must not be negative, got pts_s[0]={pts_s[0]}")


def _set_size(stream: av.video.stream.VideoStream, image: Image, pix_fmt: str) -> None:
    height, width = image.shape[:2]
    if pix_fmt.startswith(("yuv420", "nv12")) and (width % 2 or height % 2):
        raise ValueError(f"{pix_fmt} needs even width and height, got {width}x{height}")
    stream.width, stream.height = width, height


def _check_image(image: Image, shape: tuple[int, int], index: int) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"frame {index}: expected HxWx3 uint8 BGR, got shape {image.shape} {image.dtype}")
    if image.shape[:2] != shape:
        raise ValueError(
            f"frame {index}: expected {shape[1]}x{shape[0]} like frame 0, got "
            f"{image.shape[1]}x{image.shape[0]}"
        )


def load_image(image: str | Path | Image | None) -> Image:
    """A BGR image: the array itself, read from a file, or (None) the default street photo."""
    if isinstance(image, np.ndarray):
        return image
    path = Path(image) if image is not None else default_street_image()
    loaded = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if loaded is None:
        raise FileNotFoundError(f"could not read an image from {path}")
    return np.asarray(loaded, dtype=np.uint8)
