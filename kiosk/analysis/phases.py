"""Phases of a drop vertical jump: standing, initial contact, peak flexion, take-off, second landing.

The mat's millisecond edges are the best clock for contact and take-off, so they win when a mat
is present. Without one, the events come from the ankles: they fall from the box level to the
floor level, stop (contact), stay on the floor through the deepest point, rise (take-off) and
come back down (second landing). Contact and landing are found as the *kink* of the ankle's
height curve, the moment its fall stops, fitted with two straight lines meeting at a free time
point: that gives a time between frames, and it does not care whether the foot lands flat or
toe first. Take-off is where the rising ankle crosses a small height above the floor level.
Peak knee flexion is the lowest point of the hips between contact and take-off, refined with a
parabola through the three lowest samples.

Image y grows downward, so "lower" means a larger y throughout.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kiosk.keypoints import LEFT_ANKLE, LEFT_HIP, LEFT_SHOULDER, RIGHT_ANKLE, RIGHT_HIP, RIGHT_SHOULDER
from kiosk.matcsv import MatEdge

#: Ankles within this fraction of the leg length of the floor level count as on the floor.
FLOOR_BAND = 0.05
#: The box must raise the ankles at least this fraction of the leg length above the floor.
MIN_DROP = 0.12
#: Take-off: the rising ankle crosses this fraction of the leg length above the floor level.
TAKEOFF_RISE = 0.03
#: Standing still: hips and ankles slower than this many leg lengths per second.
STILL_SPEED = 0.25


@dataclass(frozen=True)
class Events:
    """Event times in seconds (None when not found) and where each came from."""

    initial_contact_s: float | None
    peak_flexion_s: float | None
    takeoff_s: float | None
    second_landing_s: float | None
    standing: tuple[int, int] | None          # frame slice [start, stop) of the still standing window
    source: str                                # "mat" or "video"
    video_initial_contact_s: float | None     # the video's own estimate, kept for the mat/video gate
    video_takeoff_s: float | None
    mat_initial_contact_s: float | None       # the mat's first press (None: no mat or never pressed)


def mid_y(xy: np.ndarray, a: int, b: int) -> np.ndarray:
    """The mean image y of two joints per frame, NaN-tolerant (one seen joint is enough)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames give NaN, as intended
        return np.nanmean(xy[:, [a, b], 1], axis=1)


def leg_length_px(xy: np.ndarray) -> float:
    """A robust body scale: median hip-to-ankle distance over the clip, in pixels."""
    d = []
    for hip, ankle in ((LEFT_HIP, LEFT_ANKLE), (RIGHT_HIP, RIGHT_ANKLE)):
        d.append(np.hypot(*(xy[:, ankle] - xy[:, hip]).T))
    vals = np.concatenate(d)
    vals = vals[np.isfinite(vals)]
    return float(np.median(vals)) if len(vals) else float("nan")


def torso_length_px(xy: np.ndarray) -> np.ndarray:
    """Per frame: shoulder-midpoint to hip-midpoint distance."""
    sh = (xy[:, LEFT_SHOULDER] + xy[:, RIGHT_SHOULDER]) / 2
    hp = (xy[:, LEFT_HIP] + xy[:, RIGHT_HIP]) / 2
    return np.hypot(*(sh - hp).T)


def floor_level(ankle_y: np.ndarray, scale: float) -> float | None:
    """The ankles' image y while on the floor: the median of the lowest band of samples."""
    ok = ankle_y[np.isfinite(ankle_y)]
    if len(ok) < 3:
        return None
    top = np.sort(ok)[-3]  # third-lowest point: one stray sample cannot set the floor
    return float(np.median(ok[ok >= top - FLOOR_BAND * scale]))


def _kink_time(t: np.ndarray, y: np.ndarray, lo: float, hi: float, curved: str) -> float | None:
    """The time at which two pieces, continuous there, best fit y over [lo, hi].

    ``curved="before"``: a parabola (a fall) then a line (contact); ``"after"``: a line
    (contact) then a parabola (flight). Scanned on a 0.5 ms grid.
    """
    sel = (t >= lo) & (t <= hi) & np.isfinite(y)
    tt, yy = t[sel], y[sel]
    if len(tt) < 5:
        return None
    best, best_b = np.inf, None
    for b in np.linspace(tt[1], tt[-2], max(20, int((tt[-2] - tt[1]) / 0.0005) + 1)):
        pre, post = np.minimum(tt - b, 0), np.maximum(tt - b, 0)
        extra = pre**2 if curved == "before" else post**2
        basis = np.column_stack([np.ones_like(tt), pre, post, extra])
        coef, *_ = np.linalg.lstsq(basis, yy, rcond=None)
        sse = float(((basis @ coef - yy) ** 2).sum())
        if sse < best:
            best, best_b = sse, float(b)
    return best_b


def _landing(t: np.ndarray, ankle_y: np.ndarray, floor: float, scale: float, start: int) -> tuple[int, float] | None:
    """First landing at or after frame ``start``: (first on-floor frame, kink time).

    A landing is an arrival on the floor band after being at least ``MIN_DROP`` above it.
    """
    band = floor - FLOOR_BAND * scale
    high = floor - MIN_DROP * scale
    was_high = False
    for k in range(start, len(t)):
        y = ankle_y[k]
        if not np.isfinite(y):
            continue
        if y <= high:
            was_high = True
        elif was_high and y >= band:
            # The fall: from where the ankle was last high, to a little after arrival.
            j = k
            while j > start and (not np.isfinite(ankle_y[j - 1]) or ankle_y[j - 1] > high):
                j -= 1
            dt = float(np.median(np.diff(t)))
            lo = max(t[max(j - 1, 0)], t[k] - 0.2)
            hi = t[k] + max(0.08, 4 * dt)
            kink = _kink_time(t, ankle_y, lo, hi, "before")
            if kink is None:
                kink = _crossing(t, ankle_y, k, band)
            return k, kink
    return None


def _crossing(t: np.ndarray, y: np.ndarray, k: int, level: float) -> float:
    """Time between frames k-1 and k at which y passes ``level`` (linear)."""
    if k == 0 or not np.isfinite(y[k - 1]) or y[k] == y[k - 1]:
        return float(t[k])
    w = np.clip((level - y[k - 1]) / (y[k] - y[k - 1]), 0.0, 1.0)
    return float(t[k - 1] + w * (t[k] - t[k - 1]))


def _takeoff(t: np.ndarray, ankle_y: np.ndarray, floor: float, scale: float, after: float) -> float | None:
    """First time after ``after`` at which the ankles leave the floor for a real jump.

    The ankles must rise above a small level over the floor and later reach half the box
    height (not a wobble); the time is the kink where the flat contact line meets the rise.
    """
    level = floor - TAKEOFF_RISE * scale
    dt = float(np.median(np.diff(t)))
    for k in np.flatnonzero(t > after):
        if np.isfinite(ankle_y[k]) and ankle_y[k] < level:
            if np.nanmin(ankle_y[k:]) > floor - MIN_DROP * scale / 2:
                return None
            span = max(0.06, 3 * dt)
            kink = _kink_time(t, ankle_y, max(after, t[k] - span), t[k] + span, "after")
            if kink is None or not (t[max(k - 3, 0)] <= kink <= t[k]):
                kink = _crossing(t, ankle_y, int(k), level)
            return kink
    return None


def peak_flexion(t: np.ndarray, hip_y: np.ndarray, start: float, stop: float) -> float | None:
    """Time of the lowest hips in [start, stop], parabola-refined between frames."""
    sel = np.flatnonzero((t >= start) & (t <= stop) & np.isfinite(hip_y))
    if len(sel) == 0:
        return None
    k = int(sel[np.argmax(hip_y[sel])])
    if 0 < k < len(t) - 1 and k - 1 in sel and k + 1 in sel:
        y0, y1, y2 = hip_y[k - 1], hip_y[k], hip_y[k + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            off = 0.5 * (y0 - y2) / den
            if abs(off) <= 1:
                step = (t[k + 1] - t[k - 1]) / 2
                return float(np.clip(t[k] + off * step, start, stop))
    return float(t[k])


def standing_window(t: np.ndarray, xy: np.ndarray, ic: float, scale: float) -> tuple[int, int] | None:
    """The last still run (>= 0.1 s and 3 frames) on the box before the drop, as a frame slice.

    Still means hips and ankles move slower than ``STILL_SPEED`` leg lengths per second and the
    ankles are at box level (not yet stepping off).
    """
    pre = np.flatnonzero(t < ic - 0.15)
    if len(pre) < 3:
        return None
    hip = (xy[:, LEFT_HIP] + xy[:, RIGHT_HIP]) / 2
    ank = (xy[:, LEFT_ANKLE] + xy[:, RIGHT_ANKLE]) / 2
    n = pre[-1] + 1
    # Speed over a ~0.1 s baseline, so a few pixels of keypoint jitter do not read as motion.
    speed = np.zeros(n)
    lo = np.searchsorted(t, t[:n] - 0.05)
    hi = np.minimum(np.searchsorted(t, t[:n] + 0.05), n - 1)
    span = np.maximum(t[hi] - t[lo], 1e-9)
    for p in (hip, ank):
        v = np.hypot(*((p[hi] - p[lo]) / span[:, None]).T)
        speed = np.maximum(speed, v)
    box = np.nanmedian(ank[: max(3, n // 3), 1])
    still = (speed < STILL_SPEED * scale) & (np.abs(ank[:n, 1] - box) < FLOOR_BAND * scale)
    still &= np.isfinite(speed)
    best: tuple[int, int] | None = None
    k = 0
    while k < n:
        if still[k]:
            j = k
            while j < n and still[j]:
                j += 1
            if j - k >= 3 and t[j - 1] - t[k] >= 0.1:
                best = (k, j)
            k = j
        else:
            k += 1
    if best is None:
        return None
    a, b = best
    a = max(a, int(np.searchsorted(t, t[b - 1] - 1.0)))  # the last second is plenty
    return (a, b)


def mat_events(edges: Sequence[MatEdge], t0: float) -> tuple[float | None, float | None, float | None]:
    """(contact, take-off, second landing) from mat edges at or after ``t0``.

    The box stands off the mat, so the first press is the landing; a press at the clip's start
    (someone already on the mat) is skipped by looking for a press that follows a release or
    the clip's start.
    """
    ic = to = land = None
    for e in edges:
        if e.t < t0 - 1e-9:
            continue
        if ic is None:
            if e.pressed:
                ic = e.t
        elif to is None:
            if not e.pressed:
                to = e.t
        elif land is None and e.pressed:
            land = e.t
            break
    return ic, to, land


def detect_events(t: np.ndarray, xy: np.ndarray, mat_edges: Sequence[MatEdge] | None) -> Events:
    """All events of one trial from cleaned (unsmoothed) keypoints and optional mat edges."""
    scale = leg_length_px(xy)
    ankle_y = mid_y(xy, LEFT_ANKLE, RIGHT_ANKLE)
    hip_y = mid_y(xy, LEFT_HIP, RIGHT_HIP)
    v_ic = v_to = v_land = None
    floor = floor_level(ankle_y, scale) if np.isfinite(scale) else None
    if floor is not None:
        first = _landing(t, ankle_y, floor, scale, 0)
        if first is not None:
            k, v_ic = first
            v_to = _takeoff(t, ankle_y, floor, scale, t[k])
            if v_to is not None:
                second = _landing(t, ankle_y, floor, scale, int(np.searchsorted(t, v_to)))
                v_land = second[1] if second is not None else None
    m_ic = None
    if mat_edges is not None:
        m_ic, m_to, m_land = mat_events(mat_edges, float(t[0]))
    if m_ic is not None:
        ic, to, land, source = m_ic, m_to, m_land, "mat"
    else:  # no mat, or it never closed (the off-mat gate decides what that means)
        ic, to, land, source = v_ic, v_to, v_land, "video"
    peak = None
    if ic is not None:
        stop = to if to is not None else min(float(t[-1]), ic + 0.6)
        peak = peak_flexion(t, hip_y, ic, stop)
    stand = standing_window(t, xy, ic, scale) if ic is not None and np.isfinite(scale) else None
    return Events(initial_contact_s=ic, peak_flexion_s=peak, takeoff_s=to, second_landing_s=land,
                  standing=stand, source=source, video_initial_contact_s=v_ic, video_takeoff_s=v_to,
                  mat_initial_contact_s=m_ic)
