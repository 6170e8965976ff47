"""Soak: many accelerated trials through the whole demo app with real MoveNet, then memory, fds
and storage.

What runs is ``jumpkiosk demo``: the demo config from ``kiosk.commands.serve.prepare_demo``
(the synthetic athlete's demo clips, rendered into the state folder, replayed in turn with each
clip's mat.csv on the simulated mat), the Flask app driven as the touchscreen drives it
(check-in, Start, state reads, the result screen's freeze-frame), the StationRuntime with its
budgeted frame plan posing with real MoveNet Lightning and refining the decisive frames with
Thunder (the configured ``[pose]`` models), the real scoring, and the StationRecorder drawing,
H.264-encoding and writing every trial into SQLite.

Only time is changed: camera, mat and runtime share a clock running ``--speed`` times faster
than real time. Model invocations still take real time, so the runtime is told the measured
invoke time multiplied by the speed (``invoke_s``): its frame plan and verdict deadline then
see what a station whose pose is ``speed`` times slower would see (4x on this class of x86
box is about a Pi 5's Lightning time), and the number of poses per trial stays realistic.

Reports RSS growth after a warm-up, the open file-descriptor count, the verdict mix per demo
clip, poses per trial, and that every trial was stored with its media and with the verdict the
screen showed. Usage::

    python bench/soak.py --trials 500
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


class FastClock:
    """Monotonic time running ``speed`` times faster than real time."""

    def __init__(self, speed: float):
        self.speed = speed
        self._t0 = time.monotonic_ns()

    def __call__(self) -> int:
        return self._t0 + int((time.monotonic_ns() - self._t0) * self.speed)


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def measure_invoke_s(model: str, threads: int, image: Any, n: int = 12) -> float:
    """Median real seconds of one MoveNet call (``track``, as the runtime poses) on ``image``."""
    from kiosk.pose.movenet import create_estimator

    est = create_estimator(model, threads)
    try:
        for _ in range(3):
            est.track(image)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            est.track(image)
            times.append(time.perf_counter() - t0)
    finally:
        est.close()
    return statistics.median(times)


def run_soak(trials: int, *, speed: float = 4.0, warmup: int = 20, workdir: Path | None = None,
             threads: int = 2, progress: bool = False) -> dict:
    """Run ``trials`` trials through the demo app; returns the figures (see module docstring)."""
    from kiosk.commands.serve import prepare_demo
    from kiosk.config import config_from_dict
    from kiosk.media import open_source
    from kiosk.station.frameplan import Budget
    from kiosk.station.runtime import StationRuntime
    from kiosk.store import Store
    from kiosk.synth.validate import truth_score
    from kiosk.web import create_app
    from kiosk.web.station.recorder import StationRecorder

    tmp = tempfile.TemporaryDirectory() if workdir is None else None
    root = Path(tmp.name) if tmp is not None else workdir
    assert root is not None
    base = config_from_dict({"station": {"state_dir": str(root / "state"), "name": "Soak"},
                             "web": {"secret_key": "s" * 40}, "session": {"trials": 3, "max_attempts": 6,
                                                                               # one Start per jump, none unscored:
                                                                               # every attempt is counted here
                                                                               "practice_jump": False,
                                                                               "rearm_on_still": False},
                             "store": {"min_free_mb": 10}, "pose": {"threads": threads},
                             "mat": {"countdown_s": 1.0}})
    cfg, _howto = prepare_demo(base)  # renders the demo clips into <state>/demo on first use
    clip_dirs = [Path(p).parent for p in cfg.camera.replay_path.split(os.pathsep) if p]
    clips = [d.name for d in clip_dirs]
    # What a perfect pose model would make the kiosk say on each clip (from its exact joints).
    truth = {d.name: truth_score(json.loads((d / "truth.json").read_text()), cfg.scoring).verdict for d in clip_dirs}
    store = Store.for_config(cfg)
    store.migrate()
    cfg = store.effective_config(cfg)
    aid = store.add_athlete("Soak Athlete", sex="female")

    _info, frames = open_source(cfg.camera.replay_path.split(os.pathsep)[0])
    standing = next(iter(frames)).image  # the athlete on the box: what the runtime poses most
    getattr(frames, "close", lambda: None)()
    invoke = measure_invoke_s(cfg.pose.model, threads, standing)
    refine = measure_invoke_s(cfg.pose.refine_model, threads, standing) if cfg.pose.refine_model != "none" else None

    clock = FastClock(speed)
    recorder = StationRecorder(store, cfg)
    # The demo station as the demo builds it, on the fast clock. The ring holds ring_seconds of
    # CLOCK time, i.e. 1/speed of it in real time; doubled, so an analysis delayed by other jobs
    # on a shared box still finds its frames (one that falls a whole ring behind is given up with
    # the busy prompt and counted in "aborted").
    rt = StationRuntime.from_config(cfg, on_trial_done=recorder.on_trial_done, clock=clock, clock_speed=speed,
                                    ring_seconds=2 * cfg.camera.ring_seconds, budget=Budget(target_s=1.0),
                                    invoke_s=invoke * speed, refine_invoke_s=refine * speed if refine else None)
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

    shown: list[str] = []                      # the verdict on screen, trial by trial
    by_clip: dict[str, dict[str, int]] = {}    # demo clip -> verdict -> count
    aborted: list[str] = []   # attempts that ended in ready without a result (the prompt says why)
    refused: list[str] = []   # Start taps the station refused (their prompts)
    invocations: list[int] = []
    skipped = 0
    freeze_missing = 0
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
            snap = rt.snapshot()
            if snap["state"] in ("ready", "result"):
                # Start refused (the prompt says why, e.g. the visible check missed the feet for
                # a moment when the next athlete appeared): tap again once the screen changes,
                # as a visitor would.
                refused.append(snap["prompt"])
                if len(refused) > max(10, trials // 5):
                    raise RuntimeError(f"Start refused too often: {refused[-3:]}")
                rt.wait_for_change(snap["seq"], timeout=2.0)
                continue
            # done: a result, a fault, or back in ready after the trial began (an aborted attempt)
            snap = wait_state(lambda s, before=before: len(rt.sm.history) > before + 1 and (
                s["state"] in ("result", "fault", "ready")), 60)
            if snap["state"] == "ready":
                aborted.append(snap["prompt"])
                if len(aborted) > max(5, trials // 20):
                    raise RuntimeError(f"too many aborted attempts: {aborted[-3:]}")
                continue
            if snap["state"] == "fault":
                raise RuntimeError(f"fault during trial {i + 1}: {snap['fault']}")
            view = client.get("/station/state").get_json()  # the UI's read path, with the view model
            # The session is blinded: the page shows no verdict until the summary; the verdict
            # the station decided is the runtime's.
            verdict = str(snap["last_verdict"])
            shown.append(verdict)
            clip = clips[(rt.camera.plays - 1) % len(clips)]
            by_clip.setdefault(clip, {}).setdefault(verdict, 0)
            by_clip[clip][verdict] += 1
            summary = view.get("summary") or {}
            if summary.get("verdict") in ("PASS", "FLAG"):  # the summary's picture, as the browser loads it
                r = client.get(summary["picture"]["url"]) if summary.get("picture") else None
                freeze_missing += r is None or r.status_code != 200 or not r.data.startswith(b"\xff\xd8")
            record = rt.last_record
            invocations.append(int(record.timings.get("invocations", 0)) if record else 0)
            skipped += int(record.timings.get("fine_skipped", 0)) if record else 0
            recorder.flush(30.0)  # the disk keeps up: each trial's media is written before the next
            if i + 1 >= warmup:  # i counts the trials done before this one
                rss.append(rss_kb())
                fds.append(fd_count())
            i += 1
            if progress and i % 25 == 0:
                print(f"  {i} trials, {time.monotonic() - t_start:.0f} s, RSS {rss_kb() / 1024:.1f} MB, "
                      f"fds {fd_count()}, {by_clip}", file=sys.stderr, flush=True)
    finally:
        rt.close()
        recorder.close()
    elapsed = time.monotonic() - t_start
    rows = store.query("SELECT t.verdict, t.media FROM trials t JOIN sessions s ON s.id = t.session_id "
                       "WHERE s.athlete_id = ? ORDER BY t.id", (aid,))
    stored = [str(r["verdict"]) for r in rows]
    media_root = store.root / "media"
    with_media = 0
    for r in rows:
        files = json.loads(r["media"] or "{}")
        with_media += all(name in files and (media_root / files[name]).is_file() for name in ("replay.mp4", "peak.jpg"))
    store.close()
    out = {
        "trials": trials, "speed": speed, "elapsed_s": round(elapsed, 1), "clips": clips, "truth": truth, "by_clip": by_clip,
        "shown": shown, "stored": stored, "rows": len(rows), "with_media": with_media, "aborted": aborted, "refused": refused,
        "freeze_missing": freeze_missing, "invoke_ms": round(1e3 * invoke, 1),
        "refine_invoke_ms": round(1e3 * refine, 1) if refine else None,
        "invocations_median": statistics.median(invocations) if invocations else None,
        "invocations_range": (min(invocations), max(invocations)) if invocations else None,
        "fine_skipped": skipped,
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
    ap.add_argument("--threads", type=int, default=2, help="MoveNet interpreter threads")
    ap.add_argument("--workdir", type=Path, help="state folder to use and keep (default: a temporary one)")
    args = ap.parse_args(argv)
    r = run_soak(args.trials, speed=args.speed, warmup=args.warmup, workdir=args.workdir, threads=args.threads,
                 progress=True)
    print(f"soak: {r['trials']} trials in {r['elapsed_s']} s ({r['speed']:g}x clock), demo clips {r['clips']}")
    for clip, counts in r["by_clip"].items():
        print(f"  {clip}: {counts} (exact joints give {r['truth'][clip]})")
    print(f"  MoveNet {r['invoke_ms']} ms/pose (refine {r['refine_invoke_ms']} ms) real; poses per trial median "
          f"{r['invocations_median']}, range {r['invocations_range']}; fine frames cut by the deadline {r['fine_skipped']}")
    print(f"  aborted attempts (retried, nothing stored): {len(r['aborted'])} {sorted(set(r['aborted']))}")
    print(f"  Start taps refused (tapped again): {len(r['refused'])} {sorted(set(r['refused']))}")
    print(f"  stored: {r['rows']} trial rows, {r['with_media']} with replay.mp4 + peak.jpg; stored verdicts "
          f"{'equal' if r['stored'] == r['shown'] else 'DIFFER from'} the screen's; freeze-frames missing {r['freeze_missing']}")
    print(f"  RSS after {args.warmup} warm-up trials {r['rss_warm_kb'] / 1024:.1f} MB -> end {r['rss_end_kb'] / 1024:.1f} MB "
          f"({r['rss_growth_pct']:+.1f}%)")
    print(f"  open fds {r['fds_warm']} -> {r['fds_end']}; threads at end {r['threads_end']}; "
          f"ring dropped frames {r['dropped_frames']}")
    ok = (r["rows"] == r["trials"] and r["with_media"] == r["trials"] and r["stored"] == r["shown"]
          and r["rss_growth_pct"] < 10.0 and r["fds_end"] <= r["fds_warm"] and r["freeze_missing"] == 0)
    print("  PASS" if ok else "  FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
