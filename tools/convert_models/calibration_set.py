#!/usr/bin/env python3
"""Write the representative set for INT8 post-training quantisation (``convert.py --int8``).

Run with the kiosk's own venv (it needs the kiosk package, OpenCV and the fp16 models, never
TensorFlow). The set is the squares the kiosk really feeds the model, so the activation ranges
the quantiser picks fit what the station sees:

- the synthetic athlete (``kiosk.synth``, seeds 5000.. so no seed of ``bench/accuracy_scoring.py``
  is used): frames from standing on the box to after the second landing, each posed the way the
  station poses it - the whole frame letterboxed, the tracker's body square, and the landing
  square (:func:`kiosk.pose.crop.landing_region`);
- real people: the COCO photos in ``--coco`` (whole photo letterboxed, and a square around each
  annotated person). These photos are also one of the accuracy sets, so the COCO figures of the
  INT8 models are not held out (docs/PERFORMANCE.md says so); the TF test photos are never used
  here and stay held out.

    .venv/bin/python tools/convert_models/calibration_set.py --out /var/tmp/movenet-calib.npz \
        --coco ../shared/data/coco-keypoints

Output: one ``.npz`` with ``lightning`` ``(N, 192, 192, 3)`` and ``thunder`` ``(N, 256, 256, 3)``
uint8 squares (same N, same regions), in a fixed order, so the quantised files are reproducible.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SIZES = {"lightning": 192, "thunder": 256}
FIRST_SEED = 5000


def synthetic_regions(seeds: int, frames_per_clip: int) -> list[tuple[np.ndarray, object]]:
    """(image, region) pairs from the synthetic athlete, posed as the station poses them."""
    from kiosk.pose.crop import full_frame_region, landing_region
    from kiosk.pose.movenet import create_estimator
    from kiosk.synth import sample_params
    from kiosk.synth.clip import ClipRenderer

    tracker = create_estimator("lightning", threads=2)
    out: list[tuple[np.ndarray, object]] = []
    for seed in range(FIRST_SEED, FIRST_SEED + seeds):
        # every fourth clip with a second person walking by, as the station may see
        overrides = {"second_person": True} if seed % 4 == 3 else {}
        params = sample_params(seed, **overrides)
        renderer = ClipRenderer(params)
        ev = renderer.scene.motion.ev
        times = np.linspace(max(0.0, ev.stand_end - 0.5), min(renderer.duration, ev.second_landing + 0.2),
                            frames_per_clip)
        tracker.reset()
        landing = None
        for t in np.round(times * params.fps) / params.fps:  # on the clip's own frame times
            frame = next(renderer.frames(float(t), float(t)))
            img = frame.image
            h, w = img.shape[:2]
            kps = tracker.track(img)
            out.append((img, full_frame_region(w, h)))
            if tracker.last_region is not None and tracker.last_region != full_frame_region(w, h):
                out.append((img, tracker.last_region))
            if t >= ev.initial_contact and landing is None:
                landing = landing_region(kps, w, h)
            if landing is not None:
                out.append((img, landing))
    tracker.close()
    return out


def coco_regions(folder: Path) -> list[tuple[np.ndarray, object]]:
    """(image, region) pairs: each COCO photo whole, and a square around each annotated person."""
    import cv2

    from kiosk.pose.crop import CropRegion, full_frame_region

    ann = json.loads((folder / "test_coco.json").read_text())
    by_image: dict[int, list[dict]] = {}
    for a in ann["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    out: list[tuple[np.ndarray, object]] = []
    for info in sorted(ann["images"], key=lambda i: i["file_name"]):
        bgr = cv2.imread(str(folder / info["file_name"]))
        if bgr is None:
            raise SystemExit(f"{folder / info['file_name']}: unreadable image")
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h, w = img.shape[:2]
        out.append((img, full_frame_region(w, h)))
        for a in by_image.get(info["id"], []):
            x, y, bw, bh = a["bbox"]
            side = int(max(bw, bh) * 1.25) + 1
            out.append((img, CropRegion(int(x + bw / 2 - side / 2), int(y + bh / 2 - side / 2), side)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help=".npz to write (outside the repository)")
    ap.add_argument("--coco", type=Path, default=None, help="folder with test_coco.json and its photos")
    ap.add_argument("--seeds", type=int, default=24, help="synthetic clips (seeds 5000..)")
    ap.add_argument("--frames", type=int, default=8, help="frames per synthetic clip")
    args = ap.parse_args(argv)

    from kiosk.pose.crop import crop_and_resize

    pairs = synthetic_regions(args.seeds, args.frames)
    n_synth = len(pairs)
    if args.coco is not None:
        pairs += coco_regions(args.coco)
    arrays = {name: np.stack([crop_and_resize(img, region, size)[0] for img, region in pairs])
              for name, size in SIZES.items()}
    np.savez_compressed(args.out, **arrays)
    print(f"{args.out}: {len(pairs)} squares ({n_synth} synthetic, {len(pairs) - n_synth} COCO)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
