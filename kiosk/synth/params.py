"""Every knob of a synthetic drop-jump trial, and the seeded sampler that picks them.

A trial is fully described by one frozen :class:`SynthParams`; the same params always render the
same clip, joints and mat edges. ``sample_params(seed)`` draws motion, body, appearance and camera
from the seed so that a set of seeds spans the space (no test can pass by tuning to one look);
explicit overrides (the CLI's ``--valgus-left`` etc.) then replace single fields.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kiosk.errors import InputError


@dataclass(frozen=True)
class SynthParams:
    seed: int = 0
    # output
    fps: float = 120.0
    width: int = 640
    height: int = 480
    # valgus (degrees of 2D FPPA as the camera sees it; positive = knee medial)
    valgus_left: float = 5.0          # peak FPPA reached between initial contact and take-off
    valgus_right: float = 5.0
    static_valgus_left: float = 1.0   # FPPA while standing still on the box
    static_valgus_right: float = 1.0
    ic_valgus_frac: float = 0.15      # FPPA at IC = static + frac * (peak - static)
    peak_valgus_offset_s: float = 0.0  # peak FPPA time relative to peak knee flexion
    # movement
    depth_deg: float = 75.0           # peak knee flexion after the first landing
    stance_ratio: float = 1.2         # ankle separation / hip-joint-centre separation at landing
    contact_s: float = 0.40           # initial contact -> take-off
    absorb_s: float = 0.15            # initial contact -> peak knee flexion
    flight_s: float = 0.50            # take-off -> second landing (ballistic)
    trunk_lean_deg: float = 0.0       # lateral trunk lean at peak flexion, + toward the athlete's left
    land_delay_ms: float = 0.0        # right foot lands this much after the left (negative: left later)
    box_height_m: float = 0.30
    stand_s: float = 1.0              # still on the box before stepping off
    after_s: float = 1.0              # after the second landing
    # body
    height_m: float = 1.75
    girth: float = 1.0                # limb and trunk thickness factor
    leg_ratio: float = 1.0            # leg length relative to the average proportion
    shoulder_ratio: float = 1.0
    hip_ratio: float = 1.0
    # camera (athlete faces the camera; yaw turns the athlete toward their own left)
    camera_height_m: float = 0.75
    camera_distance_m: float = 3.5    # from the landing spot
    yaw_deg: float = 0.0
    pitch_offset_deg: float = 0.0     # added to the automatic framing pitch (+ = look down)
    fill: float = 0.88                # fraction of the frame height the action spans
    look_seed: int = 0                # appearance (clothes, skin, room, light, noise)
    # failure modes
    cut_off_feet: bool = False
    second_person: bool = False

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> SynthParams:
        return check_params(dataclasses.replace(self, **changes))

    def hash(self) -> str:
        """Short digest of every field: a cache key for rendered clips."""
        blob = json.dumps(self.to_json(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


#: Allowed ranges, checked on every params object (bad CLI values give one clear line).
LIMITS: dict[str, tuple[float, float]] = {
    "fps": (15, 240), "width": (160, 1920), "height": (120, 1920),
    "valgus_left": (-20, 35), "valgus_right": (-20, 35),
    "static_valgus_left": (-10, 15), "static_valgus_right": (-10, 15),
    "ic_valgus_frac": (0, 0.8), "peak_valgus_offset_s": (-0.08, 0.08),
    "depth_deg": (30, 120), "stance_ratio": (0.6, 2.5), "contact_s": (0.2, 0.8), "absorb_s": (0.06, 0.35),
    "flight_s": (0.2, 0.8), "trunk_lean_deg": (-25, 25), "land_delay_ms": (-60, 60), "box_height_m": (0.1, 0.6),
    "stand_s": (0.3, 5), "after_s": (0.2, 5), "height_m": (1.3, 2.2), "girth": (0.7, 1.5), "leg_ratio": (0.85, 1.15),
    "shoulder_ratio": (0.8, 1.25), "hip_ratio": (0.8, 1.3), "camera_height_m": (0.3, 1.8),
    "camera_distance_m": (2.0, 8.0), "yaw_deg": (-80, 80), "pitch_offset_deg": (-15, 15), "fill": (0.5, 1.0),
}


def check_params(p: SynthParams) -> SynthParams:
    for name, (lo, hi) in LIMITS.items():
        v = getattr(p, name)
        if not (isinstance(v, int | float) and math.isfinite(v) and lo <= v <= hi):
            raise InputError(f"synthetic athlete: {name.replace('_', '-')} = {v} is outside {lo:g}..{hi:g}")
    if p.absorb_s >= p.contact_s - 0.05:
        raise InputError(f"synthetic athlete: absorb-s {p.absorb_s:g} must end 50 ms before take-off (contact-s {p.contact_s:g})")
    return p


def sample_params(seed: int, **overrides: Any) -> SynthParams:
    """Seeded draw over the whole parameter space of a normal trial (no failure modes).

    Ranges (judgement, around DESIGN.md's norms): peak valgus -5..20 deg per leg, static -3..6,
    depth 50..100 deg, contact 0.3..0.5 s, flight 0.4..0.6 s, height 1.5..2.0 m, camera 0.5..1.0 m
    high and 3..4 m away, yaw +-10 deg.
    """
    rng = np.random.default_rng([int(seed), 0x5EED])
    u = rng.uniform
    base = float(u(-5, 20))
    static_l, static_r = (float(np.clip(v, -3, 6)) for v in rng.normal(1.5, 2.0, 2))
    values: dict[str, Any] = {
        "seed": int(seed),
        "valgus_left": float(np.clip(base + rng.normal(0, 3), -5, 20)),
        "valgus_right": float(np.clip(base + rng.normal(0, 3), -5, 20)),
        "static_valgus_left": static_l,
        "static_valgus_right": static_r,
        "ic_valgus_frac": float(u(0.05, 0.3)),
        "peak_valgus_offset_s": float(u(-0.02, 0.03)),
        "depth_deg": float(u(50, 100)),
        "stance_ratio": float(u(0.95, 1.7)),
        "contact_s": float(u(0.30, 0.50)),
        "flight_s": float(u(0.40, 0.60)),
        "trunk_lean_deg": float(rng.normal(0, 4)),
        "land_delay_ms": float(rng.choice([0.0, float(u(-15, 15))])),
        "box_height_m": float(u(0.28, 0.32)),
        "stand_s": float(u(0.9, 1.2)),
        "height_m": float(u(1.5, 2.0)),
        "girth": float(u(0.85, 1.25)),
        "leg_ratio": float(u(0.94, 1.06)),
        "shoulder_ratio": float(u(0.9, 1.12)),
        "hip_ratio": float(u(0.92, 1.15)),
        "camera_height_m": float(u(0.5, 1.0)),
        "camera_distance_m": float(u(3.0, 4.0)),
        "yaw_deg": float(u(-10, 10)),
        "pitch_offset_deg": float(u(-1.5, 1.5)),
        "fill": float(u(0.8, 0.93)),
        "look_seed": int(rng.integers(0, 2**31 - 1)),
    }
    values["absorb_s"] = float(min(u(0.10, 0.20), values["contact_s"] - 0.12))
    values["trunk_lean_deg"] = float(np.clip(values["trunk_lean_deg"], -10, 10))
    fields = {f.name for f in dataclasses.fields(SynthParams)}
    for key, value in overrides.items():
        if key not in fields:
            raise InputError(f"synthetic athlete: unknown parameter '{key}'")
        if value is not None:
            values[key] = value
    return check_params(SynthParams(**values))
