"""MoveNet SinglePose (Lightning 192 px, Thunder 256 px) on a TFLite interpreter.

Per frame: choose a square region (the letterboxed whole frame, or while tracking a square around
the last pose, see :mod:`kiosk.pose.crop`), cut and resize it to the model's input, invoke, and
map the model's ``[1, 1, 17, 3]`` output of normalised ``(y, x, score)`` back to source pixels as
``(x, y, score)``. Frames are never mirrored: output index 11 is the athlete's own left hip,
which in a frontal view lies on the image's right.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kiosk.errors import ModelError
from kiosk.keypoints import NUM_KEYPOINTS
from kiosk.pose.base import PoseEstimator
from kiosk.pose.crop import CropRegion, body_crop_region, crop_and_resize, full_frame_region, torso_seen
from kiosk.pose.models import ModelSpec, resolve_model
from kiosk.pose.runtime import make_interpreter

_DTYPES = {"int32": np.int32, "uint8": np.uint8, "float32": np.float32}


class MoveNetEstimator(PoseEstimator):
    """One MoveNet interpreter. Not thread-safe: use one estimator per thread."""

    def __init__(self, interpreter: Any, spec: ModelSpec, *, min_score: float = 0.3, crop_margin: float = 1.25):
        self.name = spec.name
        self.spec = spec
        self.min_score = float(min_score)
        self.crop_margin = float(crop_margin)
        self._interp = interpreter
        inp = interpreter.get_input_details()
        out = interpreter.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ModelError(f"{spec.display_path}: expected one input and one output, got {len(inp)} and {len(out)}")
        shape = [int(v) for v in inp[0]["shape"]]
        if len(shape) != 4 or shape[0] != 1 or shape[1] != shape[2] or shape[3] != 3:
            raise ModelError(f"{spec.display_path}: input shape {shape} is not [1, N, N, 3]")
        if shape[1] != spec.input_size:
            raise ModelError(f"{spec.display_path}: input is {shape[1]} px but the manifest says {spec.input_size}")
        out_shape = [int(v) for v in out[0]["shape"]]
        if out_shape != [1, 1, NUM_KEYPOINTS, 3]:
            raise ModelError(f"{spec.display_path}: output shape {out_shape} is not [1, 1, 17, 3] (not MoveNet SinglePose)")
        # The interpreter, not the manifest, decides the dtype fed in.
        self.input_dtype = np.dtype(inp[0]["dtype"])
        self.input_size = shape[1]
        self._in_index = inp[0]["index"]
        self._out_index = out[0]["index"]
        self._region: CropRegion | None = None
        self.last_region: CropRegion | None = None

    # --- the model on one square -----------------------------------------------------------

    def infer_region(self, image: np.ndarray, region: CropRegion) -> np.ndarray:
        """Keypoints (17, 3) in source pixels from the model run on ``region`` of ``image``."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
        square, mapping = crop_and_resize(image, region, self.input_size)
        self.invoke(square)
        raw = self._interp.get_tensor(self._out_index)[0, 0]  # (17, 3): y, x, score in 0..1
        out = np.empty((NUM_KEYPOINTS, 3), dtype=np.float32)
        out[:, :2] = mapping.to_source(raw[:, 1::-1])  # (x, y)
        out[:, 2] = raw[:, 2]
        self.last_region = region
        return out

    def invoke(self, square: np.ndarray) -> None:
        """Run the interpreter on an already resized uint8 square (benchmarks time this alone)."""
        self._interp.set_tensor(self._in_index, square[np.newaxis].astype(self.input_dtype, copy=False))
        self._interp.invoke()

    # --- PoseEstimator ------------------------------------------------------------------------

    def estimate(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        return self.infer_region(image, full_frame_region(w, h))

    def track(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        full = full_frame_region(w, h)
        region = self._region or full
        kps = self.infer_region(image, region)
        if region != full and not torso_seen(kps, self.min_score):
            # Lost the athlete inside the crop (fast move, occlusion): look at the whole frame now
            # rather than return a bad frame and only recover on the next one.
            kps = self.infer_region(image, full)
        self._region = body_crop_region(kps, w, h, min_score=self.min_score, margin=self.crop_margin)
        return kps

    def reset(self) -> None:
        self._region = None
        self.last_region = None

    def close(self) -> None:
        self._interp = None


def create_estimator(
    model: str = "lightning",
    threads: int = 4,
    models_dir: str | Path | None = None,
    *,
    min_score: float = 0.3,
) -> MoveNetEstimator:
    """A ready MoveNet estimator: the file is checked against the manifest, then loaded."""
    spec = resolve_model(model, models_dir)
    interp = make_interpreter(spec.path, num_threads=threads)
    return MoveNetEstimator(interp, spec, min_score=min_score)
