"""Motions that are not a drop vertical jump, for the protocol gates: the athlete jumps in place
without a box, hops on, sticks the landing, jumps up off the box, lands one foot well before the
other, lands a step nearer the camera, covers a knee with a hand; and slow or fast playback.

The normal trial stays in :class:`kiosk.synth.motion.Motion` untouched; :class:`VariantMotion`
builds the same skeleton (same body, knee solve, trunk and arms) from a contact plan: each foot
is on a support (box top or floor) or in an exact ballistic flight between two, so every mat edge
is the instant an ankle reaches or leaves floor height, as in the normal trial.
:class:`ScaledMotion` plays any motion faster or slower while the clip's clock stays real.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kiosk.synth.body import Body
from kiosk.synth.camera import Camera
from kiosk.synth.motion import STAND_Z, TOE_OUT_DEG, Curve, Events, G, Motion, Pose3D
from kiosk.synth.params import SynthParams

STEP_S = 0.18            # stand_end -> the foot leaves the box edge (as the normal trial)
JUMP_CROUCH_S = 0.35     # stand_end -> take-off of a jump up off the box (dip and push)
CMJ_CROUCH_S = 0.55      # stand_end -> take-off of a countermovement jump in place
HAND_TRUNK_DEG = 30.0    # extra trunk flexion while reaching a hand to the knee
REST = (9, 0, 12)        # arm (abduction, forward flexion, elbow flexion), degrees


@dataclass(frozen=True)
class VariantEvents(Events):
    """Events of a variant motion. ``takeoff``/``second_landing`` are stand-ins (end of the
    landing window, for the truth's landing-phase values) when ``rebound`` is false."""

    rebound: bool = True
    mat: tuple[tuple[float, bool], ...] = ()       # every mat edge; a first (0, True) row: standing on the mat
    flights: tuple[tuple[float, float], ...] = ()  # (take-off, landing) of every flight from the floor

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = super().to_json()
        if not self.rebound:
            out["takeoff_s"] = out["second_landing_s"] = None
        out["takeoffs_s"] = [a for a, _ in self.flights]
        out["landings_s"] = [b for _, b in self.flights]
        return out


def scale_events(ev: Events, speed: float) -> Events:
    """The events on a clock that runs ``speed`` times faster than real time."""
    changes: dict[str, Any] = {f.name: getattr(ev, f.name) / speed for f in dataclasses.fields(Events)}
    if isinstance(ev, VariantEvents):
        changes["mat"] = tuple((t / speed, s) for t, s in ev.mat)
        changes["flights"] = tuple((a / speed, b / speed) for a, b in ev.flights)
    return dataclasses.replace(ev, **changes)


def hop_timing(p: SynthParams) -> tuple[float, float]:
    """Contact and flight of one rope-skip-like hop (judgement: short stiff contacts, ~10 cm hops)."""
    return float(np.clip(0.55 * p.contact_s, 0.17, 0.27)), float(np.clip(0.6 * p.flight_s, 0.26, 0.36))


def fall_time(height: float, v_up: float) -> float:
    """Time from leaving a support ``height`` above the floor at ``v_up`` upward to the floor."""
    return (v_up + math.sqrt(v_up * v_up + 2 * G * height)) / G


class VariantMotion(Motion):
    """A non-DVJ motion from a contact plan; same evaluation as :class:`Motion` (knees, trunk, arms)."""

    def __init__(self, p: SynthParams, body: Body, solve_camera: Camera):
        self.p, self.b, self.cam = p, body, solve_camera
        b = body
        self.stance_half = p.stance_ratio * b.hip_half
        self.stand_flex = sf = max(4.0, 1.3 * max(abs(p.static_valgus_left), abs(p.static_valgus_right)) + 3.0)
        self.z_land = p.step_nearer_m
        self.start_y = b.ankle_h + (0.0 if p.cmj_in_place else p.box_height_m)
        self._plan()
        ev = self.ev
        self.flex = Curve(self._flex_keys())
        self.valgus = {side: self._variant_valgus(peak, static)
                       for side, peak, static in (("left", p.valgus_left, p.static_valgus_left),
                                                  ("right", p.valgus_right, p.static_valgus_right))}
        self.hand = self._hand_weight() if p.hand_over_knee else None
        hand = self.hand
        self.trunk_flex = lambda t: 0.42 * (self.flex(t) - sf) + 3.0 + (HAND_TRUNK_DEG * hand(t) if hand else 0.0)
        self.lean = Curve([(0.0, 0.0), (ev.initial_contact, 0.15 * p.trunk_lean_deg), (ev.peak_flexion, p.trunk_lean_deg),
                           (ev.takeoff, 0.3 * p.trunk_lean_deg), (ev.takeoff + 0.15, 0.0), (ev.end, 0.0)])
        self.arm = [Curve([(t, v[k]) for t, v in self._arm_keys()]) for k in range(3)]
        self.sway_phase = (p.seed * 0.618) % 1.0 * 2 * math.pi

    # --- the contact plan ---------------------------------------------------------------------

    def _plan(self) -> None:
        p, b = self.p, self.b
        floor = b.ankle_h
        hop_c, hop_f = hop_timing(p)
        self.segments: dict[str, list[tuple[float, float, float, float, float]]] = {"left": [], "right": []}
        mat: list[tuple[float, bool]] = []
        flights: list[tuple[float, float]] = []
        if p.cmj_in_place:
            mat.append((0.0, True))
            t_off = p.stand_s + CMJ_CROUCH_S
            f = hop_f if p.hops else p.flight_s
            for side in ("left", "right"):
                self.segments[side].append((t_off, floor, G * f / 2, t_off + f, floor))
            mat += [(t_off, False), (t_off + f, True)]
            flights.append((t_off, t_off + f))
            leave_l = leave_r = t_off
            ic_l = ic_r = t_off + f
            n_after = p.hops - 1 if p.hops else 0
        else:
            v = p.jump_up_off_box_mps
            leave = p.stand_s + (JUMP_CROUCH_S if v else STEP_S)
            delay = (p.toe_first_ms or p.land_delay_ms) / 1000.0
            leave_l, leave_r = leave + max(0.0, -delay), leave + max(0.0, delay)
            fall = fall_time(p.box_height_m, v)
            ic_l, ic_r = leave_l + fall, leave_r + fall
            for side, lv, ic_s in (("left", leave_l, ic_l), ("right", leave_r, ic_r)):
                self.segments[side].append((lv, self.start_y, v, ic_s, floor))
            mat.append((min(ic_l, ic_r), True))
            n_after = p.hops if p.hops else (0 if p.stuck_landing else 1)
        ic = min(ic_l, ic_r)
        self.contacts: list[tuple[float, float | None, float, float]] = []  # (landing, take-off, absorb, depth)
        t = ic
        for k in range(n_after):
            # the landing off the box (and a normal rebound) is a full contact; hops are short and stiff
            full = (k == 0 and not p.cmj_in_place) or not p.hops
            c = p.contact_s if full else hop_c
            f = hop_f if p.hops else p.flight_s
            absorb, depth = (p.absorb_s, p.depth_deg) if full else (0.45 * c, max(25.0, 0.45 * p.depth_deg))
            takeoff = t + c
            for side in ("left", "right"):
                self.segments[side].append((takeoff, floor, G * f / 2, takeoff + f, floor))
            mat += [(takeoff, False), (takeoff + f, True)]
            flights.append((takeoff, takeoff + f))
            self.contacts.append((t, takeoff, absorb, depth))
            t = takeoff + f
        rebound = n_after > 0
        if rebound:
            self.contacts.append((t, None, 0.16, 0.6 * p.depth_deg))
            end = t + p.after_s
        else:
            self.contacts.append((t, None, p.absorb_s, p.depth_deg))
            end = t + max(p.after_s, p.absorb_s + 1.2)
        peak = ic + self.contacts[0][2]
        first_to = self.contacts[0][1]
        takeoff = first_to if first_to is not None else ic + p.contact_s
        land2 = self.contacts[1][0] if rebound else takeoff + p.flight_s
        pv = float(np.clip(peak + p.peak_valgus_offset_s, ic + 0.04, takeoff - 0.05))
        self.ev = VariantEvents(p.stand_s, leave_l, leave_r, ic_l, ic_r, ic, peak, pv, takeoff, land2, end,
                                rebound=rebound, mat=tuple(mat), flights=tuple(flights))
        self.last_landing = t

    # --- curves ---------------------------------------------------------------------------------

    def _flex_keys(self) -> list[tuple[float, ...]]:
        p, ev, sf = self.p, self.ev, self.stand_flex
        ic_flex = sf + 14.0
        keys: list[tuple[float, ...]] = [(0.0, sf), (ev.stand_end, sf)]
        if p.cmj_in_place:
            t0 = ev.flights[0][0]
            crouch = 30.0 if p.hops else max(55.0, 0.8 * p.depth_deg)  # a hop needs only a small dip
            keys += [(ev.stand_end + 0.3, crouch), (t0 - 0.04, 20.0, -450.0), (t0, 9.0, -120.0)]
        elif p.jump_up_off_box_mps:
            leave = min(ev.leave_left, ev.leave_right)
            keys += [(ev.stand_end + 0.22, 45.0), (leave - 0.04, 20.0, -450.0), (leave, 9.0, -120.0)]
            if leave + 0.12 < ev.initial_contact - 0.08:
                keys.append((leave + 0.12, 6.0))
            keys.append((ev.initial_contact - 0.06, ic_flex - 4, 40.0))
        else:
            keys += [(ev.stand_end + 0.12, sf + 8), (ev.initial_contact - 0.06, ic_flex - 4, 40.0)]
        for k, (land, takeoff, absorb, depth) in enumerate(self.contacts):
            from_box = k == 0 and not p.cmj_in_place
            if not from_box:  # came down from a flight off the floor
                f = ev.flights[k - (0 if p.cmj_in_place else 1)]
                keys += [(f[0] + min(0.12, 0.4 * (f[1] - f[0])), 6.0), (land - 0.05, 14.0, 60.0)]
            keys.append((land, ic_flex, 600.0) if from_box else (land, 17.0, 500.0))
            if takeoff is not None:
                keys.append((land + absorb, depth))
                if takeoff - 0.04 > land + absorb + 0.02:
                    keys.append((takeoff - 0.04, 20.0, -450.0))
                keys.append((takeoff, 9.0, -120.0))
            elif k == 0:  # no rebound after the first landing: absorb, then stand up
                keys += [(land + absorb, depth), (land + absorb + 0.45, 0.55 * depth), (land + absorb + 1.0, sf)]
            else:
                keys += [(land + 0.16, depth), (land + 0.7, sf)]
        keys.append((max(ev.end, keys[-1][0] + 0.01), sf))
        return keys

    def _variant_valgus(self, peak: float, static: float) -> Curve:
        ev = self.ev
        lo = min(static + self.p.ic_valgus_frac * (peak - static), peak - 1.5)
        to = lo + 0.3 * (peak - lo)
        return Curve([(0.0, static), (ev.stand_end, static), (ev.initial_contact, lo), (ev.peak_valgus, peak),
                      (ev.takeoff, to), (ev.takeoff + 0.15, 0.5 * static), (ev.takeoff + 0.6, static),
                      (max(ev.end, ev.takeoff + 0.61), static)])

    def _arm_keys(self) -> list[tuple[float, tuple[float, float, float]]]:
        p, ev = self.p, self.ev
        ic = ev.initial_contact
        keys: list[tuple[float, tuple[float, float, float]]] = [(0.0, REST), (ev.stand_end, REST)]
        if p.cmj_in_place:
            t0, l1 = ev.flights[0]
            keys += [(ev.stand_end + 0.3, (16, -40, 22)), (t0, (12, 150, 14)), (t0 + 0.5 * (l1 - t0), (16, 120, 20)),
                     (ic, (24, 45, 30))]
        elif p.jump_up_off_box_mps:
            leave = min(ev.leave_left, ev.leave_right)
            keys += [(ev.stand_end + 0.22, (16, -40, 22)), (leave, (12, 130, 14)), (ic - 0.05, (32, 40, 30)),
                     (ic + 0.03, (26, 15, 28))]
        else:
            keys += [(ev.stand_end + 0.15, (18, 20, 22)), (ic - 0.05, (32, 40, 30)), (ic + 0.03, (26, 15, 28))]
        if p.hops:  # hands low and out, as if turning a rope
            keys += [(ic + 0.12, (24, 25, 80)), (self.last_landing, (24, 25, 80)), (self.last_landing + 0.4, (14, 10, 20))]
        elif ev.rebound:
            t1, l2 = ev.takeoff, ev.second_landing
            keys += [(ev.peak_flexion, (16, -40, 22)), (t1, (12, 150, 14)), (t1 + 0.5 * (l2 - t1), (16, 120, 20)),
                     (l2, (24, 45, 30)), (l2 + 0.4, (14, 10, 20))]
        else:  # arms forward for balance, then down as the athlete stands up
            keys += [(ev.peak_flexion + 0.05, (30, 50, 30)), (ev.peak_flexion + 0.65, (14, 10, 20))]
        keys.append((max(ev.end, keys[-1][0] + 0.01), REST))
        return keys

    def _hand_weight(self) -> Curve:
        """0..1: how far the hand has moved to the knee (there from just after contact to take-off)."""
        ev = self.ev
        return Curve([(0.0, 0.0), (ev.initial_contact - 0.1, 0.0), (ev.initial_contact + 0.03, 1.0),
                      (ev.takeoff - 0.03, 1.0), (ev.takeoff + 0.12, 0.0), (ev.end + 1.0, 0.0)])

    # --- feet, pelvis, whole skeleton ------------------------------------------------------------

    def ankle(self, t: np.ndarray, side: str) -> np.ndarray:
        """Ankle joint centre (N, 3): on its support, or in exact ballistic flight between supports."""
        ev = self.ev
        y = np.full_like(t, self.start_y)
        for t_off, y_off, v0, t_on, y_on in self.segments[side]:
            tau = t - t_off
            y = np.where(t >= t_on, y_on, np.where(t >= t_off, y_off + v0 * tau - 0.5 * G * tau**2, y))
        x = np.full_like(t, self.stance_half if side == "left" else -self.stance_half)
        if self.p.cmj_in_place:
            return np.stack([x, y, np.full_like(t, self.z_land)], axis=-1)
        ic = ev.ic_left if side == "left" else ev.ic_right
        s = np.clip((t - ev.stand_end) / max(ic - ev.stand_end, 1e-6), 0.0, 1.0)
        z = STAND_Z + (self.z_land - STAND_Z) * (s * s * (3 - 2 * s))
        x = x * np.where(t < ic, 0.92 + 0.08 * s, 1.0)
        return np.stack([x, y, z], axis=-1)

    def _pelvis(self, t: np.ndarray, ankles: dict[str, np.ndarray]) -> np.ndarray:
        """As the normal trial, but low enough that neither leg over-stretches when the feet are
        at different heights (one foot still on the box, the other already on the mat)."""
        pelvis = super()._pelvis(t, ankles)
        reach = self.b.thigh + self.b.shank - 1e-4
        for side, sg in (("left", 1.0), ("right", -1.0)):
            off = pelvis + np.array([sg * self.b.hip_half, 0.0, 0.0]) - ankles[side]
            room = np.sqrt(np.maximum(reach**2 - off[:, 0] ** 2 - off[:, 2] ** 2, 1e-6))
            pelvis[:, 1] = np.minimum(pelvis[:, 1], ankles[side][:, 1] + room)
        return pelvis

    def evaluate(self, times: np.ndarray | list[float]) -> Pose3D:
        t = np.atleast_1d(np.asarray(times, dtype=np.float64))
        pose = super().evaluate(t)
        if self.p.toe_first_ms:
            self._toe_first_foot(t, pose)
        if self.hand is not None:
            self._hand_to_knee(t, pose)
        return pose

    def _toe_first_foot(self, t: np.ndarray, pose: Pose3D) -> None:
        """The leading foot points its toe down through the fall (toe just above the floor) and
        flattens over 60 ms after its contact."""
        b, ev = self.b, self.ev
        side = "left" if self.p.toe_first_ms > 0 else "right"
        ic = ev.ic_left if side == "left" else ev.ic_right
        leave = ev.leave_left if side == "left" else ev.leave_right
        ankle = pose[f"{side}_ankle"]
        reach = 0.74 * b.foot
        sin_a = np.clip((ankle[:, 1] - 0.55 * b.ankle_h) / reach, 0.0, math.sin(math.radians(35)))
        at_contact = 0.45 * b.ankle_h / reach
        sin_a = np.where(t >= ic, at_contact * np.clip(1 - (t - ic) / 0.06, 0.0, 1.0), sin_a)
        sin_a = np.where(t < leave, 0.0, sin_a)
        cos_a = np.sqrt(1 - sin_a**2)
        out = 1.0 if side == "left" else -1.0
        toe_dir = np.array([out * math.sin(math.radians(TOE_OUT_DEG)), 0.0, math.cos(math.radians(TOE_OUT_DEG))])
        pose[f"{side}_toe"] = ankle + reach * cos_a[:, None] * toe_dir + np.stack(
            [np.zeros_like(t), -0.55 * b.ankle_h - reach * sin_a, np.zeros_like(t)], axis=-1)
        pose[f"{side}_heel"] = ankle + np.stack(
            [np.zeros_like(t), -0.5 * b.ankle_h + 0.2 * b.foot * sin_a, -0.2 * b.foot * cos_a], axis=-1)

    def _hand_to_knee(self, t: np.ndarray, pose: Pose3D) -> None:
        """Moves one arm (two-bone reach, elbow out and back) so the hand lies in front of the same
        knee, nearer the camera, while the hand weight is up."""
        b = self.b
        side = self.p.hand_over_knee
        sg = 1.0 if side == "left" else -1.0
        w = np.clip(self.hand(t), 0.0, 1.0)[:, None]  # type: ignore[misc]
        sh = pose[f"{side}_shoulder"]
        knee = pose[f"{side}_knee"]
        # the wrist above-outside the knee, in front of it; the hand bends across the kneecap
        target_wrist = knee + np.array([sg * 0.08, 0.07, b.knee_r + 0.05])
        kneecap = knee + np.array([-sg * 0.03, -0.02, b.knee_r + 0.03])
        target = pose[f"{side}_wrist"] + w * (target_wrist - pose[f"{side}_wrist"])
        a, c = b.upper_arm, b.forearm
        d_vec = target - sh
        d = np.clip(np.linalg.norm(d_vec, axis=-1), abs(a - c) + 1e-3, a + c - 1e-3)
        u = d_vec / np.linalg.norm(d_vec, axis=-1, keepdims=True)
        pole = np.array([sg, 0.0, -0.4]) - u * (u @ np.array([sg, 0.0, -0.4]))[:, None]
        pole /= np.linalg.norm(pole, axis=-1, keepdims=True)
        x = (a * a - c * c + d * d) / (2 * d)
        h = np.sqrt(np.maximum(a * a - x * x, 0.0))
        # blended in from the normal arm (the ramp is ~0.13 s; the bone lengths are exact once there)
        elbow = pose[f"{side}_elbow"] + w * (sh + u * x[:, None] + pole * h[:, None] - pose[f"{side}_elbow"])
        wrist = sh + u * d[:, None]
        across = kneecap - wrist
        hand = wrist + across / np.linalg.norm(across, axis=-1, keepdims=True) * b.hand * 0.75
        for name, new in (("elbow", elbow), ("wrist", wrist), ("hand", hand)):
            key = f"{side}_{name}"
            pose[key] = np.where(w > 0, new, pose[key])


class ScaledMotion:
    """Any motion shown ``speed`` times faster than real (slow motion below 1) on a real clock:
    the clip time ``t`` shows the motion's instant ``t * speed``, so gravity looks ``speed**2`` times."""

    def __init__(self, motion: Motion, speed: float):
        self.inner, self.speed = motion, speed
        self.p, self.b, self.cam = motion.p, motion.b, motion.cam
        self.ev = scale_events(motion.ev, speed)

    def evaluate(self, times: np.ndarray | list[float]) -> Pose3D:
        return self.inner.evaluate(np.atleast_1d(np.asarray(times, dtype=np.float64)) * self.speed)

    def ankle(self, t: np.ndarray, side: str) -> np.ndarray:
        return self.inner.ankle(np.asarray(t, dtype=np.float64) * self.speed, side)


def make_motion(p: SynthParams, body: Body, solve_camera: Camera) -> Motion | ScaledMotion:
    """The normal trial's :class:`Motion` unless a protocol-failure field asks for another motion."""
    variant = (p.cmj_in_place or p.hops or p.stuck_landing or p.jump_up_off_box_mps or p.toe_first_ms
               or p.hand_over_knee or p.step_nearer_m)
    motion: Motion = VariantMotion(p, body, solve_camera) if variant else Motion(p, body, solve_camera)
    return ScaledMotion(motion, p.playback_speed) if p.playback_speed != 1.0 else motion
