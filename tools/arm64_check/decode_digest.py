"""Do two machines decode a clip to the same pixels and the same keypoints?

    python decode_digest.py CLIP OUT.json [--every N]   decode CLIP here; write digests and keypoints
    python decode_digest.py --compare A.json B.json   one line per figure; exit 1 if the frames differ

Run by run.sh on the host and in the arm64 root with the same clip. The frames come from
``kiosk.media.open_source`` (its CPU-independent YUV->RGB conversion) and, for comparison, from
PyAV's default conversion (swscale's SIMD path, rounding per CPU). ``cv2`` is the station's I420 ring-buffer round trip.
Keypoints: MoveNet Lightning on every Nth whole frame (no tracking, so frames do not depend on
each other); the pixel digests cover every frame.
``--compare`` needs only the standard library.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys


def digest(clip: str, out: str, every: int = 1) -> None:
    import av
    import cv2
    import numpy as np

    from kiosk.media import open_source
    from kiosk.pose.movenet import create_estimator

    est = create_estimator("lightning", 1)
    exact, roundtrip = hashlib.sha256(), hashlib.sha256()
    kp_exact = []
    n = 0
    _, frames = open_source(clip)
    for f in frames:
        n += 1
        exact.update(f.image.tobytes())
        i420 = cv2.cvtColor(np.ascontiguousarray(f.image), cv2.COLOR_RGB2YUV_I420)
        roundtrip.update(cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420).tobytes())
        if f.index % every == 0:
            kp_exact.append(est.estimate(f.image)[:, :2].round(4).tolist())
    fast, kp_fast = hashlib.sha256(), []
    with av.open(clip) as container:
        for i, vf in enumerate(container.decode(container.streams.video[0])):
            img = vf.to_ndarray(format="rgb24")  # PyAV's default conversion
            fast.update(img.tobytes())
            if i % every == 0:
                kp_fast.append(est.estimate(img)[:, :2].round(4).tolist())
    est.close()
    with open(out, "w") as fh:
        json.dump({"frames": n, "bitexact_sha256": exact.hexdigest(), "cv2_i420_sha256": roundtrip.hexdigest(),
                   "default_sha256": fast.hexdigest(), "keypoints_bitexact": kp_exact, "keypoints_default": kp_fast}, fh)


def _diffs(a: list, b: list) -> list[float]:
    """Euclidean distance of every keypoint pair, in pixels."""
    return [((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2) ** 0.5 for fa, fb in zip(a, b, strict=True) for p, q in zip(fa, fb, strict=True)]


def _spread(d: list[float]) -> str:
    s = sorted(d)
    return f"median {statistics.median(s):.3f} px, p99 {s[int(0.99 * (len(s) - 1))]:.3f} px, max {s[-1]:.3f} px"


def compare(a_path: str, b_path: str) -> int:
    with open(a_path) as fa, open(b_path) as fb:
        a, b = json.load(fa), json.load(fb)
    if a["frames"] != b["frames"]:
        print(f"frame counts differ: {a['frames']} vs {b['frames']}")
        return 1
    same = a["bitexact_sha256"] == b["bitexact_sha256"]
    print(f"{a['frames']} frames, kiosk.media's conversion: {'identical' if same else 'DIFFERENT'}")
    print(f"  keypoints of {len(a['keypoints_bitexact'])} frames: {_spread(_diffs(a['keypoints_bitexact'], b['keypoints_bitexact']))}")
    print(f"default conversion (PyAV/swscale SIMD): {'identical' if a['default_sha256'] == b['default_sha256'] else 'different'}")
    print(f"  keypoints: {_spread(_diffs(a['keypoints_default'], b['keypoints_default']))}")
    cv2_same = a["cv2_i420_sha256"] == b["cv2_i420_sha256"]
    print(f"cv2 RGB->I420->RGB round trip (station ring buffer): {'identical' if cv2_same else 'different'}")
    return 0 if same else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--compare", action="store_true", help="compare two digest files")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--every", type=int, default=1, metavar="N", help="keypoints of every Nth frame (default: all)")
    args = p.parse_args()
    if args.compare:
        return compare(args.a, args.b)
    digest(args.a, args.b, args.every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
