"""COCO-17 keypoints: names, indices and the per-frame pose record used everywhere.

Left and right are always the athlete's own sides. In a frontal, unmirrored image the athlete's
left hip appears on the image's right. Nothing in the kiosk mirrors frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
KP: dict[str, int] = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
NUM_KEYPOINTS = len(KEYPOINT_NAMES)

NOSE = KP["nose"]
LEFT_SHOULDER, RIGHT_SHOULDER = KP["left_shoulder"], KP["right_shoulder"]
LEFT_HIP, RIGHT_HIP = KP["left_hip"], KP["right_hip"]
LEFT_KNEE, RIGHT_KNEE = KP["left_knee"], KP["right_knee"]
LEFT_ANKLE, RIGHT_ANKLE = KP["left_ankle"], KP["right_ankle"]

#: The joints the valgus measures depend on.
LOWER_LIMB = (LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE)

#: Per leg: (hip, knee, ankle, other hip), in the athlete's own sides.
LEG_JOINTS: dict[str, tuple[int, int, int, int]] = {
    "left": (LEFT_HIP, LEFT_KNEE, LEFT_ANKLE, RIGHT_HIP),
    "right": (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE, LEFT_HIP),
}

#: Bones drawn in overlays: pairs of keypoint indices.
SKELETON_EDGES: tuple[tuple[int, int], ...] = (
    (KP["left_shoulder"], KP["right_shoulder"]),
    (KP["left_shoulder"], KP["left_elbow"]),
    (KP["left_elbow"], KP["left_wrist"]),
    (KP["right_shoulder"], KP["right_elbow"]),
    (KP["right_elbow"], KP["right_wrist"]),
    (KP["left_shoulder"], KP["left_hip"]),
    (KP["right_shoulder"], KP["right_hip"]),
    (KP["left_hip"], KP["right_hip"]),
    (KP["left_hip"], KP["left_knee"]),
    (KP["left_knee"], KP["left_ankle"]),
    (KP["right_hip"], KP["right_knee"]),
    (KP["right_knee"], KP["right_ankle"]),
    (KP["nose"], KP["left_eye"]),
    (KP["nose"], KP["right_eye"]),
    (KP["left_eye"], KP["left_ear"]),
    (KP["right_eye"], KP["right_ear"]),
)


@dataclass(frozen=True)
class PoseFrame:
    """One analysed video frame.

    ``keypoints`` has shape (17, 3): x and y in source-image pixels, then the model's score in
    0..1, in COCO-17 order. ``t`` is seconds on the clip's (or camera's) clock.
    """

    index: int
    t: float
    keypoints: np.ndarray

    def xy(self, joint: int) -> np.ndarray:
        return self.keypoints[joint, :2]

    def score(self, joint: int) -> float:
        return float(self.keypoints[joint, 2])

    def to_json(self) -> dict:
        return {
            "index": self.index,
            "t": round(float(self.t), 6),
            "keypoints": [[round(float(v), 2) for v in kp[:2]] + [round(float(kp[2]), 4)]
                          for kp in self.keypoints],
        }

    @classmethod
    def from_json(cls, obj: dict) -> PoseFrame:
        kps = np.asarray(obj["keypoints"], dtype=np.float32)
        if kps.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(f"expected 17 keypoints of [x, y, score], got shape {kps.shape}")
        return cls(index=int(obj["index"]), t=float(obj["t"]), keypoints=kps)


def stack_keypoints(frames: list[PoseFrame]) -> tuple[np.ndarray, np.ndarray]:
    """Times (N,) and keypoints (N, 17, 3) of a frame list, for vectorised analysis."""
    if not frames:
        return np.zeros(0), np.zeros((0, NUM_KEYPOINTS, 3), dtype=np.float32)
    times = np.array([f.t for f in frames], dtype=np.float64)
    kps = np.stack([f.keypoints for f in frames]).astype(np.float64)
    return times, kps
