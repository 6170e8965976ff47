"""Scoring accuracy on the synthetic athlete with real MoveNet: prints the figures for docs/ACCURACY.md.

For each seeded trial: render the clip (standing on the box .. just after the second landing),
run MoveNet over every frame, score it with ``score_trial`` (the kiosk's one scoring path: the
decisive frames re-run with ``--refine`` Thunder, then ``analyze_trial``) with and without the mat, and
compare with the renderer's exact truth: FPPA at contact and at peak knee flexion, KASR, event
times, left/right, and the verdict the true values give, also as a screen (sensitivity and
specificity against the truth's FLAGs: how many true FLAGs the kiosk misses). Event times are measured twice: with the mat, and from the
video alone as ``jumpkiosk analyze`` without ``--mat`` finds them (``score_trial`` with no mat
edges, its wider Thunder window included). Then each failure option of the renderer (yaw, feet cut
off, second person, 15 fps) must give RETAKE with the matching reason.

    .venv/bin/python bench/accuracy_scoring.py --n 60 --fps 120 [--refine thunder|none] [--cache DIR]
    .venv/bin/python bench/accuracy_scoring.py --from-dump FILE   # the screen figures of a --dump

``--cache DIR`` keeps each clip's tracking keypoints and the refiner's answers (keyed by the
params' hash and a digest of the renderer's source, so a drawing change invalidates them) so an
analysis change can be re-scored in seconds. ``--dump FILE`` writes one JSON line per trial
(truth, measured values, verdicts) for per-clip diagnostics.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from kiosk.analysis import Thresholds
from kiosk.keypoints import PoseFrame
from kiosk.matcsv import MatEdge
from kiosk.pose.refine import score_trial
from kiosk.synth.validate import truth_score

FAILURES = {  # renderer option -> (overrides, the gate code that must answer)
    "yaw 40 deg": ({"yaw_deg": 40.0}, "turned_away"),
    "yaw -35 deg": ({"yaw_deg": -35.0}, "turned_away"),
    "feet cut off": ({"cut_off_feet": True}, "feet_cut_off"),
    "second person": ({"second_person": True}, "second_person"),
    "15 fps": ({"fps": 15.0}, "camera_too_slow"),
}


RENDER_MODULES = ("body", "camera", "clip", "motion", "params", "render", "scene", "walker")


def render_signature() -> str:
    """Digest of the synthetic athlete's source: cached keypoints are only valid for the drawing
    that produced them."""
    h = hashlib.sha256()
    for name in RENDER_MODULES:
        h.update(inspect.getsource(importlib.import_module(f"kiosk.synth.{name}")).encode())
    return h.hexdigest()[:8]


class CachedRefiner:
    """The refiner with its answers remembered per (image, square): re-scoring after an analysis
    change re-renders the frames (cheap) but does not re-run Thunder (the slow part)."""

    def __init__(self, estimator, store: dict[str, list]):
        self.est, self.store = estimator, store
        self.name, self.min_score, self.crop_margin = estimator.name, estimator.min_score, estimator.crop_margin

    def infer_region(self, image: np.ndarray, region) -> np.ndarray:
        key = hashlib.blake2b(image.tobytes() + repr(region).encode(), digest_size=12).hexdigest()
        if key not in self.store:
            self.store[key] = np.asarray(self.est.infer_region(image, region)).round(3).tolist()
        return np.asarray(self.store[key], dtype=np.float32)


def cache_key(params, cache: Path | None) -> Path | None:
    return cache / f"{params.hash()}-{render_signature()}.json" if cache else None


def poses_for(params, estimator, cache: Path | None) -> tuple[list[PoseFrame], dict]:
    """MoveNet keypoints for the trial's frames, and the truth (cached by the params' hash)."""
    from kiosk.media import Frame
    from kiosk.pose.base import estimate_frames
    from kiosk.synth.clip import ClipRenderer, compute_truth

    key = cache_key(params, cache)
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
    return truth_score(truth, th).verdict


def truth_borderline(truth: dict, th: Thresholds) -> bool:
    """Whether the truth's own values lie within the borderline band of a threshold (the verdict
    the scoring rules mark "borderline"): a disagreement there is a near miss, not a wrong call."""
    return truth_score(truth, th).borderline


def screen_figures(pairs: list[tuple[str, str]]) -> dict:
    """The kiosk as a screen against the truth's verdicts: ``pairs`` of (kiosk, truth) verdicts.

    Sensitivity: of the trials the exact values FLAG, the share the kiosk FLAGs (a RETAKE is not a
    FLAG: the athlete is not flagged on that jump). Specificity: of the trials the exact values
    PASS, the share the kiosk does not FLAG (a RETAKE is no false alarm, but it is counted apart)."""
    pos = [k for k, t in pairs if t == "FLAG"]
    neg = [k for k, t in pairs if t == "PASS"]
    tp, fn = pos.count("FLAG"), len(pos) - pos.count("FLAG")
    tn, fp = len(neg) - neg.count("FLAG"), neg.count("FLAG")
    return {"n": len(pairs), "agree": sum(k == t for k, t in pairs), "true_flags": len(pos), "true_passes": len(neg),
            "tp": tp, "fn": fn, "fn_retake": pos.count("RETAKE"), "tn": tn, "fp": fp, "tn_retake": neg.count("RETAKE"),
            "sensitivity": tp / len(pos) if pos else float("nan"), "specificity": tn / len(neg) if neg else float("nan")}


def print_screen(f: dict) -> None:
    print(f"  verdict equal to the truth's: {f['agree']}/{f['n']} ({f['agree'] / max(f['n'], 1):.0%})")
    print(f"  as a screen against the truth's FLAGs: sensitivity {f['tp']}/{f['true_flags']} ({f['sensitivity']:.0%}), "
          f"missed true FLAGs {f['fn']} (of them RETAKE {f['fn_retake']}); specificity {f['tn']}/{f['true_passes']} "
          f"({f['specificity']:.0%}), false FLAGs {f['fp']}")


def rms(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v) / len(v)) if v else float("nan")


def refiner_for(params, refiner, cache: Path | None):
    """(refiner to pass to score_trial, save()): the cached wrapper when there is a cache."""
    if refiner is None or cache is None:
        return refiner, lambda: None
    path = cache / f"{params.hash()}-{render_signature()}-{refiner.name}.json"
    store = json.loads(path.read_text()) if path.exists() else {}
    size = len(store)

    def save() -> None:
        if len(store) != size:
            path.write_text(json.dumps(store))

    return CachedRefiner(refiner, store), save


def _leg(lm) -> dict:
    return {k: getattr(lm, k, None) for k in ("fppa_ic", "fppa_peak", "fppa_peak_flexion", "static_fppa",
                                              "valgus_displacement", "pushoff_valgus")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="normal trials (seeds 0..n-1)")
    ap.add_argument("--first", type=int, default=0, help="first seed of the normal trials")
    ap.add_argument("--fps", type=float, default=120.0)
    ap.add_argument("--model", default="lightning", choices=("lightning", "thunder", "lightning_int8", "thunder_int8"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--refine", default="thunder", choices=("thunder", "lightning", "thunder_int8", "lightning_int8", "none"),
                    help="model re-running the decisive frames (default thunder, as the kiosk)")
    ap.add_argument("--failure-seeds", type=int, default=3, help="trials per failure option")
    ap.add_argument("--cache", type=Path, default=None, help="folder to keep keypoints between runs")
    ap.add_argument("--dump", type=Path, default=None, help="write one JSON line per normal trial here")
    ap.add_argument("--no-landing", action="store_true",
                    help="score the tracked poses as they are (default: the landing window re-posed on the landing "
                         "square, as the kiosk does: kiosk.pose.landing)")
    ap.add_argument("--mat-only", action="store_true",
                    help="skip the video-only scoring of each trial (event figures from the video): verdicts need the mat run only")
    ap.add_argument("--from-dump", type=Path, default=None,
                    help="print the screen figures of an earlier run's --dump file (no clip is scored)")
    args = ap.parse_args(argv)
    if args.from_dump is not None:
        rows = [json.loads(line) for line in args.from_dump.read_text().splitlines() if line.strip()]
        print(f"Screen figures of {args.from_dump.name}: {len(rows)} synthetic trials (seeds "
              f"{min(r['seed'] for r in rows)}..{max(r['seed'] for r in rows)})")
        print_screen(screen_figures([(r["verdict"], r["truth_verdict"]) for r in rows]))
        return 0

    from kiosk.pose.movenet import create_estimator
    from kiosk.synth import sample_params

    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    th = Thresholds()
    est = create_estimator(args.model, args.threads)
    refiner = None if args.refine == "none" else create_estimator(args.refine, args.threads)
    err = {"fppa_ic": [], "fppa_peak": [], "kasr_ic": [], "kasr_peak": []}
    ev_err = {"mat": {"ic": [], "to": []}, "video": {"ic": [], "to": []}}
    swaps = agree = scored = retakes = near = 0
    pairs: list[tuple[str, str]] = []
    dump = args.dump.open("w") if args.dump else None
    started = time.monotonic()
    for seed in range(args.first, args.first + args.n):
        params = sample_params(seed, fps=args.fps)
        poses, truth = poses_for(params, est, args.cache)
        size = (params.width, params.height)
        te = truth["events"]
        mat = [MatEdge(te["initial_contact_s"], True), MatEdge(te["takeoff_s"], False), MatEdge(te["second_landing_s"], True)]
        ref, save = refiner_for(params, refiner, args.cache)
        r, _, _ = score_trial(poses, mat, images=rendered_images(params), refiner=ref, thresholds=th, frame_size=size,
                              tracker=None if args.no_landing else est)
        save()
        # the video's own events, as `jumpkiosk analyze` without --mat finds them
        rv = r
        if not args.mat_only:
            rv, _, _ = score_trial(poses, None, images=rendered_images(params), refiner=ref, thresholds=th,
                                   frame_size=size, tracker=None if args.no_landing else est)
            save()
        for src, e in (("mat", r.events), ("video", rv.events)):
            if e.initial_contact_s is not None:
                ev_err[src]["ic"].append((e.initial_contact_s - te["initial_contact_s"]) * args.fps)
            if e.takeoff_s is not None:
                ev_err[src]["to"].append((e.takeoff_s - te["takeoff_s"]) * args.fps)
        scored += 1
        tv = truth_verdict(truth, th)
        if r.verdict == "RETAKE":
            retakes += 1
            print(f"seed {seed}: RETAKE {r.findings} {r.quality.get('details')}", file=sys.stderr)
        agree += r.verdict == tv
        pairs.append((r.verdict, tv))
        m = r.metrics
        for s in ("left", "right"):
            lm, tl = getattr(m, s), truth["legs"][s]
            if lm.fppa_ic is not None:
                err["fppa_ic"].append(lm.fppa_ic - tl["fppa_ic"])
            if lm.fppa_peak_flexion is not None:  # the value the peak-FPPA limit reads
                err["fppa_peak"].append(lm.fppa_peak_flexion - tl["fppa_at_peak_flexion"])
        for k in ("kasr_ic", "kasr_peak"):
            if getattr(m, k) is not None:
                err[k].append(getattr(m, k) - truth[k])
        d_true = truth["legs"]["left"]["fppa_at_peak_flexion"] - truth["legs"]["right"]["fppa_at_peak_flexion"]
        if abs(d_true) > 4 and m.left.fppa_peak_flexion is not None and m.right.fppa_peak_flexion is not None:
            swaps += np.sign(m.left.fppa_peak_flexion - m.right.fppa_peak_flexion) != np.sign(d_true)
        borderline = truth_borderline(truth, th)
        if r.verdict != tv and borderline:
            near += 1
        if dump is not None:
            dump.write(json.dumps({
                "seed": seed, "verdict": r.verdict, "truth_verdict": tv, "truth_borderline": borderline,
                "findings": list(r.findings), "truth": {k: truth[k] for k in ("legs", "kasr_ic", "kasr_peak")},
                "left": _leg(m.left), "right": _leg(m.right), "kasr_ic": m.kasr_ic, "kasr_peak": m.kasr_peak,
                "standing": list(r.events.standing) if r.events.standing else None,
                "peak_flexion_s": r.events.peak_flexion_s, "truth_events": te,
                "video_events": {"initial_contact_s": rv.events.initial_contact_s, "takeoff_s": rv.events.takeoff_s,
                                 "verdict": rv.verdict}}) + "\n")
            dump.flush()
        print(f"seed {seed}: {r.verdict} (truth {tv}) ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)

    print(f"Scoring on {args.n} synthetic trials, {args.fps:g} fps, MoveNet {args.model}, refined with {args.refine}")
    print(f"  FPPA error at contact: RMS {rms(err['fppa_ic']):.2f} deg, bias {np.mean(err['fppa_ic']):+.2f} (target <= 2.5)")
    print(f"  FPPA error at peak flexion: RMS {rms(err['fppa_peak']):.2f} deg, bias {np.mean(err['fppa_peak']):+.2f} (target <= 2.0)")
    print(f"  KASR error: contact RMS {rms(err['kasr_ic']):.3f} (bias {np.mean(err['kasr_ic']):+.3f}), "
          f"peak RMS {rms(err['kasr_peak']):.3f} (bias {np.mean(err['kasr_peak']):+.3f}) (target <= 0.05)")
    for src in ("mat",) if args.mat_only else ("mat", "video"):
        for k in ("ic", "to"):
            v = np.abs(ev_err[src][k])
            within = float((v <= 1.0).mean()) if len(v) else float("nan")
            print(f"  {src:5s} {k}: {len(v)} found, max {v.max() if len(v) else float('nan'):.2f} frames, "
                  f"{within:.0%} within one frame")
    print(f"  left/right swaps: {swaps}")
    print(f"  verdict equal to the truth's: {agree}/{scored} ({agree / max(scored, 1):.0%}); RETAKEs {retakes}; "
          f"of the {scored - agree} disagreements, {near} have a true value within the borderline band")
    print_screen(screen_figures(pairs))
    for name, (over, code) in FAILURES.items():
        got = []
        for seed in range(args.failure_seeds):
            p = sample_params(1000 + seed, **({"fps": args.fps} | over))
            poses, _ = poses_for(p, est, args.cache)
            ref, save = refiner_for(p, refiner, args.cache)
            r, _, _ = score_trial(poses, None, images=rendered_images(p), refiner=ref, thresholds=th,
                                  frame_size=(p.width, p.height), tracker=None if args.no_landing else est)
            save()
            got.append(code in r.findings and r.verdict == "RETAKE")
            if not got[-1]:
                print(f"  {name} seed {1000 + seed}: {r.verdict} {r.findings} {r.quality.get('details')}", file=sys.stderr)
        print(f"  failure '{name}': RETAKE with '{code}' in {sum(got)}/{len(got)}")
    if dump is not None:
        dump.close()
    est.close()
    if refiner is not None:
        refiner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
