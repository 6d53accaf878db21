"""NMEA 0183 parsing: RMC/GGA/ZDA, checksums, void fixes, GGA merging and midnight."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from streetwatch.pipeline.gps.errors import GpsFormatError, SkipReason
from streetwatch.pipeline.gps.nmea import KNOTS_TO_M_PER_S, read_nmea
from tests.pipeline.gps.nmea_lines import checksum, gga, rmc, sentence, with_wrong_checksum, zda

LAT = 48 + 7.038 / 60   # 4807.038,N
LON = 11 + 31.000 / 60  # 01131.000,E


def epoch(*parts: int) -> float:
    return dt.datetime(*parts, tzinfo=dt.UTC).timestamp()


def write(tmp_path: Path, lines: list[str], name: str = "drive.nmea") -> Path:
    path = tmp_path / name
    path.write_text("\r\n".join(lines) + "\r\n", encoding="ascii")
    return path


def test_reads_rmc_with_merged_gga(tmp_path: Path) -> None:
    lines = [
        sentence("GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00"),  # ignored type
        rmc("123519"), gga("123519"),
        rmc("123520", lat="4807.040", lon="01131.010", ns="S", ew="W", knots="", course=""),
    ]
    report = read_nmea(write(tmp_path, lines))
    assert report.skipped == {}
    first, second = report.fixes
    assert first.t == epoch(1994, 3, 23, 12, 35, 19)
    assert (first.lat, first.lon) == pytest.approx((LAT, LON))
    assert first.speed == pytest.approx(22.4 * KNOTS_TO_M_PER_S)
    assert first.heading == pytest.approx(84.4)
    assert (first.alt, first.hdop, first.fix) == (545.4, 0.9, 1)
    assert second.t == first.t + 1
    assert (second.lat, second.lon) == pytest.approx((-(48 + 7.040 / 60), -(11 + 31.010 / 60)))
    assert (second.speed, second.heading, second.alt, second.fix) == (None, None, None, None)


@pytest.mark.parametrize("talker", ["GP", "GN", "GL", "GA", "BD"])
def test_any_talker(tmp_path: Path, talker: str) -> None:
    report = read_nmea(write(tmp_path, [rmc(talker=talker), gga(talker=talker, quality="2")]))
    assert len(report.fixes) == 1
    assert report.fixes[0].fix == 2


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (with_wrong_checksum(rmc("123520")), SkipReason.BAD_CHECKSUM),
        (rmc("123520")[:-3], SkipReason.MISSING_CHECKSUM),         # "*HH" cut off
        (rmc("123520")[:30], SkipReason.MISSING_CHECKSUM),         # truncated sentence
        (rmc("123520", status="V"), SkipReason.VOID_FIX),
        (sentence("GPRMC,,V,,,,,,,,,,N"), SkipReason.VOID_FIX),   # receiver still starting
        (gga("123520", quality="0", lat="", ns="", lon="", ew=""), SkipReason.NO_FIX),
        (rmc("12x520"), SkipReason.MALFORMED),                      # bad time
        (rmc("123520", date="310294"), SkipReason.MALFORMED),      # 31 February
        (rmc("123520", lat="", ns=""), SkipReason.MALFORMED),      # active fix without a position
        (rmc("123520", lat="9107.000"), SkipReason.MALFORMED),     # latitude 91
        (rmc("123520", knots="fast"), SkipReason.MALFORMED),
        (gga("123520", quality="x"), SkipReason.MALFORMED),
        ("$" + "\x00\x01garbage", SkipReason.MALFORMED),
        ("no dollar sign here, just a logger note", None),
        (sentence("GPXYZ,1,2,3"), None),                            # well-formed, unknown type
        (sentence("GPVTG,054.7,T,034.4,M,005.5,N,010.2,K"), None),  # known type we do not use
        ("", None),
    ],
)
def test_bad_lines_are_skipped_and_counted(tmp_path: Path, bad_line: str, reason: SkipReason | None) -> None:
    report = read_nmea(write(tmp_path, [rmc("123519"), bad_line, rmc("123521")]))
    assert [f.t for f in report.fixes] == [epoch(1994, 3, 23, 12, 35, 19), epoch(1994, 3, 23, 12, 35, 21)]
    assert report.skipped == ({} if reason is None else {reason: 1})
    if reason is not None:
        assert report.examples[0].startswith("line 2: ")


def test_bad_checksum_example_says_expected_and_found(tmp_path: Path) -> None:
    good = rmc("123520")
    bad = with_wrong_checksum(good)
    report = read_nmea(write(tmp_path, [rmc("123519"), bad]))
    expected = f"{checksum(good[1:good.index('*')]):02X}"
    found = bad[-2:]
    assert report.examples == (f"line 2: bad NMEA checksum (expected {expected}, got {found})",)
    assert report.describe_skipped() == "1 line had a bad checksum"


def test_logger_prefix_before_dollar_is_ignored(tmp_path: Path) -> None:
    lines = [f"2024-01-01 10:00:0{i} [gps] {rmc(f'12351{i}')}" for i in range(3)]
    assert len(read_nmea(write(tmp_path, lines)).fixes) == 3


@pytest.mark.parametrize(
    ("lines", "expected_times"),
    [
        # RMC carries its own date: 23:59:59 on 31 Dec, then 00:00:00 on 1 Jan
        ([rmc("235959", "311223"), rmc("000000", "010124")],
         [epoch(2023, 12, 31, 23, 59, 59), epoch(2024, 1, 1, 0, 0, 0)]),
        # a GGA after midnight is dated from the RMC before it: next day
        ([rmc("235959.50", "311223"), gga("000000.50")],
         [epoch(2023, 12, 31, 23, 59, 59) + 0.5, epoch(2024, 1, 1, 0, 0, 0) + 0.5]),
        # a GGA before midnight, ahead of the first RMC (after midnight): previous day
        ([gga("235959"), rmc("000000", "010124")],
         [epoch(2023, 12, 31, 23, 59, 59), epoch(2024, 1, 1, 0, 0, 0)]),
        # a ZDA dates GGAs just as well
        ([zda("235958", 31, 12, 2023), gga("235959"), gga("000000")],
         [epoch(2023, 12, 31, 23, 59, 59), epoch(2024, 1, 1, 0, 0, 0)]),
    ],
)
def test_midnight_rollover(tmp_path: Path, lines: list[str], expected_times: list[float]) -> None:
    assert [f.t for f in read_nmea(write(tmp_path, lines)).fixes] == expected_times


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # (t offset from 12:35:19, alt, fix quality, speed known) per fix
        ([rmc("123519"), gga("123519", alt="10.0")], [(0, 10.0, 1, True)]),
        ([gga("123519", alt="10.0"), rmc("123519")], [(0, 10.0, 1, True)]),          # GGA first
        ([rmc("123519"), gga("123520", alt="11.0")], [(0, None, None, True), (1, 11.0, 1, False)]),
        ([rmc("123519"), gga("123519", alt="1"), gga("123519", alt="2")], [(0, 1.0, 1, True)]),
        ([rmc("123519", status="V"), gga("123519")], []),  # the RMC called that instant void
        ([rmc("123519"), gga("123519", quality="0")], [(0, None, None, True)]),
    ],
)
def test_gga_merges_into_rmc_of_the_same_instant(
    tmp_path: Path, lines: list[str], expected: list[tuple[int, float | None, int | None, bool]]
) -> None:
    fixes = read_nmea(write(tmp_path, lines)).fixes
    base = epoch(1994, 3, 23, 12, 35, 19)
    assert [(f.t - base, f.alt, f.fix, f.speed is not None) for f in fixes] == expected


def test_gga_only_without_any_date_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GpsFormatError, match="only a time of day") as caught:
        read_nmea(write(tmp_path, [gga("123519"), gga("123520"), with_wrong_checksum(gga("123521"))]))
    assert "2 GGA fixes" in str(caught.value)


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(GpsFormatError, match="cannot read"):
        read_nmea(tmp_path / "absent.nmea")
