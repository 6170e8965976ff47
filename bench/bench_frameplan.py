"""Frame-plan accuracy: the station's coarse-to-fine plan against posing every frame.

    .venv/bin/python bench/bench_frameplan.py --n 20                  # plan chosen at this machine's speed
    .venv/bin/python bench/bench_frameplan.py --n 20 --invoke-ms 186  # the plan a Pi 4 would choose

Per synthetic athlete (``sample_params(seed)``, 120 fps 640x480, rendered to clip.mp4 + mat.csv):
the reference poses EVERY frame from 1 s before contact to just after take-off with Lightning
(crop tracking) and scores it with ``analyze_trial`` and the mat edges; the station replays the
same clip in real time through the real :class:`StationRuntime` (simulated mat, same model)
and scores its own frames. ``--invoke-ms`` makes the runtime plan and keep its deadline as if a
pose took that long (the poses themselves run at this machine's speed). Prints per-metric
differences (RMS, max) and the invocations.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

METRICS = ("fppa_ic", "fppa_peak", "fppa_peak_flexion", "static_fppa")


def reference(clip: Path, mat_csv: Path, threads: int) -> tuple[object, int]:
    from kiosk.analysis.trial import analyze_trial
    from kiosk.keypoints import PoseFrame
    from kiosk.matcsv import read_mat_csv
    from kiosk.media import open_source
    from kiosk.pose.movenet import create_estimator

    edges = read_mat_csv(mat_csv)
    ic = next(e.t for e in edges if e.pressed)
    to = next(e.t for e in edges if not e.pressed and e.t > ic)
    est = create_estimator("lightning", threads)
    poses = []
    _, frames = open_source(str(clip))
    for f in frames:
        if ic - 1.0 <= f.t <= to + 0.02:
            poses.append(PoseFrame(f.index, f.t, est.track(f.image)))
    est.close()
    return analyze_trial(poses, edges, frame_size=(640, 480)), len(poses)


def station(clip: Path, threads: int, invoke_ms: float | None) -> tuple[object, dict]:
    from kiosk.analysis.trial import analyze_trial
    from kiosk.pose.movenet import create_estimator
    from kiosk.station.camera import ReplayCamera
    from kiosk.station.mat import SimulatedMat
    from kiosk.station.runtime import StationRuntime
    from kiosk.station.statemachine import Timing

    cam = ReplayCamera(clip, 640, 480)
    rt = StationRuntime(cam, SimulatedMat(cam.mat_edges), lambda: create_estimator("lightning", threads),
                        lambda poses, edges, **kw: analyze_trial(poses, edges, **kw), timing=Timing(countdown_s=0.5),
                        invoke_s=invoke_ms / 1e3 if invoke_ms else None)
    with rt:
        rt.check_in({"id": 1, "name": "bench"})
        snap = rt.start()
        while snap["state"] not in ("result", "ready"):
            snap = rt.wait_for_change(snap["seq"], timeout=60.0)
    rec = rt.last_record
    if rec is None:
        raise SystemExit(f"trial did not complete: {snap['prompt']}")
    res = analyze_trial(rec.poses, rec.mat_edges, frame_size=(640, 480))
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
    ap.add_argument("--invoke-ms", type=float, default=None, help="plan as if a pose took this long")
    args = ap.parse_args()

    from kiosk.synth.clip import render_clip
    from kiosk.synth.params import sample_params

    diffs: dict[str, list[float]] = {}
    verdicts = same = 0
    inv, ref_n, lat = [], [], []
    for seed in range(args.n):
        with tempfile.TemporaryDirectory() as tmp:
            render_clip(sample_params(seed, fps=120.0, width=640, height=480), tmp)
            clip = Path(tmp) / "clip.mp4"
            ref, n = reference(clip, Path(tmp) / "mat.csv", args.threads)
            got, timings = station(clip, args.threads, args.invoke_ms)
        a, b = values(ref), values(got)
        for k in a:
            if a[k] is not None and b[k] is not None:
                diffs.setdefault(k, []).append(float(b[k]) - float(a[k]))
        verdicts += 1
        same += ref.verdict == got.verdict
        inv.append(timings["invocations"] - timings["invocations_baseline"])
        ref_n.append(n)
        lat.append(timings["landing_to_verdict_ms"])
        print(f"seed {seed}: verdict ref {ref.verdict} plan {got.verdict}; {n} vs {inv[-1]} poses "
              f"(+{timings['standing_frames']} standing), stride {timings['stride']}, "
              f"FPPA peak L {a['fppa_peak_left']} -> {b['fppa_peak_left']}", flush=True)
    print(f"\n{args.n} clips; invocations from contact: plan mean {np.mean(inv):.1f} vs every frame "
          f"{np.mean(ref_n):.1f}; same verdict {same}/{verdicts}; landing->verdict here median {np.median(lat):.0f} ms")
    print(f"{'metric':24s} {'n':>3s} {'RMS':>7s} {'max |d|':>8s} {'mean':>7s}")
    for k, d in diffs.items():
        v = np.asarray(d)
        print(f"{k:24s} {len(v):3d} {np.sqrt(np.mean(v ** 2)):7.3f} {np.abs(v).max():8.3f} {v.mean():7.3f}")


if __name__ == "__main__":
    main()
