"""CJK fonts for the PDFs (monthly report, rectification notices) and charts: found on the system, or a clear
error naming the package.

ReportLab embeds TrueType outlines only, so the PDF's text uses WenQuanYi Zen Hei
(Debian ``fonts-wqy-zenhei``, a TrueType collection); matplotlib's charts use it too, or Noto Sans
CJK (Debian ``fonts-noto-cjk``). A configured font (``STREETWATCH_REPORT_FONT_PATH``, the web settings'
``report_font_path``: another TrueType .ttf or .ttc with CJK glyphs) is used for both instead.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

from streetwatch.core.errors import ConfigurationError

PDF_FONT_NAME = "StreetwatchCJK"
TRUETYPE_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),           # Debian fonts-wqy-zenhei
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),              # Fedora
    Path("/usr/share/fonts/wenquanyi/wqy-zenhei/wqy-zenhei.ttc"),    # Arch
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),         # Debian fonts-wqy-microhei
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),             # Debian fonts-arphic-uming
)
CHART_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # Debian fonts-noto-cjk
    *TRUETYPE_CANDIDATES,
)


class MissingFontError(ConfigurationError):
    """No font with Chinese glyphs was found for the report."""


def _checked(path: Path) -> Path:
    if not path.is_file():
        raise MissingFontError(f"the report font STREETWATCH_REPORT_FONT_PATH={path} is not a file")
    return path


def truetype_font_path(configured: Path | None = None, candidates: tuple[Path, ...] | None = None) -> Path:
    """``configured``, or the first installed TrueType font with CJK glyphs of ``candidates``
    (default :data:`TRUETYPE_CANDIDATES`), for ReportLab.

    Raises:
        MissingFontError: None installed (install Debian's ``fonts-wqy-zenhei``).
    """
    if configured is not None:
        return _checked(configured)
    for path in TRUETYPE_CANDIDATES if candidates is None else candidates:
        if path.is_file():
            return path
    raise MissingFontError("the PDF (report, notice) needs a TrueType font with Chinese glyphs: install Debian's "
                           "fonts-wqy-zenhei (apt-get install fonts-wqy-zenhei) or set STREETWATCH_REPORT_FONT_PATH "
                           "to a .ttf/.ttc file")


def chart_font_path(configured: Path | None = None) -> Path:
    """``configured``, or an installed font file with CJK glyphs, for matplotlib (TrueType or OpenType).

    Raises:
        MissingFontError: None installed.
    """
    if configured is not None:
        return _checked(configured)
    for path in CHART_CANDIDATES:
        if path.is_file():
            return path
    raise MissingFontError("the report's charts need a font with Chinese glyphs: install Debian's fonts-wqy-zenhei "
                           "or fonts-noto-cjk, or set STREETWATCH_REPORT_FONT_PATH")


_REGISTERED: dict[Path, str] = {}
_LOCK = threading.Lock()


def register_pdf_font(path: Path) -> str:
    """Register ``path`` with ReportLab (once per process and file) and return the font name to use."""
    with _LOCK:
        name = _REGISTERED.get(path)
        if name is not None:
            return name
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        name = PDF_FONT_NAME if not _REGISTERED else f"{PDF_FONT_NAME}{len(_REGISTERED)}"
        try:
            pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
        except Exception as exc:  # ReportLab raises its own TTFError, or plain errors for a bad file
            raise MissingFontError(f"{path} cannot be used in a PDF ({exc}); it must be TrueType, not CFF") from None
        _REGISTERED[path] = name
        return name


@cache
def chart_font_family(path: Path) -> str:
    """Add ``path`` to matplotlib's font manager (once) and return its family name."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()
