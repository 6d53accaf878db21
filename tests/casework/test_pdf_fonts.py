"""The report's CJK fonts: found on the system or configured (STREETWATCH_REPORT_FONT_PATH); a clear error
otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from streetwatch.casework import pdf_fonts
from streetwatch.casework.pdf_fonts import MissingFontError, register_pdf_font, truetype_font_path
from streetwatch.core.errors import ConfigurationError

NOTO_CFF = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def test_no_font_installed_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_fonts, "TRUETYPE_CANDIDATES", (Path("/nonexistent/a.ttc"),))
    monkeypatch.setattr(pdf_fonts, "CHART_CANDIDATES", ())
    with pytest.raises(MissingFontError, match="fonts-wqy-zenhei") as raised:
        truetype_font_path()
    assert isinstance(raised.value, ConfigurationError)  # 500 over HTTP, exit 2 from the CLI
    with pytest.raises(MissingFontError, match="fonts-noto-cjk"):
        pdf_fonts.chart_font_path()


def test_a_configured_font_must_exist(tmp_path: Path) -> None:
    with pytest.raises(MissingFontError, match=r"STREETWATCH_REPORT_FONT_PATH=.*missing\.ttf is not a file"):
        truetype_font_path(tmp_path / "missing.ttf")
    font = tmp_path / "font.ttf"
    font.write_bytes(b"not a font")
    assert truetype_font_path(font) == pdf_fonts.chart_font_path(font) == font
    with pytest.raises(MissingFontError, match="cannot be used in a PDF"):
        register_pdf_font(font)


@pytest.mark.skipif(not NOTO_CFF.is_file(), reason="needs Debian's fonts-noto-cjk")
def test_cff_outlines_are_refused_for_the_pdf() -> None:
    with pytest.raises(MissingFontError, match="TrueType"):
        register_pdf_font(NOTO_CFF)


@pytest.mark.skipif(not pdf_fonts.TRUETYPE_CANDIDATES[0].is_file(), reason="needs Debian's fonts-wqy-zenhei")
def test_the_installed_truetype_font_registers() -> None:
    assert register_pdf_font(truetype_font_path()) == pdf_fonts.PDF_FONT_NAME
