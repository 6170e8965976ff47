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


def window_positions(t: Sequence[float] | np.ndarray, initial_contact_s: float, takeoff_s: float | None) -> np.ndarray:
    """Positions of the frames from ``BEFORE_S`` before contact to ``AFTER_S`` after take-off
    (to the last frame when take-off is unknown): the frames the station's plan poses from."""
    tt = np.asarray(t, dtype=np.float64)
    stop = (takeoff_s if takeoff_s is not None else float(tt[-1])) + AFTER_S
    return np.flatnonzero((tt >= initial_contact_s - BEFORE_S - 1e-9) & (tt <= stop + 1e-9))


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
                   initial_contact_s: float, takeoff_s: float | None) -> tuple[list[PoseFrame], CropRegion | None]:
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
    for i in window_positions(t, initial_contact_s, takeoff_s):
        i = int(i)
        if i not in images:
            continue
        kps, _ = pose_in_region(estimator, images[i], region)
        out[i] = PoseFrame(poses[i].index, poses[i].t, kps)
    return out, region
