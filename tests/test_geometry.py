"""Frontal-plane knee geometry on hand-built poses: signs, sizes, and left/right independence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kiosk.geometry import fppa_deg, kasr, knee_separation_pct, trunk_lean_deg

# A frontal, unmirrored image: the athlete's left hip is on the image's right (larger x); y down.
L_HIP, R_HIP = np.array([340.0, 200.0]), np.array([300.0, 200.0])
L_ANKLE, R_ANKLE = np.array([340.0, 400.0]), np.array([300.0, 400.0])


def knee_at(hip: np.ndarray, ankle: np.ndarray, offset_x: float) -> np.ndarray:
    return (hip + ankle) / 2 + np.array([offset_x, 0.0])


def test_straight_legs_are_zero() -> None:
    assert fppa_deg(L_HIP, knee_at(L_HIP, L_ANKLE, 0), L_ANKLE, R_HIP) == pytest.approx(0.0, abs=1e-9)
    assert fppa_deg(R_HIP, knee_at(R_HIP, R_ANKLE, 0), R_ANKLE, L_HIP) == pytest.approx(0.0, abs=1e-9)


def test_medial_knee_is_positive_for_both_legs() -> None:
    # medial = toward the other leg: the left knee moves to smaller x, the right knee to larger x
    left = fppa_deg(L_HIP, knee_at(L_HIP, L_ANKLE, -15), L_ANKLE, R_HIP)
    right = fppa_deg(R_HIP, knee_at(R_HIP, R_ANKLE, +15), R_ANKLE, L_HIP)
    assert left > 0 and right > 0
    assert left == pytest.approx(right)


def test_lateral_knee_is_negative_for_both_legs() -> None:
    assert fppa_deg(L_HIP, knee_at(L_HIP, L_ANKLE, +15), L_ANKLE, R_HIP) < 0
    assert fppa_deg(R_HIP, knee_at(R_HIP, R_ANKLE, -15), R_ANKLE, L_HIP) < 0


def test_ten_degrees_hand_built() -> None:
    # thigh and shank each tilted 5 deg from the hip-ankle line, knee medial: FPPA = 10 deg
    half = 100.0
    dx = half * math.tan(math.radians(5))
    assert fppa_deg(L_HIP, knee_at(L_HIP, L_ANKLE, -dx), L_ANKLE, R_HIP) == pytest.approx(10.0, abs=1e-6)
    assert fppa_deg(R_HIP, knee_at(R_HIP, R_ANKLE, +dx), R_ANKLE, L_HIP) == pytest.approx(10.0, abs=1e-6)


def test_sign_survives_a_mirrored_image() -> None:
    # mirroring swaps which image side a leg is on but not which side is medial
    def mirror(p: np.ndarray) -> np.ndarray:
        return np.array([640.0 - p[0], p[1]])

    knee = knee_at(L_HIP, L_ANKLE, -12)
    direct = fppa_deg(L_HIP, knee, L_ANKLE, R_HIP)
    mirrored = fppa_deg(mirror(L_HIP), mirror(knee), mirror(L_ANKLE), mirror(R_HIP))
    assert direct == pytest.approx(mirrored) and direct > 0


def test_vectorised_over_frames_and_degenerate_is_nan() -> None:
    knees = np.stack([knee_at(L_HIP, L_ANKLE, d) for d in (-10.0, 0.0, 10.0)])
    out = fppa_deg(np.broadcast_to(L_HIP, (3, 2)), knees, np.broadcast_to(L_ANKLE, (3, 2)), np.broadcast_to(R_HIP, (3, 2)))
    assert out.shape == (3,) and out[0] > 0 and out[1] == pytest.approx(0) and out[2] < 0
    assert math.isnan(float(fppa_deg(L_HIP, L_HIP, L_ANKLE, R_HIP)))


def test_kasr_and_knee_separation() -> None:
    lk, rk = knee_at(L_HIP, L_ANKLE, -10), knee_at(R_HIP, R_ANKLE, +10)  # knees 20 px closer than ankles
    assert kasr(lk, rk, L_ANKLE, R_ANKLE) == pytest.approx(20 / 40)
    assert knee_separation_pct(lk, rk, L_HIP, R_HIP) == pytest.approx(50.0)
    assert math.isnan(float(kasr(lk, rk, L_ANKLE, L_ANKLE)))


def test_trunk_lean_sign_is_the_athletes_left() -> None:
    ls, rs = np.array([350.0, 80.0]), np.array([310.0, 80.0])  # shoulders shifted toward image right
    assert trunk_lean_deg(ls, rs, L_HIP, R_HIP) > 0
    assert trunk_lean_deg(ls - [20, 0], rs - [20, 0], L_HIP, R_HIP) < 0
