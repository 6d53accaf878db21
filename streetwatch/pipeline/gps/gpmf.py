"""GoPro GPMF telemetry: GPS from the ``gpmd`` data stream of a GoPro MP4, or a raw payload.

GPMF is a KLV format: each item is a 4-character key, a 1-byte type, a 1-byte structure size,
a 2-byte repeat count (big-endian), then ``size * repeat`` bytes padded to 32 bits. Type 0
nests further items (``DEVC`` devices hold ``STRM`` streams). Within a stream, "sticky" items
come before the samples they describe:

========  =====================================================================================
key       meaning
========  =====================================================================================
``GPS5``  samples of latitude, longitude (deg), altitude (m), 2D and 3D speed (m/s), as integers
``GPS9``  (HERO11+) the same, then days since 2000, seconds since midnight, DOP and fix, per sample
``SCAL``  the divisors that turn those integers into units (one, or one per field)
``GPSU``  UTC date/time of the payload's first sample, ``yymmddhhmmss.sss``
``GPSF``  fix: 0 no lock (the payload's fixes are dropped as void), 2 for 2D, 3 for 3D
``GPSP``  dilution of precision x 100 (stored as ``hdop``: under 500 is good, says GoPro)
``TYPE``  field types of a complex (``?``) item, such as GPS9
========  =====================================================================================

One payload covers about a second. In an MP4 its packet's presentation time is the video time of
its first sample, so each sample gets ``pts + i * duration / n``: the alignment with the video is
read from the file ("verified", see ``timing``). A raw payload has no video: its samples are
spaced over one second from GPSU.

Why not mapillary-tools' parser: it needs eight more packages pinned to old versions
(``construct~=2.10``, ``jsonschema~=4.17``, ``requests``...), reads payloads only through its own
MP4 parser (a raw payload needs private functions), and the format is small enough to read here.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from streetwatch.core.errors import BadInputError
from streetwatch.core.types import GpsFix
from streetwatch.pipeline.gps.errors import GpsFormatError, SkipCounter, SkipReason
from streetwatch.pipeline.gps.media import open_media, video_start_s
from streetwatch.pipeline.gps.timing import GpsReading, anchored_reading

logger = logging.getLogger(__name__)

_STRUCT_CODES = {
    "b": "b", "B": "B", "c": "c", "d": "d", "f": "f", "F": "4s", "G": "16s", "j": "q", "J": "Q",
    "l": "i", "L": "I", "q": "i", "Q": "q", "s": "h", "S": "H", "U": "16s",
}
_GPS9_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp()
RAW_PAYLOAD_SECONDS = 1.0
"""Time one raw payload is taken to cover (GoPro cameras write one payload per second)."""


class GpmfError(BadInputError, ValueError):
    """A GPMF payload that does not follow the KLV layout."""


@dataclass(frozen=True, slots=True)
class Klv:
    """One GPMF item.

    Attributes:
        key: Four-character key (``DEVC``, ``GPS5``...).
        type: Type character; ``"\\x00"`` for an item that nests others.
        size: Bytes per sample.
        repeat: Number of samples.
        data: The item's bytes, without padding.
        children: Nested items (for type 0).
    """

    key: str
    type: str
    size: int
    repeat: int
    data: bytes
    children: tuple[Klv, ...] = ()


@dataclass(frozen=True, slots=True)
class GpsSample:
    """One GPS sample of a payload, in units, with the payload's fix metadata."""

    index: int
    count: int
    lat: float
    lon: float
    alt: float
    speed: float
    utc: float | None
    fix: int | None
    dop: float | None
    timed: bool = False  # utc is the sample's own (GPS9), not the payload's first sample's (GPSU)


def parse_klv(data: bytes) -> tuple[Klv, ...]:
    """Parse GPMF bytes into items (nested items parsed too).

    Raises:
        GpmfError: If an item's header or data runs past the end, or a key is not printable.
    """
    items: list[Klv] = []
    offset = 0
    while offset + 8 <= len(data):
        raw_key, type_code, size, repeat = struct.unpack_from(">4scBH", data, offset)
        if raw_key == b"\x00\x00\x00\x00":  # padding at the end of a payload
            break
        if not all(32 <= ch < 127 for ch in raw_key):
            raise GpmfError(f"bad key {raw_key!r} at byte {offset}: not a GPMF payload")
        length = size * repeat
        end = offset + 8 + length
        if end > len(data):
            remain = len(data) - offset - 8
            raise GpmfError(f"{raw_key.decode()!r} at byte {offset} claims {length} bytes; {remain} remain")
        body = data[offset + 8 : end]
        type_char = type_code.decode("latin-1")
        children = parse_klv(body) if type_char == "\x00" else ()
        items.append(Klv(raw_key.decode(), type_char, size, repeat, body, children))
        offset += 8 + (length + 3) // 4 * 4
    if offset < len(data) and data[offset:].strip(b"\x00") and offset + 8 > len(data):
        raise GpmfError(f"{len(data) - offset} stray bytes at the end of the payload")
    return tuple(items)


def values(item: Klv, types: str | None = None) -> list[tuple[object, ...]]:
    """Decode an item's samples into tuples; ``types`` gives the fields of a complex item."""
    fields = types if item.type == "?" else item.type * max(1, item.size // _field_size(item.type))
    if fields is None:
        raise GpmfError(f"{item.key} is a complex item without a TYPE")
    layout = ">" + "".join(_STRUCT_CODES[ch] for ch in fields if ch in _STRUCT_CODES)
    if item.type == "c":
        return [(item.data[i * item.size : (i + 1) * item.size],) for i in range(item.repeat)]
    if struct.calcsize(layout) != item.size:
        raise GpmfError(f"{item.key}: fields {fields!r} do not fill its {item.size}-byte samples")
    return [struct.unpack_from(layout, item.data, i * item.size) for i in range(item.repeat)]


def gps_samples(payload: Sequence[Klv]) -> Iterator[GpsSample]:
    """The GPS5/GPS9 samples of the first device with GPS, scaled to units."""
    for device in (item for item in payload if item.key == "DEVC"):
        found = False
        for stream in (item for item in device.children if item.key == "STRM"):
            for sample in _stream_gps(stream):
                found = True
                yield sample
        if found:
            return


def has_gps_stream(payload: Sequence[Klv]) -> bool:
    """Whether any device in the payload has a GPS5 or GPS9 stream."""
    return any(
        child.key in ("GPS5", "GPS9")
        for device in payload if device.key == "DEVC"
        for stream in device.children if stream.key == "STRM"
        for child in stream.children
    )


def read_gpmf_raw(path: str | os.PathLike[str]) -> GpsReading:
    """Read a raw GPMF payload file (one or more payloads, as ``gpmf-parser``'s samples).

    Raises:
        GpsFormatError: If the file cannot be read, is not GPMF, or holds no GPS5/GPS9 stream.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise GpsFormatError(path, f"cannot read file: {exc.strerror or exc}") from exc
    if not data.startswith(b"DEVC"):
        raise GpsFormatError(path, f"not a GPMF payload: it starts with {data[:4]!r}, expected b'DEVC'")
    try:
        payload = parse_klv(data)
    except GpmfError as exc:
        raise GpsFormatError(path, str(exc)) from None
    if not has_gps_stream(payload):
        raise GpsFormatError(path, "GoPro telemetry without a GPS5/GPS9 stream (no GPS in this payload)")
    skips = SkipCounter()
    fixes = [fix for fix, _ in _payload_fixes(payload, 0.0, RAW_PAYLOAD_SECONDS, skips, "payload 1")]
    return GpsReading(skips.report(path, fixes))  # no video: no clock anchors


def read_gpmf_stream(video_path: str | os.PathLike[str]) -> GpsReading | None:
    """Read GPS from the GPMF (``gpmd``) data stream of a GoPro MP4.

    Returns:
        The reading (fixes on the video clock, anchors from GPSU), or None when the file has no
        GPMF stream or its telemetry holds no GPS stream (a Karma drone clip, a camera with GPS
        off). A stream whose fixes are all dropped (no lock) gives a reading without fixes.
        Never raises for the file's content.
    """
    path = Path(video_path)
    with open_media(path) as container:
        if container is None:
            return None
        data_streams = [s for s in container.streams if s.type == "data"]
        if not data_streams:
            return None
        offset = video_start_s(container)
        skips = SkipCounter()
        pairs: list[tuple[GpsFix, float]] = []
        telemetry = gps = False
        number = 0
        try:
            for packet in container.demux(*data_streams):
                if packet.size < 8 or packet.pts is None or packet.time_base is None:
                    continue
                data = bytes(packet)
                if not data.startswith(b"DEVC"):
                    continue  # timecode and other GoPro tracks share the file
                telemetry, number = True, number + 1
                start = float(packet.pts * packet.time_base) - offset
                duration = float(packet.duration * packet.time_base) if packet.duration else 1.0
                where = f"payload {number} (video {start:.3f} s)"
                try:
                    payload = parse_klv(data)
                except GpmfError as exc:
                    skips.skip(SkipReason.MALFORMED, None, f"{where}: {exc}")
                    continue
                gps = gps or has_gps_stream(payload)
                pairs.extend(_payload_fixes(payload, start, duration, skips, where))
        except Exception as exc:  # a damaged file must not stop processing: no embedded GPS then
            logger.warning("reading GPMF packets of %s failed: %s", path, exc)
    if not gps:
        if telemetry:
            logger.info("%s: GoPro telemetry without a GPS stream (no GPS)", path)
        return None
    return anchored_reading(f"{path}#gpmd", pairs, skips, local_clock=False)


def _payload_fixes(
    payload: Sequence[Klv], start_s: float, duration_s: float, skips: SkipCounter, where: str
) -> Iterator[tuple[GpsFix, float]]:
    """Fixes of one payload with their video times; dropped samples are counted in ``skips``."""
    try:
        samples = list(gps_samples(payload))
    except (GpmfError, struct.error, ValueError, ZeroDivisionError) as exc:
        skips.skip(SkipReason.MALFORMED, None, f"{where}: GPS stream unreadable ({exc})")
        return
    for sample in samples:
        step = duration_s / sample.count
        if sample.fix == 0:
            skips.skip(SkipReason.VOID_FIX, None, f"{where}: GPSF 0 (no satellite lock)")
            continue
        if sample.utc is None:
            skips.skip(SkipReason.NO_DATE, None, f"{where}: GPS sample without GPSU time")
            continue
        utc = sample.utc if sample.timed else sample.utc + sample.index * step
        try:
            fix = GpsFix(
                t=utc, lat=sample.lat, lon=sample.lon, alt=sample.alt, speed=sample.speed,
                fix=sample.fix, hdop=sample.dop,
            )
        except ValueError as exc:
            skips.skip(SkipReason.MALFORMED, None, f"{where}: {exc}")
            continue
        yield fix, start_s + sample.index * step


def _stream_gps(stream: Klv) -> Iterator[GpsSample]:
    sticky: dict[str, Klv] = {}
    for item in stream.children:
        if item.key not in ("GPS5", "GPS9"):
            sticky[item.key] = item
            continue
        rows = values(item, _text(sticky["TYPE"]) if "TYPE" in sticky else None)
        scale = _scales(sticky.get("SCAL"), len(rows[0]) if rows else 0)
        gpsu = _gpsu(sticky["GPSU"]) if "GPSU" in sticky else None
        fix = int(values(sticky["GPSF"])[0][0]) if "GPSF" in sticky else None  # type: ignore[call-overload]
        dop = float(values(sticky["GPSP"])[0][0]) / 100.0 if "GPSP" in sticky else None  # type: ignore[arg-type]
        for index, row in enumerate(rows):
            units = [float(v) / s for v, s in zip(row, scale, strict=False)]  # type: ignore[arg-type]
            if item.key == "GPS9" and len(units) >= 9:
                utc = _GPS9_EPOCH + float(row[5]) * 86400.0 + units[6]  # type: ignore[arg-type]
                yield GpsSample(
                    index, len(rows), units[0], units[1], units[2], units[3], utc, int(units[8]), units[7],
                    timed=True,
                )
            else:
                yield GpsSample(index, len(rows), units[0], units[1], units[2], units[3], gpsu, fix, dop)


def _scales(item: Klv | None, fields: int) -> list[float]:
    if item is None:
        return [1.0] * fields
    scales = [float(row[0]) for row in values(item)]  # type: ignore[arg-type]
    if len(scales) == 1:
        scales *= fields
    if len(scales) < fields or any(s == 0 for s in scales):
        raise GpmfError(f"SCAL {scales} does not scale {fields} fields")
    return scales


def _gpsu(item: Klv) -> float:
    text = _text(item)
    try:
        when = dt.datetime.strptime(text, "%y%m%d%H%M%S.%f").replace(tzinfo=dt.UTC)
    except ValueError:
        raise GpmfError(f"GPSU {text!r} is not yymmddhhmmss.sss") from None
    return when.timestamp()


def _text(item: Klv) -> str:
    return item.data.split(b"\x00", 1)[0].decode("latin-1").strip()


def _field_size(type_char: str) -> int:
    code = _STRUCT_CODES.get(type_char)
    return struct.calcsize(">" + code) if code else 1

