"""Perspective correction for phone photos of a page: find the sheet's quadrilateral, warp it flat.

A photo of a page shows the sheet (the brightest large region) against a darker desk or hand, in
perspective. The sheet is found on a small copy: Otsu splits bright from dark, a closing fills the
text, and the largest outer contour, simplified, must be a convex quadrilateral that covers 20-95 %
of the frame with every corner inside it, is clearly brighter than what surrounds it, and has no
writing around it (a shadow across a page, or its lit half, fails these tests). Its corners are
then mapped onto a rectangle whose sides are the quadrilateral's longer opposite sides, at full
resolution. A scan (the page fills the frame), a page on white or anything without such a
quadrilateral is returned as it is.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ocr_service.engines.scale import resize, to_gray

Image = NDArray[Any]
WORK_LONG_SIDE = 800
MIN_AREA, MAX_AREA = 0.2, 0.95
"""The sheet's share of the frame: smaller is not a page photo, larger is a scan (nothing to do)."""
MIN_CONTRAST = 40.0
"""Grey levels between the sheet's median and its surroundings' median."""
BORDER_MARGIN = 0.01
"""Every corner at least this share of the frame inside its edges (a photo shows the whole sheet)."""
MAX_EDGE_RATIO = 0.25
"""The surroundings' share of strong edges at most this fraction of the sheet's (no text outside)."""
APPROX_FRACTION = 0.02
"""Polygon simplification tolerance, as a share of the contour's perimeter."""
EDGE_BAND = 0.01
"""Half-width of the band along a found sheet's edge, as a share of the frame's long side: ink
reaching into it is the desk's rim, not text (the corners are found to within this, see the tests)."""


def _ordered(corners: NDArray[np.float32]) -> NDArray[np.float32]:
    """The 4 corners as top-left, top-right, bottom-right, bottom-left."""
    total = corners.sum(axis=1)
    diff = corners[:, 1] - corners[:, 0]
    out = np.array(
        [
            corners[np.argmin(total)],
            corners[np.argmin(diff)],
            corners[np.argmax(total)],
            corners[np.argmax(diff)],
        ],
        np.float32,
    )
    return out


def find_page(image: Image) -> NDArray[np.float32] | None:
    """Corners (TL, TR, BR, BL; full-resolution pixels) of the photographed sheet, or None."""
    gray = to_gray(image)
    h, w = gray.shape
    scale = min(1.0, WORK_LONG_SIDE / max(h, w))
    small = resize(gray, (max(8, round(w * scale)), max(8, round(h * scale))))
    blurred = cv2.GaussianBlur(small, (5, 5), 0)
    _, bright = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    k = max(3, min(small.shape) // 25) | 1
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    share = cv2.contourArea(contour) / float(small.size)
    if not MIN_AREA <= share <= MAX_AREA:
        return None
    quad = cv2.approxPolyDP(contour, APPROX_FRACTION * cv2.arcLength(contour, True), True)
    if len(quad) != 4 or not cv2.isContourConvex(quad):
        return None
    points = quad.reshape(4, 2)
    margin = BORDER_MARGIN * max(small.shape)
    sh, sw = small.shape
    if (
        (points < margin).any()
        or (points[:, 0] > sw - 1 - margin).any()
        or (points[:, 1] > sh - 1 - margin).any()
    ):
        return None  # a corner on the frame's edge: a shadow or a lit part of a page, not a sheet
    inside = np.zeros_like(small)
    cv2.fillConvexPoly(inside, quad, 255)
    sheet, around = small[inside > 0], small[inside == 0]
    if around.size == 0 or float(np.median(sheet)) - float(np.median(around)) < MIN_CONTRAST:
        return None
    # the surroundings carry no writing: their share of strong edges is well below the sheet's
    edges = cv2.morphologyEx(blurred, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > MIN_CONTRAST
    if edges[inside == 0].mean() > MAX_EDGE_RATIO * max(float(edges[inside > 0].mean()), 1e-4):
        return None
    return _ordered(points.astype(np.float32) / scale)


def correct_perspective(image: Image) -> tuple[Image, NDArray[np.float32] | None]:
    """(the sheet warped to a rectangle, its corners in the input) or (the input, None)."""
    corners = find_page(image)
    if corners is None:
        return image, None
    tl, tr, br, bl = corners
    width = round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))
    height = round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))
    target = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    matrix = cv2.getPerspectiveTransform(corners, target)
    out: Image = cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return out, corners


def clear_outside_sheet(binary: Image, corners: NDArray[np.float32]) -> Image:
    """`binary` (ink 0, paper 255) with the photographed sheet's surroundings made paper.

    Everything outside the quadrilateral `corners` (from `find_page`) is set to 255, and so is every
    ink blob that reaches the sheet's edge (within `EDGE_BAND` of the frame): the dark rim a desk
    leaves along the sheet's border. Text keeps a margin from the edge and stays; the geometry is
    unchanged. Returns a new array.
    """
    h, w = binary.shape
    quad = np.round(corners).astype(np.int32).reshape(-1, 1, 2)
    outside = np.full((h, w), 255, np.uint8)
    cv2.fillPoly(outside, [quad], 0)
    out = cv2.bitwise_or(binary, outside)
    band = np.zeros((h, w), np.uint8)
    thickness = max(3, round(2 * EDGE_BAND * max(h, w)))
    cv2.polylines(band, [quad], isClosed=True, color=255, thickness=thickness)
    ink = cv2.bitwise_not(out)
    _, labels = cv2.connectedComponents(ink, connectivity=8)
    touching = np.unique(labels[(band > 0) & (ink > 0)])
    touching = touching[touching > 0]
    if touching.size:
        rim = np.zeros(int(labels.max()) + 1, bool)
        rim[touching] = True
        out[rim[labels]] = 255
    return out
