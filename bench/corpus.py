"""Deterministic corpus of rendered document pages with known text and known ink mask.

`make_page` renders English prose-like lines (from a fixed word list, seeded) with one of matplotlib's
bundled DejaVu fonts; `degrade` applies one of `DEGRADATIONS` (what users meet in real scans and photos)
while the page's `ink` mask and `text` stay the ground truth. Everything is a pure function of its seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import matplotlib
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

FONTS: dict[str, str] = {
    "sans": "DejaVuSans.ttf",
    "serif": "DejaVuSerif.ttf",
    "mono": "DejaVuSansMono.ttf",
}
HELD_OUT_FONTS: dict[str, str] = {
    "stix": "STIXGeneral.ttf",
    "stix_italic": "STIXGeneralItalic.ttf",
    "cm_roman": "cmr10.ttf",
    "cm_sans": "cmss10.ttf",
    "cm_typewriter": "cmtt10.ttf",
}
"""Faces matplotlib also ships that no corpus page uses (Times-like STIX, Computer Modern): checks of
what was tuned on the DejaVu pages."""
A4_300DPI = (2480, 3508)

_WORD_TEXT = (
    "the of and to in is was for that with as on by at from his her their this which have had "
    "are were be been one all would there they when more some what about into than other time "
    "could only new after first also made people may over many such years most where between "
    "under before while through during because house water light report paper river market city "
    "letter morning council station engine garden window harvest journey record office figure "
    "measure number surface pressure account balance company country village history question "
    "evening pattern message quarter section average machine printer reading written careful "
    "simple strong public general useful total direct several modern recent western northern "
    "returned received followed described included produced arrived observed prepared delivered "
    "Monday August London Boston March Thursday Oxford Lisbon Geneva Chicago"
)
WORDS: tuple[str, ...] = tuple(_WORD_TEXT.split(" "))


@dataclass(frozen=True)
class Page:
    """A rendered page: RGB `image` (H, W, 3) uint8, boolean `ink` mask (H, W), UTF-8 `text`.

    `coverage` is the float32 ink coverage in 0..1 from the anti-aliased render (ground truth for
    recolouring ink); `ink` is `coverage >= 0.5`. `encoded` holds the file bytes `image` was decoded
    from when the page exists as a file (the `jpeg` degradation's JPEG), so it can be sent as users
    send it; None otherwise.
    """

    image: NDArray[Any]
    ink: NDArray[Any]
    text: str
    coverage: NDArray[Any]
    encoded: bytes | None = None


@dataclass(frozen=True)
class Sample:
    """One corpus entry: a name, the degradation applied ("clean" for none) and the page."""

    name: str
    degradation: str
    page: Page


def font_path(font: str) -> Path:
    """Path of a TTF bundled with matplotlib for `font` in `FONTS` (sans, serif, mono) or
    `HELD_OUT_FONTS`."""
    faces = FONTS | HELD_OUT_FONTS
    if font not in faces:
        raise ValueError(f"unknown font {font!r}; choose one of {sorted(faces)}")
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / faces[font]


@cache
def _font(font: str, font_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path(font)), font_px)


def _sentence_words(rng: np.random.Generator) -> list[str]:
    count = int(rng.integers(6, 14))
    words = [str(WORDS[int(i)]) for i in rng.integers(0, len(WORDS), size=count)]
    words[0] = words[0][:1].upper() + words[0][1:]
    if rng.random() < 0.25:
        words[int(rng.integers(1, count))] = str(int(rng.integers(2, 2000)))
    if rng.random() < 0.3:
        words[int(rng.integers(0, count - 1))] += ","
    words[-1] += "." if rng.random() < 0.85 else "?"
    return words


def _layout(
    rng: np.random.Generator, font: ImageFont.FreeTypeFont, max_width: float, n_lines: int
) -> list[str]:
    lines: list[str] = []
    current = ""
    while len(lines) < n_lines:
        for word in _sentence_words(rng):
            candidate = f"{current} {word}" if current else word
            if font.getlength(candidate) <= max_width:
                current = candidate
                continue
            lines.append(current)
            current = word
            if len(lines) == n_lines:
                break
    return lines


def make_page(
    seed: int, *, width: int = 1000, height: int = 700, font: str = "sans", font_px: int = 24
) -> Page:
    """Render a clean page of black text on white paper, filled with prose-like lines.

    Margins are ~6 % of the width; line pitch is 1.6 x `font_px`. Raises ValueError when the page is
    too small to hold one line.
    """
    rng = np.random.default_rng(seed)
    face = _font(font, font_px)
    margin = max(8, width // 16)
    pitch = round(font_px * 1.6)
    n_lines = (height - 2 * margin) // pitch
    if n_lines < 1 or width - 2 * margin < font_px * 4:
        raise ValueError(f"page {width}x{height} too small for {font_px}px text")
    lines = _layout(rng, face, width - 2 * margin, n_lines)
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * pitch), line, font=face, fill=255)
    coverage = np.asarray(canvas, dtype=np.float32) / 255.0
    gray = np.round(255.0 * (1.0 - coverage)).astype(np.uint8)
    image = np.repeat(gray[:, :, None], 3, axis=2)
    return Page(image=image, ink=coverage >= 0.5, text="\n".join(lines), coverage=coverage)


def _compose(page: Page, paper: NDArray[Any], ink_rgb: tuple[int, int, int]) -> NDArray[Any]:
    """Blend ink colour over a (H, W, 3) float paper image by the page's ink coverage."""
    alpha = page.coverage[:, :, None]
    out: NDArray[Any] = paper * (1.0 - alpha) + np.asarray(ink_rgb, dtype=np.float32) * alpha
    return out.clip(0, 255).astype(np.uint8)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> NDArray[Any]:
    """A smooth random field in 0..1 (bicubic upsample of a coarse random grid)."""
    coarse = rng.random((cells, cells)).astype(np.float32)
    field = np.asarray(cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), np.float32)
    field -= field.min()
    return field / max(float(field.max()), 1e-6)


def _multiply(page: Page, factor: NDArray[Any]) -> Page:
    if factor.ndim == 2:
        factor = factor[:, :, None]
    image = np.clip(page.image.astype(np.float32) * factor, 0, 255).astype(np.uint8)
    return replace(page, image=image)


def _uneven_illumination(page: Page, rng: np.random.Generator) -> Page:
    h, w = page.ink.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    dist = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / np.hypot(w, h)
    return _multiply(page, 1.0 - 0.6 * np.clip(dist * 1.4, 0, 1) ** 1.2)


def _shadow(page: Page, rng: np.random.Generator) -> Page:
    h, w = page.ink.shape
    edge = int(rng.integers(int(w * 0.25), int(w * 0.5)))
    ramp = np.clip((np.arange(w, dtype=np.float32) - edge) / (0.06 * w), 0, 1)
    factor = 0.35 + 0.65 * ramp
    return _multiply(page, np.broadcast_to(factor[None, :], (h, w)).astype(np.float32))


def _stains(page: Page, rng: np.random.Generator) -> Page:
    h, w = page.ink.shape
    mask: NDArray[Any] = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(3, 6))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(w // 14, w // 5)), int(rng.integers(h // 14, h // 5)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.4, 0.8)), -1)
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=max(w, h) / 80)
    tint = np.asarray([0.55, 0.42, 0.25], np.float32)
    factor = 1.0 - mask[:, :, None] * (1.0 - tint)
    return _multiply(page, factor)


def _bleed_through(page: Page, rng: np.random.Generator) -> Page:
    h, w = page.ink.shape
    font_px = max(12, int(h / 30))
    ghost = make_page(int(rng.integers(0, 2**31)), width=w, height=h, font="serif", font_px=font_px)
    back = cv2.GaussianBlur(ghost.coverage[:, ::-1].copy(), (0, 0), sigmaX=1.2)
    return _multiply(page, 1.0 - 0.35 * back)


def _faded_ink(page: Page, rng: np.random.Generator) -> Page:
    level = int(rng.integers(135, 165))
    paper = np.full((*page.ink.shape, 3), 250, np.float32)
    return replace(page, image=_compose(page, paper, (level, level, level + 10)))


def _noise(page: Page, rng: np.random.Generator) -> Page:
    noisy = page.image.astype(np.float32) + rng.normal(0, 28, page.image.shape[:2])[:, :, None]
    speckle = rng.random(page.ink.shape)
    noisy[speckle < 0.004] = 0
    noisy[speckle > 0.996] = 255
    return replace(page, image=np.clip(noisy, 0, 255).astype(np.uint8))


def _blur(page: Page, rng: np.random.Generator) -> Page:
    sigma = float(rng.uniform(1.0, 1.5))
    return replace(page, image=cv2.GaussianBlur(page.image, (0, 0), sigmaX=sigma))


def _jpeg(page: Page, rng: np.random.Generator) -> Page:
    quality = int(rng.integers(8, 15))
    # OpenCV's codec takes and gives BGR: the file then holds the page's own colours
    bgr = cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    return replace(page, image=cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), encoded=data.tobytes())


def _colored_paper(page: Page, rng: np.random.Generator) -> Page:
    h, w = page.ink.shape
    base = np.asarray([rng.uniform(215, 250), rng.uniform(200, 235), rng.uniform(140, 190)], np.float32)
    texture = 1.0 - 0.12 * _smooth_field(rng, (h, w), 24)
    paper = base[None, None, :] * texture[:, :, None]
    return replace(page, image=_compose(page, paper, (40, 30, 25)))


def _colored_ink(page: Page, rng: np.random.Generator) -> Page:
    choices = ((30, 60, 190), (190, 30, 40), (20, 120, 60))
    ink = choices[int(rng.integers(0, len(choices)))]
    paper = np.full((*page.ink.shape, 3), 248, np.float32)
    return replace(page, image=_compose(page, paper, ink))


def _highlighter(page: Page, rng: np.random.Generator) -> Page:
    h, w = page.ink.shape
    factor = np.ones((h, w, 3), np.float32)
    colours = ((1.0, 0.95, 0.25), (0.55, 1.0, 0.45), (1.0, 0.6, 0.85))
    rows = np.flatnonzero(page.ink.any(axis=1))
    for _ in range(int(rng.integers(2, 5))):
        y = int(rows[int(rng.integers(0, len(rows)))]) if len(rows) else h // 2
        band_h = max(6, h // 22)
        x0 = int(rng.integers(0, w // 2))
        x1 = int(rng.integers(x0 + w // 5, w))
        factor[max(0, y - band_h // 2) : y + band_h // 2, x0:x1] = colours[int(rng.integers(0, 3))]
    return _multiply(page, factor)


def _inverted_region(page: Page, rng: np.random.Generator) -> Page:
    h, w = page.ink.shape
    y0 = int(rng.integers(0, h // 2))
    y1 = min(h, y0 + int(rng.integers(h // 5, h // 2)))
    x0 = int(rng.integers(0, w // 4))
    x1 = int(rng.integers(w // 2, w))
    image = page.image.copy()
    region = 255 - image[y0:y1, x0:x1].astype(np.int16)
    tone = np.asarray([0.15, 0.25, 0.5], np.float32) * 255
    image[y0:y1, x0:x1] = np.clip(tone + region * (1 - tone / 255), 0, 255).astype(np.uint8)
    return replace(page, image=image)


def _low_resolution(page: Page, rng: np.random.Generator) -> Page:
    h, w = page.ink.shape
    scale = float(rng.uniform(0.4, 0.5))
    small = cv2.resize(page.image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    return replace(page, image=cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))


_DEGRADERS: dict[str, Callable[[Page, np.random.Generator], Page]] = {
    "uneven_illumination": _uneven_illumination,
    "shadow": _shadow,
    "stains": _stains,
    "bleed_through": _bleed_through,
    "faded_ink": _faded_ink,
    "noise": _noise,
    "blur": _blur,
    "jpeg": _jpeg,
    "colored_paper": _colored_paper,
    "colored_ink": _colored_ink,
    "highlighter": _highlighter,
    "inverted_region": _inverted_region,
    "low_resolution": _low_resolution,
}
DEGRADATIONS: tuple[str, ...] = tuple(_DEGRADERS)


def degrade(page: Page, name: str, seed: int) -> Page:
    """Apply degradation `name` (one of `DEGRADATIONS`, or "clean" for none) to `page`, seeded.

    The returned page keeps the input's `ink`, `text` and `coverage`: they stay the ground truth.
    """
    if name == "clean":
        return page
    if name not in _DEGRADERS:
        raise ValueError(f"unknown degradation {name!r}; choose one of {DEGRADATIONS}")
    return _DEGRADERS[name](page, np.random.default_rng(seed))


def corpus(quick: bool = False, *, width: int = 1000, height: int = 700) -> Iterator[Sample]:
    """Yield the clean page and every degradation for a fixed set of (font, size) pages.

    quick=True: two pages (sans 24 px, serif 28 px); otherwise six pages over three fonts and sizes.
    """
    specs = [("sans", 24), ("serif", 28)]
    if not quick:
        specs += [("mono", 22), ("sans", 30), ("serif", 22), ("mono", 28)]
    for index, (font, font_px) in enumerate(specs):
        seed = 1000 + index
        page = make_page(seed, width=width, height=height, font=font, font_px=font_px)
        for name in ("clean", *DEGRADATIONS):
            yield Sample(
                name=f"p{index}-{font}{font_px}-{name}", degradation=name, page=degrade(page, name, seed)
            )


BINARY_SPECS: tuple[tuple[str, int], ...] = (
    ("sans", 12),
    ("serif", 16),
    ("mono", 20),
    ("sans", 28),
    ("serif", 40),
)
"""(font, px) of the already-binary renders: small print to headings."""


def binary_pages(quick: bool = False, *, width: int = 1000, height: int = 700) -> Iterator[Sample]:
    """Clean pages already in black and white (ink = coverage >= 50 %), per `BINARY_SPECS`, two ways.

    `binary`: pure 0/255, what a bilevel scan or a fax looks like; `binary_scanned`: the same page
    blurred by a scanner's optics (Gaussian, sigma 0.7 px), so edges carry a few grey levels. In both,
    the page's `ink` is the black-and-white original a binarizer should hand back unchanged.
    quick=True: the smallest and the largest size only.
    """
    specs = (BINARY_SPECS[0], BINARY_SPECS[-1]) if quick else BINARY_SPECS
    for index, (font, font_px) in enumerate(specs):
        page = make_page(2000 + index, width=width, height=height, font=font, font_px=font_px)
        gray = np.where(page.ink, 0, 255).astype(np.uint8)
        soft = cv2.GaussianBlur(gray, (0, 0), sigmaX=0.7)
        for name, image in (("binary", gray), ("binary_scanned", soft)):
            rgb = np.repeat(image[:, :, None], 3, axis=2)
            yield Sample(
                name=f"b{index}-{font}{font_px}-{name}", degradation=name, page=replace(page, image=rgb)
            )


PHOTO_SPECS: tuple[tuple[str, int], ...] = (("sans", 24), ("serif", 28), ("mono", 22))
"""(font, px) of the phone-photo pages."""


def photograph(page: Page, rng: np.random.Generator) -> tuple[Page, NDArray[Any]]:
    """`page` as a phone photo: the sheet in perspective on a darker desk, light falling off.

    The frame is 30 % larger than the sheet; each corner of the sheet moves by up to 8 % of the
    frame (a known homography, returned as the 3x3 matrix from page to photo). The ink mask is
    warped with it; the text stays the ground truth.
    """
    h, w = page.ink.shape
    fw, fh = round(w * 1.3), round(h * 1.3)
    jitter = 0.08 * np.array([fw, fh], np.float32)
    margin = np.array([(fw - w) / 2, (fh - h) / 2], np.float32)
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    signs = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float32)
    moved = corners + margin + signs * rng.uniform(0.0, 1.0, (4, 2)).astype(np.float32) * jitter
    matrix = cv2.getPerspectiveTransform(corners, moved)
    yy, xx = np.mgrid[0:fh, 0:fw].astype(np.float32)
    desk = 95.0 + 25.0 * xx / fw - 15.0 * yy / fh
    frame = np.repeat(desk[:, :, None], 3, axis=2) * np.array([1.0, 0.9, 0.75], np.float32)
    sheet = cv2.warpPerspective(page.image, matrix, (fw, fh), flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, (fw, fh)) > 127
    light = (1.0 - 0.18 * (xx / fw) * (yy / fh))[:, :, None]
    image = np.where(inside[:, :, None], sheet.astype(np.float32) * light, frame)
    image = cv2.GaussianBlur(image, (0, 0), 0.6)
    ink = cv2.warpPerspective(page.ink.astype(np.uint8), matrix, (fw, fh), flags=cv2.INTER_NEAREST) > 0
    photo = Page(
        image=np.clip(image, 0, 255).astype(np.uint8), ink=ink, text=page.text, coverage=page.coverage
    )
    return photo, matrix


def photo_pages(quick: bool = False, *, width: int = 1000, height: int = 700) -> Iterator[Sample]:
    """Phone photos of clean pages (`photograph`), per `PHOTO_SPECS`; quick=True: the first only."""
    specs = PHOTO_SPECS[:1] if quick else PHOTO_SPECS
    for index, (font, font_px) in enumerate(specs):
        seed = 3000 + index
        page = make_page(seed, width=width, height=height, font=font, font_px=font_px)
        photo, _ = photograph(page, np.random.default_rng(seed))
        yield Sample(name=f"f{index}-{font}{font_px}-photo", degradation="photo", page=photo)
