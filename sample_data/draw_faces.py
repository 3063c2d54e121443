"""How a face looks for each of the seven basic expressions: parameters, then a Pillow drawing.

Expressions differ only in the geometry below (brows, eyes, mouth, creases); everything else about
a face (shape, skin, hair, iris) is drawn at random, so a model has to look at the expression.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 256  # faces are drawn large and downscaled by the caller: cheap anti-aliasing

# Vertical sizes are in units of the face half-height, mouth_width in units of the half-width.
# brow_raise: up is positive; brow_tilt: inner end up is positive; eye_open: eye height / width;
# mouth_curve: corners down is positive; mouth_up / mouth_low: opening above / below the lip
# line; mouth_asym: one corner raised (the disgust sneer); wrinkle: lines across the nose;
# frown_lines: creases between the brows; smile_lines: raised cheeks and nasolabial folds.
NEUTRAL = dict(brow_raise=0.0, brow_tilt=0.0, brow_arch=0.015, eye_open=0.5, mouth_width=0.37,
               mouth_curve=0.0, mouth_up=0.0, mouth_low=0.0, teeth=0.0, mouth_asym=0.0,
               wrinkle=0.0, frown_lines=0.0, smile_lines=0.0)
EXPRESSIONS = {
    "angry": dict(brow_raise=-0.05, brow_tilt=-0.1, brow_arch=0.0, eye_open=0.3, mouth_width=0.33,
                  mouth_curve=0.04, frown_lines=1.0),
    "disgust": dict(brow_raise=-0.03, brow_tilt=-0.035, eye_open=0.28, mouth_width=0.35,
                    mouth_curve=0.03, mouth_up=0.06, mouth_low=0.018, teeth=1.0, mouth_asym=-0.09,
                    wrinkle=1.0),
    "fear": dict(brow_raise=0.07, brow_tilt=0.07, brow_arch=0.0, eye_open=0.85, mouth_width=0.48,
                 mouth_curve=0.04, mouth_up=0.05, mouth_low=0.11, teeth=1.0),
    "happy": dict(brow_raise=0.01, brow_arch=0.03, eye_open=0.3, mouth_width=0.5,
                  mouth_curve=-0.12, mouth_low=0.12, teeth=1.0, smile_lines=1.0),
    "neutral": dict(),
    "sad": dict(brow_raise=0.02, brow_tilt=0.09, brow_arch=0.0, eye_open=0.38, mouth_width=0.36,
                mouth_curve=0.12),
    "surprise": dict(brow_raise=0.1, brow_arch=0.05, eye_open=0.9, mouth_width=0.22,
                     mouth_up=0.14, mouth_low=0.24),
}
CLASSES = tuple(EXPRESSIONS)
SKIN = np.array([(255, 224, 196), (241, 194, 160), (224, 172, 105), (198, 134, 66),
                 (141, 85, 36), (92, 56, 32)], dtype=float)
HAIR = np.array([(20, 15, 10), (60, 40, 25), (120, 80, 40), (200, 170, 110), (150, 150, 150)],
                dtype=float)
IRIS = np.array([(60, 40, 20), (40, 90, 140), (70, 110, 60), (25, 20, 15)], dtype=float)
DARK = (20, 20, 25)

Colour = tuple[int, int, int]


def expression_params(expression: str, rng: np.random.Generator) -> dict[str, float]:
    """Blend neutral towards the expression by a random intensity, plus small per-face jitter."""
    target = {**NEUTRAL, **EXPRESSIONS[expression]}
    if expression == "angry" and rng.random() < 0.5:  # clenched, bared teeth instead of pressed lips
        target.update(mouth_up=0.03, mouth_low=0.03, teeth=1.0, mouth_curve=0.02)
    if expression == "happy" and rng.random() < 0.35:  # a closed-mouth smile
        target.update(mouth_low=0.0, teeth=0.0, mouth_curve=-0.08)
    intensity = rng.uniform(0.7, 1.0)
    params = {key: NEUTRAL[key] + intensity * (target[key] - NEUTRAL[key]) for key in NEUTRAL}
    for key, sd in (("brow_raise", 0.012), ("brow_tilt", 0.012), ("eye_open", 0.05),
                    ("mouth_width", 0.02), ("mouth_curve", 0.01)):
        params[key] += rng.normal(0, sd)
    params["teeth"] = float(params["teeth"] > 0.5)
    return params


def random_colour(palette: np.ndarray, rng: np.random.Generator) -> Colour:
    """A random colour on the polyline through the rows of `palette`."""
    position = rng.uniform(0, len(palette) - 1)
    low = int(position)
    high = min(low + 1, len(palette) - 1)
    return tuple(int(v) for v in palette[low] + (position - low) * (palette[high] - palette[low]))


def _shade(colour: Colour, factor: float) -> Colour:
    """The colour darkened (factor < 1) or lightened."""
    return tuple(int(min(255, c * factor)) for c in colour)


class _Face:
    """One face's random build: its size, colours and where its features sit on the canvas."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.skin = random_colour(SKIN, rng)
        self.hair = random_colour(HAIR, rng)
        self.iris = random_colour(IRIS, rng)
        self.crease = _shade(self.skin, 0.7)
        self.cx, self.cy = CANVAS / 2, CANVAS * 0.53
        self.a = CANVAS * rng.uniform(0.32, 0.38)  # half-width
        self.b = CANVAS * rng.uniform(0.42, 0.47)  # half-height
        self.line = max(3, int(0.045 * self.b))
        self.mid = self.cx + rng.uniform(-0.06, 0.06) * self.a  # off-centre: a hint of head turn
        self.eye_y = self.cy - 0.12 * self.b
        self.eye_w = 0.24 * self.a
        self.nose_y = self.cy + 0.22 * self.b
        self.mouth_y = self.cy + 0.5 * self.b


def draw_face(params: dict[str, float], rng: np.random.Generator, *, background: Colour,
              glasses: bool) -> Image.Image:
    """Draw one face with the given expression parameters, centred and facing the camera."""
    image = Image.new("RGB", (CANVAS, CANVAS), background)
    draw = ImageDraw.Draw(image)
    face = _Face(rng)
    _draw_head(draw, face, rng)
    _draw_eyes(draw, face, params, glasses)
    _draw_creases(draw, face, params)
    _draw_mouth(draw, face, params)
    return image


def _draw_head(draw: ImageDraw.ImageDraw, f: _Face, rng: np.random.Generator) -> None:
    """Hair behind, neck, ears, the face oval and a fringe."""
    a, b, cx, cy = f.a, f.b, f.cx, f.cy
    if rng.random() < 0.4:
        draw.ellipse([cx - 1.25 * a, cy - 1.1 * b, cx + 1.25 * a, cy + 1.4 * b], fill=f.hair)
    draw.rectangle([cx - 0.45 * a, cy + 0.6 * b, cx + 0.45 * a, CANVAS], fill=_shade(f.skin, 0.85))
    for side in (-1, 1):
        draw.ellipse([cx + side * a - 0.15 * a, cy - 0.2 * b, cx + side * a + 0.15 * a, cy + 0.15 * b],
                     fill=_shade(f.skin, 0.92))
    draw.ellipse([cx - a, cy - b, cx + a, cy + b], fill=f.skin)
    fringe = rng.uniform(0.5, 0.7)
    if rng.random() < 0.85:
        draw.chord([cx - 1.05 * a, cy - 1.08 * b, cx + 1.05 * a, cy + (2 * fringe - 1.08) * b],
                   180, 360, fill=f.hair)


def _draw_eyes(draw: ImageDraw.ImageDraw, f: _Face, params: dict[str, float],
               glasses: bool) -> None:
    """Eyes opened by `eye_open`, brows raised, tilted and arched, or dark sunglasses over both."""
    eye_w, eye_y, b = f.eye_w, f.eye_y, f.b
    eye_h = eye_w * max(0.12, params["eye_open"])
    brow_colour = tuple(min(h, 70) for h in f.hair)
    for side in (-1, 1):
        ex = f.mid + side * 0.42 * f.a
        draw.ellipse([ex - eye_w, eye_y - eye_h, ex + eye_w, eye_y + eye_h], fill=(245, 245, 240),
                     outline=(30, 20, 20), width=f.line)
        iris = min(0.5 * eye_w, eye_h)
        draw.ellipse([ex - iris, eye_y - iris, ex + iris, eye_y + iris], fill=f.iris)
        draw.ellipse([ex - iris / 2, eye_y - iris / 2, ex + iris / 2, eye_y + iris / 2], fill=DARK)
        if params["smile_lines"] > 0.3:  # cheeks push the lower lids up
            draw.arc([ex - 1.1 * eye_w, eye_y, ex + 1.1 * eye_w, eye_y + 2.2 * eye_h + 0.06 * b],
                     20, 160, fill=f.crease, width=f.line)
        brow_y = eye_y - 0.5 * eye_w - 0.12 * b - params["brow_raise"] * b
        inner = (ex - side * 1.1 * eye_w, brow_y - params["brow_tilt"] * b)
        outer = (ex + side * 1.2 * eye_w, brow_y + 0.01 * b)
        top = (ex + side * 0.1 * eye_w, (inner[1] + outer[1]) / 2 - params["brow_arch"] * b)
        draw.line([inner, top, outer], fill=brow_colour, width=int(0.1 * b), joint="curve")
        if glasses:
            draw.ellipse([ex - 1.35 * eye_w, eye_y - eye_w, ex + 1.35 * eye_w, eye_y + 0.9 * eye_w],
                         fill=DARK)
    if glasses:
        bridge_y = eye_y - 0.3 * eye_w
        draw.line([(f.mid - 0.2 * f.a, bridge_y), (f.mid + 0.2 * f.a, bridge_y)], fill=DARK,
                  width=f.line)


def _draw_creases(draw: ImageDraw.ImageDraw, f: _Face, params: dict[str, float]) -> None:
    """The nose, and the wrinkles, frown lines and smile folds the expression calls for."""
    a, b, mid, line = f.a, f.b, f.mid, f.line
    draw.line([(mid, f.eye_y + 0.05 * b), (mid + 0.05 * a, f.nose_y)], fill=f.crease, width=line)
    draw.arc([mid - 0.14 * a, f.nose_y - 0.06 * b, mid + 0.14 * a, f.nose_y + 0.05 * b], 20, 160,
             fill=_shade(f.skin, 0.6), width=line)
    if params["wrinkle"] > 0.3:
        for k in range(3):
            y = f.eye_y + (0.07 + 0.05 * k) * b
            draw.line([(mid - 0.12 * a, y), (mid + 0.12 * a, y + 0.015 * b)], fill=f.crease,
                      width=line)
    for side in (-1, 1):
        if params["wrinkle"] > 0.3:  # sloping down to the nose wings
            draw.line([(mid + side * 0.1 * a, f.eye_y + 0.1 * b), (mid + side * 0.2 * a, f.nose_y)],
                      fill=f.crease, width=line)
        if params["frown_lines"] > 0.3:
            x = mid + side * 0.06 * a
            draw.line([(x, f.eye_y - 0.3 * b), (x - side * 0.01 * a, f.eye_y - 0.14 * b)],
                      fill=f.crease, width=line)
        if params["smile_lines"] > 0.3:  # from the nose wings to past the mouth corners
            corner_x = mid + side * (params["mouth_width"] + 0.07) * a
            draw.line([(mid + side * 0.2 * a, f.nose_y - 0.03 * b),
                       (corner_x, f.mouth_y + (params["mouth_curve"] - 0.02) * b)],
                      fill=f.crease, width=line)


def _draw_mouth(draw: ImageDraw.ImageDraw, f: _Face, params: dict[str, float]) -> None:
    """Lips as two quadratic curves through the corners: curve, opening, asymmetry, teeth."""
    s = np.linspace(-1, 1, 25)
    x = f.mid + s * params["mouth_width"] * f.a
    base = f.mouth_y + (params["mouth_curve"] * s**2 + params["mouth_asym"] * s) * f.b
    upper = base - params["mouth_up"] * f.b * (1 - s**2)
    lower = base + params["mouth_low"] * f.b * (1 - s**2)
    lip = (150, 60, 60) if sum(f.skin) > 400 else _shade(f.skin, 0.6)
    if params["mouth_up"] + params["mouth_low"] < 0.02:
        draw.line(list(zip(x, base)), fill=lip, width=2 * f.line, joint="curve")
        return
    outline = list(zip(x, upper)) + list(zip(x[::-1], lower[::-1]))
    draw.polygon(outline, fill=(60, 15, 20))
    if params["teeth"]:
        teeth_low = np.minimum(upper + 0.45 * (lower - upper) + 0.02 * f.b, lower)
        draw.polygon(list(zip(x, upper)) + list(zip(x[::-1], teeth_low[::-1])), fill=(240, 240, 230))
    draw.line(outline + [outline[0]], fill=lip, width=f.line, joint="curve")
