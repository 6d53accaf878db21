"""Text on the street that makes an ad: phone numbers people print, banners (横幅) and small ads (小广告)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from streetwatch.vision.ocr import BgrImage, BoxXyxy, TextLine, check_image
from streetwatch.vision.plates import find_plates

# --------------------------------------------------------------------------------------------------------------------
# Phone numbers
# --------------------------------------------------------------------------------------------------------------------

# Hyphen, non-breaking hyphen, figure/en/em dash, horizontal bar, minus, small and full-width hyphen-minus, tildes.
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d~\uff5e", "-"))
_SEP = r"[ \-]?"
_PHONE = re.compile(
    r"(?<![\d.])(?:"
    rf"(?P<mobile>(?:\+?86{_SEP}|0086{_SEP})?1[3-9]\d(?:{_SEP}\d){{8}})"
    rf"|(?P<service>[48]00{_SEP}\d{{3}}{_SEP}\d{{4}})"
    rf"|(?P<landline>(?:\(0\d{{2,3}}\)|0\d{{2,3}}){_SEP}\d{{3,4}}{_SEP}\d{{4}})"
    r")(?![\d])(?!\.\d)"
)


def extract_phones(text: str) -> list[str]:
    """Mainland phone numbers in ``text``, digits only, in order, without duplicates.

    Mobiles ``1[3-9]`` + 9 digits (an optional +86 is dropped), ``400``/``800`` service numbers, and landlines with
    an area code (``010``/``02x`` + 8 digits, ``0xxx`` + 7-8 digits). Separators may be a space, a dash (any of the
    dashes people print, full-width too) or parentheses around the area code; full-width digits are folded.
    A match must not touch another digit, so long runs (IDs, plate serials, dates, prices) do not yield numbers.
    A landline printed without its area code (``58088356``) is not returned: eight bare digits are as often a date.
    """
    s = unicodedata.normalize("NFKC", text).translate(_DASHES)
    found: list[str] = []
    for m in _PHONE.finditer(s):
        digits = re.sub(r"\D", "", m.group(0))
        if m.group("mobile"):
            digits = digits[-11:]
        elif m.group("landline") and not _valid_landline(digits):
            continue
        if digits not in found:
            found.append(digits)
    return found


def _valid_landline(digits: str) -> bool:
    if digits.startswith(("010", "02")):
        return len(digits) == 11  # 3-digit area code + 8-digit number
    return digits[1] in "3456789" and len(digits) in (11, 12)  # 4-digit area code + 7/8 digits


# --------------------------------------------------------------------------------------------------------------------
# Ad text regions
# --------------------------------------------------------------------------------------------------------------------

SMALL_AD_WORDS: tuple[str, ...] = (
    "办证",
    "开锁",
    "疏通",
    "贷款",
    "招聘",
    "出租",
    "回收",
    "搬家",
    "通下水道",
    "刻章",
    "代开发票",
    "收购",
)

AdKind = Literal["banner", "small_ad"]


@dataclass(frozen=True, slots=True)
class AdTextCandidate:
    """A text region that looks like a banner or a small ad, with the measures that made it so (for review)."""

    kind: AdKind
    box_xyxy: BoxXyxy
    text: str
    aspect: float
    saturated_share: float
    red_share: float
    hue_spread: float
    phones: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class AdRules:
    """Thresholds for :func:`classify_ad_text`; defaults tuned on rendered frames, not yet on labelled footage."""

    banner_min_aspect: float = 4.0
    banner_min_saturated_share: float = 0.45  # share of region pixels with HSV saturation >= 90 (cloth, not wall)
    # Above this there is no unsaturated (white) lettering in the box: a red LED scroller (red glyphs on black)
    # measured 98-100% on a bank front and is not a banner. Costs yellow-on-red banners (saturated lettering).
    banner_max_saturated_share: float = 0.95
    banner_max_hue_spread: float = 12.0  # circular std of hue over those pixels, OpenCV degrees (0..180)
    banner_min_cjk_chars: int = 4  # slogans are sentences; a blue plate is also flat, saturated and uniform
    small_ad_max_frame_share: float = 0.02  # cluster box area / frame area
    cluster_gap: float = 1.0  # lines closer than this many line heights belong to one sign


def classify_ad_text(lines: Sequence[TextLine], frame: BgrImage, rules: AdRules | None = None) -> list[AdTextCandidate]:
    """Flag banner and small-ad candidates among the text lines read on a frame.

    * ``banner``: a row of text (at least 4 Chinese characters) whose box is long and flat (aspect >= 4) on a
      uniform saturated background (usually red cloth). Text pixels are white and unsaturated, so the background
      dominates the saturation count. Text that parses as a plate is never a candidate.
    * ``small_ad``: a small cluster of text (a paper stuck to a pole or wall) that is not part of a larger sign,
      carrying a phone number or a typical small-ad word.
    """
    check_image(frame)
    rules = rules or AdRules()
    frame_area = float(frame.shape[0] * frame.shape[1])
    out: list[AdTextCandidate] = []
    for cluster in _clusters(lines, rules.cluster_gap):
        box = _union_all(ln.box_xyxy for ln in cluster)
        text = "".join(ln.text for ln in sorted(cluster, key=lambda ln: (ln.box_xyxy[1], ln.box_xyxy[0])))
        w, h = box[2] - box[0], box[3] - box[1]
        aspect = w / max(h, 1.0)
        sat, red, spread = _background_colour(frame, box)
        phones = tuple(extract_phones(text))
        cjk_chars = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
        if find_plates(text):
            continue  # a plate is neither a banner nor an ad, however flat and blue it is
        if (
            cjk_chars >= rules.banner_min_cjk_chars
            and aspect >= rules.banner_min_aspect
            and rules.banner_min_saturated_share <= sat <= rules.banner_max_saturated_share
            and spread <= rules.banner_max_hue_spread
        ):
            reason = f"aspect {aspect:.1f}, {sat:.0%} saturated, hue spread {spread:.1f}" + (
                f", {red:.0%} red" if red >= 0.5 else ""
            )
            out.append(AdTextCandidate("banner", box, text, aspect, sat, red, spread, phones, reason))
            continue
        words = [wd for wd in SMALL_AD_WORDS if wd in text]
        if (phones or words) and (w * h) / frame_area <= rules.small_ad_max_frame_share:
            reason = "small text patch with " + ", ".join([*(f"phone {p}" for p in phones), *words])
            out.append(AdTextCandidate("small_ad", box, text, aspect, sat, red, spread, phones, reason))
    return out


def ad_text_regions(frame: BgrImage, boxes: Sequence[BoxXyxy], rules: AdRules | None = None) -> list[bool]:
    """Which detected text regions could be part of a banner or a small ad, judged before any is read.

    Recognition is about half of the OCR's cost on a street full of shop signs, and a sign's text cannot make it an
    ad when its shape and colour already rule it out. The regions are grouped as :func:`classify_ad_text` groups the
    lines it is given (one sign); a group is worth reading when it is small enough for a small ad, or long, flat and
    on uniform saturated cloth like a banner. The text tests (Chinese characters, phone numbers, small-ad words,
    plates) come after reading, in :func:`classify_ad_text`.

    Where this can differ from reading everything: the groups are made of what the text detector found, before the
    recogniser drops the regions it cannot read (score below the threshold). A large sign with an unreadable line
    could leave a small group of the rest, a small-ad candidate, when read in full; and two small ads bridged by an
    unreadable smudge into one large group would be two small groups when read in full. Here both stay one large
    group and are not read. Measured on the bench clip, the real clips and photos, the street-text photos and
    rendered ads (92 images), the candidates were the same as when reading everything (docs/benchmarks.md).
    """
    check_image(frame)
    rules = rules or AdRules()
    frame_area = float(frame.shape[0] * frame.shape[1])
    keep = [False] * len(boxes)
    for cluster in _cluster_indices(boxes, rules.cluster_gap):
        box = _union_all(boxes[i] for i in cluster)
        w, h = box[2] - box[0], box[3] - box[1]
        worth = (w * h) / frame_area <= rules.small_ad_max_frame_share
        if not worth and w / max(h, 1.0) >= rules.banner_min_aspect:
            sat, _, spread = _background_colour(frame, box)
            worth = (rules.banner_min_saturated_share <= sat <= rules.banner_max_saturated_share
                     and spread <= rules.banner_max_hue_spread)
        for i in cluster:
            keep[i] = worth
    return keep


def _clusters(lines: Sequence[TextLine], gap: float) -> list[list[TextLine]]:
    """Single-link grouping of lines whose boxes come within ``gap`` line heights of each other (one sign)."""
    return [[lines[i] for i in cluster] for cluster in _cluster_indices([ln.box_xyxy for ln in lines], gap)]


def _cluster_indices(boxes: Sequence[BoxXyxy], gap: float) -> list[list[int]]:
    """Single-link grouping (indices into ``boxes``) of boxes that come within ``gap`` times the lower one's
    height of each other, in order of each group's first box."""
    parent = list(range(len(boxes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            b = boxes[j]
            pad = gap * min(a[3] - a[1], b[3] - b[1])
            dx = max(b[0] - a[2], a[0] - b[2], 0.0)
            dy = max(b[1] - a[3], a[1] - b[3], 0.0)
            if dx <= pad and dy <= pad:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _union_all(boxes: Iterable[BoxXyxy]) -> BoxXyxy:
    bs = list(boxes)
    return (min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs), max(b[3] for b in bs))


def _background_colour(frame: BgrImage, box: BoxXyxy) -> tuple[float, float, float]:
    """(share of saturated pixels, share of those that are red, circular hue std in OpenCV degrees) inside ``box``.

    HSV is computed with numpy (no cv2 import) so the helper stays usable wherever the module is.
    """
    h_img, w_img = frame.shape[:2]
    x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0)
    x2, y2 = min(int(np.ceil(box[2])), w_img), min(int(np.ceil(box[3])), h_img)
    region = frame[y1:y2, x1:x2].reshape(-1, 3).astype(np.float32) / 255.0
    if region.size == 0:
        return 0.0, 0.0, 180.0
    b, g, r = region[:, 0], region[:, 1], region[:, 2]
    vmax, vmin = region.max(axis=1), region.min(axis=1)
    chroma = vmax - vmin
    saturation = np.where(vmax > 0, chroma / np.maximum(vmax, 1e-6), 0.0)
    saturated = (saturation >= 90 / 255) & (vmax >= 0.2)
    share = float(saturated.mean())
    if not saturated.any():
        return share, 0.0, 180.0
    c = np.maximum(chroma, 1e-6)
    hue = np.where(vmax == r, ((g - b) / c) % 6, np.where(vmax == g, (b - r) / c + 2, (r - g) / c + 4)) * 60.0
    hue = hue[saturated]
    angles = np.deg2rad(hue)
    resultant = float(np.hypot(np.cos(angles).mean(), np.sin(angles).mean()))
    spread_deg = float(np.rad2deg(np.sqrt(max(-2.0 * np.log(max(resultant, 1e-9)), 0.0))))
    red = float(((hue <= 20) | (hue >= 340)).mean())
    return share, red, spread_deg / 2.0  # report in OpenCV's 0..180 hue units
