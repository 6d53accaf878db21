"""Synthetic street frames for OCR tests: a red cloth banner, a small paper ad on a pole, cars with plates.

Tests need frames whose text is known exactly, with no real people or plates in the repository. Drawing with Pillow
and a CJK font from Debian (``apt-get install fonts-noto-cjk``: /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc)
keeps them small, deterministic and free of licence questions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

BoxXyxy = tuple[int, int, int, int]

FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    # (path, face index in the collection): index 2 of Noto Sans CJK is the Simplified Chinese face.
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
)

BLUE_PLATE = (0, 60, 170)
WHITE = (255, 255, 255)
BLACK = (15, 15, 15)
BANNER_RED = (200, 16, 24)


class CjkFontMissingError(FileNotFoundError):
    """No CJK font installed; the message says which Debian package to install."""


def cjk_font_path() -> tuple[str, int]:
    """The first installed CJK font (path, collection index); raises with the apt package to install."""
    for path, index in FONT_CANDIDATES:
        if Path(path).is_file():
            return path, index
    raise CjkFontMissingError("no CJK font found: apt-get install fonts-noto-cjk (or fonts-wqy-zenhei)")


def _font(size: int) -> ImageFont.FreeTypeFont:
    path, index = cjk_font_path()
    return ImageFont.truetype(path, size=size, index=index)


@dataclass(frozen=True, slots=True)
class RenderedPlate:
    text: str  # normalised plate, e.g. "京A12345"
    plate_box: BoxXyxy
    vehicle_box: BoxXyxy


@dataclass(frozen=True, slots=True)
class RenderedFrame:
    """A BGR frame and the truth of what was drawn on it (boxes in frame pixels)."""

    image: npt.NDArray[np.uint8]
    banner_text: str
    banner_box: BoxXyxy
    ad_lines: tuple[str, ...]
    ad_phone: str
    ad_box: BoxXyxy
    plates: tuple[RenderedPlate, ...] = field(default_factory=tuple)


def _centered_text(
    draw: ImageDraw.ImageDraw, box: BoxXyxy, text: str, font: ImageFont.FreeTypeFont, fill: tuple[int, int, int]
) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = box[0] + (box[2] - box[0] - (right - left)) / 2 - left
    y = box[1] + (box[3] - box[1] - (bottom - top)) / 2 - top
    draw.text((x, y), text, font=font, fill=fill)


def _draw_plate(draw: ImageDraw.ImageDraw, box: BoxXyxy, plate: str) -> None:
    """Blue plate (white on blue, 7 characters) or green new-energy plate (black on a green gradient, 8)."""
    x1, y1, x2, y2 = box
    new_energy = len(plate) == 8
    if new_energy:
        for y in range(y1, y2):  # white at the top fading to green, like the real GA 36-2018 small-car plate
            t = (y - y1) / max(y2 - y1 - 1, 1)
            draw.line([(x1, y), (x2, y)], fill=(int(235 - 150 * t), int(250 - 50 * t), int(235 - 150 * t)))
        ink = BLACK
    else:
        draw.rectangle(box, fill=BLUE_PLATE)
        ink = WHITE
    draw.rectangle((x1 + 2, y1 + 2, x2 - 2, y2 - 2), outline=ink, width=2)
    label = f"{plate[:2]}·{plate[2:]}"
    size = int((y2 - y1) * 0.72)
    font = _font(size)
    while draw.textlength(label, font=font) > (x2 - x1) * 0.9 and size > 8:
        size -= 1
        font = _font(size)
    _centered_text(draw, box, label, font, ink)


def _draw_car(draw: ImageDraw.ImageDraw, box: BoxXyxy, plate: str, colour: tuple[int, int, int]) -> BoxXyxy:
    """A car seen from behind: body, rear window, wheels, lights, plate centred low. Returns the plate box."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    draw.rounded_rectangle((x1, y1 + int(0.25 * h), x2, y2 - int(0.08 * h)), radius=int(0.08 * w), fill=colour)
    draw.rounded_rectangle((x1 + int(0.12 * w), y1, x2 - int(0.12 * w), y1 + int(0.4 * h)), radius=12, fill=colour)
    draw.rectangle((x1 + int(0.18 * w), y1 + int(0.06 * h), x2 - int(0.18 * w), y1 + int(0.33 * h)), fill=(70, 90, 110))
    for cx in (x1 + int(0.05 * w), x2 - int(0.05 * w) - int(0.14 * w)):
        draw.rectangle((cx, y2 - int(0.14 * h), cx + int(0.14 * w), y2), fill=(20, 20, 20))
    for lx in (x1 + int(0.04 * w), x2 - int(0.04 * w) - int(0.16 * w)):
        draw.rectangle((lx, y1 + int(0.45 * h), lx + int(0.16 * w), y1 + int(0.53 * h)), fill=(190, 20, 20))
    pw = int(0.42 * w)
    ph = int(pw * 140 / 440) if len(plate) == 7 else int(pw * 140 / 480)
    px = x1 + (w - pw) // 2
    py = y1 + int(0.62 * h)
    plate_box = (px, py, px + pw, py + ph)
    _draw_plate(draw, plate_box, plate)
    return plate_box


def render_street_frame(
    size: tuple[int, int] = (1280, 720),
    banner_text: str = "创建全国文明城市 共建美好家园",
    ad_lines: tuple[str, ...] = ("疏通下水道", "开锁 办证"),
    ad_phone: str = "13812345678",
    plates: tuple[str, ...] = ("京A12345", "沪AD12345"),
    seed: int = 0,
    car_boxes: tuple[tuple[float, float, float, float], ...] | None = None,
) -> RenderedFrame:
    """Draw a street frame (BGR uint8) with a banner, a small ad on a pole and one car per plate.

    Plates of 7 characters are drawn blue, of 8 characters green (new energy). ``seed`` adds a little sensor noise
    so the OCR does not see perfectly flat colour. ``car_boxes`` places the cars (x1, y1, x2, y2 as shares of the
    frame, one per plate); by default they stand side by side at the bottom of the frame.
    """
    w, h = size
    img = Image.new("RGB", size, (150, 155, 160))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w, int(0.45 * h)), fill=(185, 175, 160))  # building wall
    draw.rectangle((0, int(0.72 * h), w, h), fill=(90, 90, 95))  # road
    draw.rectangle((0, int(0.68 * h), w, int(0.72 * h)), fill=(170, 170, 170))  # kerb

    banner_box = (int(0.08 * w), int(0.06 * h), int(0.72 * w), int(0.06 * h) + int(0.11 * h))
    draw.rectangle(banner_box, fill=BANNER_RED)
    font = _font(int((banner_box[3] - banner_box[1]) * 0.62))
    _centered_text(draw, banner_box, banner_text, font, WHITE)

    pole_x = int(0.84 * w)
    draw.rectangle((pole_x, int(0.05 * h), pole_x + int(0.025 * w), int(0.7 * h)), fill=(110, 112, 115))
    line_h = int(0.035 * h)
    lines = (*ad_lines, ad_phone)
    font = _font(line_h)
    text_w = max(int(draw.textlength(t, font=font)) for t in lines)
    ad_w = text_w + 2 * int(0.4 * line_h)
    ad_h = len(lines) * int(1.5 * line_h) + line_h
    ax, ay = pole_x + int(0.0125 * w) - ad_w // 2, int(0.22 * h)
    ad_box = (ax, ay, ax + ad_w, ay + ad_h)
    draw.rectangle(ad_box, fill=(245, 245, 238))
    for i, text in enumerate(lines):
        ty = ay + line_h // 2 + i * int(1.5 * line_h)
        _centered_text(draw, (ax, ty, ax + ad_w, ty + int(1.3 * line_h)), text, font, BLACK)

    rendered: list[RenderedPlate] = []
    car_w, car_h = int(0.24 * w), int(0.36 * h)
    colours = [(230, 230, 232), (60, 60, 70), (160, 40, 40)]
    if car_boxes is not None and len(car_boxes) != len(plates):
        raise ValueError(f"one car box per plate: {len(car_boxes)} boxes for {len(plates)} plates")
    for i, plate in enumerate(plates):
        cx = int(0.06 * w) + i * int(0.3 * w)
        vehicle_box = (cx, int(0.6 * h), cx + car_w, int(0.6 * h) + car_h)
        if car_boxes is not None:
            bx1, by1, bx2, by2 = car_boxes[i]
            vehicle_box = (int(bx1 * w), int(by1 * h), int(bx2 * w), int(by2 * h))
        plate_box = _draw_car(draw, vehicle_box, plate, colours[i % len(colours)])
        rendered.append(RenderedPlate(plate, plate_box, vehicle_box))

    rgb = np.asarray(img, dtype=np.int16)
    noise = np.random.default_rng(seed).normal(0, 3, rgb.shape).astype(np.int16)
    bgr = np.clip(rgb + noise, 0, 255).astype(np.uint8)[:, :, ::-1].copy()
    return RenderedFrame(bgr, banner_text, banner_box, ad_lines, ad_phone, ad_box, tuple(rendered))


if __name__ == "__main__":  # write a preview next to this file
    frame = render_street_frame()
    Image.fromarray(frame.image[:, :, ::-1]).save(Path(__file__).with_name("rendered_frame.png"))
