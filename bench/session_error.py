"""The kiosk's error of a session median, measured on the synthetic athlete: sizes the borderline bands.

A session's verdict is judged on the median of three valid trials, so the band that says "a
retest could flip this" must be the error of that median, not the between-day error of a
hand-digitised single angle. For each of ``--athletes`` synthetic athletes (one body, look,
camera and station), three jumps are rendered that differ as one athlete's jumps do (valgus
+-2 deg per leg, depth, timing, trunk lean), each scored with ``score_trial`` and the mat (the
kiosk's one scoring path, Thunder refinement included), and the median of the three measured
values is compared with the median of the three true values, for each rule's value: FPPA at
peak knee flexion, valgus displacement (peak flexion - contact) and standing FPPA.

    .venv/bin/python bench/session_error.py --athletes 15 --cache /tmp/acc_cache

Prints, per value, the single-trial and session-median error (bias, RMS, 95th percentile of
|error|), and splits it in two. The **systematic** part is what a retest repeats: the same athlete
reads the same amount off (on the renderer, MoveNet reads large valgus small: the athlete's mean
error against its true value has a slope). The **retest** part is what changes from one session
to the next: the spread of one athlete's trial errors about their own mean (pooled SD s), of
which a median of 3 keeps SD 0.67 s (the variance of the median of 3 normal samples is 0.449 s^2).
The band that says "a retest could flip this" is 1.96 x 0.67 s, rounded up to 0.5 deg: the
``[scoring] borderline_*_deg`` values (docs/SCORING.md, docs/ACCURACY.md). The systematic part is
reported, not put in the band: a retest does not remove it, and the renderer's shrinkage is not
real footage's (docs/ACCURACY.md). ``--cache`` is shared with bench/accuracy_scoring.py
(keypoints and refiner answers per clip); ``--dump FILE`` writes one JSON line per trial.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy_scoring import poses_for, refiner_for, rendered_images  # noqa: E402

from kiosk.analysis import Thresholds  # noqa: E402
from kiosk.matcsv import MatEdge  # noqa: E402
from kiosk.pose.refine import score_trial  # noqa: E402

VALUES = {  # rule value -> (measured from LegMetrics, true from the clip's truth legs)
    "fppa_peak_flexion": (lambda lm: lm.fppa_peak_flexion, lambda tl: tl["fppa_at_peak_flexion"]),
    "valgus_displacement": (lambda lm: lm.valgus_displacement, lambda tl: tl["fppa_at_peak_flexion"] - tl["fppa_ic"]),
    "static_fppa": (lambda lm: lm.static_fppa, lambda tl: tl["static_fppa"]),
}


def athlete_trials(athlete: int, fps: float, n: int = 3) -> list:
    """``n`` jumps of one synthetic athlete: body, look, camera fixed; the movement varies."""
    from kiosk.synth import sample_params

    base = sample_params(7000 + athlete, fps=fps)
    rng = np.random.default_rng([athlete, 0x5E55])
    out = []
    for k in range(n):
        contact = float(np.clip(base.contact_s + rng.normal(0, 0.03), 0.30, 0.50))
        out.append(base.replace(
            seed=base.seed * 10 + k,
            valgus_left=float(np.clip(base.valgus_left + rng.normal(0, 2.0), -5, 20)),
            valgus_right=float(np.clip(base.valgus_right + rng.normal(0, 2.0), -5, 20)),
            depth_deg=float(np.clip(base.depth_deg + rng.normal(0, 5.0), 50, 100)),
            ic_valgus_frac=float(rng.uniform(0.05, 0.3)),
            peak_valgus_offset_s=float(rng.uniform(-0.02, 0.03)),
            contact_s=contact,
            absorb_s=float(min(rng.uniform(0.10, 0.20), contact - 0.12)),
            flight_s=float(np.clip(base.flight_s + rng.normal(0, 0.03), 0.40, 0.60)),
            trunk_lean_deg=float(np.clip(base.trunk_lean_deg + rng.normal(0, 1.5), -10, 10)),
        ))
    return out


def retest_split(rows: list[dict]) -> dict | None:
    """The session-median error split into what a retest repeats and what it does not (module doc)."""
    groups: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for r in rows:
        groups.setdefault((r["athlete"], r["leg"]), []).append((r["measured"], r["true"]))
    ss = dof = 0.0
    means_t, means_e = [], []
    for pairs in groups.values():
        e = np.array([m - t for m, t in pairs])
        if len(e) >= 2:
            ss += float(((e - e.mean()) ** 2).sum())
            dof += len(e) - 1
        means_t.append(float(np.mean([t for _, t in pairs])))
        means_e.append(float(e.mean()))
    if dof < 1 or len(means_t) < 2:
        return None
    slope, intercept = np.polyfit(means_t, means_e, 1)
    sd = math.sqrt(ss / dof)
    sd_med = math.sqrt(0.449) * sd
    return {"slope": float(slope), "intercept": float(intercept), "sd_within": sd, "dof": int(dof),
            "sd_median": sd_med, "band": math.ceil(1.96 * sd_med * 2) / 2}


def stats(err: list[float]) -> str:
    e = np.asarray(err, dtype=float)
    if not len(e):
        return "n 0"
    return (f"n {len(e):3d}  bias {e.mean():+.2f}  RMS {math.sqrt(float((e * e).mean())):.2f}  "
            f"95th pct |err| {np.percentile(np.abs(e), 95):.2f} deg")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--athletes", type=int, default=15)
    ap.add_argument("--fps", type=float, default=120.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=None, help="folder shared with bench/accuracy_scoring.py")
    ap.add_argument("--dump", type=Path, default=None, help="write one JSON line per trial here")
    args = ap.parse_args(argv)

    from kiosk.pose.movenet import create_estimator

    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    th = Thresholds()
    est = create_estimator("lightning", args.threads)
    refiner = create_estimator("thunder", args.threads)
    single: dict[str, list[float]] = {k: [] for k in VALUES}
    session: dict[str, list[float]] = {k: [] for k in VALUES}
    retakes = 0
    rows: list[dict] = []
    dump = args.dump.open("w") if args.dump else None
    started = time.monotonic()
    for a in range(args.athletes):
        measured: dict[str, dict[str, list[float]]] = {k: {"left": [], "right": []} for k in VALUES}
        true: dict[str, dict[str, list[float]]] = {k: {"left": [], "right": []} for k in VALUES}
        for params in athlete_trials(a, args.fps):
            poses, truth = poses_for(params, est, args.cache)
            te = truth["events"]
            mat = [MatEdge(te["initial_contact_s"], True), MatEdge(te["takeoff_s"], False),
                   MatEdge(te["second_landing_s"], True)]
            ref, save = refiner_for(params, refiner, args.cache)
            r, _, _ = score_trial(poses, mat, images=rendered_images(params), refiner=ref, thresholds=th,
                                  frame_size=(params.width, params.height), tracker=est)
            save()
            if r.verdict == "RETAKE":  # a RETAKE does not enter a session's median
                retakes += 1
                continue
            for k, (get_m, get_t) in VALUES.items():
                for leg in ("left", "right"):
                    m, t = get_m(getattr(r.metrics, leg)), get_t(truth["legs"][leg])
                    if m is not None:
                        measured[k][leg].append(m)
                        true[k][leg].append(t)
                        single[k].append(m - t)
                        rows.append({"athlete": a, "seed": params.seed, "value": k, "leg": leg, "measured": m,
                                     "true": t})
                        if dump is not None:
                            dump.write(json.dumps(rows[-1]) + "\n")
                            dump.flush()
        for k in VALUES:
            for leg in ("left", "right"):
                if len(measured[k][leg]) >= 2:
                    session[k].append(float(np.median(measured[k][leg]) - np.median(true[k][leg])))
        last = {k: [round(v, 2) for v in session[k][-2:]] for k in VALUES}
        print(f"athlete {a}: session-median errors {last} ({time.monotonic() - started:.0f} s)", file=sys.stderr,
              flush=True)
    print(f"Session-median error on {args.athletes} synthetic athletes x 3 jumps, {args.fps:g} fps, "
          f"Lightning refined with Thunder, mat events; RETAKEs left out: {retakes}")
    for k in VALUES:
        print(f"  {k:20s} single trial:   {stats(single[k])}")
        print(f"  {'':20s} session median: {stats(session[k])}")
        split = retest_split([r for r in rows if r["value"] == k])
        if split is not None:
            print(f"  {'':20s} systematic: athlete mean error = {split['intercept']:+.2f} {split['slope']:+.3f} x true "
                  f"value (slope of measured on true {1 + split['slope']:.2f}); retest: pooled within-athlete SD "
                  f"{split['sd_within']:.2f} deg ({split['dof']} dof), of a median of 3 {split['sd_median']:.2f} deg")
            print(f"  {'':20s} band 1.96 x SD of the median, up to 0.5 deg: {split['band']:.1f} deg")
    est.close()
    refiner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
