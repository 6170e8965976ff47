"""The valgus and jump metrics of one trial, from smoothed keypoints and its events.

Definitions are in docs/SCORING.md; the geometry itself is
:mod:`kiosk.geometry`, shared with the synthetic athlete's ground truth so both sides of every
accuracy comparison use the same formula. Values at an event time are interpolated linearly
between the two frames around it; a value is None when a joint it needs is missing there.

Moments follow the sources: Herrington & Munro's ranges are FPPA at peak knee flexion, and
Holden's valgus displacement is the excursion of the landing, contact to peak flexion. Every
landing value is read inside contact .. peak flexion (the span :mod:`kiosk.analysis.phases`
searched peak flexion in), never later: what the knee does between peak flexion and take-off is
the push-off, a different movement, reported on its own (``pushoff_valgus``) and never judged.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from kiosk import geometry
from kiosk.analysis.phases import Events
from kiosk.analysis.series import interp_at, value_before
from kiosk.keypoints import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEG_JOINTS,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
)


@dataclass(frozen=True)
class LegMetrics:
    """One leg, in the athlete's own side. Degrees; positive = knee toward the midline."""

    fppa_ic: float | None
    fppa_peak_flexion: float | None    # what the peak-FPPA limit is held against
    fppa_peak: float | None            # the largest FPPA over the landing, contact .. peak flexion
    peak_fppa_s: float | None          # when it happened
    peak_fppa_frame: int | None        # the frame's own index
    valgus_displacement: float | None  # fppa_peak_flexion - fppa_ic
    static_fppa: float | None          # median while standing on the box
    pushoff_valgus: float | None = None  # largest further inward motion, peak flexion .. take-off (a note only)


@dataclass(frozen=True)
class Metrics:
    left: LegMetrics
    right: LegMetrics
    kasr_ic: float | None              # reported beside the stance width; decides nothing
    kasr_peak: float | None            # at peak knee flexion
    kasr_min: float | None             # lowest over contact .. peak flexion
    static_kasr: float | None
    knee_sep_pct_ic: float | None      # knee / hip-keypoint separation x 100 (reported only)
    knee_sep_pct_peak: float | None
    trunk_lean_peak_deg: float | None  # positive: shoulders toward the athlete's left
    trunk_lean_max_deg: float | None   # largest |lean| over contact .. peak flexion, with its sign
    stance_width_ratio: float | None   # ankle / shoulder separation at contact
    contact_time_s: float | None
    flight_time_s: float | None
    jump_height_m: float | None
    rsi: float | None
    trunk_lean_ic_deg: float | None = None     # at contact, where LESS scores lateral trunk flexion
    stance_width_peak_ratio: float | None = None  # ankle / shoulder separation at peak flexion (beside KASR)


def _nanmedian(v: np.ndarray) -> float | None:
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else None


def fppa_series(xy: np.ndarray, leg: str) -> np.ndarray:
    hip, knee, ankle, other = LEG_JOINTS[leg]
    return geometry.fppa_deg(xy[:, hip], xy[:, knee], xy[:, ankle], xy[:, other])


def kasr_series(xy: np.ndarray) -> np.ndarray:
    return geometry.kasr(xy[:, LEFT_KNEE], xy[:, RIGHT_KNEE], xy[:, LEFT_ANKLE], xy[:, RIGHT_ANKLE])


def knee_sep_series(xy: np.ndarray) -> np.ndarray:
    return geometry.knee_separation_pct(xy[:, LEFT_KNEE], xy[:, RIGHT_KNEE], xy[:, LEFT_HIP], xy[:, RIGHT_HIP])


def trunk_series(xy: np.ndarray) -> np.ndarray:
    return geometry.trunk_lean_deg(xy[:, LEFT_SHOULDER], xy[:, RIGHT_SHOULDER], xy[:, LEFT_HIP], xy[:, RIGHT_HIP])


def landing_window(t: np.ndarray, ev: Events) -> np.ndarray:
    """Frames of the landing: contact .. peak knee flexion (none without both)."""
    ic, pk = ev.initial_contact_s, ev.peak_flexion_s
    if ic is None or pk is None:
        return np.zeros(len(t), dtype=bool)
    return (t >= ic) & (t <= pk)


def pushoff_window(t: np.ndarray, ev: Events) -> np.ndarray:
    """Frames of the push-off: after peak knee flexion .. take-off (none without a take-off)."""
    pk, to = ev.peak_flexion_s, ev.takeoff_s
    if pk is None or to is None:
        return np.zeros(len(t), dtype=bool)
    return (t > pk) & (t <= to)


def leg_metrics(t: np.ndarray, xy: np.ndarray, index: np.ndarray, ev: Events, leg: str,
                dt: float | None = None) -> LegMetrics:
    f = fppa_series(xy, leg)
    ic, peak_t = ev.initial_contact_s, ev.peak_flexion_s
    at_ic = value_before(t, f, ic, dt=dt)
    at_peak_flex = interp_at(t, f, peak_t)
    win = landing_window(t, ev) & np.isfinite(f)
    peak = peak_s = peak_frame = None
    if win.any():
        k = int(np.flatnonzero(win)[np.argmax(f[win])])
        peak, peak_s, peak_frame = float(f[k]), float(t[k]), int(index[k])
    # the two instants themselves bound the landing's largest value
    for value, when in ((at_ic, ic), (at_peak_flex, peak_t)):
        if value is not None and (peak is None or value > peak):
            peak, peak_s = value, float(when)  # type: ignore[arg-type]
    push = pushoff_window(t, ev) & np.isfinite(f)
    pushoff = None
    if push.any() and at_peak_flex is not None:
        pushoff = max(0.0, float(f[push].max()) - at_peak_flex)
    static = None
    if ev.standing is not None:
        a, b = ev.standing
        static = _nanmedian(f[a:b])
    disp = at_peak_flex - at_ic if at_peak_flex is not None and at_ic is not None else None
    return LegMetrics(fppa_ic=at_ic, fppa_peak_flexion=at_peak_flex, fppa_peak=peak, peak_fppa_s=peak_s,
                      peak_fppa_frame=peak_frame, valgus_displacement=disp, static_fppa=static,
                      pushoff_valgus=pushoff)


def jump_metrics(ev: Events) -> tuple[float | None, float | None, float | None, float | None]:
    """(contact time, flight time, jump height, RSI) from the event times."""
    contact = flight = height = rsi = None
    if ev.initial_contact_s is not None and ev.takeoff_s is not None:
        contact = ev.takeoff_s - ev.initial_contact_s
    if ev.takeoff_s is not None and ev.second_landing_s is not None:
        flight = ev.second_landing_s - ev.takeoff_s
        height = geometry.jump_height_m(flight)
    if height is not None and contact is not None and contact > 0:
        rsi = height / contact
    return contact, flight, height, rsi


def compute_metrics(t: np.ndarray, xy: np.ndarray, index: np.ndarray, ev: Events,
                    dt: float | None = None) -> Metrics:
    """Every metric of one trial. ``xy`` is the cleaned, phase-smoothed series; ``dt`` the
    camera's frame interval when known (values at contact read a line over its last frames)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        k = kasr_series(xy)
        ks = knee_sep_series(xy)
        lean = trunk_series(xy)
        stance = geometry.stance_width_ratio(xy[:, LEFT_ANKLE], xy[:, RIGHT_ANKLE], xy[:, LEFT_SHOULDER],
                                             xy[:, RIGHT_SHOULDER])
        left = leg_metrics(t, xy, index, ev, "left", dt)
        right = leg_metrics(t, xy, index, ev, "right", dt)
    win = landing_window(t, ev)
    kw = k[win & np.isfinite(k)]
    lw = lean[win & np.isfinite(lean)]
    static_k = None
    if ev.standing is not None:
        a, b = ev.standing
        static_k = _nanmedian(k[a:b])
    contact, flight, height, rsi = jump_metrics(ev)
    kasr_pk = interp_at(t, k, ev.peak_flexion_s)
    return Metrics(
        left=left, right=right,
        kasr_ic=value_before(t, k, ev.initial_contact_s, dt=dt),
        kasr_peak=kasr_pk,
        kasr_min=min([float(v) for v in kw] + ([kasr_pk] if kasr_pk is not None else []), default=None),
        static_kasr=static_k,
        knee_sep_pct_ic=value_before(t, ks, ev.initial_contact_s, dt=dt),
        knee_sep_pct_peak=interp_at(t, ks, ev.peak_flexion_s),
        trunk_lean_peak_deg=interp_at(t, lean, ev.peak_flexion_s),
        trunk_lean_max_deg=float(lw[np.argmax(np.abs(lw))]) if len(lw) else None,
        stance_width_ratio=value_before(t, stance, ev.initial_contact_s, dt=dt),
        contact_time_s=contact, flight_time_s=flight, jump_height_m=height, rsi=rsi,
        trunk_lean_ic_deg=value_before(t, lean, ev.initial_contact_s, dt=dt),
        stance_width_peak_ratio=interp_at(t, stance, ev.peak_flexion_s),
    )
