"""Keypoint files (``jumpkiosk analyze --keypoints-out``) and an estimator that replays them.

Replaying lets the landing analysis be re-scored, and tested, without running the model again:
``RecordedEstimator`` hands back the stored keypoints frame by frame, in order, and checks that
the frames it is given have the recorded size, so a replay against the wrong clip fails loudly.

File layout::

    {"model": "thunder", "keypoint_names": [...],
     "sources": [{"path": "...", "fps": 30.0, "width": 576, "height": 576,
                  "frames": [{"index": 0, "t": 0.0, "keypoints": [[x, y, score], ...17]}]}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.errors import MediaError
from kiosk.keypoints import KEYPOINT_NAMES, PoseFrame
from kiosk.media import SourceInfo, atomic_write_bytes
from kiosk.pose.base import PoseEstimator


@dataclass(frozen=True)
class RecordedSource:
    """One source's stored poses."""

    path: str
    fps: float | None
    width: int
    height: int
    frames: list[PoseFrame]


def source_to_json(info: SourceInfo, frames: list[PoseFrame]) -> dict:
    return {
        "path": info.path,
        "fps": None if info.fps is None else round(float(info.fps), 6),
        "width": int(info.width),
        "height": int(info.height),
        "frames": [f.to_json() for f in frames],
    }


def write_keypoints_json(path: str | Path, model: str, sources: list[tuple[SourceInfo, list[PoseFrame]]]) -> None:
    """Write the keypoints file atomically (never a half-written file)."""
    doc = {
        "model": model,
        "keypoint_names": list(KEYPOINT_NAMES),
        "sources": [source_to_json(info, frames) for info, frames in sources],
    }
    atomic_write_bytes(path, (json.dumps(doc, separators=(",", ":")) + "\n").encode("utf-8"))


def read_keypoints_json(path: str | Path) -> tuple[str, list[RecordedSource]]:
    """(model name, sources) from a keypoints file; a malformed file raises :class:`MediaError`."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MediaError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MediaError(f"{p}: not a keypoints JSON file ({type(exc).__name__})") from None
    try:
        names = doc.get("keypoint_names")
        if names is not None and list(names) != list(KEYPOINT_NAMES):
            raise ValueError("keypoints are not in COCO-17 order")
        sources = [
            RecordedSource(
                path=str(s["path"]),
                fps=None if s.get("fps") is None else float(s["fps"]),
                width=int(s["width"]),
                height=int(s["height"]),
                frames=[PoseFrame.from_json(f) for f in s["frames"]],
            )
            for s in doc["sources"]
        ]
        model = str(doc["model"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MediaError(f"{p}: not a keypoints file of the expected layout ({exc})") from None
    return model, sources


class RecordedEstimator(PoseEstimator):
    """Replays one source's stored keypoints; ``estimate``/``track`` return them in frame order."""

    def __init__(self, source: RecordedSource, model: str = "recorded"):
        self.source = source
        self.name = model
        self._next = 0

    @classmethod
    def from_file(cls, path: str | Path, source: str | int = 0) -> RecordedEstimator:
        """The estimator for one source of a keypoints file, by index or by (file name of) path."""
        model, sources = read_keypoints_json(path)
        if isinstance(source, int):
            if not 0 <= source < len(sources):
                raise MediaError(f"{path}: has {len(sources)} source(s), no source #{source}")
            return cls(sources[source], model)
        for s in sources:
            if s.path == str(source) or Path(s.path).name == Path(source).name:
                return cls(s, model)
        raise MediaError(f"{path}: no recorded source matches {source}")

    def estimate(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if (w, h) != (self.source.width, self.source.height):
            raise MediaError(f"recorded keypoints are for {self.source.width}x{self.source.height} frames, "
                             f"got {w}x{h} (replaying the wrong clip?)")
        if self._next >= len(self.source.frames):
            raise MediaError(f"recorded keypoints for {self.source.path} end after {len(self.source.frames)} frames")
        kps = self.source.frames[self._next].keypoints.copy()
        self._next += 1
        return kps

    def reset(self) -> None:
        self._next = 0
