"""One trial's world: params -> body, look, camera framing and motion, built once per clip."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kiosk.synth.body import Body, Look, make_body, sample_look
from kiosk.synth.camera import Camera, frame_camera
from kiosk.synth.motion import STAND_Z, G, Motion
from kiosk.synth.params import SynthParams
from kiosk.synth.variants import ScaledMotion, make_motion

#: Beyond this yaw the valgus is solved in an unturned view (the turned view is a failure mode).
SOLVE_YAW_LIMIT_DEG = 15.0


@dataclass
class Scene:
    params: SynthParams
    body: Body
    look: Look
    camera: Camera
    motion: Motion | ScaledMotion


def make_camera(p: SynthParams, body: Body) -> Camera:
    """Frame the whole action: floor in front of the landing spot up to the head on the box and at
    the top of the flight (judgement: a station installer aims for exactly this)."""
    jump = G * p.flight_s**2 / 8
    # a landing nearer the camera stays in the picture; a jump up off the box rises above it
    bottom = np.array([0.0, -0.03, 0.25 + p.step_nearer_m])
    top_box = np.array([0.0, p.box_height_m + body.height + 0.05 + p.jump_up_off_box_mps**2 / (2 * G), STAND_Z])
    top_jump = np.array([0.0, body.height + jump + 0.02, p.step_nearer_m])
    cam_pos = np.array([0.0, p.camera_height_m, p.camera_distance_m])

    def elev(q: np.ndarray) -> float:
        return math.atan2(q[1] - cam_pos[1], cam_pos[2] - q[2])

    top = top_box if elev(top_box) > elev(top_jump) else top_jump
    cam = frame_camera(p.width, p.height, p.camera_height_m, p.camera_distance_m, bottom, top, p.fill,
                       p.pitch_offset_deg, p.yaw_deg)
    if p.cut_off_feet:
        # The frame's lower edge passes above the ankles on the mat (a torso-only framing).
        shin = np.array([0.0, body.ankle_h + 0.35 * body.shank, 0.0])
        (u, v), _ = cam.project(shin)
        cam = Camera(cam.position, cam.rotation, cam.f, cam.cx, cam.cy + (p.height - v), cam.width, cam.height, cam.yaw_deg)
    return cam


def make_scene(p: SynthParams) -> Scene:
    body = make_body(p)
    look = sample_look(p.look_seed)
    cam = make_camera(p, body)
    solve_cam = cam if abs(p.yaw_deg) <= SOLVE_YAW_LIMIT_DEG else cam.with_yaw(0.0)
    return Scene(p, body, look, cam, make_motion(p, body, solve_cam))
