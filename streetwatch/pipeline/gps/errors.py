"""What reading a GPS file can produce: fixes, the lines it skipped, or a fatal error.

Every parser returns a ``ParseReport``: the fixes it read and, per ``SkipReason``, how many
records it had to drop (a corrupt NMEA line, a void fix). A file that cannot be read at all
(not XML, a CSV row that is broken, GGA sentences with no date anywhere) raises
``GpsFormatError``, which names the file and, where known, the line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from streetwatch.core.errors import BadInputError
from streetwatch.core.types import GpsFix


class GpsFormatError(BadInputError):
    """A GPS file that cannot be read, with the file, the line if known, and what was wrong.

    Attributes:
        path: The file, as given.
        message: What was expected and what was found.
        line: 1-based line number in the file, when the problem has one.
    """

    def __init__(self, path: str | os.PathLike[str], message: str, line: int | None = None) -> None:
        self.path = os.fspath(path)
        self.message = message
        self.line = line
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[type[GpsFormatError], tuple[str, str, int | None]]:
        # the default reduce would call __init__ with the formatted text only; workers
        # (multiprocessing, Ray) must be able to send this error back whole
        return (type(self), (self.path, self.message, self.line))


class SkipReason(StrEnum):
    """Why a parser dropped a record without failing the file."""

    BAD_CHECKSUM = "bad_checksum"          # NMEA line whose *HH checksum does not match its text
    MISSING_CHECKSUM = "missing_checksum"  # NMEA line without *HH: cannot be trusted
    MALFORMED = "malformed"                # a line or field that cannot be parsed
    VOID_FIX = "void_fix"                  # RMC status V, or a GPX point with <fix>none</fix>
    NO_FIX = "no_fix"                      # GGA fix quality 0
    NO_DATE = "no_date"                    # GGA with only a time of day and no date to attach it to

    def describe(self, count: int) -> str:
        """Say ``count`` of this reason in words, e.g. ``"3 lines had bad checksums"``."""
        singular, plural = _PHRASES[self]
        return f"{count} {singular if count == 1 else plural}"


_PHRASES: dict[SkipReason, tuple[str, str]] = {
    SkipReason.BAD_CHECKSUM: ("line had a bad checksum", "lines had bad checksums"),
    SkipReason.MISSING_CHECKSUM: ("line had no checksum", "lines had no checksum"),
    SkipReason.MALFORMED: ("line was malformed", "lines were malformed"),
    SkipReason.VOID_FIX: ("void fix", "void fixes"),
    SkipReason.NO_FIX: ("GGA without a fix (quality 0)", "GGAs without a fix (quality 0)"),
    SkipReason.NO_DATE: ("GGA without a date", "GGAs without a date"),
}


@dataclass(frozen=True, slots=True)
class ParseReport:
    """The outcome of reading one GPS file.

    Attributes:
        path: The file that was read.
        fixes: The usable fixes, sorted by time.
        skipped: How many records were dropped, per reason (reasons with no drops are absent).
        examples: The first few drops with their line numbers, for error messages and logs,
            e.g. ``"line 12: bad NMEA checksum (expected 4A, got 4B)"``.
        dated_skips: UTC epoch times of dropped records that still carried a time (a void fix:
            the receiver was logging, but had no position yet), sorted. They say when the log
            began even when its first records were unusable.
    """

    path: str
    fixes: tuple[GpsFix, ...]
    skipped: Mapping[SkipReason, int] = field(default_factory=dict)
    examples: tuple[str, ...] = ()
    dated_skips: tuple[float, ...] = ()

    def record_times(self) -> list[float]:
        """The times of every record read, usable or not (fixes and dated skips), sorted."""
        return sorted([fix.t for fix in self.fixes] + list(self.dated_skips))

    @property
    def skipped_total(self) -> int:
        """How many records were dropped, all reasons together."""
        return sum(self.skipped.values())

    def describe_skipped(self) -> str:
        """The drops in words, e.g. ``"3 lines had bad checksums, 2 void fixes"``; empty if none."""
        return ", ".join(reason.describe(count) for reason, count in self.skipped.items() if count)


class SkipCounter:
    """Collects the drops while a parser runs; becomes part of its ``ParseReport``."""

    max_examples = 5

    def __init__(self) -> None:
        self.counts: dict[SkipReason, int] = {}
        self.examples: list[str] = []
        self.times: list[float] = []

    def skip(self, reason: SkipReason, line: int | None, detail: str, *, t: float | None = None) -> None:
        """Count one dropped record, keeping the first few details for messages (and its time, if known)."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if len(self.examples) < self.max_examples:
            self.examples.append(detail if line is None else f"line {line}: {detail}")
        if t is not None and math.isfinite(t):
            self.times.append(t)

    def report(self, path: str | os.PathLike[str], fixes: list[GpsFix]) -> ParseReport:
        """The report for ``fixes`` (sorted here by time) and the drops counted so far."""
        ordered = tuple(sorted(fixes, key=lambda fix: fix.t))
        return ParseReport(os.fspath(path), ordered, dict(self.counts), tuple(self.examples),
                           tuple(sorted(self.times)))
