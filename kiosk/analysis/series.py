"""Keypoint series cleaning: missing joints, outliers, short gaps and phase-aware smoothing.

MoveNet's keypoints jitter by a few pixels and now and then jump to a wrong spot for one frame.
The valgus metrics are differences of a few degrees, so the series is cleaned first, in this
order: left/right labels are made consistent over time (MoveNet swaps them in some frames, see
:mod:`kiosk.pose.sides`); joints below the score threshold become missing (NaN); single-frame outliers are removed
with a Hampel filter (a robust, median-based test that leaves monotonic motion alone, so the
sharp stop at contact survives); gaps no longer than ``max_gap_s`` are bridged linearly; and each
coordinate is smoothed with a local quadratic fit *within* phases only, so the jolt at initial
contact is never smeared into the flight before it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kiosk.errors import AnalysisError
from kiosk.keypoints import NUM_KEYPOINTS, PoseFrame
from kiosk.pose.sides import consistent_sides

#: Hampel filter: half window in frames, and the MAD multiple beyond which a sample is an outlier.
HAMPEL_HALF_WINDOW = 3
HAMPEL_SIGMAS = 3.0
#: Outliers must also be this far off in pixels, so sub-pixel noise on still joints is kept.
HAMPEL_MIN_PX = 4.0
#: Smoothing half-width in seconds (at least one frame each side). A local quadratic over +-60 ms
#: keeps the ~150 ms valgus hump's height while averaging ~10 samples at 120 fps.
SMOOTH_HALF_WIDTH_S = 0.06


@dataclass(frozen=True)
class Series:
    """A clip's keypoints as arrays: ``t`` (N,), ``xy`` (N, 17, 2) with NaN where not seen,
    ``score`` (N, 17), and the frames' own indices (N,)."""

    t: np.ndarray
    xy: np.ndarray
    score: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    @property
    def dt(self) -> float:
        """Median frame interval in seconds."""
        return float(np.median(np.diff(self.t))) if len(self.t) > 1 else 0.0

    def with_xy(self, xy: np.ndarray) -> Series:
        return Series(self.t, xy, self.score, self.index)


def from_frames(frames: Sequence[PoseFrame], min_score: float) -> Series:
    """Arrays from pose frames, left/right made consistent; joints scored below ``min_score`` become NaN.

    Raises AnalysisError for input that no retake can fix: no frames, a bad keypoint shape, or
    times that do not increase.
    """
    if len(frames) < 2:
        raise AnalysisError("need at least two pose frames to analyse a landing")
    t = np.array([f.t for f in frames], dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise AnalysisError("pose frame times must be finite and strictly increasing")
    kps = []
    for f in frames:
        k = np.asarray(f.keypoints, dtype=np.float64)
        if k.shape != (NUM_KEYPOINTS, 3):
            raise AnalysisError(f"frame {f.index}: expected keypoints of shape (17, 3), got {k.shape}")
        kps.append(k)
    arr, _ = consistent_sides(np.stack(kps), t)
    score = np.nan_to_num(arr[:, :, 2], nan=0.0)
    xy = arr[:, :, :2].copy()
    xy[score < min_score] = np.nan
    xy[~np.isfinite(xy).all(axis=-1)] = np.nan
    return Series(t=t, xy=xy, score=score, index=np.array([f.index for f in frames]))


def median_dt(t: np.ndarray) -> float:
    """The median interval of ``t`` in seconds: the frame interval of a clip analysed frame by
    frame (callers that know the camera's interval pass it instead)."""
    return float(np.median(np.diff(t))) if len(t) > 1 else 0.0


def hampel_mask(values: np.ndarray, half_window: int = HAMPEL_HALF_WINDOW, n_sigmas: float = HAMPEL_SIGMAS,
                min_dev: float = HAMPEL_MIN_PX) -> np.ndarray:
    """True where a sample is an outlier against its neighbours' median (per column if 2-D).

    NaNs are ignored (never flagged). A monotonic run has its own value as the window median, so
    fast but smooth motion is never flagged, only isolated spikes.
    """
    v = np.asarray(values, dtype=np.float64)
    flat = v.reshape(len(v), -1)
    pad = np.pad(flat, ((half_window, half_window), (0, 0)), constant_values=np.nan)
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * half_window + 1, axis=0)  # (N, C, W)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(win, axis=-1)
        mad = 1.4826 * np.nanmedian(np.abs(win - med[..., None]), axis=-1)
    enough = np.isfinite(win).sum(axis=-1) >= 3
    dev = np.abs(flat - med)
    out = enough & np.isfinite(flat) & (dev > np.maximum(n_sigmas * mad, min_dev))
    return out.reshape(v.shape)


def reject_outliers(xy: np.ndarray, min_dev: float = HAMPEL_MIN_PX) -> np.ndarray:
    """A copy of ``xy`` (N, J, 2) with Hampel outliers (in x or y) set to NaN."""
    out = xy.copy()
    bad = hampel_mask(xy, min_dev=min_dev).any(axis=-1)
    out[bad] = np.nan
    return out


def fill_short_gaps(t: np.ndarray, xy: np.ndarray, max_gap_s: float, dt: float | None = None) -> np.ndarray:
    """Bridge runs of missing samples linearly when the bracketing samples are close in time.

    A run is filled when ``t[after] - t[before]`` is at most ``max_gap_s`` plus one frame
    interval, so one dropped frame is always bridged and long gaps (an occlusion) stay missing:
    guessing through those would invent the very knee motion we measure. ``dt`` is the camera's
    frame interval when known (a sparse frame plan is not a slow camera); else the median interval.
    With ``dt`` given, a gap is measured in the camera frames that were looked at and did not show
    the joint (the missing samples): a joint missing in one frame of a sparse plan was unseen for
    one camera frame, not for the plan's whole stride.
    """
    out = xy.copy()
    camera = dt is not None
    dt = median_dt(t) if dt is None else dt
    limit = max_gap_s + dt * 1.01
    flat = out.reshape(len(t), -1)
    for c in range(flat.shape[1]):
        col = flat[:, c]
        ok = np.isfinite(col)
        if ok.all() or not ok.any():
            continue
        idx = np.flatnonzero(ok)
        for a, b in zip(idx[:-1], idx[1:], strict=True):
            if b - a > 1 and (t[b] - t[a] <= limit or (camera and (b - a - 1) * dt <= max_gap_s * 1.0001)):
                col[a + 1:b] = np.interp(t[a + 1:b], [t[a], t[b]], [col[a], col[b]])
    return flat.reshape(xy.shape)


def _local_quadratic(t: np.ndarray, y: np.ndarray, half_width: float) -> np.ndarray:
    """Local quadratic regression of the columns of ``y`` (n, C) inside one segment.

    Tricube weights over +-``half_width``; near the segment's ends the window is one-sided,
    which is what keeps contact sharp. Columns with a gap in a window are fitted on their own.
    """
    out = np.full_like(y, np.nan)
    ok = np.isfinite(y)
    for i in range(len(t)):
        near = np.abs(t - t[i]) <= half_width * 1.0001
        full = ok[i] & ok[near].all(axis=0)
        groups = [(near, np.flatnonzero(full))] + [(near & ok[:, c], np.array([c]))
                                                     for c in np.flatnonzero(ok[i] & ~full)]
        for sel, cols in groups:
            if len(cols) == 0:
                continue
            tt = t[sel] - t[i]
            if len(tt) < 3:
                out[i, cols] = y[i, cols]
                continue
            w = np.sqrt((1 - (np.abs(tt) / (half_width * 1.5)) ** 3) ** 3)
            deg = 2 if len(tt) >= 4 else 1
            coef = np.linalg.lstsq(np.vander(tt, deg + 1) * w[:, None], y[np.ix_(sel, cols)] * w[:, None], rcond=None)[0]
            out[i, cols] = coef[-1]
    return out


def smooth_segments(t: np.ndarray, xy: np.ndarray, boundaries: Sequence[float],
                    half_width_s: float | None = None, dt: float | None = None) -> np.ndarray:
    """Smooth every coordinate within the segments that ``boundaries`` (times) cut the clip into.

    A frame at exactly a boundary time starts the new segment. ``dt``: the camera's frame
    interval when known, else the median interval (the fit itself uses the real timestamps).
    """
    dt = median_dt(t) if dt is None else dt
    hw = max(half_width_s if half_width_s is not None else SMOOTH_HALF_WIDTH_S, dt * 1.01)
    cuts = sorted(b for b in boundaries if b is not None and np.isfinite(b))
    seg_id = np.searchsorted(np.asarray(cuts, dtype=np.float64), t, side="right")
    out = np.full_like(xy, np.nan)
    flat_in = xy.reshape(len(t), -1)
    flat_out = out.reshape(len(t), -1)
    for s in np.unique(seg_id):
        rows = seg_id == s
        flat_out[rows] = _local_quadratic(t[rows], flat_in[rows], hw)
    return out


def clean(series: Series, max_gap_s: float, dt: float | None = None) -> Series:
    """Outlier rejection and short-gap filling (no smoothing: events are found on this)."""
    xy = reject_outliers(series.xy)
    xy = fill_short_gaps(series.t, xy, max_gap_s, dt)
    return series.with_xy(xy)


def interp_at(t: np.ndarray, values: np.ndarray, when: float | None) -> float | None:
    """Linear interpolation of a 1-D series at time ``when``; None outside the clip or if a
    neighbour is missing (never extrapolated)."""
    if when is None or not np.isfinite(when) or when < t[0] or when > t[-1]:
        return None
    k = int(np.searchsorted(t, when, side="right"))
    if k == 0:
        k = 1
    if k >= len(t):
        v = values[-1]
        return float(v) if np.isfinite(v) else None
    a, b = k - 1, k
    va, vb = values[a], values[b]
    if not (np.isfinite(va) and np.isfinite(vb)):
        return None
    w = (when - t[a]) / (t[b] - t[a])
    return float(va + w * (vb - va))


def value_before(t: np.ndarray, values: np.ndarray, when: float | None, span_s: float = 0.05,
                 dt: float | None = None) -> float | None:
    """A series' value at ``when`` from the frames just before it (a line through them).

    Used at initial contact: the knee angle changes fast after contact but little in the air
    just before it, so the pre-contact side gives the contact value, while straight
    interpolation across a 33 ms gap at 30 fps would borrow the valgus that follows. ``dt``: the
    camera's frame interval when known (a sparse plan's median interval would widen the line
    into the curved fall), else the median interval.
    """
    if when is None or not np.isfinite(when) or when < t[0] or when > t[-1]:
        return None
    dt = median_dt(t) if dt is None else dt
    sel = (t < when) & (t >= when - max(span_s, 3.5 * dt)) & np.isfinite(values)
    if sel.sum() < 2:
        return interp_at(t, values, when)
    coef = np.polyfit(t[sel] - when, values[sel], 1)
    return float(coef[-1])
