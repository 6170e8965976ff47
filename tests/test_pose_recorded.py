"""Keypoint files and their replay: re-scoring without inference must see exactly what was stored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kiosk.errors import MediaError
from kiosk.keypoints import PoseFrame
from kiosk.media import Frame, SourceInfo
from kiosk.pose.base import estimate_frames
from kiosk.pose.recorded import RecordedEstimator, read_keypoints_json, write_keypoints_json


def _poses(n: int, seed: int) -> list[PoseFrame]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kps = np.column_stack([rng.uniform(0, 640, 17), rng.uniform(0, 480, 17), rng.uniform(0, 1, 17)])
        out.append(PoseFrame(i, i / 120.0, kps.astype(np.float32)))
    return out


def _frames(n: int, w: int = 640, h: int = 480) -> list[Frame]:
    return [Frame(i, i / 120.0, np.zeros((h, w, 3), dtype=np.uint8)) for i in range(n)]


def test_write_read_replay_round_trip(tmp_path: Path) -> None:
    clip = SourceInfo("a/clip.mp4", "video", 120.0, 640, 480, 5)
    photo = SourceInfo("b/photo.png", "image", None, 640, 480, 1)
    poses_a, poses_b = _poses(5, 1), _poses(1, 2)
    path = tmp_path / "kp.json"
    write_keypoints_json(path, "thunder", [(clip, poses_a), (photo, poses_b)])
    model, sources = read_keypoints_json(path)
    assert model == "thunder" and [s.path for s in sources] == ["a/clip.mp4", "b/photo.png"]
    assert sources[0].fps == 120.0 and sources[1].fps is None

    est = RecordedEstimator.from_file(path, source="clip.mp4")
    assert est.name == "thunder"
    replayed = estimate_frames(est, _frames(5))
    for got, want in zip(replayed, poses_a, strict=True):
        assert (got.index, got.t) == (want.index, pytest.approx(want.t))
        np.testing.assert_allclose(got.keypoints[:, :2], want.keypoints[:, :2], atol=0.005)  # 2 decimals stored
        np.testing.assert_allclose(got.keypoints[:, 2], want.keypoints[:, 2], atol=5e-5)
    # estimate_frames resets, so a second pass replays from the start again
    again = estimate_frames(est, _frames(5))
    np.testing.assert_array_equal(again[0].keypoints, replayed[0].keypoints)
    assert RecordedEstimator.from_file(path, source=1).source.path == "b/photo.png"


def test_replay_refuses_the_wrong_clip(tmp_path: Path) -> None:
    path = tmp_path / "kp.json"
    write_keypoints_json(path, "lightning", [(SourceInfo("c.mp4", "video", 30.0, 640, 480, 3), _poses(3, 3))])
    est = RecordedEstimator.from_file(path)
    with pytest.raises(MediaError, match="wrong clip"):
        est.estimate(np.zeros((480, 320, 3), dtype=np.uint8))
    with pytest.raises(MediaError, match="end after 3 frames"):
        estimate_frames(est, _frames(4))
    with pytest.raises(MediaError, match="no recorded source matches"):
        RecordedEstimator.from_file(path, source="other.mp4")
    with pytest.raises(MediaError, match="no source #2"):
        RecordedEstimator.from_file(path, source=2)


@pytest.mark.parametrize("content", ["{", json.dumps({"model": "x"}), json.dumps({"model": "x", "sources": [
    {"path": "p", "fps": 1, "width": 2, "height": 2, "frames": [{"index": 0, "t": 0, "keypoints": [[1, 2, 3]]}]}]})])
def test_malformed_files_are_media_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(MediaError) as err:
        read_keypoints_json(path)
    assert "\n" not in str(err.value) and "bad.json" in str(err.value)
