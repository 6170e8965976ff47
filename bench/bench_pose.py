#!/usr/bin/env python3
"""Pose inference cost per frame: raw ``interpreter.invoke()`` against the kiosk's full path.

For each model it times, per frame:
  raw      ``interpreter.invoke()`` alone on a prepared input (the floor);
  in-mem   crop region + crop/resize + set_tensor + invoke + mapping back, on frames already in
           memory (the station's path: frames come from the capture ring buffer);
  full     the same plus decoding the clip from its file (the ``jumpkiosk analyze`` path);
and the overhead ratios in-mem/raw and full/raw (DESIGN.md goal: pipeline overhead <= 15%).

    .venv/bin/python bench/bench_pose.py [--clip CLIP] [--threads N] [--repeats R]

The default clip is the TF.js reference ``pose_1.mp4`` (576x576, 120 frames) from ../shared/data.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "tfjs-movenet-reference" / "pose_1.mp4"


def _decode(clip: Path) -> list[np.ndarray]:
    from kiosk.media import open_source

    _, frames = open_source(clip)
    return [f.image for f in frames]


def bench_model(name: str, clip: Path, threads: int, repeats: int) -> dict[str, float]:
    """Per-frame medians of paired timings.

    Right after each frame's full path, the interpreter is invoked once more on the input that
    frame just set, and that invoke alone is the frame's "raw" time. Pairing keeps both under the
    same load, which matters on a machine shared with other work; medians drop the interruptions.
    """
    from kiosk.media import open_source
    from kiosk.pose.movenet import create_estimator

    est = create_estimator(name, threads=threads)
    images = _decode(clip)
    interp = est._interp
    for img in images[:10]:  # warm-up: XNNPACK packs weights on the first runs
        est.estimate(img)

    raw_a, in_mem, raw_b, full, decode = [], [], [], [], []
    clock = time.perf_counter
    for _ in range(repeats):
        est.reset()
        for img in images:
            t0 = clock()
            est.track(img)
            t1 = clock()
            interp.invoke()
            t2 = clock()
            in_mem.append(t1 - t0)
            raw_a.append(t2 - t1)
        est.reset()
        _, frames = open_source(clip)
        it = iter(frames)
        while True:
            t0 = clock()
            frame = next(it, None)
            t1 = clock()
            if frame is None:
                break
            est.track(frame.image)
            t2 = clock()
            interp.invoke()
            t3 = clock()
            decode.append(t1 - t0)
            full.append(t2 - t0)
            raw_b.append(t3 - t2)
    est.close()
    med = statistics.median
    return {"frames": len(in_mem), "raw_ms": med(raw_a + raw_b) * 1e3, "in_mem_ms": med(in_mem) * 1e3,
            "full_ms": med(full) * 1e3, "decode_ms": med(decode) * 1e3,
            "in_mem_ratio": med(in_mem) / med(raw_a), "full_ratio": med(full) / med(raw_b)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="clip to decode and track (default: pose_1.mp4)")
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1), help="interpreter threads")
    ap.add_argument("--repeats", type=int, default=3, help="passes over the clip per measurement")
    ap.add_argument("--models", nargs="+", default=["lightning", "thunder"], choices=["lightning", "thunder"])
    args = ap.parse_args(argv)
    if not args.clip.is_file():
        print(f"bench_pose: clip not found: {args.clip} (pass --clip)", file=sys.stderr)
        return 2

    from kiosk.media import open_source
    from kiosk.pose.runtime import runtime_name

    info, _ = open_source(args.clip)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}, runtime {runtime_name()}, threads {args.threads}")
    print(f"clip: {args.clip.name} {info.width}x{info.height}, {info.frame_count} frames x {args.repeats} passes")
    print("per-frame medians of paired timings")
    header = (f"{'model':<10} {'raw invoke':>11} {'in-memory':>10} {'full':>8} {'decode':>8} "
              f"{'in-mem/raw':>11} {'full/raw':>9}")
    print(header)
    print("-" * len(header))
    for name in args.models:
        r = bench_model(name, args.clip, args.threads, args.repeats)
        print(f"{name:<10} {r['raw_ms']:>8.2f} ms {r['in_mem_ms']:>7.2f} ms "
              f"{r['full_ms']:>5.2f} ms {r['decode_ms']:>5.2f} ms {r['in_mem_ratio']:>11.3f} {r['full_ratio']:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
