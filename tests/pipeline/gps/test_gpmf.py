"""GoPro GPMF: KLV parsing, GPS5/GPS9 scaling and timing, the shared samples, the gpmd stream."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

import pytest

from streetwatch.pipeline.gps.errors import GpsFormatError, SkipReason
from streetwatch.pipeline.gps.gpmf import GpmfError, parse_klv, read_gpmf_raw, read_gpmf_stream, values
from tests.pipeline.gps.media_builders import (
    SHARED_DATA,
    gps5_payload,
    gps9_payload,
    klv,
    nest,
    plain_video,
    video_with_gpmf,
)

GOPRO = SHARED_DATA / "gopro_gpmf"
T0 = dt.datetime(2023, 5, 1, 4, 0, 0, tzinfo=dt.UTC).timestamp()
SAMPLES = [(22.5432100, 113.9876500, 12.5, 8.0), (22.5432200, 113.9876600, 12.6, 8.2)]


def needs_shared(name: str) -> Path:
    path = GOPRO / name
    if not path.is_file():
        pytest.skip(f"shared fixture {path} is absent")
    return path


def test_klv_layout_nesting_and_padding() -> None:
    data = nest(
        "DEVC", klv("DVNM", "c", 1, 6, b"Camera"), nest("STRM", klv("TSMP", "L", 4, 1, b"\x00\x00\x00\x07"))
    )
    (device,) = parse_klv(data)
    assert (device.key, device.type) == ("DEVC", "\x00")
    name, stream = device.children
    assert (name.key, name.data, len(klv("DVNM", "c", 1, 6, b"Camera"))) == ("DVNM", b"Camera", 16)  # padded
    assert values(stream.children[0]) == [(7,)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"DEVC\x00\x01\x00\x10" + b"\x00" * 4, "'DEVC' at byte 0 claims 16 bytes; 4 remain"),
        (b"\x01\x02\x03\x04L\x04\x00\x01\x00\x00\x00\x00", "bad key"),
        (klv("GPS5", "l", 20, 1, b"\x00" * 20)[:-4], "claims 20 bytes; 16 remain"),
    ],
)
def test_klv_errors(data: bytes, message: str) -> None:
    with pytest.raises(GpmfError, match=message):
        parse_klv(data)


def test_gps5_scaling_fix_dop_and_sample_spacing(tmp_path: Path) -> None:
    path = tmp_path / "payload.raw"
    path.write_bytes(gps5_payload(SAMPLES, gpsp=180))
    reading = read_gpmf_raw(path)
    first, second = reading.report.fixes
    assert (first.lat, first.lon, first.alt, first.speed) == pytest.approx(SAMPLES[0])
    assert (first.fix, first.hdop, first.satellites) == (3, 1.8, None)
    assert (first.t, second.t) == (T0, T0 + 0.5)  # two samples over the payload's second
    assert reading.anchors == ()  # a raw payload has no video clock


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"gpsf": 0}, SkipReason.VOID_FIX),
        ({"gpsu": None}, SkipReason.NO_DATE),
        ({"scal": (0, 1, 1, 1, 1)}, None),
    ],
    ids=["no-lock", "no-gpsu", "zero-scale"],
)
def test_unusable_samples_are_counted(
    tmp_path: Path, kwargs: dict[str, object], reason: SkipReason | None
) -> None:
    path = tmp_path / "payload.raw"
    path.write_bytes(gps5_payload(SAMPLES, **kwargs))  # type: ignore[arg-type]
    report = read_gpmf_raw(path).report
    assert report.fixes == ()
    if reason is None:
        assert report.skipped == {SkipReason.MALFORMED: 1}
        assert "does not scale" in report.examples[0]
    else:
        assert report.skipped == {reason: 2}


def test_gps9_has_per_sample_time_and_fix(tmp_path: Path) -> None:
    days = (dt.date(2023, 5, 1) - dt.date(2000, 1, 1)).days
    path = tmp_path / "gps9.raw"
    path.write_bytes(
        gps9_payload([(22.5, 113.9, 5.0, days, 14400.1, 3), (22.6, 114.0, 6.0, days, 14400.2, 0)])
    )
    report = read_gpmf_raw(path).report
    (fix,) = report.fixes
    assert fix.t == pytest.approx(T0 + 0.1)
    assert (fix.lat, fix.lon, fix.speed, fix.hdop, fix.fix) == pytest.approx((22.5, 113.9, 5.0, 1.2, 3))
    assert report.skipped == {SkipReason.VOID_FIX: 1}


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "count", "first_lat", "first_lon", "gpsu", "dop"),
    [
        ("hero5.raw", 18, 33.1264969, -117.3273542, "2017-04-17T17:31:03", 6.06),
        ("Fusion.raw", 19, 33.1266299, -117.3274386, "2018-03-23T17:25:37.375", 6.74),
    ],
)
def test_shared_raw_payloads(
    name: str, count: int, first_lat: float, first_lon: float, gpsu: str, dop: float
) -> None:
    report = read_gpmf_raw(needs_shared(name)).report
    assert len(report.fixes) == count and report.skipped == {}
    first = report.fixes[0]
    assert (first.lat, first.lon, first.hdop, first.fix) == pytest.approx((first_lat, first_lon, dop, 3))
    assert first.t == dt.datetime.fromisoformat(gpsu).replace(tzinfo=dt.UTC).timestamp()
    assert report.fixes[-1].t < first.t + 1.0


@pytest.mark.shared_data
@pytest.mark.parametrize(("name", "samples"), [("hero6.raw", 17), ("hero6+ble.raw", 18)])
def test_shared_payloads_without_lock(name: str, samples: int) -> None:
    report = read_gpmf_raw(needs_shared(name)).report
    assert report.fixes == () and report.skipped == {SkipReason.VOID_FIX: samples}


@pytest.mark.shared_data
def test_shared_karma_raw_has_no_gps() -> None:
    with pytest.raises(GpsFormatError, match="without a GPS5/GPS9 stream"):
        read_gpmf_raw(needs_shared("karma.raw"))


@pytest.mark.shared_data
def test_shared_karma_mp4_is_no_gps_not_an_error() -> None:
    assert read_gpmf_stream(needs_shared("karma.mp4")) is None


def test_gpmd_stream_fixes_follow_the_video_clock(tmp_path: Path) -> None:
    # three payloads at video 0, 1, 2 s; GPSU stamps are 0.3 s late in the second one
    stamps = ["230501040000.000", "230501040001.300", "230501040002.000"]
    payloads = [(float(i), 1.0, gps5_payload(SAMPLES, gpsu=stamp)) for i, stamp in enumerate(stamps)]
    video = video_with_gpmf(tmp_path / "GH010001.MP4", payloads)
    reading = read_gpmf_stream(video)
    assert reading is not None
    assert [f.t for f in reading.report.fixes] == pytest.approx([T0 + s / 2 for s in range(6)])
    assert [a.video_s for a in reading.anchors] == pytest.approx([s / 2 for s in range(6)])
    assert reading.anchors[2].utc == pytest.approx(T0 + 1.3)


def test_gpmd_stream_with_broken_payload_keeps_the_rest(tmp_path: Path) -> None:
    broken = b"DEVC\x00\x01\x00\x40" + b"\x00" * 8
    video = video_with_gpmf(
        tmp_path / "GH010002.MP4", [(0.0, 1.0, gps5_payload(SAMPLES)), (1.0, 1.0, broken)]
    )
    reading = read_gpmf_stream(video)
    assert reading is not None
    assert len(reading.report.fixes) == 2 and reading.report.skipped == {SkipReason.MALFORMED: 1}


@pytest.mark.parametrize(
    "payload",
    [nest("DEVC", nest("STRM", klv("ACCL", "s", 6, 1, struct.pack(">3h", 1, 2, 3)))), None],
    ids=["telemetry-without-gps", "no-telemetry"],
)
def test_no_gps_stream_is_none(tmp_path: Path, payload: bytes | None) -> None:
    if payload is None:
        video = plain_video(tmp_path / "plain.mp4")
    else:
        video = video_with_gpmf(tmp_path / "GH010003.MP4", [(0.0, 1.0, payload)])
    assert read_gpmf_stream(video) is None
