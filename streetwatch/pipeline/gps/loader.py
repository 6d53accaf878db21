"""One entry point for GPS files: pick the parser by file type, return a ``GpsTrack``.

=====================================  ==============================================
suffix (any case)                      read as
=====================================  ==============================================
``.gpx``                               GPX (``read_gpx``)
``.nmea``, ``.nmea0183``, ``.log``,    NMEA 0183 (``read_nmea``), once the start of the
``.txt``                               file is seen to hold ``$--RMC`` or ``$--GGA``
``.csv``                               CSV (``read_csv``)
``.srt``                               SRT subtitles with positions (``read_srt``; local
                                       times in UTC+08:00, see ``streetwatch.pipeline.gps.timing``)
=====================================  ==============================================

Video files with embedded GPS, and finding a video's GPS without being told, are the job of
``streetwatch.pipeline.gps.source``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from streetwatch.pipeline.gps.csv_source import read_csv
from streetwatch.pipeline.gps.errors import GpsFormatError, ParseReport
from streetwatch.pipeline.gps.gpx import read_gpx
from streetwatch.pipeline.gps.nmea import read_nmea
from streetwatch.pipeline.gps.srt import read_srt

logger = logging.getLogger(__name__)

NMEA_SUFFIXES = frozenset({".nmea", ".nmea0183", ".log", ".txt"})
_READERS: dict[str, Callable[[str | os.PathLike[str]], ParseReport]] = {
    ".gpx": read_gpx,
    ".csv": read_csv,
    ".srt": lambda path: read_srt(path).report,
    **dict.fromkeys(NMEA_SUFFIXES, read_nmea),
}
_SNIFF_BYTES = 1 << 20  # an NMEA log repeats RMC/GGA every second: the first MiB shows it
_NMEA_POSITION_SENTENCE = re.compile(rb"\$[A-Z]{2}(?:RMC|GGA),")


def read_gps_file(path: str | os.PathLike[str]) -> ParseReport:
    """Read any supported GPS file into fixes, with the counts of skipped records.

    Args:
        path: A ``.gpx``, ``.csv``, ``.srt`` or NMEA log (``.nmea``, ``.nmea0183``, ``.log``, ``.txt``).

    Returns:
        The parser's report: fixes sorted by time, and what was skipped.

    Raises:
        GpsFormatError: If the file is missing, of an unknown type, not the format its suffix
            promises, or broken in a way its parser does not tolerate.
    """
    file = Path(path)
    if not file.exists():
        raise GpsFormatError(path, "no such file")
    if not file.is_file():
        raise GpsFormatError(path, "not a regular file")
    suffix = file.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        known = ", ".join(sorted(_READERS))
        kind = suffix or "(no suffix)"
        raise GpsFormatError(path, f"unknown GPS file type {kind!r}; expected one of {known}")
    if suffix in NMEA_SUFFIXES and not _looks_like_nmea(file):
        raise GpsFormatError(
            path, f"not an NMEA 0183 log: no $--RMC or $--GGA sentence in its first {_SNIFF_BYTES} bytes"
        )
    return reader(path)


def require_fixes(report: ParseReport, path: str | os.PathLike[str]) -> ParseReport:
    """Check that a parsed GPS source holds a usable fix, after logging what it skipped.

    Skipped records (bad checksums, void fixes) are logged as a warning; a source with no usable
    fix at all is an error that says what was skipped.

    Raises:
        GpsFormatError: The report holds no usable fix.
    """
    if report.skipped_total:
        logger.warning(
            "skipped records in %s: %s (e.g. %s)",
            report.path, report.describe_skipped(), "; ".join(report.examples[:2]),
        )
    if not report.fixes:
        why = report.describe_skipped() or "the file holds no position records"
        raise GpsFormatError(path, f"no usable GPS fixes: {why}")
    return report


def _looks_like_nmea(file: Path) -> bool:
    try:
        with file.open("rb") as stream:
            head = stream.read(_SNIFF_BYTES)
    except OSError as exc:
        raise GpsFormatError(file, f"cannot read file: {exc.strerror or exc}") from exc
    return _NMEA_POSITION_SENTENCE.search(head) is not None
