"""Can the camera see what the analysis needs? The "visible" check before Start, the "standing
still on the box" check that arms a trial by itself, and the video motion check while waiting
for the drop. Pure: keypoint arrays and small images in, verdicts out.

The analysis scores hips, knees and ankles (FPPA, KASR), so those six joints are what must be
seen; the head does not matter. One preview frame's scores jitter (a knee at 0.28 then 0.41), so
the judgement is the median score of each joint over the last ~0.5 s, against a threshold a
little below the scoring one: the check is there to catch a person whose feet are cut off or
who stands half out of the picture (scores ~0.0-0.1), not to second-guess the analysis' own
per-frame gates, which still decide RETAKE after the jump.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from kiosk.keypoints import LEFT_ANKLE, LEFT_HIP, LEFT_KNEE, RIGHT_ANKLE, RIGHT_HIP, RIGHT_KNEE

#: The joints that decide the verdict, grouped by what the athlete is told to fix.
PARTS: tuple[tuple[str, tuple[int, int]], ...] = (
    ("hips", (LEFT_HIP, RIGHT_HIP)),
    ("knees", (LEFT_KNEE, RIGHT_KNEE)),
    ("feet", (LEFT_ANKLE, RIGHT_ANKLE)),
)

#: How much lower than the scoring threshold a joint may score and still count as seen.
MARGIN = 0.1


def judge(history: np.ndarray, threshold: float) -> tuple[bool, str | None]:
    """(visible, missing part) from a (n, 17, 3) stack of recent keypoints.

    ``missing`` is "person" when nothing of the legs is seen, else the first part (hips, knees,
    feet: the order a person fixes it in) whose joints' median score is below ``threshold``."""
    if len(history) == 0:
        return False, "person"
    med = np.median(np.asarray(history)[:, :, 2], axis=0)
    missing = [name for name, joints in PARTS if min(float(med[j]) for j in joints) < threshold]
    if not missing:
        return True, None
    if len(missing) == len(PARTS):
        return False, "person"
    return False, missing[0]


class VisibilityWindow:
    """The last ``window_s`` seconds of preview keypoints and the judgement over them."""

    def __init__(self, threshold: float, window_s: float = 0.5):
        self.threshold = threshold
        self.window_ns = int(window_s * 1e9)
        self._items: deque[tuple[int, np.ndarray]] = deque()

    def add(self, t_ns: int, keypoints: np.ndarray) -> tuple[bool, str | None]:
        self._items.append((t_ns, np.asarray(keypoints, dtype=np.float32)))
        while self._items and self._items[0][0] < t_ns - self.window_ns:
            self._items.popleft()
        return judge(np.stack([k for _, k in self._items]), self.threshold)

    def clear(self) -> None:
        self._items.clear()


#: Standing still: no hip, knee or ankle moved more than this share of the leg (hip to ankle) over
#: the window. A person standing sways and MoveNet jitters by ~1-2 % of the leg; a step moves an
#: ankle by 20 % or more.
STILL_TOLERANCE = 0.06


def is_still(history: np.ndarray, threshold: float, tolerance: float = STILL_TOLERANCE) -> bool:
    """Whether the (n, 17, 3) keypoint stack shows the legs seen in every frame and not moving."""
    if len(history) < 2:
        return False
    joints = [j for _, pair in PARTS for j in pair]
    h = np.asarray(history, dtype=np.float64)[:, joints]
    if float(h[:, :, 2].min()) < threshold:
        return False
    # hips are joints 0-1, ankles 4-5 of ``joints``: the leg's length in pixels sets the scale
    leg = float(np.median(np.hypot(*(h[:, 0:2, :2] - h[:, 4:6, :2]).transpose(2, 0, 1))))
    if leg <= 1.0:
        return False
    spread = h[:, :, :2].max(axis=0) - h[:, :, :2].min(axis=0)
    return float(spread.max()) <= tolerance * leg


class StillnessWindow:
    """The last ``still_s`` seconds of preview keypoints: still once that long is covered and
    :func:`is_still` holds over all of it."""

    def __init__(self, threshold: float, still_s: float = 1.0, tolerance: float = STILL_TOLERANCE):
        self.threshold = threshold
        self.still_ns = int(still_s * 1e9)
        self.tolerance = tolerance
        self._items: deque[tuple[int, np.ndarray]] = deque()

    def add(self, t_ns: int, keypoints: np.ndarray) -> bool:
        self._items.append((t_ns, np.asarray(keypoints, dtype=np.float32)))
        while len(self._items) > 1 and self._items[1][0] <= t_ns - self.still_ns:
            self._items.popleft()   # keep one item at or before the window's start: it proves coverage
        if t_ns - self._items[0][0] < self.still_ns:
            return False
        return is_still(np.stack([k for _, k in self._items]), self.threshold, self.tolerance)

    def clear(self) -> None:
        self._items.clear()


def motion_fraction(reference: np.ndarray, image: np.ndarray, *, level: int = 30) -> float:
    """Fraction of pixels whose grey level changed by more than ``level`` between two small
    greyscale images of the same size: a body dropping off a box changes several percent of a
    frame, sensor noise and light flicker far less than one."""
    diff = np.abs(reference.astype(np.int16) - image.astype(np.int16))
    return float((diff > level).mean())


def small_grey(image: np.ndarray, width: int = 80) -> np.ndarray:
    """A tiny greyscale copy for motion checks (cheap enough for every preview frame)."""
    import cv2

    h, w = image.shape[:2]
    small = cv2.resize(image, (width, max(1, int(round(h * width / w)))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
