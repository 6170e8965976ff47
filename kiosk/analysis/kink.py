"""The moment a trajectory leaves (or reaches) a resting level, found between frames.

Contact and take-off from video alone are kinks in the ankles' height: at rest on the floor on
one side, moving (falling onto it, or flying off it) on the other. :func:`kink_time` fits that
shape as one continuous curve, a constant level joined at a free time ``tau`` to a parabola
that gravity bends (the free fall, the ballistic rise), and takes the ``tau`` of least squared error. Every sample
on both sides votes, so the answer is far steadier than extrapolating a fit of the moving side
to a level measured apart from it, and it needs no threshold for "clearly off the floor".
MoveNet's occasional one-frame slips are down-weighted (Huber, as in ``robust_polyfit``).

Pure numpy, no clock: part of the analysis (house rules).
"""

from __future__ import annotations

import numpy as np

#: Candidate kink times are tried every this share of a frame interval.
GRID_STEP = 0.05
#: Huber reweighting rounds after the first, unweighted fit.
ROUNDS = 3


def _design(t: np.ndarray, tau: float, moving_after: bool) -> np.ndarray:
    """Columns: level, and the moving side's linear and quadratic terms (zero on the rest side)."""
    d = (t - tau) if moving_after else (tau - t)
    d = np.maximum(d, 0.0)
    return np.stack([np.ones_like(t), d, d * d], axis=1)


def _sse(t: np.ndarray, y: np.ndarray, w: np.ndarray, tau: float, moving_after: bool) -> tuple[float, np.ndarray]:
    """Weighted squared error of the best curve kinked at ``tau``, and its residuals.

    Gravity only slows a rising foot and speeds a falling one, so away from the kink the height
    (image y, down) curves one way: the quadratic term is kept >= 0 (a straight line when the
    free fit bends the other way, which is the fit chasing noise).
    """
    a = _design(t, tau, moving_after)
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
    if coef[2] < 0:
        a = a[:, :2]
        coef, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
    r = y - a @ coef
    return float(np.sum(w * r * r)), r


def kink_time(t: np.ndarray, y: np.ndarray, lo: float, hi: float, dt: float, *, moving_after: bool,
              min_moving: int = 3, min_rest: int = 2) -> float | None:
    """Best kink time in [lo, hi] for samples ``(t, y)`` (finite ones only).

    ``moving_after``: True for a take-off (rest, then moving), False for a contact (moving, then
    rest). ``dt`` is the camera frame interval, for the grid step. None when either side of
    every candidate has too few samples (``min_moving`` / ``min_rest``) to fit.
    """
    ok = np.isfinite(y) & np.isfinite(t)
    t, y = np.asarray(t, dtype=np.float64)[ok], np.asarray(y, dtype=np.float64)[ok]
    if len(t) < min_moving + min_rest or hi <= lo:
        return None
    taus = np.arange(lo, hi + 1e-12, max(GRID_STEP * dt, 1e-5))
    n_moving = np.array([np.sum(t > tau) if moving_after else np.sum(t < tau) for tau in taus])
    usable = (n_moving >= min_moving) & (len(t) - n_moving >= min_rest)
    taus = taus[usable]
    if not len(taus):
        return None
    w = np.ones_like(y)
    best = float(taus[0])
    for _ in range(ROUNDS + 1):
        errs = [_sse(t, y, w, float(tau), moving_after)[0] for tau in taus]
        best = float(taus[int(np.argmin(errs))])
        _, r = _sse(t, y, w, best, moving_after)
        s = max(1.4826 * float(np.median(np.abs(r))), 0.3)
        a = np.abs(r) / (1.345 * s)
        w = np.where(a <= 1, 1.0, 1.0 / np.maximum(a, 1e-9))
    return best
