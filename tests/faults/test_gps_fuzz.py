"""The GPS parsers fuzzed: mutated real and generated inputs raise nothing but our own errors.

Each parser is fed its format's valid seeds (NMEA, GPX, CSV and SRT text written here, GoPro
GPMF payloads and 70mai clips from ``../shared/data``) after hypothesis has mutated them: bytes
flipped, ranges cut out, doubled or truncated, random bytes inserted. Whatever a parser makes of
it, it may return a report (with skipped records counted) or raise a
:class:`~streetwatch.core.errors.StreetwatchError` (whose message and exit code the CLI shows);
anything else (``IndexError``, ``struct.error``, ``UnicodeDecodeError``, ``OverflowError`` ...)
is a crash a depot's night of footage would stop on, and fails the test with the input that
caused it (hypothesis shrinks it).
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streetwatch.core.errors import StreetwatchError
from streetwatch.pipeline.gps.dashcam_boxes import read_70mai_gps
from streetwatch.pipeline.gps.errors import ParseReport
from streetwatch.pipeline.gps.gpmf import parse_klv, read_gpmf_raw
from streetwatch.pipeline.gps.loader import read_gps_file
from streetwatch.pipeline.gps.srt import parse_srt_cues
from streetwatch.pipeline.gps.timing import GpsReading, parse_timezone
from tests.pipeline.gps.media_builders import SHARED_DATA, gps5_payload, mai_clip, mai_record
from tests.pipeline.gps.nmea_lines import gga, rmc, with_wrong_checksum, zda

CST = parse_timezone("+08:00")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

NMEA_SEED = "\r\n".join([
    zda("120000.00", 1, 5, 2023),
    rmc("120000.00"), gga("120000.00"),
    rmc("120001.00"), gga("120001.00"),
    with_wrong_checksum(rmc("120002.00")),
    rmc("120003.00"),
]).encode()
GPX_SEED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="t" '
    b'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
    b'<trkpt lat="22.5432" lon="113.9876"><ele>12.5</ele><time>2023-05-01T04:00:00Z</time><hdop>0.9</hdop></trkpt>'
    b'<trkpt lat="22.5433" lon="113.9877"><time>2023-05-01T04:00:01.5Z</time><speed>9.5</speed></trkpt>'
    b"</trkseg></trk></gpx>\n"
)
CSV_SEED = (
    b"time,lat,lon,alt,heading,speed,hdop,fix\n"
    b"2023-05-01T04:00:00Z,22.5432,113.9876,12.5,90,9.5,0.9,3\n"
    b"2023-05-01T04:00:01Z,22.5433,113.9877,12.6,91,9.6,0.8,3\n"
    b"1682913602.5,22.5434,113.9878,,,,,\n"
)
SRT_SEED = (
    b"1\n00:00:00,000 --> 00:00:01,000\n2023/05/01 12:00:00 N22.5432 E113.9876 45km/h\n\n"
    b'2\n00:00:01,000 --> 00:00:02,000\n<font size="28">FrameCnt: 30\n2023-05-01 12:00:01.500\n'
    b"[latitude: 22.543210] [longitude: 113.987654] [rel_alt: 1.200 abs_alt: 18.567] </font>\n\n"
    b"3\n00:00:02,000 --> 00:00:03,000\nHOME(113.9876,22.5432) 2023.05.01 12:00:02\nGPS(113.9877,22.5433,16)\n"
)
TEXT_SEEDS = {".nmea": NMEA_SEED, ".gpx": GPX_SEED, ".csv": CSV_SEED, ".srt": SRT_SEED}


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` after one to six random edits."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        size = len(data)
        at = draw(st.integers(0, max(size - 1, 0)))
        edit = draw(st.sampled_from(["flip", "cut", "insert", "double", "truncate", "digit"]))
        if edit == "flip" and size:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut" and size:
            del data[at:at + draw(st.integers(1, 64))]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif edit == "double" and size:
            data[at:at] = data[at:at + draw(st.integers(1, 256))]
        elif edit == "truncate":
            del data[at:]
        elif edit == "digit" and size:  # numbers blown up: huge, negative, NaN-like text
            data[at:at] = draw(st.sampled_from([b"9" * 40, b"-", b"nan", b"inf", b"1e400", b".", b"\x00", b"99:99"]))
    return bytes(data)


def _shared(path: str) -> bytes:
    file = SHARED_DATA / path
    if not file.exists():
        pytest.skip(f"{file} is missing: the GPMF and 70mai seeds come from ../shared/data")
    return file.read_bytes()


def _check_report(report: ParseReport) -> None:
    """A report that came back holds only finite, in-range fixes."""
    for fix in report.fixes:
        assert math.isfinite(fix.t) and math.isfinite(fix.lat) and math.isfinite(fix.lon)
        assert -90.0 <= fix.lat <= 90.0 and -180.0 <= fix.lon <= 180.0


def _survives(call: Callable[[], object]) -> object:
    """``call()``, where our own errors are an acceptable answer to broken input."""
    try:
        return call()
    except StreetwatchError as exc:
        assert str(exc)  # our errors say what is wrong
        return None


@pytest.mark.parametrize("suffix", sorted(TEXT_SEEDS))
def test_text_gps_files_raise_only_our_errors(suffix: str) -> None:
    @FUZZ
    @given(data=mutated(TEXT_SEEDS[suffix]))
    def check(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"track{suffix}"
            path.write_bytes(data)
            report = _survives(lambda: read_gps_file(path))
            if isinstance(report, ParseReport):
                _check_report(report)

    check()


def test_text_seeds_parse_unmutated(tmp_path: Path) -> None:
    """The seeds are real inputs: every parser reads fixes from its unmutated seed."""
    for suffix, data in TEXT_SEEDS.items():
        path = tmp_path / f"track{suffix}"
        path.write_bytes(data)
        assert read_gps_file(path).fixes, suffix


@FUZZ
@given(text=st.text(max_size=400) | mutated(SRT_SEED).map(lambda b: b.decode("utf-8", "replace")))
def test_srt_cues_from_any_text(text: str) -> None:
    _survives(lambda: parse_srt_cues(text))


@pytest.mark.shared_data
@pytest.mark.parametrize("sample", ["hero5.raw", "hero6.raw", "Fusion.raw", "karma.raw"])
def test_gpmf_payloads_raise_only_our_errors(sample: str) -> None:
    seed = _shared(f"gopro_gpmf/{sample}")
    assert parse_klv(seed)  # a real payload (karma.raw's has no GPS stream: read_gpmf_raw says so)

    @FUZZ
    @given(data=mutated(seed))
    def check(data: bytes) -> None:
        _survives(lambda: parse_klv(data))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "gps.raw"
            path.write_bytes(data)
            reading = _survives(lambda: read_gpmf_raw(path))
            if isinstance(reading, GpsReading):
                _check_report(reading.report)

    check()


@pytest.mark.shared_data
def test_70mai_clips_raise_only_our_errors() -> None:
    samples = sorted((SHARED_DATA / "dashcam_70mai" / "samples").glob("*.MP4"))
    if not samples:
        pytest.skip("../shared/data/dashcam_70mai/samples is missing")
    seeds = [sample.read_bytes() for sample in samples]
    with tempfile.TemporaryDirectory() as folder:
        built = mai_clip(Path(folder) / "NO20230501-120000-000001.MP4", [mai_record(i) for i in range(4)])
        seeds.append(built.read_bytes())

    @FUZZ
    @given(data=st.sampled_from(seeds).flatmap(mutated), name=st.sampled_from([s.name for s in samples]))
    def check(data: bytes, name: str) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            reading = _survives(lambda: read_70mai_gps(path, CST))
            if isinstance(reading, GpsReading):
                _check_report(reading.report)

    check()


def test_the_fuzzer_catches_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness can fail: a parser that raises a bare IndexError on some input is caught."""
    import streetwatch.pipeline.gps.loader as loader

    def fragile(path: object) -> ParseReport:
        if b"\x00" in Path(str(path)).read_bytes() or len(Path(str(path)).read_bytes()) < len(CSV_SEED):
            raise IndexError("list index out of range")
        return ParseReport(path=str(path), fixes=())

    monkeypatch.setitem(loader._READERS, ".csv", fragile)

    @FUZZ
    @given(data=mutated(CSV_SEED))
    def check(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "track.csv"
            path.write_bytes(data)
            _survives(lambda: read_gps_file(path))

    with pytest.raises(IndexError):
        check()


def test_dates_in_the_seeds_are_what_the_parsers_read() -> None:
    """A sanity check on the seeds' clock: 2023-05-01 04:00 UTC (12:00 at +08:00)."""
    assert dt.datetime(2023, 5, 1, 4, tzinfo=dt.UTC).timestamp() == 1682913600.0


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (gps5_payload([(22.5, 113.9, 10.0, 5.0)] * 3, scal=(0, 10_000_000, 1000, 1000, 100)), "zero SCAL"),
        (gps5_payload([(22.5, 113.9, 10.0, 5.0)] * 3, gpsu="231399999999.000"), "impossible GPSU date"),
    ],
    ids=["zero-scale", "bad-gpsu"],
)
def test_well_formed_gpmf_with_impossible_values_is_skipped_not_raised(tmp_path: Path, payload: bytes,
                                                                      why: str) -> None:
    """What the fuzzer rarely hits: a payload whose layout is right but whose values cannot be used (a
    zero scale divides by zero, an impossible GPSU date) is counted as malformed, never a crash."""
    path = tmp_path / "gps.raw"
    path.write_bytes(payload)
    report = _survives(lambda: read_gpmf_raw(path))
    if isinstance(report, GpsReading):
        assert not report.report.fixes and report.report.skipped_total >= 1, why
