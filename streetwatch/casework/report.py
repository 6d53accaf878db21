"""The monthly report (通报): KPIs of one month, overall, per responsible unit and per grid, as Markdown or CSV.

Units and grids are ranked by 按期结案率 (on-time closure rate, the figure a city's 通报 ranks
by), then 按期处置率, then name; groups with nothing to rate come last.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from streetwatch.casework.kpis import COUNT_NAMES, RATE_NAMES, KpiRow
from streetwatch.store.column_types import MAX_SUPPORTED_TIME, MIN_SUPPORTED_TIME

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
COLUMNS_ZH = {
    "filed": "立案数", "dispatched": "派遣数", "handled": "处置数", "handled_on_time": "按期处置数",
    "closed": "结案数", "closed_on_time": "按期结案数", "ever_handled": "处置过", "reworked": "返工数",
    "extended": "延期数", "disposal_rate": "处置率", "on_time_disposal_rate": "按期处置率", "closure_rate": "结案率",
    "on_time_closure_rate": "按期结案率", "rework_rate": "返工率", "extension_rate": "延期率",
    "avg_handling_hours": "平均处置时长(小时)", "avg_handling_working_hours": "平均处置时长(工作小时)",
}
_TABLE = ("filed", "dispatched", "handled", "handled_on_time", "closed", "closed_on_time", "disposal_rate",
          "on_time_disposal_rate", "closure_rate", "on_time_closure_rate", "rework_rate", "extension_rate",
          "avg_handling_working_hours")
REPORT_COLUMNS = _TABLE  # the report's columns, in order (the PDF's tables take theirs from here)


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    """One month's KPIs."""

    month: str
    since: datetime
    until: datetime
    total: KpiRow
    by_unit: list[KpiRow]
    by_grid: list[KpiRow]
    generated_at: datetime


def month_bounds(month: str, timezone: ZoneInfo) -> tuple[datetime, datetime]:
    """``"2026-11"`` -> (2026-11-01 00:00, 2026-12-01 00:00) in ``timezone``.

    Raises:
        ValueError: Not a ``YYYY-MM`` month.
    """
    match = _MONTH.match(month)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month must look like 2026-11 (YYYY-MM), got {month!r}")
    year, number = int(match.group(1)), int(match.group(2))
    first, last = MIN_SUPPORTED_TIME.year, MAX_SUPPORTED_TIME.year - 1
    if not first <= year <= last:
        raise ValueError(f"month must be within {first}-01 and {last}-12, got {month!r}")
    since = datetime(year, number, 1, tzinfo=timezone)
    until = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=timezone)
    return since, until


def ranked(rows: list[KpiRow]) -> list[KpiRow]:
    """Rows best first: on-time closure rate, then on-time disposal rate (None last), then name."""
    def key(row: KpiRow) -> tuple[float, float, str]:
        closure, disposal = row.on_time_closure_rate, row.on_time_disposal_rate
        return (-(closure if closure is not None else -1.0), -(disposal if disposal is not None else -1.0),
                row.key or "")
    return sorted(rows, key=key)


def _value(row: KpiRow, name: str) -> str:
    value = getattr(row, name)
    if value is None:
        return "—"
    if name in RATE_NAMES:
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[KpiRow], first: str, unnamed: str = "（未分配）") -> list[str]:
    header = [first, *(COLUMNS_ZH[name] for name in _TABLE)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join([_cell(row.key or unnamed), *(_value(row, n) for n in _TABLE)]) + " |")
    return lines


def render_markdown(report: MonthlyReport) -> str:
    """The report as a Markdown document (Chinese headings, English notes)."""
    zone = report.since.tzinfo
    year, month = report.month.split("-")
    lines = [
        f"# {year}年{int(month)}月 城市管理问题处置情况通报",
        "",
        f"Monthly report {report.month}: period {report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} "
        f"({zone}), generated {report.generated_at.astimezone(zone):%Y-%m-%d %H:%M}.",
        "",
        "## 总体情况 Overall",
        "",
        *_table([report.total], "范围", unnamed="全市"),
        "",
        "## 各责任单位 By responsible unit (ranked by 按期结案率)",
        "",
        *_table(ranked(report.by_unit), "责任单位"),
        "",
        "## 各网格 By grid (ranked by 按期结案率)",
        "",
        *_table(ranked(report.by_grid), "网格"),
        "",
        "Formulas: 处置率 = handled / dispatched; 按期处置率 = handled on time / dispatched; "
        "结案率 = closed / filed; 按期结案率 = closed on time / filed; 返工率 = reworked / ever handled; "
        "延期率 = extended / dispatched. Counted per filing; events after the period are not seen.",
        "",
    ]
    return "\n".join(lines)


def render_csv(report: MonthlyReport) -> str:
    """The report as CSV: one row per scope (total, unit, grid), every count and rate (rates as fractions)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = [*COUNT_NAMES, *RATE_NAMES, "avg_handling_hours", "avg_handling_working_hours"]
    writer.writerow(["month", "scope", "key", *names])
    scoped = [("total", report.total)] + [("unit", r) for r in ranked(report.by_unit)] + \
        [("grid", r) for r in ranked(report.by_grid)]
    for scope, row in scoped:
        values = [getattr(row, n) for n in names]
        writer.writerow([report.month, scope, _safe(row.key or ""),
                         *("" if v is None else (f"{v:.6g}" if isinstance(v, float) else v) for v in values)])
    return buffer.getvalue()


def _safe(text: str) -> str:
    # A unit name starting with = + - @ would run as a formula in a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
