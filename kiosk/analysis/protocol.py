"""Protocol gates: was this a drop vertical jump at all?

A clip can show a person clearly and still not be the test: a countermovement jump in place, a
string of hops, a stuck landing without the rebound, a jump up off the box, a leap toward the
camera, a slow-motion replay. The event finder (:mod:`kiosk.analysis.phases`) finds *some*
landing in each of these, so each is checked here against what a drop vertical jump looks like
(the figures and their sources are in docs/SCORING.md, "Protocol gates"):

* ``no_box``: a still standing window before the drop, with the feet above the landing level by a
  box's height (at least ``MIN_BOX_LL`` leg lengths);
* ``no_drop``: the fall onto the landing is a fall: its last three quarters took no longer than a
  drop under gravity allows (``MIN_FALL_G_LL``), and it ends at a fall's speed;
* ``wrong_speed``: a ballistic phase (the rebound flight) bends with gravity once scaled by the
  leg length; slow-motion or sped-up playback bends it far less or far more;
* ``jumped_off_box``: the hips and both feet rise above their standing level before the fall;
* ``no_rebound``: a take-off follows the landing, within ``MAX_CONTACT_S``;
* ``hopping``: from the landing on, both feet leave the ground in more than ``MAX_FLIGHTS``
  separate flights (or the mat is pressed more than twice);
* ``uneven_landing``: the two ankles land ``UNEVEN_S`` apart or more;
* ``implausible_jump``: contact and flight times within what a human jump can be;
* ``off_mark``: the body's size in the image grows on landing no more than the step from the box
  to the mat explains (``MAX_SCALE_GROWTH``).

Lengths are in leg lengths (hip to ankle, the athlete's own scale) and times in seconds, so no
gate depends on the image size or the camera distance. Pure numpy: part of the analysis.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kiosk.analysis.phases import Events, leg_length_px, mid_y
from kiosk.keypoints import LEFT_ANKLE, LEFT_HIP, LEFT_SHOULDER, RIGHT_ANKLE, RIGHT_HIP, RIGHT_SHOULDER
from kiosk.matcsv import MatEdge

#: The box must lift the standing feet this many leg lengths above the landing level. A 20 cm
#: box (the lowest DVJ box) is 0.20-0.33 leg lengths for legs of 0.6-1.0 m; the camera's
#: perspective only adds to it (the box stands behind the landing spot). A jump in place that
#: lands 50 px nearer the camera read 0.13.
MIN_BOX_LL = 0.18
#: Without a still standing window, a run this long with ankles and hips under this speed
#: (leg lengths/s) stands for it (see :func:`level_run`).
LEVEL_MIN_S = 0.1
LEVEL_SPEED_LL = 0.5
LEVEL_HALF_SPAN_S = 0.04
LEVEL_LOOKBACK_S = 0.3
#: Without a standing window, ankles unseen in more than this share of the frames before the
#: drop make the retake ``feet_cut_off``, not ``no_box``.
MAX_UNSEEN_BEFORE = 0.5
#: The ankles' rest level on landing: median over this span after contact (legs still long).
REST_AFTER_S = (0.03, 0.12)
#: The fall's last three quarters (from a quarter of the drop to contact) take half the whole
#: fall under gravity, so g = drop / (2 T^2). Below this many leg lengths per s^2 (about a third
#: of the slowest real g: 9.81 m/s^2 over a leg of 1.05 m is 9.3) the landing was no fall.
MIN_FALL_G_LL = 3.0
#: A fall's speed grows this much (or more) over its last three quarters (free fall: 2x).
FALL_SPEEDUP = 1.6
#: ... and above this the clip runs fast (g of 9.81 m/s^2 over a 0.55 m leg is 17.8; 2x playback
#: reads 4x): the fall alone then says wrong_speed where no flight can be fitted.
MAX_FALL_G_LL = 45.0
#: Ballistic flight: image g in leg lengths per s^2 within this range (real: 9.3-17.8 for legs
#: of 1.05-0.55 m; half-speed playback reads a quarter, double speed four times).
FLIGHT_G_LL = (5.0, 32.0)
#: A flight is fitted only with at least this many samples inside it, and only when a parabola
#: explains it (residual SD under this share of the rise).
MIN_FLIGHT_SAMPLES = 6
MAX_FIT_RESIDUAL = 0.25
#: Speed gates need at least this frame rate (below it the camera gate speaks).
MIN_SPEED_FPS = 20.0
#: Jump up off the box: the hips rise this far above their standing level and the lower of the
#: two ankles (so both feet: a step-off lifts only the stepping foot) this far above the box.
JUMP_UP_HIP_LL = 0.08
JUMP_UP_ANKLE_LL = 0.05
#: Contact longer than this is a landing held, not a rebound (DVJ contact 0.36 +- 0.10 s).
MAX_CONTACT_S = 1.0
#: Physical ranges (docs/SCORING.md): the shortest rebound contacts of elite jumpers are
#: ~0.15 s; a flight of 1.0 s is a 1.23 m jump, beyond any standing vertical jump recorded.
CONTACT_RANGE_S = (0.12, MAX_CONTACT_S)
FLIGHT_RANGE_S = (0.1, 1.0)
#: Flights: both feet (the lower ankle) this many leg lengths above the level on either side,
#: for at least FLIGHT_MIN_S at half their height. From the landing on, a drop jump has one (the
#: rebound); a jump up before the drop is ``jumped_off_box``'s to name.
FLIGHT_RISE_LL = 0.06
FLIGHT_MIN_S = 0.08
MAX_FLIGHTS = 1
#: One foot landing this long before the other (or 2.5 frames, whichever is longer).
UNEVEN_S = 0.08
#: ... each ankle's floor is its low point over this long after contact.
UNEVEN_REST_S = 0.3
#: Body size (shoulder width) at landing over standing: a drop lands within ~0.5 m of where the
#: athlete stood, 1.14-1.2x from the kiosk's 3-4 m (pinhole: Z / (Z - d)); 38 normal synthetic
#: trials read 0.93-1.11, a landing 0.5 m nearer still 1.25.
MAX_SCALE_GROWTH = 1.2
#: Seconds of standing and of fall the sizes are measured over.
SCALE_SPAN_S = 0.15


@dataclass(frozen=True)
class ProtocolFailure:
    code: str
    detail: str


def _interp_cross(t: np.ndarray, y: np.ndarray, level: float, before: float) -> float | None:
    """The last time before ``before`` at which ``y`` (image y, down) was above (smaller than)
    ``level``, interpolated to where it crossed it. None when it never was."""
    idx = np.flatnonzero((t < before) & np.isfinite(y))
    above = idx[y[idx] < level]
    if not len(above):
        return None
    k = int(above[-1])
    nxt = idx[idx > k]
    if not len(nxt):
        return float(t[k])
    j = int(nxt[0])
    w = (level - y[k]) / (y[j] - y[k]) if y[j] != y[k] else 0.0
    return float(t[k] + np.clip(w, 0.0, 1.0) * (t[j] - t[k]))


def _median(v: np.ndarray) -> float | None:
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else None


def _width(xy: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.hypot(*(xy[:, a] - xy[:, b]).T)


def _shoulder_width(xy: np.ndarray) -> np.ndarray:
    return _width(xy, LEFT_SHOULDER, RIGHT_SHOULDER)


def flights(t: np.ndarray, low_ankle_y: np.ndarray, scale: float) -> list[tuple[float, float]]:
    """Spans where both feet were off the ground: the lower ankle (larger image y) at least
    ``FLIGHT_RISE_LL`` above the level it rose from and came back to, for ``FLIGHT_MIN_S``.

    A peak-and-valley walk: each valley is the ground, each peak a flight if it stands out from
    the valleys on both sides (standing on the box, then the drop, is a step, not a flight).
    """
    ok = np.isfinite(low_ankle_y)
    tt, h = t[ok], -low_ankle_y[ok] / scale  # height, up
    if len(h) < 5:
        return []
    rise = FLIGHT_RISE_LL
    out: list[tuple[float, float]] = []
    i, n = 0, len(h)
    # walk: find a rise of `rise` over the running minimum, then its fall back by `rise`
    lo = 0
    while i < n:
        if h[i] < h[lo]:
            lo = i
        if h[i] - h[lo] >= rise:
            peak = i
            j = i
            while j < n and h[j] > h[peak] - rise:
                if h[j] > h[peak]:
                    peak = j
                j += 1
            if j >= n:
                break
            top = h[peak] - (h[peak] - h[lo]) / 2  # the span above half its height
            a = peak
            while a > lo and h[a - 1] >= top:
                a -= 1
            b = peak
            while b < j and h[b + 1] >= top:
                b += 1
            if tt[b] - tt[a] >= FLIGHT_MIN_S - 1e-9:
                out.append((float(tt[a]), float(tt[b])))
            lo = i = j
            continue
        i += 1
    return out


def level_run(t: np.ndarray, ankle: np.ndarray, hip: np.ndarray, ic: float, scale: float) -> tuple[int, int] | None:
    """Where the standing window is missing (the athlete seen only briefly before the drop, or
    fidgeting), the last run of at least ``LEVEL_MIN_S`` before contact in which the ankles and
    hips move under ``LEVEL_SPEED_LL`` leg lengths per second: still enough to be standing, not
    reached by rising from lower down (the top of a hop or jump, :func:`_rose_into`). A frame
    slice, or None."""
    n = int(np.searchsorted(t, ic - 0.1))
    if n < 3:
        return None
    # speed over +-LEVEL_HALF_SPAN_S, so a pixel of jitter at 120 fps does not read as motion
    lo = np.searchsorted(t, t[:n] - LEVEL_HALF_SPAN_S)
    hi = np.minimum(np.searchsorted(t, t[:n] + LEVEL_HALF_SPAN_S), len(t) - 1)
    span = np.maximum(t[hi] - t[lo], 1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        v = np.fmax(np.abs(ankle[hi] - ankle[lo]), np.abs(hip[hi] - hip[lo])) / span / scale
    ok = np.isfinite(v) & (v < LEVEL_SPEED_LL) & np.isfinite(ankle[:n])
    best = None
    k = 0
    while k < n:
        if ok[k]:
            j = k
            while j < n and ok[j]:
                j += 1
            if t[j - 1] - t[k] >= LEVEL_MIN_S - 1e-9 and not _rose_into(t, ankle, k, j, scale):
                best = (k, j)
            k = j
        else:
            k += 1
    return best


def _rose_into(t: np.ndarray, ankle: np.ndarray, k: int, j: int, scale: float) -> bool:
    """Whether the ankles were clearly lower (``FLIGHT_RISE_LL``) in the ``LEVEL_LOOKBACK_S``
    before the run [k, j): the run is then the top of a hop or jump, not standing on a box."""
    level = float(np.nanmedian(ankle[k:j]))
    before = ankle[(t >= t[k] - LEVEL_LOOKBACK_S) & (t < t[k])]
    before = before[np.isfinite(before)]
    return bool(len(before) and float(before.max()) > level + FLIGHT_RISE_LL * scale)


def _flight_g(t: np.ndarray, y: np.ndarray, start: float, stop: float, dt: float, scale: float) -> float | None:
    """Image g (leg lengths / s^2) from a parabola through ``y`` strictly inside the flight, or
    None when too few samples or the curve is no parabola."""
    sel = (t > start + dt * 0.5) & (t < stop - dt * 0.5) & np.isfinite(y)
    if sel.sum() < MIN_FLIGHT_SAMPLES:
        return None
    tt, yy = t[sel] - t[sel].mean(), y[sel] / scale
    coef = np.polyfit(tt, yy, 2)
    resid = yy - np.polyval(coef, tt)
    rise = float(yy.max() - yy.min())
    if rise <= 0 or float(np.std(resid)) > MAX_FIT_RESIDUAL * rise or coef[0] <= 0:
        return None  # no parabola, or one bent the wrong way: not a flight (events misplaced)
    return float(2 * coef[0])


def _accelerates(t: np.ndarray, y: np.ndarray, start: float, stop: float, dt: float) -> bool:
    """Whether the descent over [start, stop) is a free fall's, only slowed: a parabola fits it
    and its speed at the end is at least ``FALL_SPEEDUP`` times that at the start (from rest
    through the last 3/4 of a fall the speed doubles). A step or crouch down is not: its speed
    stays level or drops toward the floor. Slow-motion playback keeps the shape."""
    sel = (t >= start - dt) & (t < stop) & np.isfinite(y)
    if sel.sum() < MIN_FLIGHT_SAMPLES:
        return False
    tt = t[sel] - start
    coef = np.polyfit(tt, y[sel], 2)
    resid = y[sel] - np.polyval(coef, tt)
    span = float(y[sel].max() - y[sel].min())
    if span <= 0 or float(np.std(resid)) > MAX_FIT_RESIDUAL * span / 4:
        return False
    v0, v1 = np.polyval(np.polyder(coef), [0.0, stop - start])
    return bool(v1 > 0 and v1 >= FALL_SPEEDUP * max(v0, 0.0) and coef[0] > 0)


def check_protocol(t: np.ndarray, xy: np.ndarray, ev: Events, dt: float,
                   mat_edges: Sequence[MatEdge] | None = None) -> tuple[list[ProtocolFailure], dict]:
    """Every protocol gate on cleaned keypoints ``xy`` (N, 17, 2) at times ``t``; returns the
    failures and the figures measured (for ``quality``). ``dt``: the camera's frame interval."""
    figures: dict = {}
    out: list[ProtocolFailure] = []
    ic = ev.initial_contact_s
    if ic is None:
        return out, figures
    scale = leg_length_px(xy)
    if not np.isfinite(scale) or scale <= 0:
        return out, figures
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ankle = mid_y(xy, LEFT_ANKLE, RIGHT_ANKLE)
        hip = mid_y(xy, LEFT_HIP, RIGHT_HIP)
        low_ankle = np.nanmax(xy[:, [LEFT_ANKLE, RIGHT_ANKLE], 1], axis=1)
    fast_enough = dt > 0 and 1.0 / dt >= MIN_SPEED_FPS

    # --- flights: more than a drop jump has is hopping -------------------------------------
    fl = [f for f in flights(t, low_ankle, scale) if f[0] >= ic - FLIGHT_MIN_S]
    figures["flights"] = len(fl)
    presses = sum(1 for e in (mat_edges or []) if e.pressed and e.t >= ic - 1e-9)
    figures["mat_presses"] = presses if mat_edges is not None else None
    if len(fl) > MAX_FLIGHTS or presses > MAX_FLIGHTS + 1:
        out.append(ProtocolFailure("hopping", f"{max(len(fl), presses - 1)} flights after the landing "
                                              f"(a drop jump has one)"))

    # --- the box: standing still, raised --------------------------------------------------
    rest = _median(ankle[(t >= ic + REST_AFTER_S[0]) & (t <= ic + REST_AFTER_S[1])])
    box = None
    standing = ev.standing if ev.standing is not None else level_run(t, ankle, hip, ic, scale)
    before = t < ic - 0.1
    unseen = float(np.mean(~np.isfinite(ankle[before]))) if before.any() else 0.0
    if standing is None and unseen > MAX_UNSEEN_BEFORE:
        # the box cannot be judged from feet the camera did not see: that is the retake
        out.append(ProtocolFailure("feet_cut_off", f"ankles unseen in {unseen:.0%} of the frames before the drop"))
    elif standing is None:
        out.append(ProtocolFailure("no_box", "no still standing before the landing"))
    else:
        a, b = standing
        box = _median(ankle[a:b])
        stand_hip = _median(hip[a:b])
        if rest is not None and box is not None:
            drop = (rest - box) / scale
            figures["box_height_ll"] = round(drop, 3)
            if drop < MIN_BOX_LL:
                out.append(ProtocolFailure("no_box", f"standing feet {drop:.2f} leg lengths above the landing "
                                                     f"(a box is >= {MIN_BOX_LL})"))
            else:
                # jump up off the box: between standing and the fall, hips and both feet rise
                sel = (t >= t[b - 1]) & (t < ic)
                if sel.any() and stand_hip is not None:
                    hip_up = (stand_hip - float(np.nanmin(hip[sel]))) / scale if np.isfinite(hip[sel]).any() else 0.0
                    ank_up = (box - float(np.nanmin(low_ankle[sel]))) / scale if np.isfinite(low_ankle[sel]).any() else 0.0
                    figures["rise_before_drop_ll"] = round(min(hip_up, ank_up), 3)
                    if hip_up >= JUMP_UP_HIP_LL and ank_up >= JUMP_UP_ANKLE_LL:
                        out.append(ProtocolFailure("jumped_off_box", f"hips rose {hip_up:.2f} and both feet "
                                                                     f"{ank_up:.2f} leg lengths before the drop"))
                # the fall: its last three quarters under gravity
                quarter = box + 0.25 * (rest - box)
                start = _interp_cross(t, ankle, quarter, ic)
                if start is not None and fast_enough and ic - start > 0:
                    span = ic - start
                    g_fall = drop / (2 * span**2)  # the last 3/4 of a fall from rest take half of it
                    figures["fall_g_ll"] = round(g_fall, 2)
                    if g_fall < MIN_FALL_G_LL:
                        code = "wrong_speed" if _accelerates(t, ankle, start, ic, dt) else "no_drop"
                        out.append(ProtocolFailure(code, f"the last 3/4 of the {drop:.2f} leg-length drop took "
                                                         f"{span:.2f} s (g {g_fall:.1f} leg lengths/s^2)"))
                    elif g_fall > MAX_FALL_G_LL:
                        out.append(ProtocolFailure("wrong_speed", f"the drop fell at {g_fall:.0f} leg lengths/s^2"))

    # --- the rebound ---------------------------------------------------------------------
    to, land = ev.takeoff_s, ev.second_landing_s
    if to is None:
        out.append(ProtocolFailure("no_rebound", "no take-off after the landing"))
    else:
        contact = to - ic
        if contact > MAX_CONTACT_S:
            out.append(ProtocolFailure("no_rebound", f"contact {contact:.2f} s before the jump"))
        elif contact < CONTACT_RANGE_S[0]:
            out.append(ProtocolFailure("implausible_jump", f"contact {contact:.3f} s"))
        if land is not None:
            flight = land - to
            if not FLIGHT_RANGE_S[0] <= flight <= FLIGHT_RANGE_S[1]:
                out.append(ProtocolFailure("implausible_jump", f"flight {flight:.2f} s"))
            gs = [g for g in (_flight_g(t, hip, to, land, dt, scale), _flight_g(t, ankle, to, land, dt, scale))
                  if g is not None] if fast_enough else []
            if gs:
                g = float(np.median(gs))
                figures["flight_g_ll"] = round(g, 2)
                if not FLIGHT_G_LL[0] <= g <= FLIGHT_G_LL[1]:
                    out.append(ProtocolFailure("wrong_speed", f"the flight bends at {g:.1f} leg lengths/s^2 "
                                                              f"(real: {FLIGHT_G_LL[0]:g}-{FLIGHT_G_LL[1]:g})"))

    # --- both feet at once -----------------------------------------------------------------
    uneven = uneven_contact(t, xy, ic, box)
    if uneven is not None:
        figures["foot_contact_gap_s"] = round(uneven, 3)
        if abs(uneven) >= max(UNEVEN_S, 2.5 * dt):
            side = "left" if uneven < 0 else "right"
            out.append(ProtocolFailure("uneven_landing", f"the {side} foot landed {abs(uneven):.3f} s first"))

    # --- a drop in front of the box, not a leap toward the camera ---------------------------
    if standing is not None:
        a, b = standing
        last = max(3, int(round(SCALE_SPAN_S / max(dt, 1e-6))))
        fall = (t >= ic - SCALE_SPAN_S) & (t <= ic)
        growths = []
        # three sizes, the median of their growths: arms swung up pull MoveNet's shoulders
        # apart, a wide landing stance the hips, a trunk lean shortens the torso; only coming
        # nearer the camera grows them all
        torso = _width(np.stack([(xy[:, LEFT_SHOULDER] + xy[:, RIGHT_SHOULDER]) / 2,
                                 (xy[:, LEFT_HIP] + xy[:, RIGHT_HIP]) / 2], axis=1), 0, 1)
        for size in (_shoulder_width(xy), _width(xy, LEFT_HIP, RIGHT_HIP), torso):
            stand_w, land_w = _median(size[a:b][-last:]), _median(size[fall])
            if stand_w and land_w and stand_w > 0:
                growths.append(land_w / stand_w)
        if len(growths) == 3:
            growth = float(np.median(growths))
            figures["scale_growth"] = round(growth, 3)
            if growth > MAX_SCALE_GROWTH:
                out.append(ProtocolFailure("off_mark", f"the body grew {growth:.2f}x from the box to the landing "
                                                       f"(shoulders {growths[0]:.2f}x, hips {growths[1]:.2f}x, "
                                                       f"torso {growths[2]:.2f}x)"))
    return out, figures


def uneven_contact(t: np.ndarray, xy: np.ndarray, ic: float, box: float | None) -> float | None:
    """Left contact minus right contact (s) from each ankle's own fall: the time each ankle's y
    last crossed 90 % of the way from the box to its own rest level before it stayed there.
    None without a box level or where an ankle is not seen through the fall."""
    if box is None:
        return None
    times = []
    for j in (LEFT_ANKLE, RIGHT_ANKLE):
        y = xy[:, j, 1]
        # each ankle's own floor: its low point in the contact (a late foot lands after ``ic``)
        near = y[(t >= ic) & (t <= ic + UNEVEN_REST_S) & np.isfinite(y)]
        if not len(near):
            return None
        own = float(np.percentile(near, 80))
        level = own - 0.1 * (own - box)
        # the crossing nearest contact: search up to 0.3 s after the joint contact time
        stop = ic + 0.3
        sel = np.flatnonzero((t >= ic - 0.3) & (t <= stop) & np.isfinite(y))
        if len(sel) < 3:
            return None
        below = sel[y[sel] >= level]
        if not len(below):
            return None
        k = int(below[0])
        prev = sel[sel < k]
        if not len(prev):
            return None
        p = int(prev[-1])
        w = (level - y[p]) / (y[k] - y[p]) if y[k] != y[p] else 1.0
        times.append(float(t[p] + np.clip(w, 0, 1) * (t[k] - t[p])))
    return times[0] - times[1]
