"""Chinese licence plates: the plate grammar, reading a plate on a vehicle crop, masking it for anything
that leaves the system (plates are personal data)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np

from streetwatch.vision.ocr import BgrImage, BoxXyxy, Plate, PlateReading, TextLine, TextReader, check_image

# --------------------------------------------------------------------------------------------------------------------
# Plates
# --------------------------------------------------------------------------------------------------------------------

# The 31 mainland provincial-level abbreviations (HK, Macau, Taiwan and military/embassy plates are out of scope).
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_LETTER = "A-HJ-NP-Z"  # plates never use I or O (they read as 1 and 0)
_ALNUM = f"{_LETTER}0-9"
# Ordinary: 5 serial characters; the last may be a use marker (学 learner, 警 police, 挂 trailer, 港/澳 cross-border).
_ORDINARY = re.compile(f"[{PROVINCES}][{_LETTER}][{_ALNUM}]{{4}}[{_ALNUM}学警挂港澳]")
# New energy (GA 36-2018): 6 serial characters. Small vehicles: D (battery) / F (non-battery) first, then a letter or
# digit, then 4 digits. Large vehicles: 5 digits, then D / F last.
_NEW_ENERGY = re.compile(f"[{PROVINCES}][{_LETTER}](?:[DF][{_ALNUM}][0-9]{{4}}|[0-9]{{5}}[DF])")
_SEPARATORS = re.compile(r"[\s·•・.\-_:|]+")
_SERIAL_CONFUSIONS = str.maketrans({"O": "0", "I": "1"})
_CONFUSIONS_AFTER_PROVINCE = str.maketrans({"0": "D", "1": "J", "8": "B"})


def _normalise_plate_text(text: str) -> str:
    # NFKC folds full-width letters/digits (U+FF21, U+FF11) to ASCII; separators and the middle dot are not part
    # of the number.
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()


def parse_plate(text: str) -> Plate | None:
    """Parse OCR text that should be exactly one plate; ``None`` if it does not obey the mainland grammar.

    Normalises what OCR and printing add: ``·`` / ``.`` / spaces, full-width characters, lower case, and the
    I->1 and O->0 confusions in the serial (plates never use I or O). A digit read where the issuing
    letter must be (0->D, 1->J, 8->B) is corrected too, because the grammar leaves no other reading.
    """
    s = _normalise_plate_text(text)
    if len(s) not in (7, 8) or s[0] not in PROVINCES:
        return None
    s = s[0] + s[1].translate(_CONFUSIONS_AFTER_PROVINCE) + s[2:].translate(_SERIAL_CONFUSIONS)
    if len(s) == 8 and _NEW_ENERGY.fullmatch(s):
        return Plate(s, "new_energy")
    if len(s) == 7 and _ORDINARY.fullmatch(s):
        return Plate(s, "ordinary")
    return None


def find_plates(text: str) -> list[Plate]:
    """Every plate inside a longer OCR string (a line may carry a dealer frame text or a neighbour's plate)."""
    s = _normalise_plate_text(text)
    found: list[Plate] = []
    for start, ch in enumerate(s):
        if ch not in PROVINCES:
            continue
        for length in (8, 7):  # prefer the longer new-energy reading when both parse
            plate = parse_plate(s[start : start + length]) if start + length <= len(s) else None
            if plate is not None:
                found.append(plate)
                break
    return found


def mask_plate(plate: Plate) -> str:
    """Privacy form for exports: province + ``*`` per hidden character + last two, ``·`` after position 2.

    ``京A12345`` -> ``京*·***45``, ``皖AD11166`` -> ``皖*·****66``. The length still tells ordinary from new-energy
    and the province tells where it is from; the issuing letter and the rest are hidden.
    """
    t = plate.text
    return f"{t[0]}*·{'*' * (len(t) - 4)}{t[-2:]}"


PLATE_CROP_MAX_HEIGHT = 64  # px; taller plate-shaped crops (e.g. a bus rear) still go through detection


def read_plate(reader: TextReader, vehicle_crop: BgrImage) -> PlateReading | None:
    """Find and read the plate on a vehicle crop (or a plate crop); ``None`` when no text parses as a plate.

    A crop shaped like a plate (2 <= width/height <= 6) is first recognised as one line, which is ~30x cheaper than
    detection. Otherwise (or when that does not parse) detection finds the text lines and a line that parses as a
    plate wins; horizontally adjacent lines are joined too, because a plate is sometimes read as two lines (the
    province+letter and the serial either side of the dot).
    """
    check_image(vehicle_crop)
    h, w = vehicle_crop.shape[:2]
    if 2.0 <= w / max(h, 1) <= 6.0:
        text, score = reader.recognise(_pad_sides(vehicle_crop))
        plate = parse_plate(text)
        if plate is not None:
            return PlateReading(plate, score, (0.0, 0.0, float(w), float(h)), text)
        if h <= PLATE_CROP_MAX_HEIGHT:
            # A small plate-shaped crop is the plate itself: detection would upscale it to 736 px (seconds of CPU)
            # and, measured on the LPRNet crops, finds nothing the single-line read missed.
            return None
    lines = reader.read(vehicle_crop)
    candidates: list[PlateReading] = []
    for line in lines:
        for plate in find_plates(line.text):
            candidates.append(PlateReading(plate, line.score, line.box_xyxy, line.text))
    for left, right in _adjacent_pairs(lines):
        for plate in find_plates(left.text + right.text):
            box = _union(left.box_xyxy, right.box_xyxy)
            candidates.append(PlateReading(plate, min(left.score, right.score), box, left.text + right.text))
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c.score, len(c.plate.text)))


def _pad_sides(image: BgrImage, share: float = 0.1) -> BgrImage:
    """Replicate the edge columns outwards: tight plate crops cut into the province character, and the recogniser
    drops a character that touches the border (measured: +0.7 point exact match on the LPRNet crops)."""
    pad = max(round(image.shape[1] * share), 1)
    return np.pad(image, ((0, 0), (pad, pad), (0, 0)), mode="edge")


def _adjacent_pairs(lines: Sequence[TextLine]) -> Iterable[tuple[TextLine, TextLine]]:
    for a in lines:
        for b in lines:
            if a is b or b.box_xyxy[0] < a.box_xyxy[0]:
                continue
            h = max(a.height, b.height)
            same_row = abs((a.box_xyxy[1] + a.box_xyxy[3]) - (b.box_xyxy[1] + b.box_xyxy[3])) / 2 < 0.5 * h
            gap = b.box_xyxy[0] - a.box_xyxy[2]
            if same_row and -0.5 * h <= gap <= 1.5 * h:
                yield a, b


def _union(a: BoxXyxy, b: BoxXyxy) -> BoxXyxy:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
