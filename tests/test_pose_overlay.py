"""Skeleton overlay: sides in their own colours, knee labels by the athlete's side, unseen joints left out."""

from __future__ import annotations

import numpy as np

from kiosk.keypoints import KP
from kiosk.overlay import CENTER_COLOR, LEFT_COLOR, RIGHT_COLOR, draw_pose, side_of


def _frontal_pose(score: float = 0.9) -> np.ndarray:
    """A standing athlete facing the camera in a 640x480 frame: their left is the image's right."""
    pts = {
        "nose": (320, 80), "left_eye": (328, 72), "right_eye": (312, 72), "left_ear": (338, 78), "right_ear": (302, 78),
        "left_shoulder": (370, 130), "right_shoulder": (270, 130), "left_elbow": (390, 200), "right_elbow": (250, 200),
        "left_wrist": (395, 260), "right_wrist": (245, 260), "left_hip": (350, 250), "right_hip": (290, 250),
        "left_knee": (355, 340), "right_knee": (285, 340), "left_ankle": (358, 430), "right_ankle": (282, 430),
    }
    kps = np.zeros((17, 3), dtype=np.float32)
    for name, (x, y) in pts.items():
        kps[KP[name]] = (x, y, score)
    return kps


def _has_color(img: np.ndarray, x0: int, x1: int, y0: int, y1: int, color: tuple[int, int, int]) -> bool:
    patch = img[y0:y1, x0:x1].astype(int)
    return bool((np.abs(patch - np.array(color)).sum(axis=-1) < 30).any())


def test_sides_have_their_own_colours_and_labels_sit_outside_each_knee() -> None:
    img = np.full((480, 640, 3), 60, dtype=np.uint8)
    kps = _frontal_pose()
    out = draw_pose(img, kps)
    assert out is not img and (img == 60).all()  # the source frame is untouched
    # left shin (image right) in the left colour, right shin in the right colour, hips line in the centre colour
    assert _has_color(out, 352, 362, 370, 400, LEFT_COLOR) and not _has_color(out, 352, 362, 370, 400, RIGHT_COLOR)
    assert _has_color(out, 279, 289, 370, 400, RIGHT_COLOR) and not _has_color(out, 279, 289, 370, 400, LEFT_COLOR)
    assert _has_color(out, 310, 330, 245, 255, CENTER_COLOR)
    # "L" drawn to the image-right of the left knee, "R" to the image-left of the right knee
    assert _has_color(out, 362, 400, 325, 350, LEFT_COLOR)
    assert _has_color(out, 240, 278, 325, 350, RIGHT_COLOR)
    assert side_of(KP["left_knee"]) == "left" and side_of(KP["nose"]) == "center"


def test_low_score_joints_are_not_drawn() -> None:
    img = np.zeros((480, 640, 3), dtype=np.uint8)
    kps = _frontal_pose()
    kps[KP["left_ankle"], 2] = 0.1
    out = draw_pose(img, kps, min_score=0.3)
    assert not out[400:480, 340:380].any()  # no ankle dot, no shin below the knee's own dot
    assert out[330:350, 345:365].any()
    blank = draw_pose(img, _frontal_pose(score=0.05), min_score=0.3)
    assert not blank.any()
