"""The 3D drop-vertical-jump skeleton over time, with exact events and solved knee valgus.

Phases (DESIGN.md section 1): still on the box -> step off (no jump up) -> free fall -> initial
contact (IC, the first foot reaches the floor) -> absorb to peak knee flexion -> take-off ->
ballistic flight -> second landing -> stand. The feet carry the events: each ankle follows an
exact free-fall / ballistic path, so the mat edges are the times the ankles reach or leave the
floor height. The pelvis rides on the legs (knee flexion curve), the trunk, arms and head follow.

Valgus: each knee lies on the circle its thigh and shank allow around the hip-ankle axis; the
angle ``phi`` round that circle (0 = straight ahead, + = medial) is solved per instant so that the
PROJECTED 2D FPPA, as :func:`kiosk.geometry.fppa_deg` measures it in the camera's image, follows a
target waveform: static value while standing, a smooth rise from IC to the requested peak near
peak flexion, recovery by take-off. Bone lengths stay exact throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kiosk.geometry import fppa_deg
from kiosk.synth.body import Body
from kiosk.synth.camera import Camera
from kiosk.synth.params import SynthParams

G = 9.80665
BOX_FRONT_Z = -0.22   # front edge of the box; the athlete lands at z = 0
STAND_Z = -0.40       # ankle z while standing on the box
TOE_OUT_DEG = 8.0

Pose3D = dict[str, np.ndarray]  # name -> (N, 3) world points; a few entries are unit axes


class Curve:
    """Piecewise cubic Hermite through keyframes; slopes default to 0 (ease in/out at each key)."""

    def __init__(self, keys: list[tuple[float, float] | tuple[float, float, float]]):
        keys = sorted(keys, key=lambda k: k[0])
        self.t = np.array([k[0] for k in keys], dtype=np.float64)
        self.v = np.array([k[1] for k in keys], dtype=np.float64)
        self.m = np.array([k[2] if len(k) > 2 else 0.0 for k in keys], dtype=np.float64)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        i = np.clip(np.searchsorted(self.t, t, side="right") - 1, 0, len(self.t) - 2)
        t0, t1 = self.t[i], self.t[i + 1]
        h = np.maximum(t1 - t0, 1e-9)
        s = np.clip((t - t0) / h, 0.0, 1.0)
        h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
        out = h00 * self.v[i] + h10 * h * self.m[i] + h01 * self.v[i + 1] + h11 * h * self.m[i + 1]
        out = np.where(t <= self.t[0], self.v[0], out)
        return np.where(t >= self.t[-1], self.v[-1], out)


@dataclass(frozen=True)
class Events:
    stand_end: float
    leave_left: float      # the foot starts to fall off the box edge
    leave_right: float
    ic_left: float
    ic_right: float
    initial_contact: float  # first foot on the mat (mat closes)
    peak_flexion: float     # deepest knee flexion, lowest hips
    peak_valgus: float      # when the FPPA target peaks
    takeoff: float          # both feet leave (mat opens)
    second_landing: float   # both feet land (mat closes)
    end: float

    def to_json(self) -> dict[str, float]:
        return {"initial_contact_s": self.initial_contact, "peak_flexion_s": self.peak_flexion,
                "takeoff_s": self.takeoff, "second_landing_s": self.second_landing,
                "left_contact_s": self.ic_left, "right_contact_s": self.ic_right}


def make_events(p: SynthParams) -> Events:
    step = 0.18
    fall = math.sqrt(2 * p.box_height_m / G)
    delay = p.land_delay_ms / 1000.0
    leave = p.stand_s + step
    leave_l, leave_r = leave + max(0.0, -delay), leave + max(0.0, delay)
    ic_l, ic_r = leave_l + fall, leave_r + fall
    ic = min(ic_l, ic_r)
    peak = ic + p.absorb_s
    takeoff = ic + p.contact_s
    pv = float(np.clip(peak + p.peak_valgus_offset_s, ic + 0.04, takeoff - 0.05))
    land2 = takeoff + p.flight_s
    return Events(p.stand_s, leave_l, leave_r, ic_l, ic_r, ic, peak, pv, takeoff, land2, land2 + p.after_s)


class Motion:
    """Evaluates the skeleton at any times; ``solve_camera`` is the view the valgus is solved in."""

    def __init__(self, p: SynthParams, body: Body, solve_camera: Camera):
        self.p, self.b, self.cam = p, body, solve_camera
        self.ev = ev = make_events(p)
        b = body
        self.stance_half = p.stance_ratio * b.hip_half
        stand_flex = max(4.0, 1.3 * max(abs(p.static_valgus_left), abs(p.static_valgus_right)) + 3.0)
        ic_flex = stand_flex + 14.0
        self.flex = Curve([
            (0.0, stand_flex), (ev.stand_end, stand_flex), (ev.stand_end + 0.12, stand_flex + 8),
            (ev.initial_contact - 0.06, ic_flex - 4, 40.0), (ev.initial_contact, ic_flex, 600.0),
            (ev.peak_flexion, p.depth_deg), (ev.takeoff - 0.04, 20.0, -450.0), (ev.takeoff, 9.0, -120.0),
            (ev.takeoff + 0.12, 6.0), (ev.second_landing - 0.05, 14.0, 60.0), (ev.second_landing, 17.0, 500.0),
            (ev.second_landing + 0.16, 0.6 * p.depth_deg), (ev.second_landing + 0.7, stand_flex), (ev.end, stand_flex),
        ])
        self.valgus = {side: self._valgus_curve(peak, static)
                       for side, peak, static in (("left", p.valgus_left, p.static_valgus_left),
                                                  ("right", p.valgus_right, p.static_valgus_right))}
        # Trunk: forward flexion follows knee flexion; lateral lean builds during the contact.
        self.trunk_flex = lambda t: 0.42 * (self.flex(t) - stand_flex) + 3.0
        self.lean = Curve([(0.0, 0.0), (ev.initial_contact, 0.15 * p.trunk_lean_deg), (ev.peak_flexion, p.trunk_lean_deg),
                           (ev.takeoff, 0.3 * p.trunk_lean_deg), (ev.takeoff + 0.15, 0.0), (ev.end, 0.0)])
        # Arms: (abduction, flexion forward, elbow flexion) in degrees.
        arm_keys = [(0.0, (9, 0, 12)), (ev.stand_end, (9, 0, 12)), (ev.stand_end + 0.15, (18, 20, 22)),
                    (ev.initial_contact - 0.05, (32, 40, 30)), (ev.initial_contact + 0.03, (26, 15, 28)),
                    (ev.peak_flexion, (16, -40, 22)), (ev.takeoff, (12, 150, 14)), (ev.takeoff + 0.5 * p.flight_s, (16, 120, 20)),
                    (ev.second_landing, (24, 45, 30)), (ev.second_landing + 0.4, (14, 10, 20)), (ev.end, (9, 0, 12))]
        self.arm = [Curve([(t, v[k]) for t, v in arm_keys]) for k in range(3)]
        self.sway_phase = (p.seed * 0.618) % 1.0 * 2 * math.pi

    def _valgus_curve(self, peak: float, static: float) -> Curve:
        ev = self.ev
        lo = min(static + self.p.ic_valgus_frac * (peak - static), peak - 1.5)
        to = lo + 0.3 * (peak - lo)
        return Curve([(0.0, static), (ev.stand_end, static), (ev.initial_contact, lo), (ev.peak_valgus, peak),
                      (ev.takeoff, to), (ev.takeoff + 0.15, 0.5 * static), (ev.second_landing, static),
                      (ev.second_landing + 0.16, static + 0.5 * (peak - static)), (ev.second_landing + 0.7, static), (ev.end, static)])

    # --- feet ---------------------------------------------------------------------------------

    def ankle(self, t: np.ndarray, side: str) -> np.ndarray:
        """Ankle joint centre (N, 3): exact free fall off the box, fixed on the mat, ballistic flight."""
        p, b, ev = self.p, self.b, self.ev
        leave = ev.leave_left if side == "left" else ev.leave_right
        ic = ev.ic_left if side == "left" else ev.ic_right
        x = np.full_like(t, self.stance_half if side == "left" else -self.stance_half)
        y = np.full_like(t, b.ankle_h)
        on_box = t < leave
        y = np.where(on_box, p.box_height_m + b.ankle_h, y)
        falling = (t >= leave) & (t < ic)
        y = np.where(falling, p.box_height_m + b.ankle_h - 0.5 * G * (t - leave) ** 2, y)
        tau = t - ev.takeoff
        v0 = G * p.flight_s / 2
        flying = (t >= ev.takeoff) & (t < ev.second_landing)
        y = np.where(flying, b.ankle_h + v0 * tau - 0.5 * G * tau**2, y)
        # forward travel from the box to the landing spot; feet narrower on the box
        s = np.clip((t - ev.stand_end) / max(ic - ev.stand_end, 1e-6), 0.0, 1.0)
        z = STAND_Z + (0.0 - STAND_Z) * (s * s * (3 - 2 * s))
        x = x * np.where(t < ic, 0.92 + 0.08 * s, 1.0)
        return np.stack([x, y, z], axis=-1)

    # --- whole skeleton -------------------------------------------------------------------------

    def evaluate(self, times: np.ndarray | list[float]) -> Pose3D:
        t = np.atleast_1d(np.asarray(times, dtype=np.float64))
        b = self.b
        ankles = {s: self.ankle(t, s) for s in ("left", "right")}
        pelvis = self._pelvis(t, ankles)
        lat = np.array([1.0, 0.0, 0.0])
        hips = {"left": pelvis + b.hip_half * lat, "right": pelvis - b.hip_half * lat}
        knees = self._solve_knees(t, hips, ankles)
        pose: Pose3D = {"pelvis": pelvis}
        for s in ("left", "right"):
            pose[f"{s}_hip"], pose[f"{s}_knee"], pose[f"{s}_ankle"] = hips[s], knees[s], ankles[s]
            out = 1.0 if s == "left" else -1.0
            toe_dir = np.array([out * math.sin(math.radians(TOE_OUT_DEG)), 0.0, math.cos(math.radians(TOE_OUT_DEG))])
            pose[f"{s}_toe"] = ankles[s] + 0.74 * b.foot * toe_dir + np.array([0.0, -0.55 * b.ankle_h, 0.0])
            pose[f"{s}_heel"] = ankles[s] + np.array([0.0, -0.5 * b.ankle_h, -0.2 * b.foot])
        self._upper_body(t, pose)
        return pose

    def _pelvis(self, t: np.ndarray, ankles: dict[str, np.ndarray]) -> np.ndarray:
        """Pelvis from the mean ankle: sagittal split of the flexion (thigh leans back, shank forward)."""
        b = self.b
        theta = np.radians(self.flex(t))
        a_thigh, a_shank = 0.55 * theta, 0.45 * theta
        d = np.sqrt(b.thigh**2 + b.shank**2 + 2 * b.thigh * b.shank * np.cos(theta))
        dz = b.shank * np.sin(a_shank) - b.thigh * np.sin(a_thigh)
        dx = self.stance_half - b.hip_half
        vert = np.sqrt(np.maximum(d**2 - dz**2 - dx**2, 1e-6))
        mean_ankle = (ankles["left"] + ankles["right"]) / 2
        sway = 0.004 * np.sin(2 * math.pi * 0.35 * t + self.sway_phase) * (t < self.ev.stand_end)
        return mean_ankle + np.stack([sway, vert, dz], axis=-1)

    def _solve_knees(self, t: np.ndarray, hips: dict[str, np.ndarray], ankles: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        b = self.b
        out: dict[str, np.ndarray] = {}
        for side, other in (("left", "right"), ("right", "left")):
            hip, ankle = hips[side], ankles[side]
            axis = ankle - hip
            dist = np.minimum(np.linalg.norm(axis, axis=-1), b.thigh + b.shank - 1e-6)
            u = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
            a = (b.thigh**2 - b.shank**2 + dist**2) / (2 * dist)
            r = np.sqrt(np.maximum(b.thigh**2 - a**2, 0.0))
            centre = hip + u * a[:, None]
            fwd = np.array([0.0, 0.0, 1.0]) - u * u[:, 2:3]
            fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
            medial = np.cross(fwd, u)
            medial *= np.sign((medial * (hips[other] - hip)).sum(-1, keepdims=True))
            target = self.valgus[side](t)
            uv_h, _ = self.cam.project(hip)
            uv_a, _ = self.cam.project(ankle)
            uv_o, _ = self.cam.project(hips[other])

            def knee_at(phi: np.ndarray, centre=centre, fwd=fwd, medial=medial, r=r) -> np.ndarray:
                return centre + r[:, None] * (np.cos(phi)[:, None] * fwd + np.sin(phi)[:, None] * medial)

            def fppa(phi: np.ndarray, uv_h=uv_h, uv_a=uv_a, uv_o=uv_o) -> np.ndarray:
                uv_k, _ = self.cam.project(knee_at(phi))
                return fppa_deg(uv_h, uv_k, uv_a, uv_o)

            # Projected FPPA rises monotonically with phi over (-90, 90) deg: bisect per instant.
            lo = np.full_like(t, -math.radians(88))
            hi = np.full_like(t, math.radians(88))
            for _ in range(34):
                mid = (lo + hi) / 2
                below = np.nan_to_num(fppa(mid), nan=0.0) < target
                lo = np.where(below, mid, lo)
                hi = np.where(below, hi, mid)
            out[side] = knee_at((lo + hi) / 2)
        return out

    def _upper_body(self, t: np.ndarray, pose: Pose3D) -> None:
        b = self.b
        n = len(t)
        flex = np.radians(self.trunk_flex(t))
        lean = np.radians(self.lean(t))
        # trunk axes: up tilted forward (+z) by flex, then toward the athlete's left (+x) by lean
        up = np.stack([np.sin(lean) * np.cos(flex), np.cos(lean) * np.cos(flex), np.sin(flex)], axis=-1)
        lat = np.stack([np.cos(lean), -np.sin(lean), np.zeros(n)], axis=-1)
        fwd = np.cross(lat, up)
        pelvis = pose["pelvis"]
        chest = pelvis + up * b.trunk
        pose["trunk_up"], pose["trunk_lat"], pose["trunk_fwd"] = up, lat, fwd
        pose["neck"] = chest + up * (0.05 * b.height)
        pose["left_shoulder"] = chest + lat * b.shoulder_half - up * (0.01 * b.height)
        pose["right_shoulder"] = chest - lat * b.shoulder_half - up * (0.01 * b.height)
        # Head: keeps looking ahead, so it tilts back against about half the trunk flexion.
        h_flex = flex * 0.4 + np.radians(6)
        h_up = np.stack([np.sin(lean * 0.5), np.cos(h_flex), np.sin(h_flex)], axis=-1)
        h_up /= np.linalg.norm(h_up, axis=-1, keepdims=True)
        h_fwd = np.cross(lat, h_up)
        h_fwd /= np.linalg.norm(h_fwd, axis=-1, keepdims=True)
        head = chest + up * (b.neck - 0.02 * b.height) + h_up * 0.02 * b.height
        pose["head"], pose["head_up"], pose["head_fwd"] = head, h_up, h_fwd
        r = b.head_r
        pose["nose"] = head + h_fwd * 0.80 * r - h_up * 0.12 * r
        for s, sg in (("left", 1.0), ("right", -1.0)):
            pose[f"{s}_eye"] = head + h_fwd * 0.62 * r + h_up * 0.14 * r + lat * sg * 0.30 * r
            pose[f"{s}_ear"] = head + lat * sg * 0.74 * r - h_fwd * 0.05 * r
        abd, flexa, elbow = (np.radians(c(t)) for c in self.arm)
        for s, sg in (("left", 1.0), ("right", -1.0)):
            sh = pose[f"{s}_shoulder"]
            d1 = (sg * np.sin(abd))[:, None] * lat - (np.cos(abd) * np.cos(flexa))[:, None] * up \
                + (np.cos(abd) * np.sin(flexa))[:, None] * fwd
            d1 /= np.linalg.norm(d1, axis=-1, keepdims=True)
            elbow_p = sh + d1 * b.upper_arm
            perp = fwd + up * 0.3 - d1 * ((fwd + up * 0.3) * d1).sum(-1, keepdims=True)
            perp /= np.linalg.norm(perp, axis=-1, keepdims=True)
            d2 = d1 * np.cos(elbow)[:, None] + perp * np.sin(elbow)[:, None]
            wrist = elbow_p + d2 * b.forearm
            pose[f"{s}_elbow"], pose[f"{s}_wrist"] = elbow_p, wrist
            pose[f"{s}_hand"] = wrist + d2 * b.hand * 0.75


def knee_flexion_deg(pose: Pose3D, side: str) -> np.ndarray:
    """True 3D knee flexion (0 = straight) from a pose, for checks."""
    a = pose[f"{side}_hip"] - pose[f"{side}_knee"]
    c = pose[f"{side}_ankle"] - pose[f"{side}_knee"]
    cos = (a * c).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(c, axis=-1))
    return 180.0 - np.degrees(np.arccos(np.clip(cos, -1, 1)))
