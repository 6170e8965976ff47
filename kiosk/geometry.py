"""Frontal-plane knee geometry from 2D joints (DESIGN.md section 2). Pure and vectorised.

Each function takes points as arrays whose last axis is (x, y) in image pixels and broadcasts
over any leading axes, so the same code scores one frame or a whole series, and computes the
synthetic athlete's ground truth and the detected values alike.

Sign convention: per leg, in the athlete's own left/right; positive = toward valgus (knee
medial). "Medial" is the side of the hip-ankle line on which the *other* hip lies, so the sign
does not depend on which way the image is flipped or which side of the image a leg is on.
"""

from __future__ import annotations

import numpy as np

ArrayLike = np.ndarray


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _norm(v: np.ndarray) -> np.ndarray:
    return np.hypot(v[..., 0], v[..., 1])


def fppa_deg(hip: ArrayLike, knee: ArrayLike, ankle: ArrayLike, other_hip: ArrayLike) -> np.ndarray:
    """Frontal plane projection angle in degrees.

    180 minus the angle at the knee between knee->hip and knee->ankle; positive when the knee
    lies medial of the hip-ankle line (valgus), negative when lateral (varus). NaN where a
    segment has zero length.
    """
    hip, knee, ankle, other_hip = (np.asarray(p, dtype=np.float64) for p in (hip, knee, ankle, other_hip))
    to_hip = hip - knee
    to_ankle = ankle - knee
    denom = _norm(to_hip) * _norm(to_ankle)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_knee = np.clip((to_hip * to_ankle).sum(axis=-1) / denom, -1.0, 1.0)
        knee_angle = np.degrees(np.arccos(cos_knee))
    deviation = 180.0 - knee_angle
    line = ankle - hip
    knee_side = _cross(line, knee - hip)
    medial_side = _cross(line, other_hip - hip)
    sign = np.where(knee_side * medial_side >= 0, 1.0, -1.0)
    out = sign * deviation
    return np.where(denom > 0, out, np.nan)


def distance(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Euclidean distance in the image plane."""
    return _norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))


def kasr(left_knee: ArrayLike, right_knee: ArrayLike, left_ankle: ArrayLike, right_ankle: ArrayLike) -> np.ndarray:
    """Knee-to-ankle separation ratio: knee separation / ankle separation (below 1 = knees in)."""
    ankles = distance(left_ankle, right_ankle)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ankles > 0, distance(left_knee, right_knee) / ankles, np.nan)


def knee_separation_pct(left_knee: ArrayLike, right_knee: ArrayLike, left_hip: ArrayLike, right_hip: ArrayLike) -> np.ndarray:
    """Normalised knee separation (Noyes 2005): knee separation / hip separation x 100."""
    hips = distance(left_hip, right_hip)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(hips > 0, 100.0 * distance(left_knee, right_knee) / hips, np.nan)


def trunk_lean_deg(left_shoulder: ArrayLike, right_shoulder: ArrayLike, left_hip: ArrayLike, right_hip: ArrayLike) -> np.ndarray:
    """Lateral trunk lean: the hip-midpoint -> shoulder-midpoint line against image vertical.

    Positive when the shoulders lie toward the athlete's own left of the hips.
    """
    ls, rs, lh, rh = (np.asarray(p, dtype=np.float64) for p in (left_shoulder, right_shoulder, left_hip, right_hip))
    trunk = (ls + rs) / 2 - (lh + rh) / 2
    to_left = lh - rh
    up = np.stack([np.zeros_like(trunk[..., 0]), -np.ones_like(trunk[..., 1])], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ang = np.degrees(np.arccos(np.clip((trunk * up).sum(-1) / _norm(trunk), -1.0, 1.0)))
    sideways = (trunk * to_left).sum(-1)
    return np.where(sideways >= 0, ang, -ang)


def stance_width_ratio(left_ankle: ArrayLike, right_ankle: ArrayLike, left_shoulder: ArrayLike, right_shoulder: ArrayLike) -> np.ndarray:
    """Ankle separation / shoulder separation."""
    shoulders = distance(left_shoulder, right_shoulder)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(shoulders > 0, distance(left_ankle, right_ankle) / shoulders, np.nan)


def jump_height_m(flight_time_s: float, g: float = 9.80665) -> float:
    """Jump height from flight time, h = g t^2 / 8 (flight-time method)."""
    return g * flight_time_s**2 / 8.0
