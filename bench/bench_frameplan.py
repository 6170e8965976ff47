"""Frame-plan accuracy: the station's coarse-to-fine plan against posing every frame.

    .venv/bin/python bench/bench_frameplan.py --n 20                   # plan chosen at this machine's speed
    .venv/bin/python bench/bench_frameplan.py --n 20 --invoke-ms 41.3  # a Pi 5: every pose padded to 41.3 ms
    .venv/bin/python bench/bench_frameplan.py --n 20 --invoke-ms 186   # a Pi 4 (Lightning FP16)
    .venv/bin/python bench/bench_frameplan.py --n 20 --invoke-ms 95 --model lightning_int8 --refine thunder_int8

Per synthetic athlete (``sample_params(seed)``, 120 fps 640x480, rendered to clip.mp4 + mat.csv):
the reference poses EVERY frame of the clip from its start to just after take-off with the
tracking model (crop tracking) and scores it as ``jumpkiosk analyze`` does (``score_trial``:
landing re-posed on the landing square, second-person probes, the decisive frames refined with
``--refine``); the station replays the same clip in real time through the real
:class:`StationRuntime` with everything it runs after the landing: its scoring path
(``score_trial`` with the tracker for the probes and the refiner within the deadline, as
``StationRuntime.from_config`` builds it) and the recorder storing the trial in a real SQLite
store before the verdict shows. ``--invoke-ms`` pads every tracking pose (sleep) to that long
and ``--refine-ms`` every refiner pose (default 3.2x: DESIGN.md's Pi 4 Thunder/Lightning
ratio), so the runtime measures that speed, picks the plan that hardware would get and keeps its
deadline as there. ``--clips DIR`` keeps the rendered clips and reference poses between runs.
Prints per-metric differences (RMS, max), verdicts (and RETAKEs the plan caused), invocations and
latency: second landing -> verdict shown, storing included.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

METRICS = ("fppa_ic", "fppa_peak", "fppa_peak_flexion", "static_fppa")


def reference(clip: Path, mat_csv: Path, threads: int, model: str, refine: str) -> tuple[object, int]:
    """Every frame from the clip's start to take-off + 20 ms, tracked, then scored as
    ``jumpkiosk analyze`` does (``score_trial`` with the tracker and the refiner); (result, frames
    from contact)."""
    import pickle

    from kiosk.keypoints import PoseFrame
    from kiosk.matcsv import read_mat_csv
    from kiosk.media import open_source
    from kiosk.pose.movenet import create_estimator
    from kiosk.pose.refine import images_from_source, score_trial

    edges = read_mat_csv(mat_csv)
    ic = next(e.t for e in edges if e.pressed)
    to = next(e.t for e in edges if not e.pressed and e.t > ic)
    cache = clip.with_name(f"reference_poses_{model}.pkl")
    if cache.is_file():
        poses = pickle.loads(cache.read_bytes())
    else:
        est = create_estimator(model, threads)
        poses = []
        _, frames = open_source(str(clip))
        for f in frames:
            if f.t > to + 0.02:
                break
            poses.append(PoseFrame(f.index, f.t, est.track(f.image)))
        est.close()
        cache.write_bytes(pickle.dumps(poses))
    n = sum(p.t >= ic - 0.06 for p in poses)
    est = create_estimator(model, threads)
    refiner = create_estimator(refine, threads) if refine != "none" else None
    try:
        res, _, _ = score_trial(poses, edges, images=images_from_source(str(clip)), tracker=est, refiner=refiner,
                                frame_size=(640, 480))
    finally:
        est.close()
        if refiner is not None:
            refiner.close()
    return res, n


def station(clip: Path, threads: int, invoke_ms: float | None, model: str, refine: str, refine_ms: float | None,
            state: Path) -> tuple[object, str, dict]:
    """The trial through the real runtime, scoring path and recorder; (metrics from the poses it
    scored, its verdict, timings with ``store_ms`` and ``verdict_ms`` = landing -> verdict shown)."""
    import time
    from functools import partial

    from bench_capture import PaddedEstimator

    from kiosk.analysis.trial import analyze_trial
    from kiosk.config import config_from_dict
    from kiosk.pose.movenet import create_estimator
    from kiosk.pose.refine import score_trial
    from kiosk.station.camera import ReplayCamera
    from kiosk.station.mat import SimulatedMat
    from kiosk.station.runtime import StationRuntime
    from kiosk.station.statemachine import Timing
    from kiosk.store import Store
    from kiosk.web.station.recorder import StationRecorder

    def factory():
        est = create_estimator(model, threads)
        return PaddedEstimator(est, invoke_ms / 1e3) if invoke_ms else est

    def refiner_factory():
        est = create_estimator(refine, threads)
        return PaddedEstimator(est, refine_ms / 1e3) if refine_ms else est

    cfg = config_from_dict({"station": {"state_dir": str(state), "name": "frame plan bench"},
                            "store": {"min_free_mb": 10}})
    store = Store(state, min_free_mb=10)
    store.startup(cfg)
    recorder = StationRecorder(store, cfg)
    aid = store.add_athlete("Bench Athlete", sex="female")
    store_ms: list[float] = []

    def on_trial_done(record) -> None:
        t0 = time.perf_counter()
        recorder.on_trial_done(record)
        store_ms.append((time.perf_counter() - t0) * 1e3)

    cam = ReplayCamera(clip, 640, 480)
    rt = StationRuntime(cam, SimulatedMat(cam.mat_edges), factory, partial(score_trial, min_score=0.3),
                        timing=Timing(countdown_s=0.5), on_trial_done=on_trial_done,
                        refiner_factory=refiner_factory if refine != "none" else None,
                        refine_invoke_s=refine_ms / 1e3 if refine_ms else None)
    try:
        with rt:
            snap = rt.run_trial(store.get_athlete(aid))
    finally:
        recorder.close()
        store.close()
    rec = rt.last_record
    if rec is None:
        raise SystemExit(f"trial did not complete: {snap['prompt']}")
    res = analyze_trial(rec.poses, rec.mat_edges, frame_size=(640, 480), source_fps=cam.fps)
    timings = dict(rec.timings)
    timings["store_ms"] = store_ms[0] if store_ms else 0.0
    timings["verdict_ms"] = timings["landing_to_verdict_ms"] + timings["store_ms"]
    return res, rec.verdict, timings


def values(res) -> dict[str, float | None]:
    m = res.metrics
    out: dict[str, float | None] = {}
    for leg in ("left", "right"):
        lm = getattr(m, leg)
        for k in METRICS:
            out[f"{k}_{leg}"] = getattr(lm, k)
    out["kasr_ic"], out["kasr_peak"] = m.kasr_ic, m.kasr_peak
    ev = res.events
    out["peak_flexion_ms"] = (ev.peak_flexion_s - ev.initial_contact_s) * 1e3 \
        if ev.peak_flexion_s is not None and ev.initial_contact_s is not None else None
    out["video_ic_ms"] = (ev.video_initial_contact_s - ev.initial_contact_s) * 1e3 \
        if ev.video_initial_contact_s is not None and ev.initial_contact_s is not None else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="synthetic athletes (seeds 0..n-1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--invoke-ms", type=float, default=None, help="pad every pose to this long (a slower Pi)")
    ap.add_argument("--model", default="lightning", help="tracking model ([pose] model)")
    ap.add_argument("--refine", default="thunder", help="refine model ([pose] refine_model), or none")
    ap.add_argument("--refine-ms", type=float, default=None,
                    help="pad every refiner pose to this long (default: 3.2 x --invoke-ms when that is given)")
    ap.add_argument("--clips", type=Path, default=None, help="keep rendered clips and reference poses here")
    args = ap.parse_args()
    if args.refine_ms is None and args.invoke_ms:
        args.refine_ms = 3.2 * args.invoke_ms
    import os

    print(f"model {args.model}, refine {args.refine}, pose padded to {args.invoke_ms} ms, refiner to "
          f"{args.refine_ms} ms; load average {os.getloadavg()[0]:.1f} at start", flush=True)

    from kiosk.synth.clip import render_clip
    from kiosk.synth.params import sample_params

    diffs: dict[str, list[float]] = {}
    verdicts = same = plan_retakes = 0
    inv, ref_n, lat, standing, refined = [], [], [], [], []
    for seed in range(args.n):
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.clips / str(seed) if args.clips is not None else Path(tmp)
            clip = folder / "clip.mp4"
            if not clip.is_file():
                folder.mkdir(parents=True, exist_ok=True)
                render_clip(sample_params(seed, fps=120.0, width=640, height=480), folder)
            ref, n = reference(clip, folder / "mat.csv", args.threads, args.model, args.refine)
            got, verdict, timings = station(clip, args.threads, args.invoke_ms, args.model, args.refine,
                                            args.refine_ms, Path(tmp) / "state")
        a, b = values(ref), values(got)
        for k in a:
            if a[k] is not None and b[k] is not None:
                diffs.setdefault(k, []).append(float(b[k]) - float(a[k]))
        verdicts += 1
        same += ref.verdict == verdict
        plan_retakes += verdict == "RETAKE" and ref.verdict != "RETAKE"
        standing.append(timings["standing_frames"])
        inv.append(timings["invocations"] - timings["invocations_baseline"])
        ref_n.append(n)
        lat.append(timings["verdict_ms"])
        refined.append(timings["refined"])
        print(f"seed {seed}: verdict ref {ref.verdict} plan {verdict} {got.findings if verdict == 'RETAKE' else ''}; "
              f"{n} vs {inv[-1]} poses (+{timings['standing_frames']} standing, {timings['invocations_after_landing']} "
              f"after the landing), stride {timings['stride']}, fine cut {timings['fine_skipped']}, refined "
              f"{timings['refined']}, stored in {timings['store_ms']:.0f} ms, verdict {timings['verdict_ms']:.0f} ms",
              flush=True)
    print(f"\n{args.n} clips; invocations from contact: plan mean {np.mean(inv):.1f} vs every frame "
          f"{np.mean(ref_n):.1f}; standing frames kept {min(standing)}-{max(standing)}; same verdict {same}/{verdicts}; "
          f"RETAKE caused by the plan {plan_retakes}; refined in {sum(r > 0 for r in refined)}/{verdicts}; landing->verdict "
          f"(stored and shown) median {np.median(lat):.0f} ms, max {max(lat):.0f} ms; load average {os.getloadavg()[0]:.1f}")
    print(f"{'metric':24s} {'n':>3s} {'RMS':>7s} {'max |d|':>8s} {'mean':>7s}")
    for k, d in diffs.items():
        v = np.asarray(d)
        print(f"{k:24s} {len(v):3d} {np.sqrt(np.mean(v ** 2)):7.3f} {np.abs(v).max():8.3f} {v.mean():7.3f}")


if __name__ == "__main__":
    main()
