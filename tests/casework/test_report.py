"""The monthly report (通报): month bounds, ranking, Markdown and CSV of the hand-computed KPI month."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from streetwatch.casework.kpis import KpiRow, compute_kpis
from streetwatch.casework.report import MonthlyReport, month_bounds, ranked, render_csv, render_markdown
from tests.casework.test_kpis import CALENDAR, SINCE, UNTIL, events

SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("month", "bounds"),
    [("2026-11", ((2026, 11, 1), (2026, 12, 1))), ("2026-12", ((2026, 12, 1), (2027, 1, 1))),
     ("2027-01", ((2027, 1, 1), (2027, 2, 1)))],
)
def test_month_bounds(month: str, bounds: tuple[tuple[int, int, int], tuple[int, int, int]]) -> None:
    assert month_bounds(month, SH) == (datetime(*bounds[0], tzinfo=SH), datetime(*bounds[1], tzinfo=SH))


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-1", "Nov 2026", ""])
def test_bad_months(month: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_bounds(month, SH)


def test_ranking_puts_on_time_closure_first_and_empty_rows_last() -> None:
    rows = [KpiRow("b", filed=2, closed_on_time=1), KpiRow("a", filed=2, closed_on_time=1, dispatched=1,
                                                           handled_on_time=1),
            KpiRow("c"), KpiRow("d", filed=1, closed_on_time=1)]
    assert [r.key for r in ranked(rows)] == ["d", "a", "b", "c"]


def report() -> MonthlyReport:
    common = {"since": SINCE, "until": UNTIL, "calendar": CALENDAR}
    return MonthlyReport(month="2026-11", since=SINCE, until=UNTIL,
                         total=compute_kpis(events(), **common)[0],  # type: ignore[arg-type]
                         by_unit=compute_kpis(events(), group_by="unit", **common),  # type: ignore[arg-type]
                         by_grid=compute_kpis(events(), group_by="grid", **common),  # type: ignore[arg-type]
                         generated_at=datetime(2026, 12, 1, 9, 0, tzinfo=SH))


def test_markdown() -> None:
    text = render_markdown(report())
    assert text.startswith("# 2026年11月 城市管理问题处置情况通报")
    # Overall: filed 7, dispatched 7, handled 5, on time 3, closed 3, on time 2; 按期结案率 2/7 = 28.6%.
    assert "| 全市 | 7 | 7 | 5 | 3 | 3 | 2 | 71.4% | 42.9% | 42.9% | 28.6% | 20.0% | 14.3% | 1.9 |" in text
    unit_rows = [line for line in text.splitlines() if line.startswith("| A |") or line.startswith("| B |")]
    assert [row[:5] for row in unit_rows] == ["| A |", "| B |"]  # A closes 2/5 on time, B 0/2
    assert "| B | 2 | 2 | 1 | 1 | 0 | 0 | 50.0% | 50.0% | 0.0% | 0.0% | 0.0% | 0.0% | 1.0 |" in text


def test_csv() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(report()))))
    assert [(r["scope"], r["key"]) for r in rows] == [("total", ""), ("unit", "A"), ("unit", "B"), ("grid", "g2"),
                                                      ("grid", "g1")]
    total = rows[0]
    assert (total["filed"], total["closed_on_time"], total["month"]) == ("7", "2", "2026-11")
    assert float(total["on_time_closure_rate"]) == pytest.approx(2 / 7, abs=1e-6)


def test_csv_defuses_formulas_in_unit_names() -> None:
    evil = MonthlyReport(month="2026-11", since=SINCE, until=UNTIL, total=KpiRow(None),
                         by_unit=[KpiRow("=HYPERLINK(\"x\")")], by_grid=[], generated_at=UNTIL)
    rows = list(csv.reader(io.StringIO(render_csv(evil))))
    assert rows[2][2] == "'=HYPERLINK(\"x\")"
