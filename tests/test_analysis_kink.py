"""The kink fit behind video-only contact and take-off: found between frames, noise and slips
notwithstanding."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.analysis.kink import kink_time

FPS = 120.0
G_PX = 1800.0   # gravity in px/s^2 for a ~180 px/m athlete


def rise(tau: float, v: float = 450.0, noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An ankle at rest at y=400 that takes off at ``tau`` with speed ``v`` px/s (image y down)."""
    t = np.arange(0.0, 0.3, 1 / FPS)
    d = np.maximum(t - tau, 0.0)
    y = 400.0 - v * d + 0.5 * G_PX * d * d
    return t, y + np.random.default_rng(seed).normal(0, noise, len(t))


@pytest.mark.parametrize("frac", [0.0, 0.3, 0.77])
@pytest.mark.parametrize("noise", [0.0, 1.0])
def test_takeoff_between_frames(frac, noise):
    tau = 0.15 + frac / FPS
    t, y = rise(tau, noise=noise, seed=int(frac * 10))
    got = kink_time(t, y, 0.1, 0.2, 1 / FPS, moving_after=True)
    assert abs(got - tau) <= (0.03 if noise == 0 else 0.35) / FPS  # the grid steps 0.05 frames


def test_contact_is_the_mirror_image():
    t, y = rise(0.1537, noise=0.8, seed=4)
    # played backwards: a fall that reaches the floor at 0.3 - 0.1537
    got = kink_time(0.3 - t[::-1], y[::-1], 0.1, 0.2, 1 / FPS, moving_after=False)
    assert abs(got - (0.3 - 0.1537)) <= 0.35 / FPS


def test_a_slipped_frame_does_not_move_the_kink():
    tau = 0.1523
    t, y = rise(tau, noise=0.5, seed=2)
    y[np.searchsorted(t, tau) - 2] -= 25.0   # one frame read 25 px up the shank, before take-off
    # (an unweighted fit takes it for the rise and answers 3 frames early)
    got = kink_time(t, y, 0.1, 0.2, 1 / FPS, moving_after=True)
    assert abs(got - tau) <= 0.5 / FPS


def test_too_few_samples():
    t = np.array([0.0, 0.01, 0.02])
    assert kink_time(t, np.array([1.0, 2.0, 3.0]), 0.0, 0.02, 0.01, moving_after=True) is None
    t, y = rise(0.15)
    assert kink_time(t, y, 0.29, 0.2, 1 / FPS, moving_after=True) is None   # empty range
