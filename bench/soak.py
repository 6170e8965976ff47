"""Soak: many accelerated trials through the whole station app, then memory, fds and storage.

The Flask app (station blueprint, as the touchscreen drives it: check-in, Start, state polls)
runs with the real StationRuntime, StationRecorder and a SQLite store in a temporary folder.
The camera replays a short 160x120 clip with its mat.csv on a simulated mat, both on a clock
that runs ``--speed`` times faster than real time, so one trial takes a fraction of a second.
Pose comes from a frame-reading estimator (keypoints follow the clip's own frames) instead of
MoveNet, to keep it fast; the landing analysis (``analyze_trial``) and the recorder's drawing,
H.264 encoding and SQLite writes run for real on every trial.

Reports RSS growth after a warm-up, the open file-descriptor count, and that every trial was
stored with its media. Usage::

    python bench/soak.py --trials 500
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from kiosk.keypoints import NUM_KEYPOINTS
from kiosk.matcsv import MatEdge, format_mat_csv
from kiosk.media import VideoWriter
from kiosk.pose.base import PoseEstimator
from kiosk.station.mat import MatEvent, SimulatedMat

FPS = 120
W, H = 160, 120
EDGES = [MatEdge(0.60, True), MatEdge(0.90, False), MatEdge(1.35, True)]


class FastClock:
    """Monotonic time running ``speed`` times faster; ``sleep`` sleeps the scaled real time."""

    def __init__(self, speed: float):
        self.speed = speed
        self._t0 = time.monotonic_ns()

    def __call__(self) -> int:
        return self._t0 + int((time.monotonic_ns() - self._t0) * self.speed)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.speed)


class FastMat(SimulatedMat):
    """The simulated mat, waiting in scaled real time between its scheduled edges."""

    def __init__(self, edges, clock: FastClock):
        super().__init__(edges, clock=clock)
        self._speed = clock.speed

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._queue:
                    self._cond.wait()
                if self._stop:
                    return
                now = self._clock()
                ev = self._queue[0]
                if ev.t_ns > now:
                    self._cond.wait(timeout=(ev.t_ns - now) / 1e9 / self._speed)
                    continue
                self._queue.pop(0)
                self._level = ev.pressed
            self._emit([MatEvent(ev.t_ns, ev.pressed)])


class StickEstimator(PoseEstimator):
    """A frontal standing stick figure whose hips sink with the clip's frame number (read back
    from the frame's bar), so the analysis sees real per-frame poses from the frames it gets."""

    name = "stick"

    def estimate(self, image: np.ndarray) -> np.ndarray:
        k = int((image[H // 2, :, 0] > 100).sum())
        sink = 12.0 * np.sin(min(1.0, max(0.0, (k - 70) / 40)) * np.pi)  # a dip around the landing
        kps = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        xy = {0: (80, 10), 1: (82, 8), 2: (78, 8), 3: (84, 9), 4: (76, 9), 5: (90, 25), 6: (70, 25), 7: (94, 40),
              8: (66, 40), 9: (95, 52), 10: (65, 52), 11: (86, 55 + sink), 12: (74, 55 + sink),
              13: (87, 80 + sink / 2), 14: (73, 80 + sink / 2), 15: (88, 105), 16: (72, 105)}
        for j, (x, y) in xy.items():
            kps[j] = (x, y, 0.9)
        return kps


def make_clip(folder: Path) -> Path:
    path = folder / "clip.mp4"
    with VideoWriter(path, FPS, W, H, crf=18) as w:
        for k in range(int(1.6 * FPS)):
            img = np.full((H, W, 3), 50, np.uint8)
            img[:, : 2 + k % 150] = 200
            w.write(img)
    (folder / "mat.csv").write_text(format_mat_csv(EDGES))
    return path


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def run_soak(trials: int, *, speed: float = 4.0, warmup: int = 20, workdir: Path | None = None,
             progress: bool = False) -> dict:
    """Run ``trials`` trials through the app; returns the figures (see module docstring)."""
    from kiosk.analysis.trial import analyze_trial
    from kiosk.config import config_from_dict
    from kiosk.station.camera import ReplayCamera
    from kiosk.station.runtime import StationRuntime
    from kiosk.station.statemachine import Timing
    from kiosk.store import Store
    from kiosk.web import create_app
    from kiosk.web.station.recorder import StationRecorder

    tmp = tempfile.TemporaryDirectory() if workdir is None else None
    root = Path(tmp.name) if tmp is not None else workdir
    assert root is not None
    clip_dir = root / "clip"
    clip_dir.mkdir(parents=True, exist_ok=True)
    clip = make_clip(clip_dir)
    cfg = config_from_dict({"station": {"state_dir": str(root / "state"), "name": "Soak"},
                            "web": {"secret_key": "s" * 40}, "session": {"trials": 3, "max_attempts": 6},
                            "store": {"min_free_mb": 10}})
    store = Store.for_config(cfg)
    store.migrate()
    aid = store.add_athlete("Soak Athlete", sex="female")
    clock = FastClock(speed)
    cam = ReplayCamera(clip, W, H, clock=clock, sleep=clock.sleep)
    mat = FastMat(cam.mat_edges, clock)
    recorder = StationRecorder(store, store.effective_config(cfg))
    rt = StationRuntime(cam, mat, StickEstimator, lambda poses, edges, **kw: analyze_trial(poses, edges, **kw),
                        timing=Timing(countdown_s=0.3), on_trial_done=recorder.on_trial_done, clock=clock,
                        preview_fps=5.0)
    recorder.attach(rt)
    app = create_app(cfg, rt, store=store)
    app.extensions["station_recorder"] = recorder
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": "127.0.0.1"})
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)

    def post(url: str, body: dict | None = None) -> dict:
        r = client.post(url, json=body or {}, headers={"X-CSRF-Token": token})
        if r.status_code != 200:
            raise RuntimeError(f"{url}: {r.status_code} {r.get_data(as_text=True)[:200]}")
        return r.get_json()

    def wait_state(pred, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        snap = rt.snapshot()
        while not pred(snap):
            if time.monotonic() > deadline:
                raise RuntimeError(f"stuck in {snap['state']}: {snap['prompt']}")
            snap = rt.wait_for_change(snap["seq"], timeout=0.5)
        return snap

    verdicts: dict[str, int] = {}
    aborted: list[str] = []   # attempts that ended in ready without a result (the prompt says why)
    rss: list[int] = []
    fds: list[int] = []
    t_start = time.monotonic()
    rt.begin()
    try:
        i = 0
        while i < trials:
            snap = rt.snapshot()
            if snap["state"] == "idle" or snap.get("session_done"):
                post("/station/cancel")
                post("/station/check-in", {"athlete_id": aid, "consent": True})
            wait_state(lambda s: s["state"] in ("ready", "result") and not s["mat_pressed"], 30)
            before = len(rt.sm.history)
            post("/station/start")
            # done: a result, a fault, or back in ready after the trial began (an aborted attempt)
            snap = wait_state(lambda s, before=before: s["state"] in ("result", "fault") or (
                s["state"] == "ready" and len(rt.sm.history) > before + 1), 60)
            if snap["state"] == "ready":
                aborted.append(snap["prompt"])
                if len(aborted) > max(5, trials // 20):
                    raise RuntimeError(f"too many aborted attempts: {aborted[-3:]}")
                continue
            if snap["state"] == "fault":
                raise RuntimeError(f"fault during trial {i + 1}: {snap['fault']}")
            view = client.get("/station/state").get_json()  # the UI's read path, with the view model
            verdicts[view["result"]["verdict"]] = verdicts.get(view["result"]["verdict"], 0) + 1
            recorder.flush(30.0)  # the disk keeps up: each trial's media is written before the next
            if i + 1 >= warmup:  # i counts the trials done before this one
                rss.append(rss_kb())
                fds.append(fd_count())
            i += 1
            if progress and i % 50 == 0:
                print(f"  {i} trials, RSS {rss_kb() / 1024:.1f} MB, fds {fd_count()}", file=sys.stderr, flush=True)
    finally:
        rt.close()
        recorder.close()
    elapsed = time.monotonic() - t_start
    n_rows = int(store.query("SELECT COUNT(*) AS n FROM trials")[0]["n"])
    media = [p for p in (store.root / "media").rglob("*") if p.is_file()]
    replay_files = sum(1 for p in media if p.name.endswith("replay.mp4"))
    store.close()
    out = {
        "trials": trials, "speed": speed, "elapsed_s": round(elapsed, 1), "verdicts": verdicts,
        "rows": n_rows, "aborted": aborted, "replay_files": replay_files, "media_files": len(media),
        "rss_warm_kb": rss[0] if rss else None, "rss_end_kb": rss[-1] if rss else None,
        "rss_growth_pct": round(100.0 * (rss[-1] - rss[0]) / rss[0], 1) if rss else None,
        "fds_warm": fds[0] if fds else None, "fds_end": fds[-1] if fds else None,
        "dropped_frames": rt.ring.dropped, "threads_end": threading.active_count(),
    }
    if tmp is not None:
        tmp.cleanup()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--speed", type=float, default=4.0, help="clock speed-up of camera, mat and runtime")
    ap.add_argument("--warmup", type=int, default=20, help="trials before the RSS/fd baseline")
    args = ap.parse_args(argv)
    r = run_soak(args.trials, speed=args.speed, warmup=args.warmup, progress=True)
    print(f"soak: {r['trials']} trials in {r['elapsed_s']} s ({r['speed']:g}x clock), verdicts {r['verdicts']}")
    print(f"  aborted attempts (retried, nothing stored): {len(r['aborted'])} {sorted(set(r['aborted']))}")
    print(f"  stored: {r['rows']} trial rows, {r['replay_files']} replay.mp4, {r['media_files']} media files")
    print(f"  RSS after {args.warmup} warm-up trials {r['rss_warm_kb'] / 1024:.1f} MB -> end {r['rss_end_kb'] / 1024:.1f} MB "
          f"({r['rss_growth_pct']:+.1f}%)")
    print(f"  open fds {r['fds_warm']} -> {r['fds_end']}; threads at end {r['threads_end']}; "
          f"ring dropped frames {r['dropped_frames']}")
    ok = (r["rows"] == r["trials"] and r["replay_files"] == r["trials"] and r["rss_growth_pct"] < 10.0
          and r["fds_end"] <= r["fds_warm"])
    print("  PASS" if ok else "  FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
