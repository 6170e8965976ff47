#!/usr/bin/env python3
"""INT8 against float16 MoveNet: speed ratio and keypoint accuracy, for docs/PERFORMANCE.md.

Per pair (``lightning`` / ``lightning_int8``, ``thunder`` / ``thunder_int8``):

- speed: raw ``invoke()`` on the same squares (frames of the TF.js reference clip), the two
  models interleaved frame by frame so both see the same load; the median of the per-frame
  ratios int8 / fp16 (a ratio, because the absolute times on a shared machine are noise);
- TF test photos (``tf-pose-test``): the TFLite Raspberry Pi example's own check, the worst
  keypoint's max-norm error in pixels (its test allows 21 px);
- COCO people (``coco-keypoints``, :mod:`bench.accuracy_coco`): PCK@0.2 of hips, knees and
  ankles, and the mean absolute FPPA error of the labelled legs.

The synthetic scoring benchmark (FPPA RMS, verdict agreement) is ``bench/accuracy_scoring.py
--model lightning_int8 --refine thunder_int8``.

    .venv/bin/python bench/bench_int8.py [--threads 2] [--frames 40]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
PAIRS = (("lightning", "lightning_int8"), ("thunder", "thunder_int8"))


def speed_ratio(fp16: str, int8: str, threads: int, frames: int) -> tuple[float, float, float]:
    """(median fp16 ms, median int8 ms, median per-frame ratio int8/fp16), interleaved."""
    from kiosk.media import open_source
    from kiosk.pose.crop import crop_and_resize, full_frame_region
    from kiosk.pose.movenet import create_estimator

    a, b = create_estimator(fp16, threads=threads), create_estimator(int8, threads=threads)
    _, it = open_source(DATA / "tfjs-movenet-reference" / "pose_1.mp4")
    images = [f.image for _, f in zip(range(frames), it, strict=False)]
    squares = [crop_and_resize(img, full_frame_region(img.shape[1], img.shape[0]), a.input_size)[0] for img in images]
    for sq in squares[:3]:  # warm-up: first invokes pay for allocation
        a.invoke(sq)
        b.invoke(sq)
    ta, tb, ratio = [], [], []
    for k, sq in enumerate(squares):
        order = (a, b) if k % 2 == 0 else (b, a)  # alternate which goes first
        got = {}
        for est in order:
            t0 = time.perf_counter()
            est.invoke(sq)
            got[est.name] = time.perf_counter() - t0
        ta.append(got[fp16])
        tb.append(got[int8])
        ratio.append(got[int8] / got[fp16])
    a.close()
    b.close()
    return 1e3 * statistics.median(ta), 1e3 * statistics.median(tb), statistics.median(ratio)


def tf_photos(model: str, threads: int) -> dict[str, float]:
    """Worst keypoint's max-norm error (px) on each TF test photo."""
    from kiosk.keypoints import KEYPOINT_NAMES
    from kiosk.media import read_image
    from kiosk.pose.movenet import create_estimator

    folder = DATA / "tf-pose-test"
    with open(folder / "pose_landmark_truth.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    est = create_estimator(model, threads=threads)
    out = {}
    for name, row in zip(("image1.png", "image2.jpeg"), rows, strict=True):
        truth = np.array([[float(row[f"{n}_x"]), float(row[f"{n}_y"])] for n in KEYPOINT_NAMES])
        kps = est.estimate(read_image(folder / name))
        out[name] = float(np.abs(kps[:, :2] - truth).max())
    est.close()
    return out


def coco(model: str, threads: int) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    from accuracy_coco import evaluate

    return evaluate(model, DATA / "coco-keypoints", threads, False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--frames", type=int, default=40, help="frames of pose_1.mp4 timed per pair")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"INT8 vs float16 MoveNet, {args.threads} threads, load average {load:.1f} at start")
    print("| model | invoke ms (median) | int8/fp16 (median of paired ratios) | TF photos max error px "
          "(<= 21) | COCO PCK@0.2 hips / knees / ankles | COCO FPPA mean abs error deg |")
    print("|---|---|---|---|---|---|")
    for fp16, int8 in PAIRS:
        ms16, ms8, ratio = speed_ratio(fp16, int8, args.threads, args.frames)
        for name, ms in ((fp16, ms16), (int8, ms8)):
            tf = tf_photos(name, args.threads)
            c = coco(name, args.threads)
            pck = " / ".join(f"{h}/{n}" for h, n in c["pck"].values())
            fppa = float(np.mean(c["fppa"])) if c["fppa"] else float("nan")
            r = f"{ratio:.2f}" if name == int8 else "1"
            print(f"| {name} | {ms:.1f} | {r} | {max(tf.values()):.1f} ({', '.join(f'{v:.1f}' for v in tf.values())}) "
                  f"| {pck} | {fppa:.1f} ({len(c['fppa'])} legs) |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
