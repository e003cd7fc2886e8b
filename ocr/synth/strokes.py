"""Hand-painted digits: each digit as a few pen strokes, drawn with a wobbly brush.

House numbers are often painted by hand: a "1" that is a bare bar, an open "4", a "7" without
serif. Fonts rarely look like that, so the digit synthesizer draws a share of its numbers from
these strokes. Strokes are polylines in a glyph box 0.6 wide and 1 high (y down); arcs are
sampled ellipses. Every drawn glyph gets its own jitter, slant, width and brush size.
"""
from __future__ import annotations

import math
import random

from PIL import ImageDraw

Point = tuple[float, float]


def _arc(cx: float, cy: float, rx: float, ry: float, t0: float, t1: float, n: int = 14) -> list[Point]:
    """Points on an ellipse from angle t0 to t1 (degrees; 0 = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(t)), cy + ry * math.sin(math.radians(t)))
            for t in (t0 + (t1 - t0) * i / n for i in range(n + 1))]


# digit -> list of strokes (polylines). Variants of a digit are separate entries.
STROKES: dict[str, list[list[list[Point]]]] = {
    "0": [[_arc(0.3, 0.5, 0.28, 0.48, 0, 360, 24)]],
    "1": [[[(0.3, 0.0), (0.3, 1.0)]],
          [[(0.1, 0.2), (0.32, 0.0), (0.32, 1.0)]],
          [[(0.1, 0.2), (0.32, 0.0), (0.32, 1.0)], [(0.1, 1.0), (0.54, 1.0)]]],
    "2": [[_arc(0.3, 0.27, 0.27, 0.25, 200, 400) + [(0.02, 1.0), (0.58, 1.0)]]],
    "3": [[_arc(0.3, 0.25, 0.25, 0.24, 200, 450) + _arc(0.3, 0.74, 0.28, 0.25, 270, 520)[1:]],
          [[(0.04, 0.0), (0.56, 0.0), (0.25, 0.42)] + _arc(0.3, 0.71, 0.28, 0.28, 270, 520)[1:]]],
    "4": [[[(0.45, 1.0), (0.45, 0.0), (0.02, 0.68), (0.6, 0.68)]],
          [[(0.1, 0.0), (0.04, 0.6), (0.6, 0.6)], [(0.45, 0.3), (0.45, 1.0)]]],
    "5": [[[(0.55, 0.0), (0.1, 0.0), (0.07, 0.47)] + _arc(0.3, 0.69, 0.28, 0.3, 215, 520)]],
    "6": [[_arc(0.4, 0.72, 0.36, 0.68, 285, 180) + _arc(0.31, 0.72, 0.27, 0.27, 180, -180, 24)]],
    "7": [[[(0.02, 0.0), (0.58, 0.0), (0.2, 1.0)]],
          [[(0.02, 0.0), (0.58, 0.0), (0.25, 1.0)], [(0.15, 0.5), (0.5, 0.5)]]],
    "8": [[_arc(0.3, 0.25, 0.22, 0.24, 0, 360, 20), _arc(0.3, 0.73, 0.27, 0.26, 0, 360, 20)]],
    "9": [[_arc(0.3, 0.29, 0.27, 0.28, 0, 360, 20), [(0.57, 0.29), (0.52, 0.7), (0.42, 1.0)]]],
}


def glyph(ch: str, rng: random.Random) -> list[list[Point]]:
    """One random variant of digit `ch` as strokes in the unit glyph box."""
    return rng.choice(STROKES[ch])


def draw_strokes(draw_layers: list[ImageDraw.ImageDraw], xy: tuple[float, float], text: str, size: int,
                 spacing: float, rng: random.Random) -> list[tuple[int, int, int, int]]:
    """Paint `text` (digits) with its top-left at xy, glyphs `size` pixels high, into the fill mask.

    Returns each glyph's box (x0, y0, x1, y1), as `synth._draw_text` does for fonts.
    """
    fill = draw_layers[0]
    x, y = xy
    width = max(1, round(rng.uniform(0.06, 0.16) * size))
    slant = rng.uniform(-0.25, 0.15)            # x shift per unit of height above the baseline
    aspect = rng.uniform(0.75, 1.25)
    boxes = []
    for ch in text:
        pts_all = []
        for stroke in glyph(ch, rng):
            pts = []
            for px, py in stroke:
                gx = px * aspect + slant * (1.0 - py) + rng.gauss(0, 0.012)
                gy = py + rng.gauss(0, 0.012)
                pts.append((x + gx * size, y + gy * size))
            if len(pts) == 1:
                pts.append(pts[0])
            fill.line(pts, fill=255, width=width, joint="curve")
            r = width / 2
            for px, py in pts:
                fill.ellipse([px - r, py - r, px + r, py + r], fill=255)   # round pen ends and joints
            pts_all += pts
        xs, ys = [p[0] for p in pts_all], [p[1] for p in pts_all]
        boxes.append((int(min(xs) - width / 2), int(min(ys) - width / 2), int(max(xs) + width / 2) + 1,
                      int(max(ys) + width / 2) + 1))
        x = boxes[-1][2] + spacing + width
    return boxes
