"""The landing pass: every decisive frame posed on one square fixed from the contact frame.

Both ways a trial is posed go through here, so they read the same keypoints off the same
images: the station poses only some frames of the landing (its frame plan), ``jumpkiosk
analyze`` / validate / the benchmarks pose every frame with the crop tracker and then re-pose
the decisive window (just before contact to just after take-off) here. Either way:

1. the camera frame nearest initial contact is posed on the whole frame (no memory of any
   earlier frame, so the answer depends on that image alone);
2. :func:`kiosk.pose.crop.landing_region` turns that pose into one square for the landing;
3. every decisive frame is posed on that square (:func:`pose_in_region`).

A frame's keypoints then depend on its own pixels and the contact frame's, never on which other
frames were posed before it, which is what made the plan and every-frame posing differ by 1-3 deg
of FPPA on the same frames (crops chained from pose to pose differ by a few pixels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from kiosk.keypoints import PoseFrame
from kiosk.pose.crop import CropRegion, full_frame_region, landing_region, torso_seen

#: The decisive window re-posed on the landing square: from this long before initial contact
#: (the FPPA at contact is a line through the last 50 ms of the fall, plus one frame) ...
BEFORE_S = 0.06
#: ... to this long after take-off (the last contact frames, as the frame plan poses them).
AFTER_S = 0.02


def contact_position(t: Sequence[float] | np.ndarray, initial_contact_s: float) -> int:
    """Position of the frame nearest initial contact (the earlier one on a tie)."""
    tt = np.asarray(t, dtype=np.float64)
    return int(np.argmin(np.abs(tt - initial_contact_s)))


def window_positions(t: Sequence[float] | np.ndarray, initial_contact_s: float, takeoff_s: float | None, *,
                     before_s: float = BEFORE_S, after_s: float = AFTER_S) -> np.ndarray:
    """Positions of the frames from ``before_s`` before contact to ``after_s`` after take-off
    (to the last frame when take-off is unknown): the frames the station's plan poses from."""
    tt = np.asarray(t, dtype=np.float64)
    stop = (takeoff_s if takeoff_s is not None else float(tt[-1])) + after_s
    return np.flatnonzero((tt >= initial_contact_s - before_s - 1e-9) & (tt <= stop + 1e-9))


def find_landing_region(estimator, image: np.ndarray) -> tuple[CropRegion, np.ndarray]:
    """The landing square from the contact frame's whole-frame pose; (square, that pose).
    One model invocation. ``estimator`` is a MoveNet estimator (``infer_region``)."""
    h, w = image.shape[:2]
    kps = np.asarray(estimator.infer_region(image, full_frame_region(w, h)), dtype=np.float32)
    return landing_region(kps, w, h, min_score=estimator.min_score), kps


def pose_in_region(estimator, image: np.ndarray, region: CropRegion) -> tuple[np.ndarray, int]:
    """Keypoints of one frame posed on ``region``, and the invocations that took: the whole frame
    is posed instead when the square loses the torso (someone stepped off the mat sideways)."""
    h, w = image.shape[:2]
    full = full_frame_region(w, h)
    kps = np.asarray(estimator.infer_region(image, region), dtype=np.float32)
    if region != full and not torso_seen(kps, estimator.min_score):
        return np.asarray(estimator.infer_region(image, full), dtype=np.float32), 2
    return kps, 1


def repose_landing(poses: Sequence[PoseFrame], images: Mapping[int, np.ndarray], estimator,
                   initial_contact_s: float, takeoff_s: float | None, *, before_s: float = BEFORE_S,
                   after_s: float = AFTER_S) -> tuple[list[PoseFrame], CropRegion | None]:
    """``poses`` (every frame of a clip, tracked) with the decisive window re-posed on the landing
    square; returns (poses, square). ``images`` maps pose positions to RGB frames and must hold
    the window's positions; positions missing from it (a truncated file) keep their first pass.
    Returns the poses unchanged and None when the contact frame's image is missing."""
    t = np.array([p.t for p in poses], dtype=np.float64)
    if not len(t):
        return list(poses), None
    c = contact_position(t, initial_contact_s)
    if c not in images:
        return list(poses), None
    region, _ = find_landing_region(estimator, images[c])
    out = list(poses)
    for i in window_positions(t, initial_contact_s, takeoff_s, before_s=before_s, after_s=after_s):
        i = int(i)
        if i not in images:
            continue
        kps, _ = pose_in_region(estimator, images[i], region)
        out[i] = PoseFrame(poses[i].index, poses[i].t, kps)
    return out, region


#: Seconds from initial contact (negative: before) and from take-off at which
#: :func:`probe_positions` looks for a second person. A passer-by is hidden behind (or in front
#: of) the athlete while crossing their line and beside them a few tenths of a second away; at
#: 1.3 m/s, 0.8 s is a metre clear of the athlete (synthetic seed 7 was found only there).
PROBE_BEFORE_CONTACT_S = (0.8, 0.65, 0.5, 0.35, 0.2)
PROBE_AFTER_TAKEOFF_S = (0.0, 0.15, 0.3, 0.45, 0.6)
#: The athlete's box grows by this share of its height on each side before it is masked (limb
#: thickness, a hand or foot the model placed a few pixels inside its edge).
PROBE_PAD = 0.12


def probe_positions(t: Sequence[float] | np.ndarray, initial_contact_s: float, takeoff_s: float | None) -> list[int]:
    """Positions of the few posed frames where :func:`probe_other_person` looks: the posed frame
    nearest each probe time that lies within the posed span (sorted, without repeats)."""
    tt = np.asarray(t, dtype=np.float64)
    if not len(tt):
        return []
    stop = takeoff_s if takeoff_s is not None else initial_contact_s
    want = [initial_contact_s - d for d in PROBE_BEFORE_CONTACT_S] + [stop + d for d in PROBE_AFTER_TAKEOFF_S]
    return sorted({int(np.argmin(np.abs(tt - w))) for w in want if tt[0] <= w <= tt[-1]})


def probe_other_person(estimator, image: np.ndarray, athlete: np.ndarray
                       ) -> tuple[np.ndarray, tuple[float, float, float, float]] | None:
    """Keypoints of whoever is left in the frame once the athlete is masked out, and the masked box.

    The athlete's box (their keypoints scored >= ``estimator.min_score``, grown by ``PROBE_PAD``)
    is filled with the frame's median colour and the whole frame posed once: a single-person model
    then answers with the most salient remaining person, or with a few low scores on an empty
    room. :func:`kiosk.analysis.gates.check_second_body` judges the answer. None when the athlete
    is not seen well enough to mask (fewer than 4 joints).
    """
    kps = np.asarray(athlete, dtype=np.float64)
    seen = kps[kps[:, 2] >= estimator.min_score, :2]
    if len(seen) < 4:
        return None
    h, w = image.shape[:2]
    (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
    pad = PROBE_PAD * max(y1 - y0, x1 - x0)
    box = (max(x0 - pad, 0.0), max(y0 - pad, 0.0), min(x1 + pad, float(w)), min(y1 + pad, float(h)))
    return np.asarray(estimator.infer_region(masked_box(image, box), full_frame_region(w, h)), dtype=np.float32), box


def masked_box(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """A copy of ``image`` with ``box`` (x0, y0, x1, y1) filled with the frame's median colour."""
    masked = image.copy()
    masked[int(box[1]):int(np.ceil(box[3])), int(box[0]):int(np.ceil(box[2]))] = \
        np.median(image.reshape(-1, image.shape[-1]), axis=0).astype(image.dtype)
    return masked


def probe_beside(estimator, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Keypoints of whoever stands beside the athlete's (masked) ``box``: the frame's wider side of
    it posed on a square as tall as the frame. A person there is larger in the model's input than
    on the letterboxed whole frame (a pale passer-by behind the athlete of synthetic seed 3 was
    found only so)."""
    h, w = image.shape[:2]
    a, b = (0.0, box[0]) if box[0] > w - box[2] else (box[2], float(w))
    side = int(max(b - a, h))
    region = CropRegion(int((a + b) / 2 - side / 2), int(h / 2 - side / 2), side)
    return np.asarray(estimator.infer_region(masked_box(image, box), region), dtype=np.float32)
