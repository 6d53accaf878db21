"""Finding a video's GPS: override, sidecars, embedded sources; and the whole load for the run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from streetwatch.pipeline.gps.errors import GpsFormatError
from streetwatch.pipeline.gps.loader import read_gps_file, require_fixes
from streetwatch.pipeline.gps.nmea import read_nmea
from streetwatch.pipeline.gps.source import GpsOptions, discover_gps, find_sidecar, load_video_gps
from tests.pipeline.gps.media_builders import (
    SHARED_DATA,
    gps5_payload,
    mai_clip,
    mai_record,
    plain_video,
    video_with_gpmf,
    video_with_subtitles,
)
from tests.pipeline.gps.nmea_lines import gga, rmc

T = dt.datetime(1994, 3, 23, 12, 35, 19, tzinfo=dt.UTC).timestamp()
NMEA = "\n".join([rmc("123519"), gga("123519"), rmc("123520"), rmc("123521")]) + "\n"
GPX = (
    '<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
    + "".join(
        f'<trkpt lat="48.1173" lon="11.5167"><time>1994-03-23T12:35:{s}Z</time></trkpt>' for s in (19, 20)
    )
    + "</trkseg></trk></gpx>"
)
CSV = f"time,lat,lon\n{T},48.1173,11.5167\n{T + 1},48.1174,11.5167\n"
SRT = "1\n00:00:00,000 --> 00:00:01,000\n2023/05/01 12:00:00 N22.5432 E113.9876 36km/h\n"
MAI_NAME = "NO20230501-120000-000001.MP4"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"clip.gpx": GPX}, "clip.gpx"),
        ({"clip.NMEA": NMEA}, "clip.NMEA"),
        ({"CLIP.csv": CSV}, "CLIP.csv"),
        ({"clip.Srt": SRT}, "clip.Srt"),
        ({"clip.srt": SRT, "clip.csv": CSV, "clip.gpx": GPX}, "clip.gpx"),  # .gpx first
        ({"clip.srt": SRT, "clip.nmea": NMEA}, "clip.nmea"),
        ({"clip2.gpx": GPX, "clip.kml": "<kml/>"}, None),
        ({}, None),
    ],
)
def test_find_sidecar(tmp_path: Path, files: dict[str, str], expected: str | None) -> None:
    video = plain_video(tmp_path / "clip.mp4")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    found = find_sidecar(video)
    assert (found.name if found else None) == expected


@pytest.mark.parametrize(
    ("sidecar", "text", "source", "fixes"),
    [
        ("clip.gpx", GPX, "gpx", 2),
        ("clip.nmea", NMEA, "nmea", 3),
        ("clip.csv", CSV, "csv", 2),
        ("clip.SRT", SRT, "srt", 1),
    ],
)
def test_sidecar_is_found_without_being_told(
    tmp_path: Path, sidecar: str, text: str, source: str, fixes: int
) -> None:
    video = plain_video(tmp_path / "clip.mp4")
    (tmp_path / sidecar).write_text(text)
    discovery = discover_gps(video)
    assert discovery is not None
    assert (discovery.origin, discovery.source, discovery.path.name) == ("sidecar", source, sidecar)
    assert len(discovery.report.fixes) == fixes
    assert discovery.label == f"sidecar {source}: {tmp_path / sidecar}"


def test_override_wins_over_sidecar_and_embedded(tmp_path: Path) -> None:
    video = video_with_subtitles(tmp_path / "clip.mp4", [(0.0, 1.0, SRT.splitlines()[2])])
    (tmp_path / "clip.gpx").write_text(GPX)
    elsewhere = tmp_path / "logger" / "drive.nmea"
    elsewhere.parent.mkdir()
    elsewhere.write_text(NMEA)
    discovery = discover_gps(video, elsewhere)
    assert discovery is not None and (discovery.origin, discovery.path) == ("override", elsewhere)
    assert discover_gps(video).origin == "sidecar"  # type: ignore[union-attr]
    (tmp_path / "clip.gpx").unlink()
    assert (discover_gps(video).origin, discover_gps(video).source) == ("embedded", "srt-stream")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("make", "source"),
    [
        (
            lambda d: video_with_subtitles(d / "clip.mp4", [(0.0, 1.0, "2023/05/01 12:00:00 N22.5 E113.9")]),
            "srt-stream",
        ),
        (
            lambda d: video_with_gpmf(
                d / "GH010001.MP4", [(0.0, 1.0, gps5_payload([(22.5, 113.9, 5.0, 3.0)]))]
            ),
            "gpmf",
        ),
        (lambda d: mai_clip(d / MAI_NAME, [mai_record(0), mai_record(1)]), "70mai"),
    ],
)
def test_embedded_sources(tmp_path: Path, make, source: str) -> None:  # type: ignore[no-untyped-def]
    video = make(tmp_path)
    discovery = discover_gps(video)
    assert discovery is not None
    assert (discovery.origin, discovery.source, discovery.path) == ("embedded", source, video)
    assert discovery.report.fixes and discovery.reading.anchors


def test_another_videos_embedded_gps_as_override(tmp_path: Path) -> None:
    front = mai_clip(tmp_path / MAI_NAME, [mai_record(0), mai_record(1)])
    rear = plain_video(tmp_path / "NO20230501-120000-000001_rear.MP4")
    discovery = discover_gps(rear, front)
    assert discovery is not None and (discovery.origin, discovery.source, discovery.path) == (
        "override",
        "70mai",
        front,
    )


def test_no_gps_anywhere_is_none(tmp_path: Path) -> None:
    assert discover_gps(plain_video(tmp_path / "clip.mp4")) is None


@pytest.mark.parametrize(
    ("override", "content", "message"),
    [
        ("absent.gpx", None, "no such file \\(given as the GPS override\\)"),
        ("folder.gpx", "DIR", "not a regular file"),
        ("drive.kml", "<kml/>", "unknown GPS file type '.kml'"),
        ("drive.srt", "not subtitles", "no SRT cues"),
        ("drive.raw", "not gpmf", "not a GPMF payload: it starts with b'not ', expected b'DEVC'"),
        ("other.mp4", "VIDEO", "no GPS embedded in this video"),
        ("void.nmea", rmc("123519", status="V") + "\n", "no usable GPS fixes: 1 void fix"),
    ],
)
def test_override_errors(tmp_path: Path, override: str, content: str | None, message: str) -> None:
    video = plain_video(tmp_path / "clip.mp4")
    path = tmp_path / override
    if content == "DIR":
        path.mkdir()
    elif content == "VIDEO":
        plain_video(path)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(GpsFormatError, match=message):
        discover_gps(video, path)


def test_broken_sidecar_is_an_error(tmp_path: Path) -> None:
    video = plain_video(tmp_path / "clip.mp4")
    (tmp_path / "clip.gpx").write_text("<gpx")
    with pytest.raises(GpsFormatError, match="not valid XML"):
        discover_gps(video)


def test_embedded_without_usable_fixes_is_reported_not_raised(tmp_path: Path) -> None:
    video = video_with_gpmf(
        tmp_path / "GH010004.MP4", [(0.0, 1.0, gps5_payload([(22.5, 113.9, 5.0, 3.0)], gpsf=0))]
    )
    discovery = discover_gps(video)
    assert discovery is not None and discovery.source == "gpmf" and discovery.report.fixes == ()
    loaded = load_video_gps(video)
    assert (loaded.track, loaded.alignment, loaded.time_status) == (None, None, "unverified")
    assert loaded.dropped["void_fix"] == 1


@pytest.mark.parametrize(
    ("configured", "status", "start"), [(None, "unverified", T), (2.0, "configured", T + 2.0)]
)
def test_load_video_gps_with_a_separate_file(
    tmp_path: Path, configured: float | None, status: str, start: float
) -> None:
    video = plain_video(tmp_path / "clip.mp4")
    (tmp_path / "clip.nmea").write_text(NMEA)
    loaded = load_video_gps(video, options=GpsOptions(configured_offset_s=configured))
    assert loaded.track is not None and len(loaded.track) == 3
    assert loaded.alignment is not None
    assert (loaded.alignment.status, loaded.alignment.start_utc, loaded.time_status) == (
        status,
        start,
        status,
    )
    assert loaded.dropped == {"null_island": 0, "hdop": 0, "satellites": 0, "speed": 0}
    assert loaded.track.source.startswith("sidecar nmea: ")


def test_load_video_gps_gates_and_aligns_embedded_data(tmp_path: Path) -> None:
    records = [
        mai_record(0),
        mai_record(1, lat_value=2332592),
        mai_record(2),
        mai_record(3, fix=0),
        mai_record(4),
    ]
    video = mai_clip(tmp_path / MAI_NAME, records)
    loaded = load_video_gps(video, options=GpsOptions(configured_offset_s=99.0))
    start = dt.datetime(2023, 5, 1, 4, tzinfo=dt.UTC).timestamp()
    assert loaded.track is not None and [f.t for f in loaded.track.fixes] == [start, start + 2, start + 4]
    assert loaded.dropped == {"null_island": 0, "hdop": 0, "satellites": 0, "speed": 1, "void_fix": 1}
    assert loaded.alignment is not None
    assert (loaded.alignment.status, loaded.alignment.start_utc, loaded.alignment.offset_s) == (
        "verified",
        start,
        0.0,
    )


def test_no_gps_loads_as_nothing(tmp_path: Path) -> None:
    loaded = load_video_gps(plain_video(tmp_path / "clip.mp4"))
    assert (loaded.discovery, loaded.track, loaded.dropped, loaded.alignment) == (None, None, {}, None)
    assert loaded.time_status == "unverified"


def test_loader_reads_srt_too(tmp_path: Path) -> None:
    path = tmp_path / "drive.srt"
    path.write_text(SRT)
    assert len(require_fixes(read_gps_file(path), path).fixes) == 1


@pytest.mark.parametrize(("satellites", "expected"), [("08", 8), ("12", 12), ("", None)])
def test_nmea_gga_satellites(tmp_path: Path, satellites: str, expected: int | None) -> None:
    path = tmp_path / "drive.nmea"
    path.write_text(
        "\n".join([rmc("123519"), gga("123519", satellites=satellites), gga("123520", satellites=satellites)])
    )
    fixes = read_nmea(path).fixes
    assert [f.satellites for f in fixes] == [expected, expected]


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("relative", "expected_source", "expected_fixes"),
    [("gopro_gpmf/karma.mp4", None, 0), ("dashcam_70mai/samples/NO20191130-120256-000122.MP4", "70mai", 61)],
)
def test_shared_videos(relative: str, expected_source: str | None, expected_fixes: int) -> None:
    video = SHARED_DATA / relative
    if not video.is_file():
        pytest.skip(f"shared fixture {video} is absent")
    loaded = load_video_gps(video)
    assert (loaded.discovery.source if loaded.discovery else None) == expected_source
    assert (len(loaded.track) if loaded.track else 0) == expected_fixes


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("drive.log", NMEA.encode(), "nmea"),
        ("drive.TXT", NMEA.encode(), "nmea"),
        ("drive.GPX", GPX.encode(), "gpx"),
        ("drive.srt", SRT.encode(), "srt"),
        ("GH010001.raw", gps5_payload([(22.5, 113.9, 5.0, 3.0)]), "gpmf-raw"),
    ],
)
def test_override_kinds(tmp_path: Path, name: str, content: bytes, kind: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    discovery = discover_gps(plain_video(tmp_path / "clip.mp4"), path)
    assert discovery is not None and (discovery.origin, discovery.source) == ("override", kind)
    assert len(kind) <= 16  # the store keeps it in a 16-character column
