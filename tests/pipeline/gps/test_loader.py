"""read_gps_file + require_fixes: dispatch by suffix, clear errors, and the no-usable-fixes message."""

from __future__ import annotations

import datetime as dt
import logging
import pickle
from pathlib import Path

import pytest

from streetwatch.pipeline.gps.errors import GpsFormatError, SkipReason
from streetwatch.pipeline.gps.loader import read_gps_file, require_fixes
from streetwatch.pipeline.gps.track import GpsTrack
from tests.pipeline.gps.nmea_lines import gga, rmc, with_wrong_checksum

T = dt.datetime(1994, 3, 23, 12, 35, 19, tzinfo=dt.UTC).timestamp()
NMEA = "\n".join([rmc("123519"), gga("123519"), rmc("123520"), rmc("123530")]) + "\n"
CSV = f"time,lat,lon\n{T},48.1173,11.5167\n{T + 1},48.1174,11.5167\n{T + 11},48.1175,11.5167\n"
GPX = (
    '<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
    + "".join(
        f'<trkpt lat="48.1173" lon="11.5167"><time>1994-03-23T12:35:{s}Z</time></trkpt>' for s in (19, 20, 30)
    )
    + "</trkseg></trk></gpx>"
)


def track_of(path: Path, max_gap_s: float = 5.0) -> GpsTrack:
    """A GPS file as the pipeline reads it: parsed by suffix, required to hold a fix, tracked."""
    report = require_fixes(read_gps_file(path), path)
    return GpsTrack(report.fixes, max_gap_s=max_gap_s, source=report.path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("drive.nmea", NMEA),
        ("drive.NMEA", NMEA),
        ("drive.nmea0183", NMEA),
        ("drive.log", "logger started\n" + NMEA),
        ("drive.txt", NMEA),
        ("drive.csv", CSV),
        ("drive.gpx", GPX),
        ("DRIVE.GPX", GPX),
    ],
)
def test_dispatches_by_suffix(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    track = track_of(path, max_gap_s=5.0)
    assert (len(track), track.start, track.end) == (3, T, T + 11)
    assert track.source == str(path)
    assert track.max_gap_s == 5.0
    assert track.pose_at(T + 0.5) is not None
    assert track.pose_at(T + 5) is None  # 10 s between the last two fixes is a gap


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("drive.kml", "<kml/>", "unknown GPS file type '.kml'; expected one of .csv, .gpx, .log"),
        ("drive", "x", "unknown GPS file type '\\(no suffix\\)'"),
        ("notes.txt", "just some notes, no GPS\n", "not an NMEA 0183 log"),
        ("drive.log", "$GPGSV,1,1,00*79\n", "not an NMEA 0183 log"),
        ("absent.gpx", None, "no such file"),
        ("folder.csv", "DIR", "not a regular file"),
        ("empty.csv", "time,lat,lon\n", "no usable GPS fixes: the file holds no position records"),
    ],
)
def test_clear_errors(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    with pytest.raises(GpsFormatError, match=message) as caught:
        track_of(path)
    assert caught.value.path == str(path)


def test_no_usable_fixes_says_what_was_skipped(tmp_path: Path) -> None:
    lines = [with_wrong_checksum(rmc(f"12352{i}")) for i in range(3)]
    lines += [rmc("123530", status="V"), rmc("123531", status="V")]
    path = tmp_path / "drive.nmea"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(GpsFormatError) as caught:
        track_of(path)
    assert str(caught.value) == f"{path}: no usable GPS fixes: 3 lines had bad checksums, 2 void fixes"


def test_skipped_lines_are_counted_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "drive.nmea"
    path.write_text("\n".join([rmc("123519"), with_wrong_checksum(rmc("123520")), rmc("123521")]) + "\n")
    assert read_gps_file(path).skipped == {SkipReason.BAD_CHECKSUM: 1}
    with caplog.at_level(logging.WARNING, logger="streetwatch.pipeline.gps.loader"):
        assert len(track_of(path)) == 2
    assert "1 line had a bad checksum" in caplog.text
    assert "line 2: bad NMEA checksum" in caplog.text


@pytest.mark.parametrize(
    ("line", "expected"), [(12, "f.nmea, line 12: bad thing"), (None, "f.nmea: bad thing")]
)
def test_format_error_text_and_pickling(line: int | None, expected: str) -> None:
    error = GpsFormatError(Path("f.nmea"), "bad thing", line)
    assert str(error) == expected
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.path, copy.message, copy.line, str(copy)) == (
        GpsFormatError, "f.nmea", "bad thing", line, expected
    )
