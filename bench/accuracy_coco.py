#!/usr/bin/env python3
"""MoveNet on real people: PCK of hips/knees/ankles and knee-angle (FPPA) error on COCO val2017.

Reads ``../shared/data/coco-keypoints`` (4 photos, 14 annotated people, COCO format; v=0 means
unlabelled). MoveNet SinglePose sees one person, so each annotated person is cut out by their
bounding box (a square of 1.25x the box's long side, centred on it) and keypoints map back to
photo pixels.

- PCK@0.2: a labelled joint counts as found when the detection lies within 0.2 x torso size of
  the annotation; torso size is left shoulder to right hip (else right shoulder to left hip).
- FPPA (``kiosk.geometry.fppa_deg``) from annotated vs detected joints, per leg, for the people
  whose six lower-limb joints are all labelled (v > 0), and separately for those whose six are
  all visible (v = 2). These are everyday photos (sitting, sideways, occluded), not frontal
  landings, so FPPA here measures how keypoint error turns into angle error, not valgus.

    .venv/bin/python bench/accuracy_coco.py [--data DIR] [--threads N] [--per-person]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "coco-keypoints"
BOX_MARGIN = 1.25
PCK_ALPHA = 0.2
GROUPS = {"hips": (11, 12), "knees": (13, 14), "ankles": (15, 16)}


def torso_size(gt: np.ndarray, vis: np.ndarray) -> float | None:
    """Left shoulder to right hip, else right shoulder to left hip; None if neither is labelled."""
    for a, b in ((5, 12), (6, 11)):
        if vis[a] > 0 and vis[b] > 0:
            return float(np.hypot(*(gt[a] - gt[b])))
    return None


def person_region(bbox: list[float]):
    from kiosk.pose.crop import CropRegion

    x, y, w, h = bbox
    side = int(np.ceil(max(w, h) * BOX_MARGIN))
    return CropRegion(int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2)), max(side, 1))


def evaluate(model: str, data: Path, threads: int, per_person: bool) -> dict:
    from kiosk.geometry import fppa_deg
    from kiosk.keypoints import LEG_JOINTS
    from kiosk.media import read_image
    from kiosk.pose.movenet import create_estimator

    coco = json.loads((data / "test_coco.json").read_text())
    images = {im["id"]: im for im in coco["images"]}
    est = create_estimator(model, threads=threads)
    hits = {g: [0, 0] for g in GROUPS}
    fppa_err: list[float] = []
    fppa_vis_err: list[float] = []  # legs of people whose six joints are all visible (v=2)
    people = 0
    cache: dict[int, np.ndarray] = {}
    for ann in coco["annotations"]:
        if ann.get("num_keypoints", 0) == 0 or ann.get("iscrowd", 0):
            continue
        img = cache.setdefault(ann["image_id"], read_image(data / images[ann["image_id"]]["file_name"]))
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3)
        gt, vis = kp[:, :2], kp[:, 2]
        pred = est.infer_region(img, person_region(ann["bbox"]))[:, :2].astype(np.float64)
        torso = torso_size(gt, vis)
        people += 1
        detail = []
        if torso is not None:
            for g, joints in GROUPS.items():
                for j in joints:
                    if vis[j] > 0:
                        ok = np.hypot(*(pred[j] - gt[j])) <= PCK_ALPHA * torso
                        hits[g][0] += int(ok)
                        hits[g][1] += 1
        if all(vis[j] > 0 for j in range(11, 17)):
            for side, (hip, knee, ankle, other) in LEG_JOINTS.items():
                true = float(fppa_deg(gt[hip], gt[knee], gt[ankle], gt[other]))
                got = float(fppa_deg(pred[hip], pred[knee], pred[ankle], pred[other]))
                fppa_err.append(abs(got - true))
                if all(vis[j] == 2 for j in range(11, 17)):
                    fppa_vis_err.append(abs(got - true))
                detail.append(f"{side} FPPA {true:+.1f} vs {got:+.1f}")
        if per_person:
            err = np.hypot(*(pred[11:17] - gt[11:17]).T)
            lab = vis[11:17] > 0
            lower = f"lower-limb error mean {err[lab].mean():.1f} px" if lab.any() else "no lower limb labelled"
            tor = f"torso {torso:.0f} px" if torso else "no torso"
            print(f"  {model:<9} image {ann['image_id']:>6} person {ann['id']:>7}: {tor}, {lower}; {'; '.join(detail)}")
    est.close()
    return {"people": people, "pck": {g: (h, n) for g, (h, n) in hits.items()}, "fppa": fppa_err, "fppa_vis": fppa_vis_err}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="coco-keypoints folder")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--per-person", action="store_true", help="print each person's figures too")
    args = ap.parse_args(argv)
    if not (args.data / "test_coco.json").is_file():
        print(f"accuracy_coco: {args.data}/test_coco.json not found (pass --data)", file=sys.stderr)
        return 2
    rows = []
    for model in ("lightning", "thunder"):
        rows.append((model, evaluate(model, args.data, args.threads, args.per_person)))
    print(f"\nPCK@{PCK_ALPHA} of torso size (found / labelled) and |FPPA error| per leg, "
          f"people cropped by annotated box x{BOX_MARGIN}")
    print("| model | people | hips | knees | ankles | FPPA legs | FPPA mean abs error | FPPA median | FPPA max "
          "| legs all visible | their median | their max |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for model, r in rows:
        cells = []
        for g in GROUPS:
            h, n = r["pck"][g]
            cells.append(f"{100 * h / n:.0f}% ({h}/{n})" if n else "n/a")
        f = np.asarray(r["fppa"])
        fcells = ["0", "n/a", "n/a", "n/a"]
        if len(f):
            fcells = [f"{len(f)}", f"{f.mean():.1f} deg", f"{np.median(f):.1f} deg", f"{f.max():.1f} deg"]
        v = np.asarray(r["fppa_vis"])
        fcells += [f"{len(v)}", f"{np.median(v):.1f} deg", f"{v.max():.1f} deg"] if len(v) else ["0", "n/a", "n/a"]
        print(f"| {model} | {r['people']} | " + " | ".join(cells + fcells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
