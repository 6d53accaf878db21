"""The monthly report (通报) as a PDF: KPI tables, units ranked by 按期结案率, charts and lists.

Assembled with ReportLab's platypus (A4, a CJK TrueType font from
:mod:`streetwatch.casework.pdf_fonts`), with the charts of :mod:`streetwatch.casework.report_charts`
as images. Sections, in order: overall KPIs; cases per family and per unit; units ranked by
按期结案率 (chart and table); grids; the six-month trend; coverage per grid (or a line saying no
coverage data was supplied); the top recurring places; the worst overdue cases.

The output is deterministic: ReportLab's invariant mode (fixed dates and ids) and charts saved
without variable metadata, so the same data and ``generated_at`` give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from streetwatch.casework import report_charts as charts
from streetwatch.casework.kpis import COUNT_NAMES, RATE_NAMES, KpiRow
from streetwatch.casework.pdf_fonts import register_pdf_font, truetype_font_path
from streetwatch.casework.report import COLUMNS_ZH, REPORT_COLUMNS, ranked
from streetwatch.casework.report_data import MonthlyReportPack

FAMILY_ZH = {"stall": "占道经营", "garbage": "垃圾", "parking": "乱停放", "ads": "违规广告"}
# The report's KPI columns, as the Markdown/CSV report has them (less the average handling time).
_KPI_COLUMNS = tuple(name for name in REPORT_COLUMNS if name in COUNT_NAMES or name in RATE_NAMES)
_RATES = set(RATE_NAMES)


def _value(row: KpiRow, name: str) -> str:
    value = getattr(row, name)
    if value is None:
        return "—"
    return f"{100 * value:.1f}%" if name in _RATES else str(value)


def render_pdf(pack: MonthlyReportPack, family_names: dict[str, str] | None = None,
               font_path: Path | None = None) -> bytes:
    """The report as PDF bytes, its text and charts in ``font_path`` (default: an installed CJK font).

    ``family_names``: Chinese names of the families (the taxonomy's ``name_zh``), over :data:`FAMILY_ZH`.

    Raises:
        MissingFontError: No font with Chinese glyphs is installed.
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    names = {**FAMILY_ZH, **(family_names or {})}
    font = register_pdf_font(truetype_font_path(font_path))
    title = ParagraphStyle("title", fontName=font, fontSize=16, leading=22, spaceAfter=4)
    heading = ParagraphStyle("heading", fontName=font, fontSize=11.5, leading=16, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=font, fontSize=8.5, leading=12, wordWrap="CJK")
    cell = ParagraphStyle("cell", fontName=font, fontSize=7, leading=9, wordWrap="CJK")
    width = A4[0] - 30 * mm

    def table(header: Sequence[str], rows: Sequence[Sequence[str]], first_width: float = 34 * mm,
              second_width: float | None = None) -> Table:
        data = [[Paragraph(h, cell) for h in header], *[[Paragraph(v, cell) for v in r] for r in rows]]
        fixed = [first_width] + ([] if second_width is None else [second_width])
        rest = (width - sum(fixed)) / max(len(header) - len(fixed), 1)
        made = Table(data, colWidths=[*fixed, *[rest] * (len(header) - len(fixed))], repeatRows=1)
        made.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e5e7eb")),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("TOPPADDING", (0, 0), (-1, -1), 1.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5), ("LEFTPADDING", (0, 0), (-1, -1), 2),
            ("RIGHTPADDING", (0, 0), (-1, -1), 2)]))
        return made

    def kpi_table(rows: Sequence[KpiRow], first: str, unnamed: str = "（未分配）", rank: bool = False) -> Table:
        header = [f"名次. {first}" if rank else first, *(COLUMNS_ZH[n] for n in _KPI_COLUMNS)]
        lines = [[f"{i}. {r.key or unnamed}" if rank else (r.key or unnamed), *(_value(r, n) for n in _KPI_COLUMNS)]
                 for i, r in enumerate(rows, 1)]
        return table(header, lines, 30 * mm)

    def image(png: bytes, chart_width: float = width) -> Image:
        from reportlab.lib.utils import ImageReader

        reader = ImageReader(io.BytesIO(png))
        w, h = reader.getSize()
        return Image(io.BytesIO(png), width=chart_width, height=chart_width * h / w)

    report = pack.report
    zone = report.since.tzinfo
    year, month = report.month.split("-")
    story: list[object] = [
        Paragraph(f"{year}年{int(month)}月 城市管理问题处置情况通报", title),
        Paragraph(f"Monthly report {report.month}: {report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} "
                  f"({zone}); generated {report.generated_at.astimezone(zone):%Y-%m-%d %H:%M}. "
                  "按期结案率 = 按期结案数 / 立案数; figures as GET /kpis for the same period.", body),
        Paragraph("一、总体情况 Overall", heading),
        kpi_table([report.total], "范围", unnamed="全市"),
        Paragraph("二、各类问题与各责任单位 Cases per family and per unit", heading),
        image(charts.cases_by_family_and_unit([replace(r, key=names.get(r.key or "", r.key)) for r in pack.by_family],
                                              report.by_unit, font=font_path)),
        kpi_table([_renamed(r, names) for r in pack.by_family], "问题类别"),
        Paragraph("三、各责任单位按期结案率排名 Units ranked by on-time closure rate", heading),
    ]
    units = ranked(report.by_unit)
    if units:
        story += [image(charts.on_time_closure_ranked(units, font=font_path)), Spacer(1, 3 * mm)]
    story += [kpi_table(units, "责任单位", rank=True),
              Paragraph("四、各网格 By grid (ranked by 按期结案率)", heading),
              kpi_table(ranked(report.by_grid), "网格"),
              Paragraph("五、近六个月趋势 Trend over the last six months", heading),
              image(charts.six_month_trend(pack.trend, font=font_path)),
              table(["月份", "立案数", "结案数", "按期结案数", "结案率", "按期结案率"],
                    [[t.month, str(t.total.filed), str(t.total.closed), str(t.total.closed_on_time),
                      _value(t.total, "closure_rate"), _value(t.total, "on_time_closure_rate")] for t in pack.trend]),
              Paragraph("六、各网格巡查覆盖 Coverage per grid", heading)]
    if pack.coverage is None:
        story.append(Paragraph("未提供巡查覆盖数据。No coverage data was supplied for this report.", body))
    elif not pack.coverage:
        story.append(Paragraph("本月无巡查覆盖记录。No grid was patrolled in this period.", body))
    else:
        story += [image(charts.coverage_per_grid(pack.coverage, font=font_path)),
                  table(["网格", "已巡查", "总数", "覆盖率", "最近巡查"],
                        [[r.grid_id, str(r.patrolled), str(r.total), f"{100 * r.share_covered:.1f}%",
                          "—" if r.last_patrolled is None else f"{r.last_patrolled.astimezone(zone):%Y-%m-%d %H:%M}"]
                         for r in pack.coverage])]
    story.append(Paragraph("七、复发点位 Top recurring places (H3 cells; trend against the previous month)", heading))
    if pack.recurring:
        story += [image(charts.recurring_places_chart(pack.recurring, names, font=font_path)),
                  table(["名次 / H3", "类别", "案件数", "复发次数", "重新发现", "得分", "上月", "趋势", "责任单位"],
                        [[f"{i}. {p.cell}", names.get(p.family, p.family), str(p.cases), str(p.recurrences),
                          str(p.reopened), str(p.score), str(p.previous_score), f"{p.trend:+d}", p.unit or "—"]
                         for i, p in enumerate(pack.recurring, 1)], first_width=36 * mm, second_width=28 * mm)]
    else:
        story.append(Paragraph("本月无复发点位。No place recurred in this period.", body))
    story.append(Paragraph(f"八、超期未结案件 Worst overdue cases (as of {pack.as_of.astimezone(zone):%Y-%m-%d %H:%M})",
                           heading))
    if pack.overdue:
        story.append(table(["案件", "类别", "事件代码", "责任单位", "网格", "状态", "结案期限", "超期(天)"],
                           [[f"#{o.case_id}", names.get(o.family, o.family), o.event_code, o.unit or "—",
                             o.grid_id or "—", o.status, f"{o.close_due.astimezone(zone):%Y-%m-%d %H:%M}",
                             f"{o.overdue_days:.1f}"] for o in pack.overdue], first_width=16 * mm,
                           second_width=28 * mm))
    else:
        story.append(Paragraph("无超期未结案件。No case is overdue.", body))

    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm,
                                 bottomMargin=14 * mm, title=f"城市管理问题处置情况通报 {report.month}",
                                 author="streetwatch", creator="streetwatch", invariant=1)
    document.build(story)
    return buffer.getvalue()


def _renamed(row: KpiRow, names: dict[str, str]) -> KpiRow:
    return replace(row, key=f"{names[row.key]} ({row.key})" if row.key in names else row.key)
