"""Accuracy of the pose pipeline on synthetic athletes with exact ground truth.

For each seed: render the frames from the end of the standing phase to just after take-off (the
ones the analysis uses), run the estimator over them in order (tracking, as the kiosk does), and
compare detected with true joints. ``clip_record`` is the per-clip hook other code builds on
(the analysis adds verdict agreement from the same records); ``summarise`` and
``markdown_section`` turn records into the report in ``docs/ACCURACY.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.keypoints import KP, PoseFrame
from kiosk.synth.params import SynthParams, sample_params

LOWER_NAMES = ("hip", "knee", "ankle")
SECTION_BEGIN = "<!-- synth-validate:begin -->"
SECTION_END = "<!-- synth-validate:end -->"


@dataclass
class ClipRecord:
    """One synthetic trial: truth, detection and their differences."""

    seed: int
    params: dict[str, Any]
    frames: int
    #: per lower-limb joint family, errors of every analysed frame as % of body height
    errors_pct: dict[str, list[float]]
    #: "left"/"right" -> {"ic": (true, detected), "peak": (true, detected)}: FPPA in degrees
    fppa: dict[str, dict[str, tuple[float, float]]]
    kasr_ic: tuple[float, float]
    kasr_peak: tuple[float, float]
    truth: dict[str, Any]        # the clip's truth summary (legs, events, kasr), for verdict checks
    poses: list[PoseFrame]       # detected poses, for downstream analysis
    #: the verdict the kiosk gives (score_trial with the trial's mat edges) and the one the exact
    #: truth gives under the same default thresholds
    verdict: str = ""
    truth_verdict: str = ""
    #: whether a true value lies within the scoring rules' borderline band of a threshold
    truth_borderline: bool = False

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("poses")
        return d


def validation_params(n: int, seed: int = 0, fps: float = 60.0) -> list[SynthParams]:
    """The varied set: seeds ``seed*1000 + i``, normal trials only (no failure modes)."""
    return [sample_params(seed * 1000 + i, fps=fps) for i in range(n)]


def truth_score(truth: dict[str, Any], thresholds: Any = None, sex: str | None = None) -> Any:
    """The :class:`kiosk.analysis.verdict.Score` the exact values give (what a perfect pose
    model would make the kiosk say), with the default thresholds unless given: the rules read
    FPPA at peak knee flexion and its change from contact (docs/SCORING.md)."""
    from kiosk.analysis import Thresholds
    from kiosk.analysis.limits import applied_limit
    from kiosk.analysis.verdict import ScoreInput, score

    legs = truth["legs"]
    th = thresholds or Thresholds()
    at_peak = {s: legs[s].get("fppa_at_peak_flexion", legs[s]["fppa_peak"]) for s in ("left", "right")}
    return score(ScoreInput(
        valgus_displacement={s: at_peak[s] - legs[s]["fppa_ic"] for s in ("left", "right")},
        fppa_peak_flexion=at_peak,
        static_fppa={s: legs[s]["static_fppa"] for s in ("left", "right")}), th, applied_limit(th, sex, None))


def _fppa_pair(joints: np.ndarray, side: str) -> float:
    from kiosk.synth.clip import leg_fppa

    return float(leg_fppa(joints, side))


def clip_record(params: SynthParams, estimator: Any, *, track: bool = True, lead_s: float = 0.5, tail_s: float = 0.05,
                refiner: Any = None) -> ClipRecord:
    """Render the analysed window of one trial, run the estimator, compare with the truth.

    With ``refiner`` the poses are those the kiosk scores: :func:`kiosk.pose.refine.score_trial`
    re-runs the decisive frames (found with the mat edges the trial would give) with it.

    FPPA/KASR "at IC" and "at peak" come from the frame nearest the event on both sides (the
    detected pose cannot be evaluated between frames); the truth at those same frames is used,
    so the comparison measures the pose error, not the frame quantisation.
    """
    from kiosk.geometry import kasr
    from kiosk.media import Frame
    from kiosk.pose import estimate_frames
    from kiosk.pose.sides import consistent_side_frames
    from kiosk.synth.clip import ClipRenderer, compute_truth

    renderer = ClipRenderer(params)
    ev = renderer.scene.motion.ev
    frames = list(renderer.frames(max(0.0, ev.stand_end - lead_s), ev.takeoff + tail_s))
    truth_j = np.stack([f.joints for f in frames])
    times = np.array([f.t for f in frames])
    poses = estimate_frames(estimator, (Frame(i, f.t, f.image) for i, f in enumerate(frames)), track=track)
    from kiosk.matcsv import MatEdge
    from kiosk.pose.refine import images_from_list, score_trial

    # The frames end just after take-off, so the mat gives contact and take-off only: the verdict
    # does not depend on the second landing.
    edges = [MatEdge(ev.initial_contact, True), MatEdge(ev.takeoff, False)]
    result, poses, _ = score_trial(poses, edges, images=images_from_list([f.image for f in frames]), refiner=refiner,
                                   tracker=estimator if track else None, frame_size=(params.width, params.height))
    poses = consistent_side_frames(poses)  # as the analysis does (kiosk.analysis.series.from_frames)
    det = np.stack([p.keypoints[:, :2] for p in poses]).astype(np.float64)
    pelvis = renderer.scene.motion.evaluate(times)["pelvis"]
    _, depth = renderer.scene.camera.project(pelvis)
    body_px = renderer.scene.body.height * renderer.scene.camera.f / depth
    err = np.hypot(*(det - truth_j).transpose(2, 0, 1)) / body_px[:, None] * 100
    errors = {name: np.concatenate([err[:, KP[f"left_{name}"]], err[:, KP[f"right_{name}"]]]).round(3).tolist()
              for name in LOWER_NAMES}
    i_ic = int(np.argmin(np.abs(times - ev.initial_contact)))
    i_pk = int(np.argmin(np.abs(times - ev.peak_flexion)))
    window = (times >= ev.initial_contact) & (times <= ev.takeoff)
    fppa: dict[str, dict[str, tuple[float, float]]] = {}
    for side in ("left", "right"):
        from kiosk.synth.clip import leg_fppa

        t_series, d_series = leg_fppa(truth_j, side), leg_fppa(det, side)
        # "peak": the highest FPPA over contact, from each series on its own
        fppa[side] = {"ic": (_fppa_pair(truth_j[i_ic], side), _fppa_pair(det[i_ic], side)),
                      "peak": (float(np.nanmax(t_series[window])), float(np.nanmax(d_series[window])))}

    def k(j: np.ndarray) -> float:
        return float(kasr(j[KP["left_knee"]], j[KP["right_knee"]], j[KP["left_ankle"]], j[KP["right_ankle"]]))

    summary = compute_truth(renderer.scene, np.zeros(0))
    truth = {"legs": summary.legs, "events": summary.events, "kasr_ic": summary.kasr_ic, "kasr_peak": summary.kasr_peak}
    ts = truth_score(truth)
    return ClipRecord(params.seed, params.to_json(), len(frames), errors, fppa, (k(truth_j[i_ic]), k(det[i_ic])),
                      (k(truth_j[i_pk]), k(det[i_pk])), truth, poses, verdict=result.verdict,
                      truth_verdict=ts.verdict, truth_borderline=ts.borderline)


def run_validation(params_list: Iterable[SynthParams], estimator: Any,
                   on_clip: Callable[[ClipRecord], None] | None = None, track: bool = True,
                   refiner: Any = None) -> list[ClipRecord]:
    records = []
    for p in params_list:
        rec = clip_record(p, estimator, track=track, refiner=refiner)
        records.append(rec)
        if on_clip is not None:
            on_clip(rec)
    return records


def _angle_stats(pairs: list[tuple[float, float]]) -> dict[str, float]:
    a = np.array(pairs, dtype=np.float64)
    d = a[:, 1] - a[:, 0]
    d = d[np.isfinite(d)]
    if not len(d):
        return {"rms": float("nan"), "bias": float("nan"), "worst": float("nan"), "n": 0}
    return {"rms": float(np.sqrt(np.mean(d**2))), "bias": float(np.mean(d)), "worst": float(d[np.argmax(np.abs(d))]),
            "n": int(len(d))}


def summarise(records: list[ClipRecord]) -> dict[str, Any]:
    """Keypoint error (median, p90, % body height) per joint family; FPPA and KASR error stats."""
    out: dict[str, Any] = {"clips": len(records), "frames": int(sum(r.frames for r in records)), "keypoints": {}}
    all_err = []
    for name in LOWER_NAMES:
        e = np.concatenate([r.errors_pct[name] for r in records])
        all_err.append(e)
        out["keypoints"][name] = {"median": float(np.median(e)), "p90": float(np.percentile(e, 90))}
    e = np.concatenate(all_err)
    out["keypoints"]["all"] = {"median": float(np.median(e)), "p90": float(np.percentile(e, 90))}
    for moment in ("ic", "peak"):
        out[f"fppa_{moment}"] = _angle_stats([r.fppa[s][moment] for r in records for s in ("left", "right")])
    out["kasr_ic"] = _angle_stats([r.kasr_ic for r in records])
    out["kasr_peak"] = _angle_stats([r.kasr_peak for r in records])
    wrong = [r for r in records if r.verdict != r.truth_verdict]
    out["verdict"] = {"agree": len(records) - len(wrong), "n": len(records),
                      "retake": sum(r.verdict == "RETAKE" for r in records),
                      "borderline_misses": sum(r.truth_borderline for r in wrong),
                      "disagree_seeds": [r.seed for r in wrong]}
    return out


def markdown_section(summary: dict[str, Any], command: str, model: str, fps: float, tracking: bool = True,
                     refine: str = "none") -> str:
    kp = summary["keypoints"]
    rows = "\n".join(f"| {name} | {kp[name]['median']:.2f} | {kp[name]['p90']:.2f} |" for name in (*LOWER_NAMES, "all"))

    def ang(key: str, unit: str = "deg", fmt: str = ".2f") -> str:
        s = summary[key]
        return f"| {key.replace('_', ' ')} | {s['rms']:{fmt}} | {s['bias']:+{fmt}} | {s['worst']:+{fmt}} | {s['n']} |"

    mode = "crop tracking" if tracking else "whole frame every time"
    if refine != "none":
        mode += f", decisive frames re-run with {refine}"
    mode += ", left/right made consistent"
    v = summary.get("verdict")
    verdict_line = ""
    if v:
        wrong = v["n"] - v["agree"]
        verdict_line = (f"\nVerdict (PASS / FLAG / RETAKE, default thresholds, mat edges) equal to the one the exact "
                        f"values give: {v['agree']}/{v['n']} ({v['agree'] / max(v['n'], 1):.0%}); {v['retake']} RETAKE; "
                        f"of the {wrong} disagreements, {v['borderline_misses']} have a true value within the "
                        f"borderline band of a threshold.\n")
    ok_kp = kp["all"]["median"] <= 3.0
    ok_fppa = summary["fppa_ic"]["rms"] <= 3.0 and summary["fppa_peak"]["rms"] <= 3.0
    return f"""## Synthetic athlete

{SECTION_BEGIN}
Made by `{command}` (MoveNet {model}, {mode}, {summary['clips']} rendered trials at {fps:g} fps,
{summary['frames']} frames from 0.5 s before the step-off to just after take-off). Trials span
peak valgus -5..20 deg per leg, static valgus, depth 50-100 deg, stance, body height 1.5-2.0 m,
clothes, skin, room, light, noise, blur, camera 0.5-1.0 m high, 3-4 m away, yaw +-10 deg (see
`docs/synthetic-athlete.md`). Truth is the projected joint centres of the rendered skeleton.

Keypoint error, % of body height (hips, knees, ankles; both sides, every analysed frame):

| joint | median | p90 |
|---|---|---|
{rows}

Angles from detected vs true joints (detected minus true; FPPA per leg, KASR per trial):

| measure | RMS | bias | worst | n |
|---|---|---|---|---|
{ang('fppa_ic')}
{ang('fppa_peak')}
{ang('kasr_ic', fmt='.3f')}
{ang('kasr_peak', fmt='.3f')}
{verdict_line}
Acceptance (median keypoint error <= 3% of body height; FPPA RMS <= 3 deg at IC and at peak):
keypoints {'met' if ok_kp else 'NOT met'}, FPPA {'met' if ok_fppa else 'NOT met'}.
{SECTION_END}
"""


def update_accuracy_doc(path: str | Path, section: str) -> None:
    """Replace this report's section in ``path`` (between its markers), or append it."""
    from kiosk.media import atomic_write_bytes

    p = Path(path)
    text = p.read_text(encoding="utf-8") if p.exists() else "# Accuracy\n"
    pattern = re.compile(r"## Synthetic athlete\n+" + re.escape(SECTION_BEGIN) + r".*?" + re.escape(SECTION_END) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    atomic_write_bytes(p, text.encode("utf-8"))

