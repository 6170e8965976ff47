"""Phases of a drop vertical jump: standing, initial contact, peak flexion, take-off, second landing.

The mat's millisecond edges are the best clock for contact and take-off, so they win when a mat
is present. Without one, the events come from the ankles: they fall from the box level to the
floor level, stop (contact), stay on the floor through the deepest point, rise (take-off) and
come back down (second landing). Contact, take-off and landing are each the *kink* of the
ankle's height curve (:mod:`kiosk.analysis.kink`): a rest level joined at a free time to the fall
or the rise, which gives a time between frames. Each landing is judged against the level its
own feet rest at, since the athlete drifts toward the camera between the landings.
Peak knee flexion is the lowest point of the hips between contact and take-off, refined with a
parabola through the three lowest samples.

Image y grows downward, so "lower" means a larger y throughout.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kiosk.analysis.kink import kink_time
from kiosk.keypoints import LEFT_ANKLE, LEFT_HIP, LEFT_SHOULDER, RIGHT_ANKLE, RIGHT_HIP, RIGHT_SHOULDER
from kiosk.matcsv import MatEdge

#: Ankles within this fraction of the leg length of the floor level count as on the floor.
FLOOR_BAND = 0.05
#: The box must raise the ankles at least this fraction of the leg length above the floor.
MIN_DROP = 0.12
#: Off the floor: a sample this many jitter SDs (and at least MIN_OFF_FLOOR leg lengths) above
#: the floor level is in the air for certain; the event time comes from extrapolating those.
OFF_FLOOR_SIGMAS = 3.0
MIN_OFF_FLOOR = 0.01
#: The fall fitted to find contact spans at most this long; the floor level after it is the
#: median over the next FLOOR_SPAN_S.
FIT_SPAN_S = 0.1
FLOOR_SPAN_S = 0.08
#: The rise fitted to find take-off spans at most this long (the ascent lasts 0.1-0.3 s, and a
#: longer fit outvotes the model's lag in the first frames of the rise); the level the feet
#: leave is the median over TAKEOFF_FLOOR_SPAN_S ending RISE_GAP_S before the first sample at
#: ``MIN_DROP`` above the floor (the rise to there takes ~40-100 ms at take-off speeds of 1-3 m/s;
#: the walk back over the rise covers what the gap does not).
RISE_FIT_SPAN_S = 0.15
TAKEOFF_FLOOR_SPAN_S = 0.04
#: The kink fit at take-off (:func:`kiosk.analysis.kink.kink_time`) takes the rise this long and
#: the rest this long before the first sample clearly risen, and looks for the kink up to
#: KINK_BACK_S before that sample.
KINK_RISE_S = 0.08
KINK_REST_S = 0.1
KINK_BACK_S = 0.05
RISE_GAP_S = 0.045
#: A fall that has passed the ``MIN_DROP`` line reaches the floor within ~50 ms (the last 10 cm
#: at 2-3 m/s); the level the ankles then rest at is the median over the REST_SPAN_S after
#: REST_DELAY_S (contacts last 0.2 s and more).
REST_DELAY_S = 0.06
REST_SPAN_S = 0.08
#: Peak flexion: the parabola through the hip height spans this long each side of the lowest sample.
PEAK_FIT_S = 0.04
#: Standing still: hips and ankles slower than this many leg lengths per second.
STILL_SPEED = 0.25
#: ... measured over +-this many seconds.
STILL_HALF_SPAN_S = 0.1


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


def jitter_px(y: np.ndarray, t: np.ndarray | None = None, dt: float | None = None) -> float:
    """Keypoint jitter (SD, pixels) of a 1-D series, from the MAD of its second differences.

    Smooth motion has second differences of g*dt^2 (under 1 px at 60 fps and up), and the kinks at
    contact and take-off are a few samples among hundreds, so the median ignores both; white
    noise of SD s gives second differences of SD s*sqrt(6). With ``t`` and the camera's ``dt``
    (a sparse frame plan), only runs of consecutive camera frames count: a second difference
    across a 100 ms step measures motion, not jitter.
    """
    ok = np.isfinite(y)
    v = y[ok]
    if len(v) < 5:
        return 0.0
    d2 = v[2:] - 2 * v[1:-1] + v[:-2]
    if t is not None and dt is not None:
        step = np.diff(np.asarray(t, dtype=np.float64)[ok])
        even = (step[1:] <= 1.5 * dt) & (step[:-1] <= 1.5 * dt)
        if even.sum() >= 3:
            d2 = d2[even]
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6))


def robust_polyfit(t: np.ndarray, y: np.ndarray, deg: int, iters: int = 6) -> np.ndarray:
    """Polynomial coefficients (highest first) by Huber-weighted least squares (IRLS).

    MoveNet now and then puts one ankle a few pixels off for a frame; a plain fit of a dozen
    samples would tilt toward it and move an extrapolated event by a frame.
    """
    w = np.ones_like(y)
    coef = np.polyfit(t, y, deg)
    for _ in range(iters):
        r = y - np.polyval(coef, t)
        s = max(1.4826 * float(np.median(np.abs(r))), 0.3)
        a = np.abs(r) / (1.345 * s)
        w = np.where(a <= 1, 1.0, 1.0 / np.maximum(a, 1e-9))
        coef = np.polyfit(t, y, deg, w=np.sqrt(w))
    return coef


def _reach(t: np.ndarray, y: np.ndarray, level: float, anchor: float, lo: float, hi: float) -> float | None:
    """When a quadratic (a line if few samples) fitted to ``(t, y)`` reaches ``level``: the root
    in [lo, hi] nearest ``anchor``. None when the fit never gets there in that span."""
    if len(t) < 2:
        return None
    deg = 2 if len(t) >= 4 else 1
    coef = robust_polyfit(t - anchor, y, deg)
    coef[-1] -= level
    roots = np.roots(coef)
    roots = roots[np.isreal(roots)].real + anchor
    roots = roots[(roots >= lo - 1e-9) & (roots <= hi + 1e-9)]
    if len(roots) == 0:
        return None
    return float(roots[np.argmin(np.abs(roots - anchor))])


def _threshold(sigma: float, scale: float) -> float:
    """How far from the floor level a sample must be to count as off the floor."""
    return max(OFF_FLOOR_SIGMAS * sigma, MIN_OFF_FLOOR * scale)


def _contact_time(t: np.ndarray, y: np.ndarray, k: int, scale: float, sigma: float, dt: float) -> float:
    """The moment the ankles' fall reaches the floor level they then rest at.

    ``k`` is the first frame near the floor. Contact is the kink
    (:func:`kiosk.analysis.kink.kink_time`) fitted over the last ``FIT_SPAN_S`` of the fall and
    the next ``FLOOR_SPAN_S`` of rest. Where that fit cannot be made: the floor level is the
    median over that rest, and a robust parabola through the fall's samples clearly above it
    (free fall) meets it at contact. ``dt`` is the camera's frame interval (the samples may be
    sparser).
    """
    after = np.flatnonzero((t >= t[k]) & (t <= t[k] + max(FLOOR_SPAN_S, 3 * dt)) & np.isfinite(y))
    level = float(np.median(y[after]))
    thr = _threshold(sigma, scale)
    j = k
    while j > 0 and not (np.isfinite(y[j]) and y[j] < level - thr):
        j -= 1
    win = (t >= t[j] - max(FIT_SPAN_S, 3.5 * dt)) & (t <= t[k] + max(FLOOR_SPAN_S, 3 * dt))
    hit = kink_time(t[win], y[win], float(t[j]) - dt, max(float(t[j]) + 4 * dt, float(t[k])), dt, moving_after=False)
    if hit is not None:
        return hit
    sel = (t <= t[j]) & (t >= t[j] - max(FIT_SPAN_S, 3.5 * dt)) & np.isfinite(y) & (y < level - thr)
    hit = _reach(t[sel], y[sel], level, float(t[j]), float(t[j]), max(float(t[j]) + 4 * dt, float(t[k])))
    if hit is None:
        hit = _crossing(t, y, k, level - thr)
    return hit


def _rest_level(t: np.ndarray, y: np.ndarray, k: int) -> float | None:
    """The level the ankles come to rest at after a fall that passed frame ``k``: the median
    over ``REST_DELAY_S`` .. ``REST_DELAY_S + REST_SPAN_S`` later (None without samples there)."""
    sel = (t >= t[k] + REST_DELAY_S) & (t <= t[k] + REST_DELAY_S + REST_SPAN_S) & np.isfinite(y)
    return float(np.median(y[sel])) if sel.any() else None


def _landing(t: np.ndarray, ankle_y: np.ndarray, floor: float, scale: float, start: int,
             sigma: float, dt: float) -> tuple[int, float, float] | None:
    """First landing at or after frame ``start``: (first on-floor frame, contact time, the level
    the ankles rest at).

    A landing is a fall from at least ``MIN_DROP`` above the floor. Where the feet land is their
    own level (:func:`_rest_level`), not the clip's lowest: the athlete drifts toward the camera
    between the landings, so the second landing sits a few pixels lower in the image than the
    first, and the first may never reach a band around the second's level.
    """
    high = floor - MIN_DROP * scale
    was_high = False
    for k in range(start, len(t)):
        y = ankle_y[k]
        if not np.isfinite(y):
            continue
        if y <= high:
            was_high = True
        elif was_high:
            rest = _rest_level(t, ankle_y, k)
            if rest is not None and rest <= high:
                # still in the air: keypoint jitter took one sample back across the line as the
                # feet rose past it (a take-off read as a landing 50 ms after it)
                continue
            level = rest if rest is not None else floor
            on = np.flatnonzero((np.arange(len(t)) >= k) & np.isfinite(ankle_y) & (ankle_y >= level - FLOOR_BAND * scale))
            if not len(on):
                return None
            j = int(on[0])
            return j, _contact_time(t, ankle_y, j, scale, sigma, dt), level
    return None


def _crossing(t: np.ndarray, y: np.ndarray, k: int, level: float) -> float:
    """Time between frames k-1 and k at which y passes ``level`` (linear)."""
    if k == 0 or not np.isfinite(y[k - 1]) or y[k] == y[k - 1]:
        return float(t[k])
    w = np.clip((level - y[k - 1]) / (y[k] - y[k - 1]), 0.0, 1.0)
    return float(t[k - 1] + w * (t[k] - t[k - 1]))


def _takeoff(t: np.ndarray, ankle_y: np.ndarray, floor: float, scale: float, after: float,
             sigma: float, dt: float) -> float | None:
    """When the ankles leave the floor for a real jump, after time ``after`` (the contact).
    ``floor`` is the level they rested at during this contact.

    The flight is the first sample at least ``MIN_DROP`` above the contact's floor level (any
    real jump lifts the feet 20 cm and more); half of that is within reach of the model's drift:
    the detected ankle creeps 5-9 px up the shank at deep flexion. The floor level the feet leave is the
    median of the contact-phase samples ``RISE_GAP_S`` to ``RISE_GAP_S + TAKEOFF_FLOOR_SPAN_S``
    before it (the shank moves the detected ankle by a few pixels during the contact, so the clip's
    overall floor is not good enough), and the rise starts at the first of the run of samples
    clearly above it. The take-off is the kink (:func:`kiosk.analysis.kink.kink_time`) fitted over
    ``KINK_REST_S`` of rest and ``KINK_RISE_S`` of rise around that sample; where that fit
    cannot be made, a robust parabola through up to ``RISE_FIT_SPAN_S`` of the rise (ballistic
    flight) is back-extrapolated to the level.
    """
    y = ankle_y
    high = floor - MIN_DROP * scale
    cand = np.flatnonzero((t > after) & np.isfinite(y) & (y < high))
    if len(cand) == 0:
        return None
    m = int(cand[0])
    gap = max(RISE_GAP_S, 2 * dt)
    pre = np.flatnonzero((t > after) & (t <= t[m] - gap) & (t >= t[m] - gap - max(TAKEOFF_FLOOR_SPAN_S, 3 * dt))
                         & np.isfinite(y))
    if len(pre) < 2:
        pre = np.flatnonzero((t > after) & (t < t[m]) & np.isfinite(y))
        if len(pre) == 0:
            return None
    level = float(np.median(y[pre]))
    thr = _threshold(sigma, scale)
    j = m  # walk back over the rise: samples clearly above the contact level
    while j - 1 > pre[-1] and (not np.isfinite(y[j - 1]) or y[j - 1] < level - thr):
        j -= 1
    while not np.isfinite(y[j]):
        j += 1
    # In the push-off the detected ankle can dip clearly below the contact level (the foot
    # plantar-flexes: MoveNet puts the ankle lower on the shoe) for the last few frames before
    # it rises; the rise starts from that dip, not from the level, so extrapolate to the dip
    # (extrapolating to the level put take-off ~10 ms late).
    dip = y[pre[-1] + 1:j]
    dip = dip[np.isfinite(dip)]
    if len(dip) and float(dip.max()) > level + thr:
        level = float(dip.max())
    win = (t > after) & (t >= t[j] - max(KINK_REST_S, 4 * dt)) & (t <= t[j] + max(KINK_RISE_S, 3.5 * dt))
    hit = kink_time(t[win], y[win], max(after, float(t[j]) - max(KINK_BACK_S, 4 * dt)), float(t[j]) + dt, dt,
                    moving_after=True)
    if hit is not None:
        return hit
    sel = (t >= t[j]) & (t <= t[j] + max(RISE_FIT_SPAN_S, 3.5 * dt)) & np.isfinite(y) & (y < level - thr)
    hit = _reach(t[sel], y[sel], level, float(t[j]), max(after, float(t[j]) - 4 * dt), float(t[j]))
    if hit is None:
        hit = _crossing(t, y, j, level - thr)
    return hit


def peak_flexion(t: np.ndarray, hip_y: np.ndarray, start: float, stop: float) -> float | None:
    """Time of the lowest hips in [start, stop]: the vertex of a parabola fitted (least squares,
    on the samples' real times) to the hip height within ``PEAK_FIT_S`` of the lowest sample,
    widened to take at least the nearest sample on each side.

    Frame by frame that averages ~10 samples of jitter around the bottom. A station's frame plan
    samples the contact sparsely (every 100 ms on a Pi 4) and poses densely only around where this
    says the bottom is, so it must be found between samples: the lowest sample alone can sit next
    to contact while the real bottom is 50 ms later. The vertex stays inside the fitted span.
    """
    sel = np.flatnonzero((t >= start) & (t <= stop) & np.isfinite(hip_y))
    if len(sel) == 0:
        return None
    k = int(sel[np.argmax(hip_y[sel])])
    before, after = sel[sel < k], sel[sel > k]
    if len(before) and len(after):
        lo = min(t[k] - PEAK_FIT_S, float(t[before[-1]]))
        hi = max(t[k] + PEAK_FIT_S, float(t[after[0]]))
        near = sel[(t[sel] >= lo - 1e-9) & (t[sel] <= hi + 1e-9)]
        tt = t[near] - t[k]
        a, b, _ = np.polyfit(tt, hip_y[near], 2)
        if a < 0:
            off = -b / (2 * a)
            if tt[0] <= off <= tt[-1]:
                return float(np.clip(t[k] + off, start, stop))
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
    # Speed over a ~0.2 s baseline, so a few pixels of keypoint jitter do not read as motion
    # (over 0.1 s, Lightning's jitter at 120 fps flickered across the limit every few frames and
    # broke the still run in 7 of 60 synthetic trials).
    speed = np.zeros(n)
    lo = np.searchsorted(t, t[:n] - STILL_HALF_SPAN_S)
    hi = np.minimum(np.searchsorted(t, t[:n] + STILL_HALF_SPAN_S), n - 1)
    span = np.maximum(t[hi] - t[lo], 1e-9)
    for p in (hip, ank):
        v = np.hypot(*((p[hi] - p[lo]) / span[:, None]).T)
        speed = np.maximum(speed, v)
    seen = np.flatnonzero(np.isfinite(ank[:n, 1]))
    if not len(seen):  # ankles unseen on the box: no baseline to stand still at
        return None
    # the box level: the first third of the frames that show the ankles before the drop (the
    # first frames may show nobody: the tracker had not found the athlete yet)
    box = float(np.median(ank[seen[: max(3, len(seen) // 3)], 1]))
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


def detect_events(t: np.ndarray, xy: np.ndarray, mat_edges: Sequence[MatEdge] | None,
                  dt: float | None = None) -> Events:
    """All events of one trial from cleaned (unsmoothed) keypoints and optional mat edges.

    ``dt`` is the camera's frame interval when known (a station posing a sparse frame plan);
    None infers it from the median interval, right for a clip analysed frame by frame.
    """
    dt = float(np.median(np.diff(t))) if dt is None else dt
    scale = leg_length_px(xy)
    ankle_y = mid_y(xy, LEFT_ANKLE, RIGHT_ANKLE)
    hip_y = mid_y(xy, LEFT_HIP, RIGHT_HIP)
    v_ic = v_to = v_land = None
    floor = floor_level(ankle_y, scale) if np.isfinite(scale) else None
    if floor is not None:
        sigma = jitter_px(ankle_y, t, dt)
        first = _landing(t, ankle_y, floor, scale, 0, sigma, dt)
        if first is not None:
            k, v_ic, level = first
            v_to = _takeoff(t, ankle_y, level, scale, t[k], sigma, dt)
            if v_to is not None:
                second = _landing(t, ankle_y, floor, scale, int(np.searchsorted(t, v_to)), sigma, dt)
                v_land = second[1] if second is not None and second[1] > v_to else None
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
