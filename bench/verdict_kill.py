"""SIGKILL the station the moment a verdict is shown; after the restart that verdict must be stored.

    .venv/bin/python bench/verdict_kill.py --kills 40 [--seed S]

A child process runs the station's save path: the store's start-up, a :class:`StationRecorder`
draining what an earlier run left in its outbox, then trials in a loop. For each trial it calls
``on_trial_done`` (what the runtime calls just before it publishes the verdict) and then prints
``V <key>``: the verdict is on the screen from that line on. The parent SIGKILLs the child a
random 0-40 ms after a ``V`` line (while the replay clip is being encoded and the outbox entry
removed), restarts it, and at the end checks that every trial whose verdict was shown is in the
database exactly once, with no session left open.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def child(state: Path, *, drain_only: bool = False) -> int:
    import numpy as np

    from kiosk.config import config_from_dict
    from kiosk.media import Frame
    from kiosk.station.trial_scoring import TrialRecord
    from kiosk.store import Store
    from kiosk.store.sample import result_json
    from kiosk.web.station.recorder import StationRecorder

    cfg = config_from_dict({"station": {"state_dir": str(state), "name": "kill bench"}, "store": {"min_free_mb": 10},
                            "session": {"trials": 3, "max_attempts": 6}})
    store = Store(state, min_free_mb=10)
    store.startup(cfg)
    rec = StationRecorder(store, cfg, recheck_s=3600)
    found = rec.pending()
    assert rec.drain_now(60), "draining the outbox timed out"
    _say(f"D {rec.pending()} {found}")
    if drain_only:
        rec.close()
        store.close()
        return 0
    rows = store.query("SELECT id FROM athletes ORDER BY id LIMIT 1")
    aid = int(rows[0][0]) if rows else store.add_athlete("Verdict Kill", sex="female")
    athlete = store.get_athlete(aid)
    rng = random.Random()
    attempt = 0
    while True:
        attempt = attempt % 3 + 1
        if attempt == 1:
            rec.end_visit()
        key = rng.getrandbits(62)
        res = {**result_json(random.Random(key)), "kill_key": key}
        img = np.random.default_rng(key % 1000).integers(0, 255, (96, 128, 3), dtype=np.uint8)
        frames = [Frame(i, i / 60, img) for i in range(12)]
        record = TrialRecord(athlete=athlete, attempt=attempt, verdict=res["verdict"], result=res, mat_edges=None,
                             poses=[], frames=frames, wall_time=time.time())
        rec.on_trial_done(record)
        _say(f"V {key}")   # the runtime publishes the verdict right after on_trial_done returns
        rec.flush(60)


@dataclass
class Report:
    kills: int = 0
    shown: set[int] = field(default_factory=set)
    outbox_found: int = 0   # entries the restarts found: trials a kill cut off after their verdict showed
    seconds: float = 0.0


def run(state: Path, kills: int, seed: int) -> Report:
    rng = random.Random(seed)
    report = Report()
    state.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(kills + 1):
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", str(state)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, env=env)
        lines: queue.Queue = queue.Queue()

        def pump(p: subprocess.Popen = proc, q: queue.Queue = lines) -> None:
            assert p.stdout is not None
            for raw in p.stdout:
                q.put(raw.decode().strip())
            q.put(None)

        threading.Thread(target=pump, daemon=True).start()
        last = report.kills == kills
        target = 1 if last else rng.randint(1, 3)  # the final run only drains and shows one verdict
        seen = 0
        while True:
            line = lines.get(timeout=120)
            if line is None:
                raise RuntimeError(f"the child exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
            kind, _, rest = line.partition(" ")
            if kind == "D":
                report.outbox_found += int(rest.split()[1])
            elif kind == "V":
                report.shown.add(int(rest))
                seen += 1
                if seen >= target:
                    if not last:
                        time.sleep(rng.uniform(0.0, 0.04))
                    break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        while (line := lines.get()) is not None:
            if line.startswith("V "):
                report.shown.add(int(line[2:]))
        if not last:
            report.kills += 1
        else:
            break
    # One clean start drains whatever the last kill left, and stops.
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(state), "--drain-only"],
                          capture_output=True, text=True, timeout=300, env=env)
    if done.returncode != 0 or not done.stdout.startswith("D 0"):
        raise RuntimeError(f"the final start did not drain the outbox: {done.stdout!r} {done.stderr[-2000:]}")
    report.outbox_found += int(done.stdout.split()[2])
    report.seconds = time.monotonic() - t0
    return report


def stored_keys(state: Path) -> tuple[list[int], int]:
    """Every trial's kill_key in the database, and how many sessions are still open."""
    conn = sqlite3.connect(state / "jumpkiosk.sqlite3")
    try:
        keys = [json.loads(m).get("kill_key") for (m,) in conn.execute("SELECT metrics FROM trials")]
        open_sessions = conn.execute("SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL").fetchone()[0]
    finally:
        conn.close()
    return keys, int(open_sessions)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=40)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--drain-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        return child(args.child, drain_only=args.drain_only)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        report = run(state, args.kills, seed)
        keys, open_sessions = stored_keys(state)
    lost = report.shown - set(keys)
    twice = len(keys) - len(set(keys))
    print(f"seed {seed}: {report.kills} kills in {report.seconds:.0f} s; verdicts shown {len(report.shown)}, "
          f"stored {len(set(keys) & report.shown)}, lost {len(lost)}, stored twice {twice}, "
          f"sessions left open {open_sessions}; outbox entries found by restarts {report.outbox_found}")
    ok = not lost and not twice and not open_sessions
    print("result:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
