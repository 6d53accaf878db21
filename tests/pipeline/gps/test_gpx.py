"""GPX parsing through gpxpy: tracks, routes, waypoints, times, extensions, errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from streetwatch.pipeline.gps.errors import GpsFormatError, SkipReason
from streetwatch.pipeline.gps.gpx import read_gpx

GPX11 = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1" '
    'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">\n{body}\n</gpx>\n'
)
GPX10 = '<?xml version="1.0"?>\n<gpx version="1.0" creator="test" xmlns="http://www.topografix.com/GPX/1/0">\n{body}\n</gpx>\n'


def epoch(*parts: int) -> float:
    return dt.datetime(*parts, tzinfo=dt.UTC).timestamp()


def track(*points: str) -> str:
    return "<trk><trkseg>" + "".join(points) + "</trkseg></trk>"


def trkpt(lat: float, lon: float, inner: str = "") -> str:
    return f'<trkpt lat="{lat}" lon="{lon}">{inner}</trkpt>'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "drive.gpx"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_track_points(tmp_path: Path) -> None:
    body = track(
        trkpt(31.23, 121.47, "<ele>5.5</ele><time>2024-05-01T08:30:01Z</time><hdop>0.8</hdop><fix>3d</fix>"),
        trkpt(31.24, 121.48, "<time>2024-05-01T08:30:00Z</time>"),
    )
    report = read_gpx(write(tmp_path, GPX11.format(body=body)))
    first, second = report.fixes  # sorted by time
    assert (first.t, first.lat, first.lon, first.alt) == (epoch(2024, 5, 1, 8, 30, 0), 31.24, 121.48, None)
    assert (second.t, second.alt, second.hdop, second.fix) == (epoch(2024, 5, 1, 8, 30, 1), 5.5, 0.8, 3)
    assert report.skipped == {}


@pytest.mark.parametrize(
    ("time_text", "expected"),
    [
        ("2024-05-01T08:30:00Z", epoch(2024, 5, 1, 8, 30, 0)),
        ("2024-05-01T16:30:00+08:00", epoch(2024, 5, 1, 8, 30, 0)),
        ("2024-05-01T08:30:00", epoch(2024, 5, 1, 8, 30, 0)),          # naive: UTC
        ("2024-05-01T08:30:00.250Z", epoch(2024, 5, 1, 8, 30, 0) + 0.25),
    ],
)
def test_times_become_utc_epoch_seconds(tmp_path: Path, time_text: str, expected: float) -> None:
    report = read_gpx(write(tmp_path, GPX11.format(body=track(trkpt(1, 2, f"<time>{time_text}</time>")))))
    assert report.fixes[0].t == pytest.approx(expected)


@pytest.mark.parametrize(
    ("template", "inner", "speed", "heading"),
    [
        (GPX10, "<time>2024-05-01T08:30:00Z</time><course>270.5</course><speed>12.5</speed>", 12.5, 270.5),
        (
            GPX11,
            "<time>2024-05-01T08:30:00Z</time><extensions><gpxtpx:TrackPointExtension>"
            "<gpxtpx:speed>7.25</gpxtpx:speed><gpxtpx:course>45</gpxtpx:course>"
            "</gpxtpx:TrackPointExtension></extensions>",
            7.25,
            45.0,
        ),
        (GPX11, "<time>2024-05-01T08:30:00Z</time>", None, None),
    ],
)
def test_speed_and_course_when_present(
    tmp_path: Path, template: str, inner: str, speed: float | None, heading: float | None
) -> None:
    fix = read_gpx(write(tmp_path, template.format(body=track(trkpt(1, 2, inner))))).fixes[0]
    assert (fix.speed, fix.heading) == (speed, heading)


@pytest.mark.parametrize(
    ("body", "expected_lats"),
    [
        ('<rte><rtept lat="1" lon="2"><time>2024-05-01T08:30:00Z</time></rtept>'
         '<rtept lat="3" lon="4"><time>2024-05-01T08:30:01Z</time></rtept></rte>', [1.0, 3.0]),
        ('<wpt lat="5" lon="6"><time>2024-05-01T08:30:00Z</time></wpt>', [5.0]),
        # a track wins over waypoints in the same file
        ('<wpt lat="5" lon="6"><time>2024-05-01T08:30:00Z</time></wpt>'
         + track(trkpt(7, 8, "<time>2024-05-01T08:30:00Z</time>")), [7.0]),
    ],
)
def test_routes_then_waypoints_when_no_track(tmp_path: Path, body: str, expected_lats: list[float]) -> None:
    assert [f.lat for f in read_gpx(write(tmp_path, GPX11.format(body=body))).fixes] == expected_lats


def test_point_with_fix_none_is_a_skipped_void_fix(tmp_path: Path) -> None:
    body = track(
        trkpt(1, 2, "<time>2024-05-01T08:30:00Z</time><fix>none</fix>"),
        trkpt(3, 4, "<time>2024-05-01T08:30:01Z</time>"),
    )
    report = read_gpx(write(tmp_path, GPX11.format(body=body)))
    assert [f.lat for f in report.fixes] == [3.0]
    assert report.skipped == {SkipReason.VOID_FIX: 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GPX11.format(body=track(trkpt(1, 2, "<time>2024-05-01T08:30:00Z</time>"), trkpt(3, 4))),
         "track 1 segment 1 point 2 has no usable <time>"),
        (GPX11.format(body='<wpt lat="5" lon="6"/>'), "waypoint 1 has no usable <time>"),
        ("lat,lon\n1,2\n", "not valid XML"),
        (GPX11.format(body="<trk><trkseg>"), "not valid XML"),                     # truncated
        (GPX11.format(body=""), "no track points, route points or waypoints"),
        (GPX11.format(body=track(trkpt(1, 2, "<time>yesterday</time>"))), "point 1 has no usable <time>"),
        (GPX11.format(body=track('<trkpt lat="north" lon="2"><time>2024-05-01T08:30:00Z</time></trkpt>')),
         "not a valid GPX"),
        (GPX11.format(body=track(trkpt(95, 2, "<time>2024-05-01T08:30:00Z</time>"))),
         "latitude must be within"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(GpsFormatError, match=message) as caught:
        read_gpx(path)
    assert caught.value.path == str(path)


def test_binary_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "drive.gpx"
    path.write_bytes(b"\xff\xd8\xff\xe0 not text at all")
    with pytest.raises(GpsFormatError, match="not UTF-8"):
        read_gpx(path)
