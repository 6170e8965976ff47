"""A hand-built drop vertical jump as keypoints, for the analysis tests, and checks of the builder.

The 2D model is deliberately simple and exact: the body stands on a box, falls (a parabola, so
the ankles arrive with speed and stop dead at contact), sinks to a set depth and rises during
contact, flies ballistically and lands again. Each knee is placed on the normal of its hip-ankle
line at the offset that gives a chosen FPPA, so the true FPPA of every frame is known exactly.
The athlete faces the camera unmirrored: their left hip is on the image's right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from kiosk import geometry
from kiosk.keypoints import KP, LEG_JOINTS, NUM_KEYPOINTS, PoseFrame
from kiosk.matcsv import MatEdge

W, H = 640, 720


@dataclass
class Jump:
    fps: float = 120.0
    stand_s: float = 0.6
    fall_s: float = 0.25
    contact_s: float = 0.36
    peak_frac: float = 0.45        # peak flexion at this share of contact
    flight_s: float = 0.45
    after_s: float = 0.3
    t0: float = 0.0123             # clip start (frames need not start at 0)
    box_px: float = 100.0          # box height in pixels
    leg_px: float = 300.0          # hip-ankle length standing
    depth_px: float = 90.0         # hips sink this much at peak flexion
    hip_w: float = 70.0
    shoulder_w: float = 110.0
    valgus: dict = field(default_factory=lambda: {"left": 4.0, "right": 4.0})    # FPPA rise IC -> peak
    fppa_ic: dict = field(default_factory=lambda: {"left": 2.0, "right": 2.0})   # FPPA at contact
    static: dict = field(default_factory=lambda: {"left": 1.0, "right": 1.0})    # FPPA standing
    ankle_sep: float = 90.0
    noise_px: float = 0.0
    seed: int = 1
    lean_px: float = 0.0           # shoulders shifted toward the athlete's left at peak
    drift_px: float = 0.0          # the second landing this much lower in the image (nearer the camera)
    pushoff: dict = field(default_factory=lambda: {"left": 0.0, "right": 0.0})  # extra FPPA in the push-off
    pushoff_s: float = 0.08        # ... over this long before take-off (a hump, largest half-way)
    lean_ic_px: float = 0.0        # shoulders shifted toward the athlete's left from the fall through contact

    @property
    def ic(self) -> float:
        return self.t0 + self.stand_s + self.fall_s + 0.0004

    @property
    def takeoff(self) -> float:
        return self.ic + self.contact_s

    @property
    def peak(self) -> float:
        return self.ic + self.peak_frac * self.contact_s

    @property
    def landing(self) -> float:
        return self.takeoff + self.flight_s


def _shape(j: Jump, t: float) -> float:
    """0 at contact, 1 at peak flexion, 0 at take-off (a smooth hump)."""
    if t < j.ic or t > j.takeoff:
        return 0.0
    if t <= j.peak:
        return math.sin(0.5 * math.pi * (t - j.ic) / (j.peak - j.ic))
    return math.cos(0.5 * math.pi * (t - j.peak) / (j.takeoff - j.peak))


def _fppa(j: Jump, leg: str, t: float) -> float:
    if t < j.stand_s + j.t0:
        return j.static[leg]
    if t < j.ic:  # in the air, from the standing angle to the contact angle
        u = (t - j.t0 - j.stand_s) / (j.ic - j.t0 - j.stand_s)
        return j.static[leg] + u * (j.fppa_ic[leg] - j.static[leg])
    if t <= j.takeoff:
        push = 0.0
        if t > j.takeoff - j.pushoff_s:
            push = j.pushoff[leg] * math.sin(math.pi * (t - j.takeoff + j.pushoff_s) / j.pushoff_s)
        return j.fppa_ic[leg] + j.valgus[leg] * _shape(j, t) + push
    return j.fppa_ic[leg]


def pose_at(j: Jump, t: float) -> np.ndarray:
    """True (17, 2) joints at time t."""
    floor = H - 90.0
    box = floor - j.box_px
    g_px = 2 * j.box_px / j.fall_s**2                     # the fall takes fall_s
    v_off = g_px * j.flight_s / 2                         # take-off speed for the flight time
    if t < j.t0 + j.stand_s:
        ank_y, sink = box, 0.0
    elif t < j.ic:
        u = t - j.t0 - j.stand_s
        ank_y, sink = box + 0.5 * g_px * u * u, 0.0
    elif t <= j.takeoff:
        ank_y = floor
        sink = j.depth_px * _shape(j, t)
    elif t <= j.landing:
        u = t - j.takeoff
        ank_y, sink = floor - (v_off * u - 0.5 * g_px * u * u) + j.drift_px * u / j.flight_s, 0.0
    else:
        ank_y, sink = floor + j.drift_px, 0.0
    cx = W / 2
    hip_y = ank_y - j.leg_px + sink
    kp = np.zeros((NUM_KEYPOINTS, 2))
    # Athlete's left = image right.
    kp[KP["left_hip"]] = (cx + j.hip_w / 2, hip_y)
    kp[KP["right_hip"]] = (cx - j.hip_w / 2, hip_y)
    kp[KP["left_ankle"]] = (cx + j.ankle_sep / 2, ank_y)
    kp[KP["right_ankle"]] = (cx - j.ankle_sep / 2, ank_y)
    for leg in ("left", "right"):
        hip, knee, ankle, other = LEG_JOINTS[leg]
        h, a = kp[hip], kp[ankle]
        mid = (h + a) / 2
        d = a - h
        half = np.hypot(*d) / 2
        n = np.array([-d[1], d[0]]) / (2 * half)
        if np.dot(n, kp[other] - h) < 0:
            n = -n                                        # point medially
        kp[knee] = mid + n * half * math.tan(math.radians(_fppa(j, leg, t)) / 2)
    lean = j.lean_px * _shape(j, t) + (j.lean_ic_px if j.t0 + j.stand_s <= t <= j.takeoff else 0.0)
    sh_y = hip_y - 170
    kp[KP["left_shoulder"]] = (cx + j.shoulder_w / 2 + lean, sh_y)
    kp[KP["right_shoulder"]] = (cx - j.shoulder_w / 2 + lean, sh_y)
    for name, dx, dy in (("left_elbow", 65, 90), ("right_elbow", -65, 90), ("left_wrist", 70, 170),
                         ("right_wrist", -70, 170)):
        kp[KP[name]] = (cx + dx + lean, sh_y + dy)
    head_y = sh_y - 60
    for name, dx, dy in (("nose", 0, 0), ("left_eye", 8, -8), ("right_eye", -8, -8), ("left_ear", 20, -2),
                         ("right_ear", -20, -2)):
        kp[KP[name]] = (cx + dx + lean, head_y + dy)
    return kp


def times(j: Jump) -> np.ndarray:
    end = j.landing + j.after_s
    return j.t0 + np.arange(0, end - j.t0, 1.0 / j.fps)


def frames(j: Jump, edit=None) -> list[PoseFrame]:
    """Pose frames with optional noise; ``edit(i, t, kp)`` may change a frame's (17, 3) array."""
    rng = np.random.default_rng(j.seed)
    out = []
    for i, t in enumerate(times(j)):
        xy = pose_at(j, float(t))
        if j.noise_px:
            xy = xy + rng.normal(0, j.noise_px, xy.shape)
        kp = np.concatenate([xy, np.full((NUM_KEYPOINTS, 1), 0.9)], axis=1)
        if edit is not None:
            edit(i, float(t), kp)
        out.append(PoseFrame(index=i, t=float(t), keypoints=kp.astype(np.float32)))
    return out


def mat(j: Jump) -> list[MatEdge]:
    return [MatEdge(j.ic, True), MatEdge(j.takeoff, False), MatEdge(j.landing, True)]


def true_fppa(j: Jump, leg: str, t: float) -> float:
    kp = pose_at(j, t)
    hip, knee, ankle, other = LEG_JOINTS[leg]
    return float(geometry.fppa_deg(kp[hip], kp[knee], kp[ankle], kp[other]))


# --- checks of the builder itself ----------------------------------------------------------------

def test_builder_places_knees_at_the_requested_fppa():
    j = Jump(valgus={"left": 12.0, "right": -5.0}, fppa_ic={"left": 3.0, "right": 1.0})
    assert abs(true_fppa(j, "left", j.peak) - 15.0) < 1e-6
    assert abs(true_fppa(j, "right", j.peak) - (-4.0)) < 1e-6
    assert abs(true_fppa(j, "left", j.ic + 1e-9) - 3.0) < 1e-3


def test_builder_keeps_the_athletes_left_on_the_image_right():
    kp = pose_at(Jump(), 0.1)
    assert kp[KP["left_hip"], 0] > kp[KP["right_hip"], 0]
    assert kp[KP["left_knee"], 0] > kp[KP["right_knee"], 0]
