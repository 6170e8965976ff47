"""Skeleton overlay on RGB frames, for ``analyze --overlay-out``, replays and the station UI.

The athlete's own left and right get different colours, and the knees are labelled "L" and "R"
by the athlete's side (the label sits on the outer side of each knee), so a coach can see at a
glance that sides were not swapped: in a frontal view the "L" knee is on the image's right.
Joints below the score threshold are not drawn, so a guess never looks like a measurement.
"""

from __future__ import annotations

import numpy as np

from kiosk.keypoints import KEYPOINT_NAMES, LEFT_KNEE, RIGHT_KNEE, SKELETON_EDGES

#: RGB colours: athlete's left (orange), right (blue), midline joints (light grey).
LEFT_COLOR: tuple[int, int, int] = (255, 140, 0)
RIGHT_COLOR: tuple[int, int, int] = (0, 150, 255)
CENTER_COLOR: tuple[int, int, int] = (235, 235, 235)


def side_of(joint: int) -> str:
    """'left', 'right' or 'center' for a COCO-17 index (the athlete's own side)."""
    name = KEYPOINT_NAMES[joint]
    return "left" if name.startswith("left_") else "right" if name.startswith("right_") else "center"


def color_of(joint: int) -> tuple[int, int, int]:
    return {"left": LEFT_COLOR, "right": RIGHT_COLOR}.get(side_of(joint), CENTER_COLOR)


def draw_pose(image: np.ndarray, keypoints: np.ndarray, *, min_score: float = 0.3, copy: bool = True,
              labels: bool = True) -> np.ndarray:
    """The RGB image with bones, joints and L/R knee labels drawn; returns the drawn image."""
    import cv2

    out = image.copy() if copy else image
    if not out.flags["C_CONTIGUOUS"]:
        out = np.ascontiguousarray(out)
    kps = np.asarray(keypoints, dtype=np.float64)
    h, w = out.shape[:2]
    unit = max(min(h, w), 120)
    thick = max(1, int(round(unit / 240)))
    radius = max(2, int(round(unit / 130)))
    seen = np.isfinite(kps).all(axis=1) & (kps[:, 2] >= min_score)
    pts = np.round(np.nan_to_num(kps[:, :2])).astype(int)

    for a, b in SKELETON_EDGES:
        if seen[a] and seen[b]:
            sa, sb = side_of(a), side_of(b)
            color = color_of(a) if sa == sb else CENTER_COLOR
            cv2.line(out, tuple(pts[a]), tuple(pts[b]), color, thick + 1, cv2.LINE_AA)
    for j in np.flatnonzero(seen):
        cv2.circle(out, tuple(pts[j]), radius, color_of(int(j)), -1, cv2.LINE_AA)
        cv2.circle(out, tuple(pts[j]), radius, (0, 0, 0), 1, cv2.LINE_AA)

    if labels:
        scale = unit / 480.0
        for knee, other, text in ((LEFT_KNEE, RIGHT_KNEE, "L"), (RIGHT_KNEE, LEFT_KNEE, "R")):
            if not seen[knee]:
                continue
            # Put the letter on the outer side of the knee, away from the other knee if it is seen.
            if seen[other]:
                direction = 1.0 if kps[knee, 0] >= kps[other, 0] else -1.0
            else:
                direction = 1.0 if text == "L" else -1.0  # frontal view: athlete's left is image right
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, max(1, thick))
            gap = radius + 4
            x = int(pts[knee, 0] + gap) if direction > 0 else int(pts[knee, 0] - gap - tw)
            y = int(pts[knee, 1] + th // 2)
            cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (0, 0, 0), max(1, thick) + 2, cv2.LINE_AA)
            cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, color_of(knee), max(1, thick), cv2.LINE_AA)
    return out
