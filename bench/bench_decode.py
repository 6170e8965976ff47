#!/usr/bin/env python3
"""Clip decoding: the kiosk's reader (``kiosk.media.open_source``) against OpenCV's ``VideoCapture``.

Both decode the whole file to RGB arrays, interleaved round by round (after one warm-up round
of each: imports, page cache) so both see the same load; per round the wall time and the CPU
time (all threads) per frame of each, and the ratios kiosk / OpenCV (<= 1: at least as fast).
On a shared machine the CPU-time ratio is the steadier figure. Also checks both give the same
number of frames, and how far their pixels differ (the kiosk's conversion gives the same bytes
on x86 and Arm, kiosk.media; OpenCV's VideoCapture uses swscale's default SIMD path).

    .venv/bin/python bench/bench_decode.py CLIP.mp4 [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def kiosk_decode(path: Path) -> tuple[int, np.ndarray]:
    from kiosk.media import open_source

    _, frames = open_source(path)
    n, last = 0, None
    for f in frames:
        n, last = n + 1, f.image
    return n, last


def opencv_decode(path: Path) -> tuple[int, np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n, last = 0, None
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        n, last = n + 1, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    cap.release()
    return n, last


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    print(f"{args.clip}: load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    kiosk_decode(args.clip)
    opencv_decode(args.clip)
    ratios, cpu_ratios, ms = [], [], {"kiosk": [], "opencv": []}
    for r in range(args.rounds):
        got = {}
        order = (("kiosk", kiosk_decode), ("opencv", opencv_decode))
        for name, fn in order if r % 2 == 0 else order[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            n, last = fn(args.clip)
            got[name] = (time.perf_counter() - t0, time.process_time() - c0, n, last)
        (tk, ck, nk, lk), (to, co, no, lo) = got["kiosk"], got["opencv"]
        if nk != no:
            print(f"frame counts differ: kiosk {nk}, OpenCV {no}")
            return 1
        ms["kiosk"].append(1e3 * tk / nk)
        ms["opencv"].append(1e3 * to / no)
        ratios.append(tk / to)
        cpu_ratios.append(ck / co)
        print(f"  round {r + 1}: kiosk {ms['kiosk'][-1]:.2f} ms/frame ({1e3 * ck / nk:.2f} CPU), OpenCV "
              f"{ms['opencv'][-1]:.2f} ms/frame ({1e3 * co / no:.2f} CPU), ratio wall {ratios[-1]:.2f}, "
              f"CPU {cpu_ratios[-1]:.2f}")
    diff = np.abs(lk.astype(np.int16) - lo.astype(np.int16))
    print(f"{nk} frames each; median kiosk {statistics.median(ms['kiosk']):.2f} ms/frame, OpenCV "
          f"{statistics.median(ms['opencv']):.2f} ms/frame; median ratio kiosk/OpenCV wall {statistics.median(ratios):.2f}, "
          f"CPU {statistics.median(cpu_ratios):.2f}; "
          f"last frame pixels differ by {diff.mean():.2f} on average (max {diff.max()}); "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
