"""CSV exports: columns, aliases, time formats, and loud failure on bad rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from streetwatch.pipeline.gps.csv_source import read_csv
from streetwatch.pipeline.gps.errors import GpsFormatError

T = dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.UTC).timestamp()


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "drive.csv"
    path.write_text(text, encoding=encoding)
    return path


def test_reads_all_columns(tmp_path: Path) -> None:
    text = (
        "time,lat,lon,alt,heading,speed,hdop,fix,driver\n"
        "2024-05-01T08:30:01Z,31.24,121.48,,,,,,bob\n"
        "2024-05-01T08:30:00Z,31.23,121.47,5.5,90,12.5,0.7,3,bob\n"
        "\n"
    )
    report = read_csv(write(tmp_path, text))
    first, second = report.fixes  # sorted by time
    assert (first.t, first.lat, first.lon, first.alt, first.heading, first.speed, first.hdop, first.fix) == (
        T, 31.23, 121.47, 5.5, 90.0, 12.5, 0.7, 3
    )
    assert (second.t, second.alt, second.heading, second.speed, second.hdop, second.fix) == (
        T + 1, None, None, None, None, None
    )
    assert report.skipped == {}


@pytest.mark.parametrize(
    ("time_text", "expected"),
    [
        ("2024-05-01T08:30:00Z", T),
        ("2024-05-01T16:30:00+08:00", T),
        ("2024-05-01T08:30:00", T),              # naive: UTC
        ("2024-05-01 08:30:00.5", T + 0.5),
        (f"{T:.0f}", T),                         # epoch seconds
        (f"{T + 0.25}", T + 0.25),
    ],
)
def test_time_formats(tmp_path: Path, time_text: str, expected: float) -> None:
    report = read_csv(write(tmp_path, f"time,lat,lon\n{time_text},1,2\n"))
    assert report.fixes[0].t == pytest.approx(expected)


@pytest.mark.parametrize(
    "header",
    [
        "Timestamp,Latitude,Longitude,Elevation,Course",
        " TIME , LAT , LNG , ALT , HEADING ",
        "lon,time,lat,altitude,course",          # order does not matter
    ],
)
def test_header_aliases_and_case(tmp_path: Path, header: str) -> None:
    names = [cell.strip().lower() for cell in header.split(",")]
    values = {"time": str(T), "lat": "31.2", "lon": "121.4", "alt": "3", "heading": "45"}
    canonical = {
        "timestamp": "time", "time": "time", "latitude": "lat", "lat": "lat",
        "longitude": "lon", "lon": "lon", "lng": "lon",
        "elevation": "alt", "alt": "alt", "altitude": "alt", "course": "heading", "heading": "heading",
    }
    row = ",".join(values[canonical[name]] for name in names)
    fix = read_csv(write(tmp_path, f"{header}\n{row}\n")).fixes[0]
    assert (fix.t, fix.lat, fix.lon, fix.alt, fix.heading) == (T, 31.2, 121.4, 3.0, 45.0)


def test_byte_order_mark_is_fine(tmp_path: Path) -> None:
    assert len(read_csv(write(tmp_path, f"time,lat,lon\n{T},1,2\n", encoding="utf-8-sig")).fixes) == 1


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        (f"{T},north,2", "lat is 'north', expected a number"),
        (f"{T},95,2", "latitude must be within"),
        (f"{T},1,200", "longitude must be within"),
        (f"{T},nan,2", "expected a finite number"),
        (f"{T},,2", "lat is empty"),
        (",1,2", "time is empty"),
        ("yesterday,1,2", "time is 'yesterday', expected ISO 8601 or UTC epoch seconds"),
        (f"{T * 1000:.0f},1,2", "milliseconds"),
        (f"{T},1", "2 fields, but the header has 3"),
        (f"{T},1,2,3", "4 fields, but the header has 3"),
    ],
)
def test_bad_row_fails_with_its_line_number(tmp_path: Path, bad_row: str, message: str) -> None:
    path = write(tmp_path, f"time,lat,lon\n{T},1,2\n{bad_row}\n{T + 2},1,2\n")
    with pytest.raises(GpsFormatError, match=message) as caught:
        read_csv(path)
    assert caught.value.line == 3
    assert str(caught.value).startswith(f"{path}, line 3: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("time,lat\n1,2\n", "lacks required column.*lon or longitude or lng.*found time, lat"),
        (f"{T},1,2\n{T + 1},1,2\n", "lacks required column"),        # no header row
        ("time,lat,latitude,lon\n", "all mean 'lat'"),
        ("time,lat,lon,fix\n1,2,3,3d\n", "fix is '3d', expected an integer"),
    ],
)
def test_bad_header_or_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(GpsFormatError, match=message):
        read_csv(write(tmp_path, text))
