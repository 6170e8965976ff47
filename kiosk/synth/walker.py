"""Other people in the picture: a passer-by for the ``second_person`` failure mode, who walks
across the room during the landing, and the still figure of ``static_figure``.

The passer-by is seen side-on, facing along x, at 1.3 m/s, crossing the athlete's line at the initial contact;
either behind the athlete (near the wall) or between the athlete and the camera.
"""

from __future__ import annotations

import math

import numpy as np

from kiosk.synth.body import Body
from kiosk.synth.camera import Camera
from kiosk.synth.motion import Pose3D
from kiosk.synth.params import SynthParams

SPEED = 1.3


def walker_pose(t: np.ndarray, body: Body, t_cross: float, in_front: bool) -> Pose3D:
    """Joints of a walking person; uses the same point names the athlete drawer needs."""
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    n = len(t)
    z0 = 1.3 if in_front else -1.6
    direction = 1.0 if in_front else -1.0
    x = direction * SPEED * (t - t_cross)
    stride_hz = SPEED / (0.75 * body.height) / 1.0
    ph = 2 * math.pi * stride_hz * t
    up = np.tile([0.0, 1.0, 0.0], (n, 1))
    fwd = np.tile([direction, 0.0, 0.0], (n, 1))
    lat = np.cross(up, fwd)
    hip_h = body.ankle_h + 0.97 * (body.thigh + body.shank) + 0.01 * np.cos(2 * ph)
    pelvis = np.stack([x, hip_h, np.full(n, z0)], -1)
    pose: Pose3D = {"pelvis": pelvis, "trunk_up": up, "trunk_lat": lat, "trunk_fwd": fwd}
    for s, sg, phase in (("left", 1.0, 0.0), ("right", -1.0, math.pi)):
        swing = 0.42 * np.sin(ph + phase)
        hip = pelvis + lat * sg * body.hip_half
        knee_bend = 0.35 * np.clip(np.sin(ph + phase + 1.2), 0, None) + 0.08
        thigh_dir = np.sin(swing)[:, None] * fwd - np.cos(swing)[:, None] * up
        knee = hip + thigh_dir * body.thigh
        shank_ang = swing - knee_bend
        ankle = knee + (np.sin(shank_ang)[:, None] * fwd - np.cos(shank_ang)[:, None] * up) * body.shank
        pose[f"{s}_hip"], pose[f"{s}_knee"], pose[f"{s}_ankle"] = hip, knee, ankle
        pose[f"{s}_toe"] = ankle + fwd * 0.74 * body.foot - up * 0.55 * body.ankle_h
        pose[f"{s}_heel"] = ankle - fwd * 0.2 * body.foot - up * 0.5 * body.ankle_h
        sh = pelvis + up * body.trunk + lat * sg * body.shoulder_half
        arm = -0.5 * swing
        elbow = sh + (np.sin(arm)[:, None] * fwd - np.cos(arm)[:, None] * up) * body.upper_arm
        wrist = elbow + (np.sin(arm + 0.3)[:, None] * fwd - np.cos(arm + 0.3)[:, None] * up) * body.forearm
        pose[f"{s}_shoulder"], pose[f"{s}_elbow"], pose[f"{s}_wrist"] = sh, elbow, wrist
        pose[f"{s}_hand"] = wrist + (wrist - elbow) / body.forearm * body.hand * 0.75
    chest = pelvis + up * body.trunk
    head = chest + up * body.neck
    pose["neck"] = chest + up * 0.05 * body.height
    pose["head"], pose["head_up"], pose["head_fwd"] = head, up, fwd
    r = body.head_r
    pose["nose"] = head + fwd * 0.8 * r
    for s, sg in (("left", 1.0), ("right", -1.0)):
        pose[f"{s}_eye"] = head + fwd * 0.62 * r + up * 0.14 * r + lat * sg * 0.3 * r
        pose[f"{s}_ear"] = head + lat * sg * 0.74 * r
    return pose


#: Axis entries of a pose (unit vectors, not points): they do not move with the body.
AXES = ("trunk_up", "trunk_lat", "trunk_fwd", "head_up", "head_fwd")


def static_figure_pose(p: SynthParams, camera: Camera) -> tuple[Pose3D, Body]:
    """A still person facing the camera in the background (a poster, a TV, a mirror image): the
    athlete's standing pose on another body, moved onto the floor 1.0-1.6 m behind the landing spot
    and 1.1-1.5 m to one side (seeded), pulled in until the whole figure is in the frame."""
    from kiosk.synth.body import make_body
    from kiosk.synth.motion import STAND_Z, Motion

    rng = np.random.default_rng([int(p.look_seed), 0xF16])
    fp = p.replace(height_m=float(np.clip(p.height_m * rng.uniform(0.92, 1.08), 1.3, 2.2)), girth=float(rng.uniform(0.9, 1.15)),
                   valgus_left=3.0, valgus_right=3.0, static_valgus_left=1.0, static_valgus_right=1.0, yaw_deg=0.0,
                   hops=0, cmj_in_place=False, stuck_landing=False, jump_up_off_box_mps=0.0, toe_first_ms=0.0,
                   playback_speed=1.0, hand_over_knee="", step_nearer_m=0.0)
    body = make_body(fp)
    standing = Motion(fp, body, camera.with_yaw(0.0)).evaluate([0.5 * fp.stand_s])
    z = -float(rng.uniform(1.0, 1.6))
    side = 1.0 if rng.uniform() < 0.5 else -1.0
    pose: Pose3D = {}
    for x in np.arange(float(rng.uniform(1.1, 1.5)), 0.7, -0.05):
        shift = np.array([side * x, -fp.box_height_m, z - STAND_Z])
        pose = {k: (v if k in AXES else v + shift) for k, v in standing.items()}
        uv, _ = camera.project(np.concatenate([v for k, v in pose.items() if k not in AXES]), athlete=False)
        margin = 0.04 * camera.width
        if uv[:, 0].min() > margin and uv[:, 0].max() < camera.width - margin:
            break
    return pose, body
