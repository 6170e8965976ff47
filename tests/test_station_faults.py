"""Camera loss in the middle of a trial, with the real runtime, a real SQLite store and the
recorder: the station shows the camera fault, goes back to ready once frames return, and keeps
nothing of the torn trial (no trial row, no media file). A control trial on the same station
afterwards IS stored with its media, so the "nothing stored" checks can fail.

The camera is a replayed clip (with its mat.csv on the simulated mat) behind a wrapper that
fails on cue: it raises like an unplugged camera, or keeps consuming frames without delivering
them like a stalled one.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import BarEstimator as FlatEstimator
from conftest import sample_analyzer as _analyzer
from conftest import write_bar_clip

from kiosk.analysis.thresholds import Thresholds
from kiosk.errors import CameraError
from kiosk.matcsv import MatEdge
from kiosk.station.camera import Camera, CameraFrame, ReplayCamera
from kiosk.station.mat import SimulatedMat
from kiosk.station.runtime import StationRuntime
from kiosk.station.statemachine import Timing
from kiosk.store import Store
from kiosk.web.station.recorder import StationRecorder
from kiosk.web.station.view import station_view

FPS = 60
EDGES = [MatEdge(0.60, True), MatEdge(0.90, False), MatEdge(1.35, True)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_bar_clip(tmp_path_factory.mktemp("clip"), FPS, EDGES, crf=18, background=40)


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


#: The first clip frame of the landing window (contact 0.60 s at 60 fps is frame 36; the dense
#: frames start 60 ms before it, the standing frames end 0.25 s before it).
LANDING_FRAME = 32


class GatedEstimator(FlatEstimator):
    """Stops on the first landing frame until ``release`` is set: an analysis stuck behind a
    slow pose while the camera runs on (a loaded box). ``blocked`` tells the test it is there."""

    def __init__(self) -> None:
        self.blocked = threading.Event()
        self.release = threading.Event()

    def estimate(self, image: np.ndarray) -> np.ndarray:
        kps = super().estimate(image)
        if kps[0, 0] >= 2 + LANDING_FRAME and not self.release.is_set():
            self.blocked.set()
            self.release.wait(timeout=30.0)
        return kps


def _control_trial(rt: StationRuntime, recorder: StationRecorder, store: Store) -> None:
    """The same station, no longer held up, stores its next trial: the "nothing stored" checks
    before it could fail."""
    _wait(rt, lambda s: s["state"] == "ready" and not s["mat_pressed"], timeout=10)
    rt.start()
    snap = _wait(rt, lambda s: s["state"] == "result", timeout=20)
    assert snap["attempts"] == 1  # the given-up trial did not count as an attempt
    assert recorder.flush()
    rows, media = _store_contents(store)
    assert rows == 1 and any(p.name.endswith("replay.mp4") for p in media), media


@pytest.mark.parametrize("how", ["ring_lapped", "watchdog"])
def test_analysis_that_falls_behind_gives_up_with_busy_prompt(clip: Path, tmp_path: Path, how: str) -> None:
    """The soak's hang: the worker fell a whole ring behind, so the landing frames it waited for
    were gone and the station sat on "Analysing" for ever. Now the worker sees the frames are
    overwritten (``ring_lapped``: a 0.6 s ring, the camera runs on while the pose is held up),
    or the watchdog gives up an overdue verdict whatever the worker is stuck on (``watchdog``:
    the pose never returns in time). Either way: ready, the busy prompt, nothing stored."""
    from kiosk.config import config_from_dict
    from kiosk.station.runtime import BUSY_PROMPT

    store = Store(tmp_path / "state")
    store.migrate()
    aid = store.add_athlete("Busy Tester", sex="male")
    recorder = StationRecorder(store, config_from_dict({"station": {"name": "Gym"}}))
    cam = ReplayCamera(clip, 160, 120)
    est = GatedEstimator()
    ring_s, limit_s = (0.5, None) if how == "ring_lapped" else (4.0, 1.0)
    rt = StationRuntime(cam, SimulatedMat(cam.mat_edges), lambda: est, _analyzer, ring_seconds=ring_s,
                        timing=Timing(countdown_s=0.2), on_trial_done=recorder.on_trial_done,
                        analysis_timeout_s=limit_s)
    try:
        with rt:
            rt.check_in({"id": aid, "display_name": "Busy Tester", "sex": "male"})
            rt.start()
            assert est.blocked.wait(10.0), "the pose of the landing was never asked for"
            _wait(rt, lambda s: s["state"] == "landed")
            if how == "ring_lapped":
                # The camera runs on until the ring no longer holds the frames around contact.
                contact, ring = rt.sm.times["contact"], rt.ring
                assert ring.wait_for_time(contact + int(1.5 * ring.capacity * ring.period_ns), timeout=10.0)
                assert ring.time_span()[0] > contact
                est.release.set()
            snap = _wait(rt, lambda s: s["state"] in ("ready", "result", "fault"), timeout=10.0)
            assert snap["state"] == "ready" and snap["prompt"] == BUSY_PROMPT, snap
            assert snap["attempts"] == 0 and snap["last_verdict"] is None
            history = [s.value for s in rt.sm.history]
            assert history[history.index("landed"):] in (["landed", "ready"], ["landed", "analysing", "ready"])
            est.release.set()  # the held pose returns now; its trial must still not be stored
            rt.analysis_timeout_s = None
            _control_trial(rt, recorder, store)
            assert rt.last_record is not None and rt.last_record.athlete["id"] == aid
    finally:
        recorder.close()
        store.close()
