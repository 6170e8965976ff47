"""Pinhole camera for the synthetic athlete.

World frame (metres): origin on the floor at the centre of the landing spot, +y up, +z toward the
camera, +x toward the athlete's own left (the athlete faces +z). The camera stands on the +z axis
and looks back at the athlete, so an unmirrored image shows the athlete's left on the image's
right. ``yaw_deg`` turns the athlete (with box and mat) about the vertical axis toward their own
left; the room (wall, floor) stays put.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def yaw_matrix(deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


@dataclass(frozen=True)
class Camera:
    position: np.ndarray  # (3,) world
    rotation: np.ndarray  # (3, 3) rows: right, down, forward (world -> camera)
    f: float              # focal length, pixels
    cx: float
    cy: float
    width: int
    height: int
    yaw_deg: float = 0.0

    def to_camera(self, points: np.ndarray, athlete: bool = True) -> np.ndarray:
        """Camera coordinates (..., 3): x right, y down, z depth along the view axis."""
        p = np.asarray(points, dtype=np.float64)
        if athlete and self.yaw_deg:
            p = p @ yaw_matrix(self.yaw_deg).T
        return (p - self.position) @ self.rotation.T

    def project(self, points: np.ndarray, athlete: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (..., 2) and depth (...) of world points."""
        c = self.to_camera(points, athlete)
        z = np.maximum(c[..., 2], 1e-6)
        uv = np.stack([self.cx + self.f * c[..., 0] / z, self.cy + self.f * c[..., 1] / z], axis=-1)
        return uv, z

    def with_yaw(self, deg: float) -> Camera:
        return Camera(self.position, self.rotation, self.f, self.cx, self.cy, self.width, self.height, deg)


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    fwd = target - position
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    return np.stack([right, down, fwd])


def frame_camera(width: int, height: int, cam_height: float, distance: float, bottom: np.ndarray, top: np.ndarray,
                 fill: float, pitch_offset_deg: float = 0.0, yaw_deg: float = 0.0) -> Camera:
    """A camera at (0, cam_height, distance) pitched and zoomed so the vertical span from ``bottom``
    to ``top`` (world points on the athlete's side) fills ``fill`` of the frame height."""
    pos = np.array([0.0, cam_height, distance])

    def elevation(p: np.ndarray) -> float:
        return math.atan2(p[1] - pos[1], pos[2] - p[2])

    e_bot, e_top = elevation(bottom), elevation(top)
    pitch = (e_bot + e_top) / 2 - math.radians(pitch_offset_deg)
    half = (e_top - e_bot) / 2
    f = (height / 2) * fill / math.tan(half)
    target = pos + np.array([0.0, math.sin(pitch), -math.cos(pitch)])
    return Camera(pos, look_at(pos, target), f, width / 2, height / 2, width, height, yaw_deg)
