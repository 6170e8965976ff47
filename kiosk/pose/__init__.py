"""Pose estimation behind a small interface (:class:`~kiosk.pose.base.PoseEstimator`)."""

from kiosk.pose.base import PoseEstimator, estimate_frames

__all__ = ["PoseEstimator", "estimate_frames"]
