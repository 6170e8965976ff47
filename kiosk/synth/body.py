"""Body proportions (metres) and appearance (colours, clothes, room, light) of a synthetic athlete.

Segment lengths follow Winter's anthropometric fractions of body height (Biomechanics and Motor
Control of Human Movement, 4th ed., table 4.1), scaled by the params' ratios; joint points are the
centres a COCO annotator clicks: hip joint centres inside the pelvis, the knee centre, the ankle
centre between the malleoli. Appearance comes from ``look_seed`` so that it varies independently
of the motion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from kiosk.synth.params import SynthParams

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Body:
    height: float
    ankle_h: float      # ankle joint centre above the sole
    shank: float        # knee -> ankle
    thigh: float        # hip -> knee
    hip_half: float     # half the distance between hip joint centres
    trunk: float        # hip-centre -> shoulder-centre
    shoulder_half: float
    neck: float         # shoulder-centre -> head centre
    head_r: float       # head half-height (half-width is ~0.78 of it)
    upper_arm: float
    forearm: float
    hand: float
    foot: float
    # radii (metres)
    thigh_r: float
    knee_r: float
    calf_r: float
    ankle_r: float
    upper_arm_r: float
    elbow_r: float
    wrist_r: float
    waist_half: float
    chest_half: float
    hip_out_half: float  # pelvis outline half-width (greater trochanters)


def make_body(p: SynthParams) -> Body:
    h = p.height_m
    g = p.girth
    leg = p.leg_ratio
    # leg length comes out of the trunk so the total height is kept
    thigh, shank = 0.245 * h * leg, 0.246 * h * leg
    ankle_h = 0.039 * h
    head_r = 0.066 * h
    trunk = 0.818 * h - ankle_h - thigh - shank  # hip centre -> shoulder centre, standing
    hip_half = 0.052 * h * p.hip_ratio
    thigh_r = 0.046 * h * g
    return Body(
        height=h, ankle_h=ankle_h, shank=shank, thigh=thigh, hip_half=hip_half, trunk=trunk,
        shoulder_half=0.112 * h * p.shoulder_ratio, neck=(0.936 - 0.818) * h, head_r=head_r,
        upper_arm=0.186 * h, forearm=0.146 * h, hand=0.095 * h, foot=0.152 * h,
        thigh_r=thigh_r, knee_r=0.029 * h * g, calf_r=0.032 * h * g, ankle_r=0.019 * h * g,
        upper_arm_r=0.025 * h * g, elbow_r=0.019 * h * g, wrist_r=0.015 * h * g,
        waist_half=0.078 * h * g ** 0.8, chest_half=0.098 * h * g ** 0.6 * p.shoulder_ratio,
        hip_out_half=hip_half + 0.85 * thigh_r,
    )


# Skin tones from light to dark (sRGB), spanning the Fitzpatrick range.
SKIN_TONES: tuple[RGB, ...] = (
    (246, 214, 190), (236, 192, 160), (224, 172, 135), (198, 146, 108), (172, 120, 84),
    (141, 94, 62), (110, 72, 48), (84, 54, 38), (62, 42, 31),
)
HAIR_COLOURS: tuple[RGB, ...] = ((25, 20, 18), (60, 40, 28), (110, 75, 45), (170, 130, 80), (215, 185, 130), (140, 60, 30),
                                 (120, 120, 120))


@dataclass(frozen=True)
class Look:
    skin: RGB
    shirt: RGB
    sleeves: str            # "short", "long", "none" (tank top)
    bottoms: RGB
    bottoms_kind: str       # "shorts" or "leggings"
    shorts_len: float       # fraction of the thigh covered
    socks: RGB
    shoes: RGB
    soles: RGB
    hair: RGB
    hair_style: str         # "short", "long", "bun", "none"
    wall: RGB
    floor: RGB
    box: RGB
    mat: RGB
    light_angle_deg: float  # image-plane direction the light comes from (0 = from the right, 90 = from above)
    brightness: float
    contrast: float
    colour_gain: tuple[float, float, float]
    noise_sigma: float      # sensor noise, grey levels
    blur_sigma: float       # lens softness, pixels
    exposure_ms: float      # shutter time: motion blur window
    wall_items: int         # door frames / posters on the wall
    walker_skin: RGB
    walker_shirt: RGB
    walker_bottoms: RGB
    walker_in_front: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _colour(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> RGB:
    """A clothing colour: saturated, muted or near-grey, as gym clothes are."""
    kind = rng.uniform()
    if kind < 0.25:  # greys, black, white
        v = int(rng.uniform(lo, hi))
        return (v, v, v)
    hue = rng.uniform(0, 1)
    sat = rng.uniform(0.25, 0.9) if kind < 0.8 else rng.uniform(0.05, 0.25)
    val = rng.uniform(0.25, 0.95)
    rgb = _hsv(hue, sat, val)
    return tuple(int(np.clip(c, lo, hi)) for c in rgb)  # type: ignore[return-value]


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return r * 255, g * 255, b * 255


def _near(rng: np.random.Generator, base: RGB, spread: float) -> RGB:
    return tuple(int(np.clip(c + rng.normal(0, spread), 0, 255)) for c in base)  # type: ignore[return-value]


def sample_look(look_seed: int) -> Look:
    rng = np.random.default_rng([int(look_seed), 0x100C])
    skin = _near(rng, SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], 6)
    wall_v = rng.uniform(120, 235)
    wall = _near(rng, (int(wall_v), int(wall_v * rng.uniform(0.92, 1.02)), int(wall_v * rng.uniform(0.85, 1.05))), 8)
    floor = _colour(rng, 40, 200) if rng.uniform() < 0.5 else _near(rng, (150, 110, 70), 25)
    return Look(
        skin=skin,
        shirt=_colour(rng),
        sleeves=str(rng.choice(["short", "short", "long", "none"])),
        bottoms=_colour(rng, 15, 200),
        bottoms_kind=str(rng.choice(["shorts", "shorts", "leggings"])),
        shorts_len=float(rng.uniform(0.3, 0.6)),
        socks=_colour(rng, 30, 245) if rng.uniform() < 0.5 else (235, 235, 235),
        shoes=_colour(rng, 20, 240),
        soles=_near(rng, (230, 230, 225), 15) if rng.uniform() < 0.6 else (40, 40, 40),
        hair=_near(rng, HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))], 8),
        hair_style=str(rng.choice(["short", "short", "long", "bun", "none"])),
        wall=wall,
        floor=floor,
        box=_colour(rng, 30, 220),
        mat=_near(rng, (40, 40, 45), 10) if rng.uniform() < 0.7 else _colour(rng, 30, 200),
        light_angle_deg=float(rng.uniform(35, 145)),
        brightness=float(rng.uniform(0.75, 1.15)),
        contrast=float(rng.uniform(0.85, 1.1)),
        colour_gain=(float(rng.uniform(0.92, 1.08)), 1.0, float(rng.uniform(0.9, 1.1))),
        noise_sigma=float(rng.uniform(1.0, 5.0)),
        blur_sigma=float(rng.uniform(0.0, 0.9)),
        exposure_ms=float(rng.uniform(1.0, 6.0)),
        wall_items=int(rng.integers(0, 4)),
        walker_skin=_near(rng, SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], 6),
        walker_shirt=_colour(rng),
        walker_bottoms=_colour(rng, 15, 200),
        walker_in_front=bool(rng.uniform() < 0.5),
    )
