"""Personal data that leaves the system masked: licence plates.

Plates are stored (the digital chalk mark across passes) and shown to the people who handle
cases; everything that leaves (exports, Open311 payloads, webhooks) carries only the masked
form: the province, ``*``, ``·``, one ``*`` per hidden character, and the last two characters
(``京A12345`` -> ``京*·***45``, the form of ``vision.plates.mask_plate``). Lives in core so the
casework, store and API rooms can use it (they may not import vision).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Final

PROVINCES: Final = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# A plate inside free text: province, issuing letter, optional separator, 5 or 6 letters/digits.
_PLATE_IN_TEXT: Final = re.compile(rf"[{PROVINCES}][A-Z][ ·.\-]?[A-Z0-9]{{5,6}}(?![A-Z0-9])")
_SEPARATORS: Final = re.compile(r"[ ·.\-]")


def mask_plate(plate: str) -> str:
    """``京A12345`` -> ``京*·***45``, ``皖AD11166`` -> ``皖*·****66`` (separators ignored)."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", plate)).upper()
    if len(text) < 4:
        return "*" * len(text)
    return f"{text[0]}*·{'*' * (len(text) - 4)}{text[-2:]}"


def mask_plates_in(text: str) -> str:
    """``text`` with every plate in it masked (reasons, notes, descriptions)."""
    if not any(ch in PROVINCES for ch in text):
        return text
    return _PLATE_IN_TEXT.sub(lambda m: mask_plate(m.group(0)), text)


def masked(value: Any) -> Any:
    """A JSON-like value with every plate in its strings masked (dict keys kept)."""
    if isinstance(value, str):
        return mask_plates_in(value)
    if isinstance(value, Mapping):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value
