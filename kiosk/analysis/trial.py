"""``analyze_trial``: one drop vertical jump from keypoints (and mat edges) to a verdict.

Steps: arrays from frames (low scores -> missing) -> outliers out, short gaps bridged -> events
(mat first, else video) -> smoothing within phases (cut at contact, take-off and landing) ->
metrics -> quality gates -> verdict. A failed gate gives RETAKE, never PASS; the metrics are still
reported (the coach may want to see them) but no rule is applied to them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from kiosk.analysis import series as ser
from kiosk.analysis.gates import jump_figures_shown, run_gates
from kiosk.analysis.limits import applied_limit
from kiosk.analysis.metrics import compute_metrics
from kiosk.analysis.phases import detect_events
from kiosk.analysis.rescore import score_input, scoring_record, verdict_fields
from kiosk.analysis.result import TrialResult
from kiosk.analysis.thresholds import Thresholds
from kiosk.analysis.verdict import score
from kiosk.errors import AnalysisError
from kiosk.keypoints import PoseFrame
from kiosk.matcsv import MatEdge


def analyze_trial(
    frames: Sequence[PoseFrame],
    mat_edges: Sequence[MatEdge] | None,
    *,
    thresholds: Thresholds = Thresholds(),
    sex: str | None = None,
    age: int | None = None,
    trials_needed: int | None = None,
    frame_size: tuple[int, int] | None = None,
    min_score: float = 0.3,
    source_fps: float | None = None,
    standing: tuple[int, int] | None = None,
    protocol: bool = True,
) -> TrialResult:
    """Score one trial. ``mat_edges`` None means no mat (video-only events); an empty list means a
    mat that never closed. ``frame_size`` is (width, height) of the source images, used to notice
    feet at the image edge. ``source_fps`` is the camera's frame rate when ``frames`` are only
    some of its frames (the station's frame plan): the frame interval, the camera gate and the
    line before contact then follow the camera, not the plan; None infers it from the median
    interval, right for a clip analysed frame by frame. ``standing`` is a standing window (frame
    slice) already found on these frames by an earlier pass, used instead of searching again.
    ``protocol`` False skips the protocol gates (:mod:`kiosk.analysis.protocol`): a second pass
    on refined frames leaves them to the first pass, whose one model posed every frame.
    ``sex`` and ``age`` (years, :func:`kiosk.analysis.limits.age_in_year`) choose the peak-FPPA
    limit; ``trials_needed`` is the session's trial count in force, stored with the thresholds.
    Raises AnalysisError only for unusable input (too few frames, times not increasing);
    everything an athlete can fix is a RETAKE."""
    if source_fps is not None and not (np.isfinite(source_fps) and source_fps > 0):
        raise AnalysisError(f"source_fps must be a positive frame rate, got {source_fps}")
    dt = 1.0 / source_fps if source_fps is not None else None
    raw = ser.from_frames(frames, min_score)
    cleaned = ser.clean(raw, thresholds.max_gap_s, dt)
    ev = detect_events(cleaned.t, cleaned.xy, mat_edges, dt)
    if standing is not None:
        ev = dataclasses.replace(ev, standing=standing)
    cuts = [ev.initial_contact_s, ev.takeoff_s, ev.second_landing_s]
    smooth = ser.smooth_segments(cleaned.t, cleaned.xy, [c for c in cuts if c is not None], dt=dt)
    metrics = compute_metrics(cleaned.t, smooth, raw.index, ev, dt)
    failures, quality = run_gates(raw, cleaned.xy, smooth, ev, mat_edges, frame_size, thresholds, dt, protocol)
    limit = applied_limit(thresholds, sex, age)
    kept = {"sex": sex, "limit": limit.to_json(), "scoring": scoring_record(thresholds, trials_needed)}
    if failures:
        metrics = jump_figures_shown(metrics, failures, ev.source == "video")
        quality = {**quality, "failed": [f.code for f in failures], "details": [f.detail for f in failures]}
        return TrialResult(verdict="RETAKE", reasons=tuple(dict.fromkeys(f.reason for f in failures)),
                           findings=tuple(dict.fromkeys(f.code for f in failures)), borderline=False, refer=False,
                           events=ev, metrics=metrics, quality=quality, **kept)
    s = score(score_input(metrics), thresholds, limit)
    return TrialResult(events=ev, metrics=metrics, quality=quality, **(kept | verdict_fields(s)))
