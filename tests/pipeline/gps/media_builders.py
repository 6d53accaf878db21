"""Builders for GPS-bearing media written by the tests: GPMF payloads, 70mai boxes, small videos.

Everything is produced by code (PyAV for the videos), so each test states its own expected data.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"

# The mov_text encoder refuses to open without an ASS header; this is FFmpeg's default one.
ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
    b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
    b"Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, "
    b"Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
    b"[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)


# --- GPMF -----------------------------------------------------------------------------------


def klv(key: str, type_char: str, size: int, repeat: int, data: bytes) -> bytes:
    """One GPMF item, padded to 32 bits."""
    assert len(key) == 4 and len(data) == size * repeat, (key, len(data), size * repeat)
    padding = b"\x00" * (-len(data) % 4)
    return (
        key.encode()
        + type_char.encode("latin-1")
        + bytes([size])
        + struct.pack(">H", repeat)
        + data
        + padding
    )


def nest(key: str, *children: bytes) -> bytes:
    """An item of type 0 holding ``children``."""
    body = b"".join(children)
    return key.encode() + b"\x00\x01" + struct.pack(">H", len(body)) + body


def gps5_payload(
    samples: Sequence[tuple[float, float, float, float]],
    *,
    gpsu: str | None = "230501040000.000",
    gpsf: int | None = 3,
    gpsp: int | None = 150,
    scal: Sequence[int] = (10_000_000, 10_000_000, 1000, 1000, 100),
    device: str = "HERO9 Black",
) -> bytes:
    """A one-device payload with a GPS5 stream of (lat, lon, alt, speed) samples."""
    items = [klv("STNM", "c", 1, 4, b"GPS5")]
    if gpsf is not None:
        items.append(klv("GPSF", "L", 4, 1, struct.pack(">I", gpsf)))
    if gpsu is not None:
        items.append(klv("GPSU", "U", 16, 1, gpsu.encode()))
    if gpsp is not None:
        items.append(klv("GPSP", "S", 2, 1, struct.pack(">H", gpsp)))
    items.append(klv("SCAL", "l", 4, len(scal), struct.pack(f">{len(scal)}i", *scal)))
    rows = b"".join(
        struct.pack(
            ">5i",
            round(lat * scal[0]),
            round(lon * scal[1 % len(scal)]),
            round(alt * scal[2 % len(scal)]),
            round(speed * scal[3 % len(scal)]),
            round(speed * scal[4 % len(scal)]),
        )
        for lat, lon, alt, speed in samples
    )
    items.append(klv("GPS5", "l", 20, len(samples), rows))
    return nest("DEVC", klv("DVNM", "c", 1, len(device), device.encode()), nest("STRM", *items))


def gps9_payload(samples: Sequence[tuple[float, float, float, int, float, int]]) -> bytes:
    """A GPS9 stream of (lat, lon, speed, days since 2000, seconds since midnight, fix) samples."""
    scal = (10_000_000, 10_000_000, 1000, 1000, 100, 1, 1000, 100, 1)
    rows = b"".join(
        struct.pack(
            ">7i2H",
            round(lat * 1e7),
            round(lon * 1e7),
            12_000,
            round(speed * 1000),
            round(speed * 100),
            days,
            round(secs * 1000),
            120,
            fix,
        )
        for lat, lon, speed, days, secs, fix in samples
    )
    stream = nest(
        "STRM",
        klv("TYPE", "c", 1, 9, b"lllllllSS"),
        klv("SCAL", "l", 4, 9, struct.pack(">9i", *scal)),
        klv("GPS9", "?", 32, len(samples), rows),
    )
    return nest("DEVC", stream)


# --- 70mai ----------------------------------------------------------------------------------


def mai_record(
    second: int,
    lat: str = "N",
    lat_value: int = 2232592,
    lon: str = "E",
    lon_value: int = 11359256,
    *,
    present: int = 1,
    fix: int = 1,
    speed_m_per_h: int = 36_000,
) -> bytes:
    """One 36-byte 70mai record (defaults: 22 deg 32.592 min N, 113 deg 59.256 min E, 36 km/h)."""
    return struct.pack(
        "<IIIIcIcI10x", present, fix, second, speed_m_per_h, lat.encode(), lat_value, lon.encode(), lon_value
    )


def mai_clip(path: Path, records: Sequence[bytes], *, padding_records: int = 2, cut: int = 0) -> Path:
    """A minimal ISO-BMFF file: ``ftyp``, an empty ``moov``, and a ``GPS `` box with ``records``."""
    payload = b"".join(records) + b"\x00" * 36 * padding_records
    ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"mp42", 0, b"isom")
    moov = struct.pack(">I4s", 8, b"moov")
    gps = struct.pack(">I4s", 8 + len(payload), b"GPS ") + payload
    data = ftyp + moov + gps
    path.write_bytes(data[: len(data) - cut] if cut else data)
    return path


# --- videos ---------------------------------------------------------------------------------


def _video(
    container: av.container.OutputContainer, seconds: float, rate: int = 10
) -> av.video.stream.VideoStream:
    stream = container.add_stream("mpeg4", rate=rate)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    return stream


def _frames(
    container: av.container.OutputContainer, stream: av.video.stream.VideoStream, seconds: float
) -> None:
    rate = int(stream.codec_context.framerate or 10)
    for index in range(round(seconds * rate)):
        image = np.full((48, 64, 3), index % 255, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = index
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def video_with_subtitles(
    path: Path,
    cues: Sequence[tuple[float, float, str]],
    *,
    seconds: float = 3.0,
    creation_time: str | None = None,
) -> Path:
    """An MP4 (``mov_text``) or MKV (``subrip``) with a subtitle stream of (start, end, text) cues."""
    matroska = path.suffix.lower() == ".mkv"
    with av.open(str(path), "w", format="matroska" if matroska else "mp4") as container:
        if creation_time is not None:
            container.metadata["creation_time"] = creation_time
        video = _video(container, seconds)
        subtitles = container.add_stream("subrip" if matroska else "mov_text")
        subtitles.codec_context.subtitle_header = ASS_HEADER
        subtitles.time_base = Fraction(1, 1000)
        _frames(container, video, seconds)
        for start, end, text in cues:
            data = text.encode()
            packet = av.Packet(data if matroska else struct.pack(">H", len(data)) + data)
            packet.stream = subtitles
            packet.pts = packet.dts = round(start * 1000)
            packet.duration = round((end - start) * 1000)
            packet.time_base = Fraction(1, 1000)
            container.mux(packet)
    return path


def video_with_gpmf(
    path: Path, payloads: Sequence[tuple[float, float, bytes]], *, seconds: float = 3.0
) -> Path:
    """An MP4 with a GoPro-style telemetry data stream of (start, duration, payload) packets."""
    with av.open(str(path), "w", format="mp4") as container:
        video = _video(container, seconds)
        data = container.add_data_stream("bin_data")
        data.metadata["handler_name"] = "GoPro MET"
        data.time_base = Fraction(1, 1000)
        _frames(container, video, seconds)
        for start, duration, payload in payloads:
            packet = av.Packet(payload)
            packet.stream = data
            packet.pts = packet.dts = round(start * 1000)
            packet.duration = round(duration * 1000)
            packet.time_base = Fraction(1, 1000)
            container.mux(packet)
    return path


def plain_video(path: Path, seconds: float = 1.0) -> Path:
    """A video without any GPS."""
    with av.open(str(path), "w") as container:
        _frames(container, _video(container, seconds), seconds)
    return path
