"""Camera loss in the middle of a trial, with the real runtime, a real SQLite store and the
recorder: the station shows the camera fault, goes back to ready once frames return, and keeps
nothing of the torn trial (no trial row, no media file). A control trial on the same station
afterwards IS stored with its media, so the "nothing stored" checks can fail.

The camera is a replayed clip (with its mat.csv on the simulated mat) behind a wrapper that
fails on cue: it raises like an unplugged camera, or keeps consuming frames without delivering
them like a stalled one.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kiosk.analysis.thresholds import Thresholds
from kiosk.errors import CameraError
from kiosk.keypoints import NUM_KEYPOINTS
from kiosk.matcsv import MatEdge, format_mat_csv
from kiosk.media import VideoWriter
from kiosk.pose.base import PoseEstimator
from kiosk.station.camera import Camera, CameraFrame, ReplayCamera
from kiosk.station.mat import SimulatedMat
from kiosk.station.runtime import StationRuntime
from kiosk.station.statemachine import Timing
from kiosk.store import Store
from kiosk.store.sample import result_json
from kiosk.web.station.recorder import StationRecorder
from kiosk.web.station.view import station_view

FPS = 60
EDGES = [MatEdge(0.60, True), MatEdge(0.90, False), MatEdge(1.35, True)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    path = folder / "clip.mp4"
    with VideoWriter(path, FPS, 160, 120, crf=18) as w:
        for k in range(int(1.6 * FPS)):
            img = np.full((120, 160, 3), 40, np.uint8)
            img[:, : 2 + k % 150] = 200
            w.write(img)
    (folder / "mat.csv").write_text(format_mat_csv(EDGES))
    return path


class FlakyCamera(Camera):
    """Wraps a camera; between :meth:`fail` and the end of the outage it delivers nothing.

    ``mode="raise"``: every read (and start) raises CameraError, as an unplugged camera does.
    ``mode="stall"``: reads return None; the wrapped camera's frames are consumed and dropped,
    so the timestamps really have a hole, as on a live sensor.
    """

    def __init__(self, inner: Camera, mode: str):
        super().__init__(inner.width, inner.height, inner.fps)
        self.inner = inner
        self.mode = mode
        self.name = f"flaky-{inner.name}"
        self._until: float | None = None
        self.failed = threading.Event()
        self.mat_edges = getattr(inner, "mat_edges", None)

    def fail(self, seconds: float) -> None:
        self._until = time.monotonic() + seconds

    def _out(self) -> bool:
        out = self._until is not None and time.monotonic() < self._until
        if out:
            self.failed.set()
        return out

    def start(self) -> None:
        if self._out() and self.mode == "raise":
            raise CameraError("No camera found: check the ribbon cable")
        self.inner.start()

    def read(self, timeout: float = 1.0) -> CameraFrame | None:
        frame = self.inner.read(timeout)
        if self._out():
            if self.mode == "raise":
                raise CameraError("the camera stopped sending frames (cable pulled)")
            return None
        return frame

    def stop(self) -> None:
        self.inner.stop()

    def trigger(self) -> None:
        self.inner.trigger()

    @property
    def on_play(self):  # the simulated mat follows the wrapped camera's clip
        return self.inner.on_play

    @on_play.setter
    def on_play(self, fn) -> None:
        if hasattr(self, "inner"):
            self.inner.on_play = fn


class FlatEstimator(PoseEstimator):
    """Keypoints from the frame itself (the bar's length), so poses depend on real frames."""

    def estimate(self, image: np.ndarray) -> np.ndarray:
        kps = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        kps[:, 0] = float((image[60, :, 0] > 100).sum())
        kps[:, 1] = 60.0
        kps[:, 2] = 0.9
        return kps


@dataclass
class Result:
    verdict: str
    data: dict

    def to_json(self) -> dict:
        return self.data


def _analyzer(poses, edges, *, frame_size, sex):
    data = result_json(random.Random(len(poses)))
    return Result(data["verdict"], data)


def _wait(rt: StationRuntime, pred, timeout: float = 15.0) -> dict:
    snap = rt.snapshot()
    deadline = time.monotonic() + timeout
    while not pred(snap):
        assert time.monotonic() < deadline, f"timed out in {snap['state']}: {snap['prompt']}"
        snap = rt.wait_for_change(snap["seq"], timeout=max(0.05, deadline - time.monotonic()))
    return snap


def _store_contents(store: Store) -> tuple[int, list[Path]]:
    rows = store.query("SELECT COUNT(*) AS n FROM trials")[0]["n"]
    media = sorted(p for p in (store.root / "media").rglob("*") if p.is_file()) if (store.root / "media").exists() else []
    return int(rows), media


@pytest.mark.parametrize(("mode", "when", "outage_s"), [
    ("raise", "contact", 3.0),   # cable pulled at landing, re-seated 3 s later
    ("stall", "contact", 2.0),   # frames stop for 2 s (> 1 s: a fault) at landing
    ("stall", "flight", 0.5),    # a 0.5 s hole mid-jump: too short for a fault, still no trial
])
def test_camera_lost_mid_trial_shows_fault_keeps_nothing_and_recovers(clip: Path, tmp_path: Path, mode: str,
                                                                      when: str, outage_s: float) -> None:
    from kiosk.config import config_from_dict

    store = Store(tmp_path / "state")
    store.migrate()
    aid = store.add_athlete("Camera Tester", sex="female")
    cfg = config_from_dict({"station": {"name": "Gym"}, "session": {"trials": 3}})
    recorder = StationRecorder(store, cfg)
    cam = FlakyCamera(ReplayCamera(clip, 160, 120), mode)
    rt = StationRuntime(cam, SimulatedMat(cam.mat_edges), FlatEstimator, _analyzer,
                        timing=Timing(countdown_s=0.2), on_trial_done=recorder.on_trial_done)
    try:
        with rt:
            rt.check_in({"id": aid, "display_name": "Camera Tester", "sex": "female"})
            rt.start()
            _wait(rt, lambda s: s["state"] == when)
            cam.fail(outage_s)
            if when == "flight":
                # A short hole: no fault, but the trial is refused rather than scored.
                snap = _wait(rt, lambda s: s["state"] in ("ready", "result"))
                assert snap["state"] == "ready", snap
                assert "could not be analysed" in snap["prompt"]
            else:
                snap = _wait(rt, lambda s: s["state"] == "fault")
                assert "camera" in snap["faults"] and snap["fault"]
                view = station_view(snap, thresholds=Thresholds(), trials_per_session=3)
                assert view["fault"]["kind"] == "camera" and "camera" in view["fault"]["title"].lower()
                assert rt.start()["state"] == "fault"          # no trial while the camera is out
                snap = _wait(rt, lambda s: s["state"] == "ready", timeout=outage_s + 10)
                assert snap["fault"] is None and "Back to normal" in snap["prompt"]
            assert cam.failed.is_set()
            assert recorder.flush()
            assert _store_contents(store) == (0, []), "a torn trial left a row or media behind"
            assert rt.last_record is None

            # Control: the same station, camera healthy again, stores the next trial with media.
            _wait(rt, lambda s: not s["mat_pressed"], timeout=5)
            rt.start()
            snap = _wait(rt, lambda s: s["state"] == "result", timeout=20)
            assert recorder.flush()
            rows, media = _store_contents(store)
            assert rows == 1 and any(p.name.endswith("replay.mp4") for p in media), media
    finally:
        recorder.close()
        store.close()
