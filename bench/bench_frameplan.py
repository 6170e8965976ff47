"""Frame-plan accuracy: the station's coarse-to-fine plan against posing every frame.

    .venv/bin/python bench/bench_frameplan.py --n 20                   # plan chosen at this machine's speed
    .venv/bin/python bench/bench_frameplan.py --n 20 --invoke-ms 41.3  # a Pi 5: every pose padded to 41.3 ms
    .venv/bin/python bench/bench_frameplan.py --n 20 --invoke-ms 186   # a Pi 4 (Lightning FP16)

Per synthetic athlete (``sample_params(seed)``, 120 fps 640x480, rendered to clip.mp4 + mat.csv):
the reference poses EVERY frame of the clip from its start to just after take-off with Lightning
(crop tracking) and scores it with ``analyze_trial`` and the mat edges; the station replays the
same clip in real time through the real :class:`StationRuntime` (simulated mat, same model)
and scores its own frames with the camera's frame rate (``source_fps``). ``--invoke-ms`` pads
every pose (sleep) to that long, so the runtime measures that speed, picks the plan that
hardware would get and keeps its deadline as there. ``--clips DIR`` keeps the rendered clips
and reference poses between runs. Prints per-metric differences (RMS, max), verdicts (and
RETAKEs the plan caused), invocations and latency.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

METRICS = ("fppa_ic", "fppa_peak", "fppa_peak_flexion", "static_fppa")


def reference(clip: Path, mat_csv: Path, threads: int) -> tuple[object, int]:
    """Every frame from the clip's start to take-off + 20 ms, tracked, then scored as
    ``jumpkiosk analyze`` does (``score_trial`` with the tracker: the landing window re-posed on
    the landing square); (result, frames from contact)."""
    import pickle

    from kiosk.keypoints import PoseFrame
    from kiosk.matcsv import read_mat_csv
    from kiosk.media import open_source
    from kiosk.pose.movenet import create_estimator
    from kiosk.pose.refine import images_from_source, score_trial

    edges = read_mat_csv(mat_csv)
    ic = next(e.t for e in edges if e.pressed)
    to = next(e.t for e in edges if not e.pressed and e.t > ic)
    cache = clip.with_name("reference_poses.pkl")
    if cache.is_file():
        poses = pickle.loads(cache.read_bytes())
    else:
        est = create_estimator("lightning", threads)
        poses = []
        _, frames = open_source(str(clip))
        for f in frames:
            if f.t > to + 0.02:
                break
            poses.append(PoseFrame(f.index, f.t, est.track(f.image)))
        est.close()
        cache.write_bytes(pickle.dumps(poses))
    n = sum(p.t >= ic - 0.06 for p in poses)
    est = create_estimator("lightning", threads)
    try:
        res, _, _ = score_trial(poses, edges, images=images_from_source(str(clip)), tracker=est, frame_size=(640, 480))
    finally:
        est.close()
    return res, n


def station(clip: Path, threads: int, invoke_ms: float | None) -> tuple[object, dict]:
    from bench_capture import PaddedEstimator

    from kiosk.analysis.trial import analyze_trial
    from kiosk.pose.movenet import create_estimator
    from kiosk.station.camera import ReplayCamera
    from kiosk.station.mat import SimulatedMat
    from kiosk.station.runtime import StationRuntime
    from kiosk.station.statemachine import Timing

    def factory():
        est = create_estimator("lightning", threads)
        return PaddedEstimator(est, invoke_ms / 1e3) if invoke_ms else est

    cam = ReplayCamera(clip, 640, 480)
    rt = StationRuntime(cam, SimulatedMat(cam.mat_edges), factory,
                        lambda poses, edges, **kw: analyze_trial(poses, edges, **kw), timing=Timing(countdown_s=0.5))
    with rt:
        snap = rt.run_trial({"id": 1, "name": "bench"})
    rec = rt.last_record
    if rec is None:
        raise SystemExit(f"trial did not complete: {snap['prompt']}")
    res = analyze_trial(rec.poses, rec.mat_edges, frame_size=(640, 480), source_fps=cam.fps)
    return res, rec.timings


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
    ap.add_argument("--clips", type=Path, default=None, help="keep rendered clips and reference poses here")
    args = ap.parse_args()

    from kiosk.synth.clip import render_clip
    from kiosk.synth.params import sample_params

    diffs: dict[str, list[float]] = {}
    verdicts = same = plan_retakes = 0
    inv, ref_n, lat, standing = [], [], [], []
    for seed in range(args.n):
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.clips / str(seed) if args.clips is not None else Path(tmp)
            clip = folder / "clip.mp4"
            if not clip.is_file():
                folder.mkdir(parents=True, exist_ok=True)
                render_clip(sample_params(seed, fps=120.0, width=640, height=480), folder)
            ref, n = reference(clip, folder / "mat.csv", args.threads)
            got, timings = station(clip, args.threads, args.invoke_ms)
        a, b = values(ref), values(got)
        for k in a:
            if a[k] is not None and b[k] is not None:
                diffs.setdefault(k, []).append(float(b[k]) - float(a[k]))
        verdicts += 1
        same += ref.verdict == got.verdict
        plan_retakes += got.verdict == "RETAKE" and ref.verdict != "RETAKE"
        standing.append(timings["standing_frames"])
        inv.append(timings["invocations"] - timings["invocations_baseline"])
        ref_n.append(n)
        lat.append(timings["landing_to_verdict_ms"])
        print(f"seed {seed}: verdict ref {ref.verdict} plan {got.verdict} {got.findings if got.verdict == 'RETAKE' else ''}; "
              f"{n} vs {inv[-1]} poses (+{timings['standing_frames']} standing), stride {timings['stride']}, "
              f"fine cut {timings['fine_skipped']}, {timings['landing_to_verdict_ms']:.0f} ms", flush=True)
    print(f"\n{args.n} clips; invocations from contact: plan mean {np.mean(inv):.1f} vs every frame "
          f"{np.mean(ref_n):.1f}; standing frames kept {min(standing)}-{max(standing)}; same verdict {same}/{verdicts}; "
          f"RETAKE caused by the plan {plan_retakes}; landing->verdict median {np.median(lat):.0f} ms, max {max(lat):.0f} ms")
    print(f"{'metric':24s} {'n':>3s} {'RMS':>7s} {'max |d|':>8s} {'mean':>7s}")
    for k, d in diffs.items():
        v = np.asarray(d)
        print(f"{k:24s} {len(v):3d} {np.sqrt(np.mean(v ** 2)):7.3f} {np.abs(v).max():8.3f} {v.mean():7.3f}")


if __name__ == "__main__":
    main()
