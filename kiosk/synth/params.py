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
    # protocol failures: the athlete does something other than a drop vertical jump (see
    # kiosk.synth.protocol); each field's default is "off", and off fields are left out of
    # to_json so a normal trial's truth.json and hash are unchanged
    cmj_in_place: bool = False        # no box: stand on the mat, countermovement jump, land, stand
    hops: int = 0                     # continuous hops after the landing instead of one rebound jump (0 = off, else >= 2)
    stuck_landing: bool = False       # land off the box and stand up: no rebound jump
    jump_up_off_box_mps: float = 0.0  # jumps up off the box at this take-off speed before the fall (0 = steps off)
    toe_first_ms: float = 0.0         # staggered toe-first landing: right foot lands this much later (negative: left later)
    playback_speed: float = 1.0       # the clip shows the motion this many times faster than real (< 1: slow motion)
    hand_over_knee: str = ""          # "left"/"right": that hand crosses in front of the same knee during the landing
    static_figure: bool = False       # a still person in the background (poster, TV, mirror image)
    step_nearer_m: float = 0.0        # lands this far nearer the camera than the normal spot at the box's foot

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for name, off in PROTOCOL_DEFAULTS.items():
            if d[name] == off:
                del d[name]
        return d

    def protocol_failure(self) -> bool:
        """Whether any protocol-failure field is set (the motion is not a drop vertical jump)."""
        return any(getattr(self, n) != off for n, off in PROTOCOL_DEFAULTS.items() if n != "static_figure")

    def replace(self, **changes: Any) -> SynthParams:
        return check_params(dataclasses.replace(self, **changes))

    def hash(self) -> str:
        """Short digest of every field: a cache key for rendered clips."""
        blob = json.dumps(self.to_json(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


#: Protocol-failure fields and their "off" value.
PROTOCOL_DEFAULTS: dict[str, Any] = {
    "cmj_in_place": False, "hops": 0, "stuck_landing": False, "jump_up_off_box_mps": 0.0, "toe_first_ms": 0.0,
    "playback_speed": 1.0, "hand_over_knee": "", "static_figure": False, "step_nearer_m": 0.0,
}

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
    "hops": (0, 12), "jump_up_off_box_mps": (0, 3), "toe_first_ms": (-250, 250), "playback_speed": (0.05, 8),
    "step_nearer_m": (0, 1.2),
}


def check_params(p: SynthParams) -> SynthParams:
    for name, (lo, hi) in LIMITS.items():
        v = getattr(p, name)
        if not (isinstance(v, int | float) and math.isfinite(v) and lo <= v <= hi):
            raise InputError(f"synthetic athlete: {name.replace('_', '-')} = {v} is outside {lo:g}..{hi:g}")
    if p.absorb_s >= p.contact_s - 0.05:
        raise InputError(f"synthetic athlete: absorb-s {p.absorb_s:g} must end 50 ms before take-off (contact-s {p.contact_s:g})")
    return _check_protocol(p)


def _check_protocol(p: SynthParams) -> SynthParams:
    def refuse(why: str) -> None:
        raise InputError(f"synthetic athlete: {why}")

    if p.hops == 1 or (p.hops and not isinstance(p.hops, int)):
        refuse(f"hops = {p.hops}: give 2 or more hops (one is the normal rebound jump)")
    if p.hand_over_knee not in ("", "left", "right"):
        refuse(f"hand-over-knee = {p.hand_over_knee!r}: must be left or right")
    if abs(p.toe_first_ms) > 0 and abs(p.toe_first_ms) >= (p.contact_s - 0.1) * 1000:
        refuse(f"toe-first {p.toe_first_ms:g} ms must end 100 ms before take-off (contact-s {p.contact_s:g})")
    if p.cmj_in_place and (p.jump_up_off_box_mps or p.toe_first_ms or p.step_nearer_m or p.stuck_landing):
        refuse("cmj-in-place has no box: it does not combine with jump-up-off-box, toe-first, step-nearer or stuck-landing")
    if p.stuck_landing and p.hops:
        refuse("stuck-landing and hops exclude each other")
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
