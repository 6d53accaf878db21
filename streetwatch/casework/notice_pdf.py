"""The notice as a one-page A4 PDF, drawn with ReportLab in a CJK TrueType font.

ReportLab embeds TrueType outlines only (not the CFF outlines of Noto CJK), so the notice uses
WenQuanYi Zen Hei (Debian's ``fonts-wqy-zenhei``, ``wqy-zenhei.ttc``, face 0), subset into the PDF;
:func:`find_cjk_font` looks for it and says what to install when it is missing.

Same content, same bytes: the canvas runs in ReportLab's invariant mode (no random document id, no
clock), the creation date is the notice's date of issue (from the case state, not the wall clock),
the evidence JPEG is embedded as it is stored, and the locator map PNG is deterministic. So a notice
printed again for the same case state is byte for byte the archived one (with the same ReportLab,
matplotlib and font installed).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Final

from streetwatch.casework.notice_content import NoticeContent
from streetwatch.casework.notice_map import render_locator_png
from streetwatch.casework.pdf_fonts import MissingFontError, register_pdf_font, truetype_font_path

PAGE_MARGIN: Final = 46.0
NoticeFontError = MissingFontError  # the notices' name for it (``streetwatch.casework.pdf_fonts``)


def find_cjk_font(candidates: tuple[Path, ...] | None = None) -> Path:
    """The first CJK TrueType font of ``candidates`` that exists (WenQuanYi Zen Hei where distributions put it).

    Raises:
        MissingFontError: None exists; the message says which package to install.
    """
    return truetype_font_path(None, candidates)


def _pdf_date(content: NoticeContent) -> str:
    # issued_at is local wall-clock time; PDF dates carry their offset.
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(content.issued_at).replace(tzinfo=ZoneInfo(content.timezone))
    offset = local.utcoffset()
    minutes = 0 if offset is None else int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"D:{local:%Y%m%d%H%M%S}{sign}{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"


def render_notice_pdf(content: NoticeContent, frame_jpeg: bytes, *, font_path: Path | None = None) -> bytes:
    """Draw the notice page.

    Args:
        content: What the page prints (:func:`~streetwatch.casework.notice_content.build_notice_content`).
        frame_jpeg: The evidence frame's bytes (a JPEG whose sha256 is ``content.evidence_sha256``).
        font_path: A CJK TrueType font (default: :func:`find_cjk_font`).

    Returns:
        The PDF's bytes.

    Raises:
        NoticeFontError: No CJK font.
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import Paragraph

    font_file = font_path or find_cjk_font()
    font = register_pdf_font(font_file)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=1, pageCompression=1)
    date_text = _pdf_date(content)
    canvas.setDateFormatter(lambda *_: date_text)
    canvas.setTitle(f"整改通知单 {content.notice_number}")
    canvas.setAuthor(content.issuing_unit)
    canvas.setSubject(f"{content.case_number} {content.event_zh}")
    canvas.setCreator("streetwatch")
    width, height = A4
    left, right = PAGE_MARGIN, width - PAGE_MARGIN
    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=13.5, wordWrap="CJK")
    body_en = ParagraphStyle("body_en", fontName=font, fontSize=8, leading=10.5, textColor=colors.HexColor("#334155"))

    def paragraph(text: str, style: ParagraphStyle, x: float, y: float, w: float) -> float:
        """Draw a wrapped paragraph whose top is at ``y``; return the y below it."""
        from xml.sax.saxutils import escape

        para = Paragraph(escape(text), style)
        _, used = para.wrapOn(canvas, w, 400)
        para.drawOn(canvas, x, y - used)
        return y - used

    # --- title --------------------------------------------------------------------------------------
    y = height - PAGE_MARGIN
    canvas.setFont(font, 22)
    canvas.drawCentredString(width / 2, y - 20, "整改通知单")
    canvas.setFont(font, 10)
    canvas.drawCentredString(width / 2, y - 36, "Rectification Notice")
    canvas.setFont(font, 9)
    canvas.drawRightString(right, y - 54, f"编号 No. {content.notice_number}")
    y -= 64
    canvas.setStrokeColor(colors.HexColor("#0f172a"))
    canvas.setLineWidth(1.2)
    canvas.line(left, y, right, y)

    # --- the facts, two columns: label, value ------------------------------------------------------
    where = f"{content.lat:.6f}, {content.lon:.6f} (WGS84)"
    rows = [
        ("案件编号", "Case No.", content.case_number),
        ("事件", "Event", f"{content.event_zh}（{content.event_code}）  {content.event_en}"),
        ("地址", "Address", content.address or "未记录 not recorded"),
        ("位置", "Location", where + (f"  区域 zone: {content.zone_name}" if content.zone_name else "")),
        ("网格 / 责任单位", "Grid / unit", f"{content.grid_id or '—'} / {content.unit or '—'}"),
        ("发现时间", "Seen", f"{content.seen_at or '—'} ({content.timezone})"),
    ]
    y -= 8
    label_w = 110.0
    for zh, en, value in rows:
        canvas.setFont(font, 9.5)
        canvas.setFillColor(colors.black)
        canvas.drawString(left, y - 11, zh)
        canvas.setFont(font, 7)
        canvas.setFillColor(colors.HexColor("#475569"))
        canvas.drawString(left, y - 20, en)
        canvas.setFillColor(colors.black)
        bottom = paragraph(value, body, left + label_w, y - 1, right - left - label_w)
        y = min(bottom, y - 22) - 3

    # --- evidence frame with its box, and the locator map ------------------------------------------
    y -= 6
    map_size = 158.0
    frame_w = right - left - map_size - 12
    scale = frame_w / max(content.frame_width, 1)
    frame_h = min(content.frame_height * scale, map_size * 1.25)
    scale = min(scale, frame_h / max(content.frame_height, 1))
    draw_w, draw_h = content.frame_width * scale, content.frame_height * scale
    top = y
    canvas.drawImage(ImageReader(io.BytesIO(frame_jpeg)), left, top - draw_h, width=draw_w, height=draw_h)
    x1, y1, x2, y2 = content.bbox
    canvas.setStrokeColor(colors.HexColor("#e11d48"))
    canvas.setLineWidth(1.6)
    canvas.rect(left + x1 * scale, top - y2 * scale, (x2 - x1) * scale, (y2 - y1) * scale, stroke=1, fill=0)
    map_png = render_locator_png(content.lat, content.lon, content.map_zones, font_file)
    canvas.drawImage(ImageReader(io.BytesIO(map_png)), right - map_size, top - map_size, width=map_size,
                     height=map_size)
    canvas.setFillColor(colors.HexColor("#475569"))
    canvas.setFont(font, 7)
    block_bottom = top - max(draw_h, map_size)
    canvas.drawString(left, block_bottom - 10, f"取证图像 Evidence frame: {content.class_name}, "
                                               f"sha256 {content.evidence_sha256[:16]}…")
    canvas.drawString(right - map_size, block_bottom - 10, "示意图 Locator (no street map)")
    y = block_bottom - 22
    canvas.setFillColor(colors.black)

    # --- legal basis, demand, deadline -------------------------------------------------------------
    for heading, zh, en in (("法律依据 Legal basis", content.legal_basis_zh, content.legal_basis_en),
                            ("整改要求 What to do", content.demand_zh, content.demand_en)):
        canvas.setFont(font, 11)
        canvas.drawString(left, y - 12, heading)
        y = paragraph(zh, body, left, y - 17, right - left)
        if en:
            y = paragraph(en, body_en, left, y - 2, right - left)
        y -= 8
    canvas.setFont(font, 11)
    canvas.drawString(left, y - 13, "整改期限 Deadline")
    canvas.setFont(font, 15)
    canvas.setFillColor(colors.HexColor("#b91c1c"))
    canvas.drawString(left + 120, y - 14, f"{content.deadline}")
    canvas.setFillColor(colors.HexColor("#475569"))
    canvas.setFont(font, 7)
    source = ("处置时限，自派遣起按工作时间计算 handling limit, working time from dispatch"
              if content.deadline_source == "dispatch"
              else "处置时限，自立案起按工作时间计算 handling limit, working time from filing")
    canvas.drawString(left + 120, y - 25, f"{content.timezone}; {source}")
    y -= 40

    # --- issuing unit, date, seal -------------------------------------------------------------------
    canvas.setFillColor(colors.black)
    seal = 86.0
    canvas.setStrokeColor(colors.HexColor("#94a3b8"))
    canvas.setLineWidth(0.8)
    canvas.setDash(3, 2)
    canvas.rect(right - seal, y - seal, seal, seal, stroke=1, fill=0)
    canvas.setDash()
    canvas.setFont(font, 8)
    canvas.setFillColor(colors.HexColor("#94a3b8"))
    canvas.drawCentredString(right - seal / 2, y - seal / 2 - 3, "（盖章 seal）")
    canvas.setFillColor(colors.black)
    canvas.setFont(font, 10)
    canvas.drawString(left, y - 14, f"签发单位 Issued by: {content.issuing_unit}")
    if content.issuing_unit_en:
        canvas.setFont(font, 8)
        canvas.drawString(left + 92, y - 26, content.issuing_unit_en)
    canvas.setFont(font, 10)
    canvas.drawString(left, y - 44, f"签发日期 Date: {content.issued_on}")
    canvas.drawString(left, y - 64, "当事人签收 Received by: ______________________")
    if content.contact:
        canvas.setFont(font, 8)
        canvas.drawString(left, y - 82, content.contact)

    # --- foot ---------------------------------------------------------------------------------------
    canvas.setFont(font, 6.5)
    canvas.setFillColor(colors.HexColor("#64748b"))
    canvas.drawString(left, PAGE_MARGIN - 14, f"streetwatch · {content.case_number} · {content.notice_number} · "
                                              f"evidence sha256 {content.evidence_sha256}")
    canvas.showPage()
    canvas.save()
    return out.getvalue()
