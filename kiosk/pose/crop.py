"""Where to look in the next frame, and how to cut that square out for the model. Pure maths.

MoveNet sees a small square (192 or 256 px). On the whole frame a person is a few dozen pixels
wide, so tracking crops a square around the last pose, as TF's MoveNet tutorial does in
``determine_crop_region``. That tutorial (and the TFLite Raspberry Pi example built on it) sizes
the square from the torso: when a jumper lands in a deep squat with the feet apart, the ankles
fall outside it, their scores drop, and the next crop has nothing to grow back to. Here the square
covers every confidently seen joint, torso and limbs alike, plus joints that should be there but
are not seen (an unseen ankle is placed below its hip at a leg length guessed from the torso and
the shoulder width: a forward lean shortens the torso in a frontal view), times a margin
for the motion between frames. Without a confidently seen torso (a shoulder and a hip) the
tracker falls back to the whole frame.

Regions are integer squares in source pixels and may reach past the image border; the part
outside is zero padding, which is also how a non-square frame is letterboxed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiosk.keypoints import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
)

#: Half-side of the square = this x the largest distance of a joint from the body's centre.
DEFAULT_MARGIN = 1.25
#: Hip-to-ankle length as a multiple of shoulder-to-hip length, for ankles not seen (adults ~1.6-1.9).
LEG_TO_TORSO = 1.8
#: ... and of shoulder width (adults ~2.0-2.3), which a forward trunk lean does not shorten in a frontal view.
LEG_TO_SHOULDERS = 2.3
#: The square is never smaller than this fraction of the frame's long side.
MIN_SIDE_FRACTION = 0.15
#: Landing square: margin around the body (face, shoulders, hips, knees, ankles) at initial
#: contact. The legs are extended and the feet on the floor then, so the squat that follows only
#: shrinks the body; the 60 ms of fall before contact lift it by ~10 cm (~6% of the body). Kept
#: small: the squat at peak flexion is ~2/3 of the contact pose's height, and every extra pixel
#: of square is resolution lost there (a 1.3 margin with the arms gave 1.6x the tracker's square
#: and let the ankles sink 10-20 px at peak flexion).
LANDING_MARGIN = 1.15
#: Joints the landing square is sized from: the arms swing wide in a landing and are not measured.
LANDING_JOINTS = (0, 1, 2, 3, 4, LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE,
                  LEFT_ANKLE, RIGHT_ANKLE)
#: Landing squares snap outward to this grid (pixels), so a keypoint moved by a pixel or two does
#: not move the square: MoveNet moves a knee by 1-3 px when its crop moves by a few.
LANDING_GRID = 8


@dataclass(frozen=True)
class CropRegion:
    """A square ``[x0, x0 + side) x [y0, y0 + side)`` in source pixels (may exceed the image)."""

    x0: int
    y0: int
    side: int

    @property
    def x1(self) -> int:
        return self.x0 + self.side

    @property
    def y1(self) -> int:
        return self.y0 + self.side

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Per point (..., 2): whether it lies inside the square."""
        p = np.asarray(xy, dtype=np.float64)
        return (p[..., 0] >= self.x0) & (p[..., 0] <= self.x1) & (p[..., 1] >= self.y0) & (p[..., 1] <= self.y1)


def full_frame_region(width: int, height: int) -> CropRegion:
    """The whole frame letterboxed into a centred square (padding on the short side)."""
    side = max(width, height)
    return CropRegion((width - side) // 2, (height - side) // 2, side)


def torso_seen(keypoints: np.ndarray, min_score: float) -> bool:
    """A shoulder and a hip both confidently seen: enough to trust a crop around the body."""
    s = np.asarray(keypoints)[:, 2]
    return bool(max(s[LEFT_HIP], s[RIGHT_HIP]) >= min_score and max(s[LEFT_SHOULDER], s[RIGHT_SHOULDER]) >= min_score)


def _expected_lower_limbs(kps: np.ndarray, seen: np.ndarray) -> list[np.ndarray]:
    """Where unseen knees/ankles should be, from the seen hip and torso, so the crop reaches them."""
    shoulders = [kps[j, :2] for j in (LEFT_SHOULDER, RIGHT_SHOULDER) if seen[j]]
    hips = [kps[j, :2] for j in (LEFT_HIP, RIGHT_HIP) if seen[j]]
    if not shoulders or not hips:
        return []
    torso = np.mean(hips, axis=0) - np.mean(shoulders, axis=0)  # points down the body
    torso_len = float(np.hypot(*torso))
    if torso_len == 0:
        return []
    leg_len = LEG_TO_TORSO * torso_len
    if seen[LEFT_SHOULDER] and seen[RIGHT_SHOULDER]:
        leg_len = max(leg_len, LEG_TO_SHOULDERS * float(np.hypot(*(kps[LEFT_SHOULDER, :2] - kps[RIGHT_SHOULDER, :2]))))
    down = torso / torso_len
    extra = []
    for hip, knee, ankle in ((LEFT_HIP, LEFT_KNEE, LEFT_ANKLE), (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE)):
        if seen[ankle]:
            continue
        base = kps[hip, :2] if seen[hip] else np.mean(hips, axis=0)
        if seen[knee]:
            # thigh and shank are about equally long
            extra.append(kps[knee, :2] + (kps[knee, :2] - base))
        else:
            extra.append(base + leg_len * down)
    return extra


def body_crop_region(
    keypoints: np.ndarray,
    width: int,
    height: int,
    *,
    min_score: float = 0.3,
    margin: float = DEFAULT_MARGIN,
) -> CropRegion:
    """The square to crop in the next frame, from this frame's keypoints (17, 3) in pixels."""
    kps = np.asarray(keypoints, dtype=np.float64)
    if kps.shape != (17, 3) or not np.all(np.isfinite(kps)):
        return full_frame_region(width, height)
    seen = kps[:, 2] >= min_score
    if not torso_seen(kps, min_score):
        return full_frame_region(width, height)
    points = [kps[i, :2] for i in np.flatnonzero(seen)] + _expected_lower_limbs(kps, seen)
    pts = np.asarray(points)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    cx, cy = (lo + hi) / 2.0
    half = margin * float(np.max(np.abs(pts - (cx, cy))))
    long_side = max(width, height)
    half = max(half, MIN_SIDE_FRACTION * long_side / 2.0)
    # No larger than needed to reach the farthest image edge from the centre (as in TF's tutorial).
    half = min(half, max(cx, width - cx, cy, height - cy))
    if 2.0 * half >= long_side:
        return full_frame_region(width, height)
    side = max(int(np.ceil(2.0 * half)), 1)
    return CropRegion(int(np.floor(cx - side / 2.0)), int(np.floor(cy - side / 2.0)), side)


def landing_region(keypoints: np.ndarray, width: int, height: int, *, min_score: float = 0.3,
                   margin: float = LANDING_MARGIN, grid: int = LANDING_GRID) -> CropRegion:
    """The one square every frame of a landing is posed on, from the pose at initial contact.

    Why one square: MoveNet's knee and ankle move by 1-3 px when the crop moves by a few, which
    is 1-3 deg of FPPA per frame. A crop chained from frame to frame (the tracker) depends on
    which frames came before, so the station's sparse frame plan and a clip posed frame by frame
    would read different angles off the same images. A square fixed for the landing depends only
    on the contact frame; the athlete barely moves sideways in a drop jump, so it holds the whole
    landing. Snapped outward to ``grid`` pixels so a pixel of jitter in the contact pose does not
    move it. The whole frame when the torso is not seen.
    """
    kps = np.array(keypoints, dtype=np.float64, copy=True)
    if kps.shape == (17, 3):
        arms = [j for j in range(17) if j not in LANDING_JOINTS]
        kps[arms, 2] = 0.0
    region = body_crop_region(kps, width, height, min_score=min_score, margin=margin)
    full = full_frame_region(width, height)
    if region == full or grid <= 1:
        return region
    # Side and centre snap separately (one grid cell larger, so the snapped square still holds
    # the unsnapped one): each changes only when its own value crosses a grid line.
    side = (-(-region.side // grid) + 1) * grid
    x0 = int(round((region.x0 + region.side / 2 - side / 2) / grid)) * grid
    y0 = int(round((region.y0 + region.side / 2 - side / 2) / grid)) * grid
    if side >= max(width, height):
        return full
    return CropRegion(x0, y0, side)


@dataclass(frozen=True)
class CropMapping:
    """Maps model-normalised (x, y) in 0..1 back to source pixels: ``x = ax + nx * bx``."""

    ax: float
    bx: float
    ay: float
    by: float

    def to_source(self, norm_xy: np.ndarray) -> np.ndarray:
        p = np.asarray(norm_xy, dtype=np.float64)
        return np.stack([self.ax + p[..., 0] * self.bx, self.ay + p[..., 1] * self.by], axis=-1)


def crop_and_resize(image: np.ndarray, region: CropRegion, size: int) -> tuple[np.ndarray, CropMapping]:
    """Cut ``region`` out of an RGB image into a ``size`` x ``size`` uint8 square, zero-padded.

    Only the part of the region inside the image is resized (area interpolation when shrinking
    by more than 2x, which avoids aliasing on big frames; bilinear otherwise) and pasted at its
    place; the returned mapping undoes exactly that resize, including its rounding.
    """
    h, w = image.shape[:2]
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    scale = size / region.side
    ix0, ix1 = max(region.x0, 0), min(region.x1, w)
    iy0, iy1 = max(region.y0, 0), min(region.y1, h)
    if ix1 <= ix0 or iy1 <= iy0:  # region entirely off the image: nothing to see
        return canvas, CropMapping(region.x0, region.side, region.y0, region.side)
    cx0 = min(int(round((ix0 - region.x0) * scale)), size - 1)
    cy0 = min(int(round((iy0 - region.y0) * scale)), size - 1)
    rw = max(min(int(round((ix1 - region.x0) * scale)), size) - cx0, 1)
    rh = max(min(int(round((iy1 - region.y0) * scale)), size) - cy0, 1)
    patch = image[iy0:iy1, ix0:ix1]
    if patch.shape[1] == rw and patch.shape[0] == rh:
        resized = patch
    else:
        import cv2

        shrink = (ix1 - ix0) / rw
        interp = cv2.INTER_AREA if shrink > 2.0 else cv2.INTER_LINEAR
        resized = cv2.resize(patch, (rw, rh), interpolation=interp)
    canvas[cy0:cy0 + rh, cx0:cx0 + rw] = resized
    sx, sy = (ix1 - ix0) / rw, (iy1 - iy0) / rh  # source pixels per canvas pixel, per axis
    return canvas, CropMapping(ax=ix0 - cx0 * sx, bx=size * sx, ay=iy0 - cy0 * sy, by=size * sy)
