"""Crop-region maths for tracking (no model): the square must keep the feet in a landing."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.keypoints import KP, LEFT_ANKLE, LOWER_LIMB, RIGHT_ANKLE
from kiosk.pose.crop import (
    CropRegion,
    body_crop_region,
    crop_and_resize,
    full_frame_region,
    torso_seen,
)

W, H = 640, 480


def _pose(points: dict[str, tuple[float, float]], score: float = 0.9) -> np.ndarray:
    kps = np.zeros((17, 3), dtype=np.float32)
    for name, (x, y) in points.items():
        kps[KP[name]] = (x, y, score)
    return kps


def landing_pose() -> np.ndarray:
    """A frontal athlete in the deepest point of a landing: squat, feet wide, knees in, arms forward.

    The trunk leans forward, so in the frontal view it looks short (65 px shoulder-to-hip) while the
    legs reach 165 px below the hips. Image pixels in a 640x480 frame; the athlete's left is on the
    image's right.
    """
    return _pose({
        "nose": (322, 150), "left_eye": (328, 144), "right_eye": (316, 144), "left_ear": (336, 148),
        "right_ear": (308, 148), "left_shoulder": (358, 190), "right_shoulder": (286, 190),
        "left_elbow": (372, 225), "right_elbow": (272, 225), "left_wrist": (352, 250),
        "right_wrist": (292, 250), "left_hip": (345, 255), "right_hip": (299, 255),
        "left_knee": (340, 330), "right_knee": (304, 330), "left_ankle": (395, 420),
        "right_ankle": (249, 420),
    })


def torso_only_region(kps: np.ndarray) -> CropRegion:
    """The square the TFLite Raspberry Pi example ends up with: hip centre, 1.9 x the torso's extent.

    (Its "body range" loop measures the last torso joint instead of each joint, so limbs never
    widen the square.) This cuts the feet off in a landing: the bug to avoid.
    """
    hips = kps[[KP["left_hip"], KP["right_hip"]], :2].mean(axis=0)
    torso = kps[[KP["left_shoulder"], KP["right_shoulder"], KP["left_hip"], KP["right_hip"]], :2]
    half = 1.9 * np.abs(torso - hips).max()
    side = int(np.ceil(2 * half))
    return CropRegion(int(hips[0] - side / 2), int(hips[1] - side / 2), side)


def test_landing_pose_keeps_ankles_inside_the_crop() -> None:
    kps = landing_pose()
    region = body_crop_region(kps, W, H, min_score=0.3)
    assert region != full_frame_region(W, H), "a seen athlete should be cropped, not given the whole frame"
    assert region.contains(kps[:, :2]).all()
    # Room for the motion to the next frame: every joint stays inside when the body shifts 10% down
    # (landing moves the hips ~8 cm per frame at 30 fps; the athlete is ~1.7 m = 300 px here).
    moved = kps[:, :2] + (0, 0.1 * 300)
    assert region.contains(moved[list(LOWER_LIMB)]).all()
    # The torso-only square of the TFLite Raspberry Pi example would cut both feet off here.
    assert not torso_only_region(kps).contains(kps[[LEFT_ANKLE, RIGHT_ANKLE], :2]).any()


def test_unseen_ankles_are_still_reached() -> None:
    kps = landing_pose()
    kps[[LEFT_ANKLE, RIGHT_ANKLE], 2] = 0.05  # cut off by a too-tight crop: the model barely sees them
    true_ankles = landing_pose()[[LEFT_ANKLE, RIGHT_ANKLE], :2]
    region = body_crop_region(kps, W, H, min_score=0.3)
    assert region.contains(true_ankles).all()
    # and with knees lost too, the expected leg length from the torso still reaches the feet
    kps[[KP["left_knee"], KP["right_knee"]], 2] = 0.05
    region = body_crop_region(kps, W, H, min_score=0.3)
    assert region.contains(true_ankles).all()


def test_falls_back_to_full_frame_without_a_torso() -> None:
    kps = landing_pose()
    kps[[KP["left_hip"], KP["right_hip"]], 2] = 0.1
    assert body_crop_region(kps, W, H, min_score=0.3) == full_frame_region(W, H)
    kps = landing_pose()
    kps[[KP["left_shoulder"], KP["right_shoulder"]], 2] = 0.1
    assert not torso_seen(kps, 0.3)
    assert body_crop_region(kps, W, H, min_score=0.3) == full_frame_region(W, H)
    one_side = landing_pose()
    one_side[[KP["right_hip"], KP["right_shoulder"]], 2] = 0.1  # one hip and one shoulder are enough
    assert torso_seen(one_side, 0.3)
    assert body_crop_region(np.full((17, 3), np.nan), W, H) == full_frame_region(W, H)


def test_whole_frame_body_gives_full_frame_and_tiny_body_a_minimum_square() -> None:
    big = landing_pose()
    big[:, :2] = (big[:, :2] - (320, 280)) * 2.2 + (320, 280)  # ~600 px tall in a 480 px frame
    assert body_crop_region(big, W, H) == full_frame_region(W, H)
    tiny = landing_pose()
    tiny[:, :2] = (tiny[:, :2] - (320, 240)) * 0.05 + (320, 240)
    r = body_crop_region(tiny, W, H)
    assert r.side >= 0.15 * W - 1


def test_full_frame_region_letterboxes_centred() -> None:
    assert full_frame_region(640, 480) == CropRegion(0, -80, 640)
    assert full_frame_region(480, 640) == CropRegion(-80, 0, 640)
    assert full_frame_region(576, 576) == CropRegion(0, 0, 576)


@pytest.mark.parametrize("region", [CropRegion(0, -80, 640), CropRegion(200, 100, 150), CropRegion(-50, 300, 400),
                                    CropRegion(100, 50, 32)])
def test_crop_and_resize_maps_back_to_source_pixels(region: CropRegion) -> None:
    """A bright dot placed in the source comes out of the model square where the mapping says."""
    rng = np.random.default_rng(1)
    img = (rng.random((H, W, 3)) * 40).astype(np.uint8)
    inside = [(x, y) for x, y in ((250, 130), (30, 400), (600, 20), (120, 70))
              if region.x0 + 3 < x < region.x1 - 3 and region.y0 + 3 < y < region.y1 - 3 and 2 < x < W - 3 and 2 < y < H - 3]
    assert inside, "test region must contain a probe point"
    size = 192
    for x, y in inside:
        probe = img.copy()
        probe[y - 2:y + 3, x - 2:x + 3] = 255
        square, mapping = crop_and_resize(probe, region, size)
        assert square.shape == (size, size, 3) and square.dtype == np.uint8
        weights = square[..., 0].astype(float) - 40
        weights[weights < 0] = 0
        cy, cx = np.argwhere(weights > weights.max() * 0.5).mean(axis=0) + 0.5  # pixel centres
        back = mapping.to_source(np.array([cx / size, cy / size]))
        tol = max(1.5, 1.5 * region.side / size)  # one model pixel, in source pixels
        assert abs(back[0] - (x + 0.5)) <= tol and abs(back[1] - (y + 0.5)) <= tol, (back, (x, y))


def test_crop_pads_outside_the_image_with_black() -> None:
    img = np.full((H, W, 3), 200, dtype=np.uint8)
    square, _ = crop_and_resize(img, full_frame_region(W, H), 192)
    band = round(80 * 192 / 640)
    assert square[: band - 1].max() == 0 and square[-band + 1:].max() == 0
    assert square[band + 1: -band - 1].min() == 200
    off, mapping = crop_and_resize(img, CropRegion(5000, 5000, 100), 192)
    assert off.max() == 0
    np.testing.assert_allclose(mapping.to_source(np.array([0.5, 0.5])), [5050, 5050])
