"""Pose estimation behind a small interface (:class:`~kiosk.pose.base.PoseEstimator`).

``create_estimator("lightning" | "thunder", threads=4)`` gives MoveNet on LiteRT (the runtime is
imported only when an estimator is created); ``RecordedEstimator`` replays a keypoints file.
"""

from kiosk.pose.base import PoseEstimator, estimate_frames
from kiosk.pose.movenet import MoveNetEstimator, create_estimator
from kiosk.pose.recorded import RecordedEstimator

__all__ = ["MoveNetEstimator", "PoseEstimator", "RecordedEstimator", "create_estimator", "estimate_frames"]
