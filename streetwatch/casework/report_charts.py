"""The monthly report's charts (matplotlib, Agg, a CJK font), each returned as PNG bytes.

Figures are made with ``matplotlib.figure.Figure`` (no pyplot, no global state, safe in a server)
and saved without the "Software" metadata, so the same data gives the same bytes. ``font``: a configured
font file (see :mod:`streetwatch.casework.pdf_fonts`), else an installed one.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from streetwatch.casework.hotspots import RecurringPlace
from streetwatch.casework.kpis import KpiRow
from streetwatch.casework.pdf_fonts import chart_font_family, chart_font_path
from streetwatch.casework.report_data import CoverageRow, MonthTrend

DPI = 150
BLUE, GREEN, ORANGE, GREY = "#2563eb", "#16a34a", "#ea580c", "#9ca3af"


@contextmanager
def _style(font: Path | None) -> Iterator[None]:
    import matplotlib

    family = chart_font_family(chart_font_path(font))
    with matplotlib.rc_context({"font.family": [family], "font.size": 9, "axes.unicode_minus": False,
                                "svg.hashsalt": "streetwatch", "axes.spines.top": False,
                                "axes.spines.right": False}):
        yield


def _png(figure: object) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})  # type: ignore[attr-defined]
    return buffer.getvalue()


def _figure(width: float, height: float) -> object:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _name(key: str | None, unnamed: str = "（未分配）") -> str:
    return key or unnamed


def cases_by_family_and_unit(by_family: Sequence[KpiRow], by_unit: Sequence[KpiRow],
                             font: Path | None = None) -> bytes:
    """Two bar charts side by side: cases filed per family, and filed / closed on time per unit."""
    with _style(font):
        figure = _figure(7.0, 2.8)
        left, right = figure.subplots(1, 2, width_ratios=[1, 2])  # type: ignore[attr-defined]
        families = [_name(r.key) for r in by_family]
        left.barh(families[::-1], [r.filed for r in by_family][::-1], color=BLUE)  # long names: bars across
        left.set_title("各类问题立案数 Cases filed per family")
        units = [_name(r.key) for r in by_unit]
        positions = range(len(units))
        right.bar([p - 0.2 for p in positions], [r.filed for r in by_unit], width=0.4, color=BLUE, label="立案数")
        right.bar([p + 0.2 for p in positions], [r.closed_on_time for r in by_unit], width=0.4, color=GREEN,
                  label="按期结案数")
        right.set_xticks(list(positions), units, rotation=15, ha="right")
        right.set_title("各责任单位 Per responsible unit")
        right.legend(frameon=False)
        left.xaxis.get_major_locator().set_params(integer=True)
        right.yaxis.get_major_locator().set_params(integer=True)
        if not by_family:
            left.text(0.5, 0.5, "本月无立案 nothing filed", ha="center", va="center", transform=left.transAxes)
        return _png(figure)


def on_time_closure_ranked(ranked_units: Sequence[KpiRow], font: Path | None = None) -> bytes:
    """Horizontal bars of 按期结案率 per unit, best at the top (the 通报's ranking)."""
    with _style(font):
        figure = _figure(7.0, 0.6 + 0.35 * max(len(ranked_units), 1))
        axes = figure.add_subplot()  # type: ignore[attr-defined]
        names = [_name(r.key) for r in ranked_units][::-1]
        rates = [100 * (r.on_time_closure_rate or 0.0) for r in ranked_units][::-1]
        bars = axes.barh(names, rates, color=GREEN)
        for bar, row in zip(bars, list(ranked_units)[::-1], strict=True):
            label = "—" if row.on_time_closure_rate is None else f"{bar.get_width():.1f}%"
            axes.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, label, va="center")
        axes.set_xlim(0, 110)
        axes.set_xlabel("按期结案率 (%)")
        axes.set_title("按期结案率排名 On-time closure rate, ranked")
        return _png(figure)


def six_month_trend(trend: Sequence[MonthTrend], font: Path | None = None) -> bytes:
    """Cases filed and closed on time per month (bars), 按期结案率 (line, right axis)."""
    with _style(font):
        figure = _figure(7.0, 2.6)
        axes = figure.add_subplot()  # type: ignore[attr-defined]
        months = [t.month for t in trend]
        positions = range(len(months))
        axes.bar([p - 0.2 for p in positions], [t.total.filed for t in trend], width=0.4, color=BLUE, label="立案数")
        axes.bar([p + 0.2 for p in positions], [t.total.closed_on_time for t in trend], width=0.4, color=GREEN,
                 label="按期结案数")
        axes.set_xticks(list(positions), months)
        axes.set_ylim(0, 1.35 * max([t.total.filed for t in trend] + [1]) + 0.5)  # room for the legend
        axes.yaxis.get_major_locator().set_params(integer=True)
        rate_axes = axes.twinx()
        rates = [None if t.total.on_time_closure_rate is None else 100 * t.total.on_time_closure_rate for t in trend]
        rate_axes.plot(list(positions), [float("nan") if r is None else r for r in rates], color=ORANGE, marker="o",
                       label="按期结案率 %")
        rate_axes.set_ylim(0, 140)  # the same headroom as the bars
        rate_axes.set_yticks([0, 20, 40, 60, 80, 100])
        rate_axes.spines["right"].set_visible(True)
        handles = axes.get_legend_handles_labels()
        rate_handles = rate_axes.get_legend_handles_labels()
        axes.legend(handles[0] + rate_handles[0], handles[1] + rate_handles[1], frameon=False, loc="upper left",
                    ncols=3)
        axes.set_title("近六个月趋势 Last six months")
        return _png(figure)


def coverage_per_grid(rows: Sequence[CoverageRow], font: Path | None = None) -> bytes:
    """Share of each grid's cells or segments patrolled in the month."""
    with _style(font):
        figure = _figure(7.0, 0.6 + 0.3 * max(len(rows), 1))
        axes = figure.add_subplot()  # type: ignore[attr-defined]
        ordered = sorted(rows, key=lambda r: (r.share_covered, r.grid_id))
        axes.barh([r.grid_id for r in ordered], [100 * r.share_covered for r in ordered], color=BLUE)
        axes.set_xlim(0, 100)
        axes.set_xlabel("巡查覆盖率 (%) share patrolled")
        axes.set_title("各网格巡查覆盖 Coverage per grid")
        return _png(figure)


def recurring_places_chart(places: Sequence[RecurringPlace], family_names: dict[str, str],
                           font: Path | None = None) -> bytes:
    """The top recurring places' scores this month against the previous month."""
    with _style(font):
        figure = _figure(7.0, 0.6 + 0.32 * max(len(places), 1))
        axes = figure.add_subplot()  # type: ignore[attr-defined]
        labels = [f"{p.cell[-6:]} {family_names.get(p.family, p.family)}" for p in places][::-1]
        positions = range(len(labels))
        axes.barh([p + 0.2 for p in positions], [p.score for p in places][::-1], height=0.4, color=ORANGE,
                  label="本月 this month")
        axes.barh([p - 0.2 for p in positions], [p.previous_score for p in places][::-1], height=0.4, color=GREY,
                  label="上月 previous month")
        axes.set_yticks(list(positions), labels)
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.legend(frameon=False)
        axes.set_title("复发点位 Recurring places (score)")
        return _png(figure)
