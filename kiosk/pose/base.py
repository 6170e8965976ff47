"""The pose-estimator interface. MoveNet implements it; tests may stand in a recorded one.

An estimator maps one RGB frame to 17 COCO keypoints ``(x, y, score)`` in that frame's pixels,
never mirrored: index 11 is always the athlete's own left hip. ``track()`` may use state from
the previous frame (a crop region), ``estimate()`` never does; ``reset()`` forgets that state
between clips.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable

import numpy as np

from kiosk.keypoints import PoseFrame
from kiosk.media import Frame


class PoseEstimator(ABC):
    #: Short model name, e.g. "lightning", recorded with results.
    name: str = "unknown"

    @abstractmethod
    def estimate(self, image: np.ndarray) -> np.ndarray:
        """Keypoints (17, 3) for a whole RGB image, with no memory of earlier frames."""

    def track(self, image: np.ndarray) -> np.ndarray:
        """Keypoints (17, 3) for the next frame of a clip; may crop around the last pose."""
        return self.estimate(image)

    def reset(self) -> None:
        """Forget tracking state (call between clips)."""

    def close(self) -> None:
        """Release the interpreter or other resources."""


def estimate_frames(
    estimator: PoseEstimator,
    frames: Iterable[Frame],
    *,
    track: bool = True,
    on_frame: Callable[[Frame, PoseFrame], None] | None = None,
) -> list[PoseFrame]:
    """Run the estimator over a clip's frames, in order; ``on_frame`` sees each result."""
    estimator.reset()
    out: list[PoseFrame] = []
    for frame in frames:
        kps = estimator.track(frame.image) if track else estimator.estimate(frame.image)
        pose = PoseFrame(index=frame.index, t=frame.t, keypoints=np.asarray(kps, dtype=np.float32))
        out.append(pose)
        if on_frame is not None:
            on_frame(frame, pose)
    return out
