"""Scoring accuracy on the synthetic athlete with real MoveNet: prints the figures for docs/ACCURACY.md.

For each seeded trial: render the clip (standing on the box .. just after the second landing),
run MoveNet over every frame, score it with ``score_trial`` (the kiosk's one scoring path: the
decisive frames re-run with ``--refine`` Thunder, then ``analyze_trial``) with and without the mat, and
compare with the renderer's exact truth: FPPA at contact and peak, KASR, event times, left/right,
and the verdict the true values give. Then each failure option of the renderer (yaw, feet cut
off, second person, 15 fps) must give RETAKE with the matching reason.

    .venv/bin/python bench/accuracy_scoring.py --n 60 --fps 120 [--refine thunder|none] [--cache DIR]

``--cache DIR`` keeps each clip's tracking keypoints (keyed by the params' hash) so the scoring
can be re-run without tracking again (the refined frames are re-rendered and re-run each time).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from kiosk.analysis import Thresholds, analyze_trial
from kiosk.analysis.verdict import ScoreInput, score
from kiosk.keypoints import PoseFrame
from kiosk.matcsv import MatEdge
from kiosk.pose.refine import score_trial

FAILURES = {  # renderer option -> (overrides, the gate code that must answer)
    "yaw 40 deg": ({"yaw_deg": 40.0}, "turned_away"),
    "yaw -35 deg": ({"yaw_deg": -35.0}, "turned_away"),
    "feet cut off": ({"cut_off_feet": True}, "feet_cut_off"),
    "second person": ({"second_person": True}, "second_person"),
    "15 fps": ({"fps": 15.0}, "camera_too_slow"),
}


def poses_for(params, estimator, cache: Path | None) -> tuple[list[PoseFrame], dict]:
    """MoveNet keypoints for the trial's frames, and the truth (cached by the params' hash)."""
    from kiosk.media import Frame
    from kiosk.pose.base import estimate_frames
    from kiosk.synth.clip import ClipRenderer, compute_truth

    key = cache / f"{params.hash()}.json" if cache else None
    if key is not None and key.exists():
        obj = json.loads(key.read_text())
        return [PoseFrame.from_json(f) for f in obj["poses"]], obj["truth"]
    renderer = ClipRenderer(params)
    ev = renderer.scene.motion.ev
    times = renderer.frame_times(max(0.0, ev.stand_end - 0.6), ev.second_landing + 0.25)
    truth = compute_truth(renderer.scene, np.zeros(0)).to_json()
    truth.pop("frames", None)
    frames = renderer.frames(float(times[0]), float(times[-1]))
    poses = estimate_frames(estimator, (Frame(i, f.t, f.image) for i, f in enumerate(frames)))
    if key is not None:
        key.write_text(json.dumps({"poses": [p.to_json() for p in poses], "truth": truth}))
    return poses, truth


def rendered_images(params):
    """``images(positions)`` for :func:`score_trial`: re-renders the clip's frames (the same
    times as :func:`poses_for`) and keeps the requested ones."""
    from kiosk.synth.clip import ClipRenderer

    def images(positions):
        renderer = ClipRenderer(params)
        ev = renderer.scene.motion.ev
        times = renderer.frame_times(max(0.0, ev.stand_end - 0.6), ev.second_landing + 0.25)
        want = set(positions)
        last = max(want)
        out = {}
        for i, f in enumerate(renderer.frames(float(times[0]), float(times[last]))):
            if i in want:
                out[i] = f.image
        return out

    return images


def truth_verdict(truth: dict, th: Thresholds) -> str:
    legs = truth["legs"]
    return score(ScoreInput(
        valgus_displacement={s: legs[s]["fppa_peak"] - legs[s]["fppa_ic"] for s in ("left", "right")},
        fppa_peak={s: legs[s]["fppa_peak"] for s in ("left", "right")},
        static_fppa={s: legs[s]["static_fppa"] for s in ("left", "right")},
        kasr_peak=truth["kasr_peak"], trunk_lean_peak_deg=None), th).verdict


def rms(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v) / len(v)) if v else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="normal trials (seeds 0..n-1)")
    ap.add_argument("--fps", type=float, default=120.0)
    ap.add_argument("--model", default="lightning", choices=("lightning", "thunder"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--refine", default="thunder", choices=("thunder", "lightning", "none"),
                    help="model re-running the decisive frames (default thunder, as the kiosk)")
    ap.add_argument("--failure-seeds", type=int, default=3, help="trials per failure option")
    ap.add_argument("--cache", type=Path, default=None, help="folder to keep keypoints between runs")
    args = ap.parse_args(argv)

    from kiosk.pose.movenet import create_estimator
    from kiosk.synth import sample_params

    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    th = Thresholds()
    est = create_estimator(args.model, args.threads)
    refiner = None if args.refine == "none" else create_estimator(args.refine, args.threads)
    err = {"fppa_ic": [], "fppa_peak": [], "kasr_ic": [], "kasr_peak": []}
    ev_err = {"mat": {"ic": [], "to": []}, "video": {"ic": [], "to": []}}
    swaps = agree = scored = retakes = 0
    started = time.monotonic()
    for seed in range(args.n):
        params = sample_params(seed, fps=args.fps)
        poses, truth = poses_for(params, est, args.cache)
        size = (params.width, params.height)
        te = truth["events"]
        mat = [MatEdge(te["initial_contact_s"], True), MatEdge(te["takeoff_s"], False), MatEdge(te["second_landing_s"], True)]
        for src, edges in (("mat", mat), ("video", None)):
            if src == "mat":
                r, _, _ = score_trial(poses, edges, images=rendered_images(params), refiner=refiner,
                                      thresholds=th, frame_size=size)
            else:  # the video's own events (no verdict taken from this pass)
                r = analyze_trial(poses, edges, thresholds=th, frame_size=size)
            e = r.events
            if e.initial_contact_s is not None:
                ev_err[src]["ic"].append((e.initial_contact_s - te["initial_contact_s"]) * args.fps)
            if e.takeoff_s is not None:
                ev_err[src]["to"].append((e.takeoff_s - te["takeoff_s"]) * args.fps)
            if src == "video":
                continue
            scored += 1
            tv = truth_verdict(truth, th)
            if r.verdict == "RETAKE":
                retakes += 1
                print(f"seed {seed}: RETAKE {r.findings} {r.quality.get('details')}", file=sys.stderr)
            agree += r.verdict == tv
            m = r.metrics
            for s in ("left", "right"):
                lm, tl = getattr(m, s), truth["legs"][s]
                if lm.fppa_ic is not None:
                    err["fppa_ic"].append(lm.fppa_ic - tl["fppa_ic"])
                if lm.fppa_peak is not None:
                    err["fppa_peak"].append(lm.fppa_peak - tl["fppa_peak"])
            for k in ("kasr_ic", "kasr_peak"):
                if getattr(m, k) is not None:
                    err[k].append(getattr(m, k) - truth[k])
            d_true = truth["legs"]["left"]["fppa_peak"] - truth["legs"]["right"]["fppa_peak"]
            if abs(d_true) > 4 and m.left.fppa_peak is not None and m.right.fppa_peak is not None:
                swaps += np.sign(m.left.fppa_peak - m.right.fppa_peak) != np.sign(d_true)
        print(f"seed {seed}: done ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)

    print(f"Scoring on {args.n} synthetic trials, {args.fps:g} fps, MoveNet {args.model}, refined with {args.refine}")
    print(f"  FPPA error at contact: RMS {rms(err['fppa_ic']):.2f} deg, bias {np.mean(err['fppa_ic']):+.2f} (target <= 2.5)")
    print(f"  FPPA error at peak:    RMS {rms(err['fppa_peak']):.2f} deg, bias {np.mean(err['fppa_peak']):+.2f} (target <= 2.0)")
    print(f"  KASR error: contact RMS {rms(err['kasr_ic']):.3f}, peak RMS {rms(err['kasr_peak']):.3f} (target <= 0.05)")
    for src in ("mat", "video"):
        for k in ("ic", "to"):
            v = np.abs(ev_err[src][k])
            within = float((v <= 1.0).mean()) if len(v) else float("nan")
            print(f"  {src:5s} {k}: {len(v)} found, max {v.max() if len(v) else float('nan'):.2f} frames, "
                  f"{within:.0%} within one frame")
    print(f"  left/right swaps: {swaps}")
    print(f"  verdict equal to the truth's: {agree}/{scored} ({agree / max(scored, 1):.0%}); RETAKEs {retakes}")
    for name, (over, code) in FAILURES.items():
        got = []
        for seed in range(args.failure_seeds):
            p = sample_params(1000 + seed, **({"fps": args.fps} | over))
            poses, _ = poses_for(p, est, args.cache)
            r, _, _ = score_trial(poses, None, images=rendered_images(p), refiner=refiner, thresholds=th,
                                  frame_size=(p.width, p.height))
            got.append(code in r.findings and r.verdict == "RETAKE")
            if not got[-1]:
                print(f"  {name} seed {1000 + seed}: {r.verdict} {r.findings} {r.quality.get('details')}", file=sys.stderr)
        print(f"  failure '{name}': RETAKE with '{code}' in {sum(got)}/{len(got)}")
    est.close()
    if refiner is not None:
        refiner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
