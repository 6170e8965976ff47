"""Power loss: SIGKILL a process that saves trials with media, restart it, check nothing is lost.

    .venv/bin/python bench/power_loss.py --kills 200 [--seed S] [--keep DIR]

A child process (this file with ``--child``) runs the station's store start-up (migrate, orphan
sweep) and then saves trials with media through ``kiosk.store`` in a loop, printing one line per
phase it enters and ``C <count> <id> <key>`` after each commit. The parent kills it with SIGKILL
at random points aimed at each phase (imports, migrate, orphan sweep, media writes, the open
transaction, the commit, between trials), restarts it, and at the end runs one clean start and
checks the state folder: SQLite integrity and foreign keys, every trial's media present with the
bytes its key generates, no orphan or temp file, and every acknowledged trial still there.

SIGKILL loses the process but not the kernel's page cache, so this proves the store's ordering
(files before row, sweep of what a crash left) and SQLite's recovery, not the disk's own flush
behaviour; that part rests on fsync (files, folders, WAL with ``synchronous=FULL``).

Before each restart the parent ages the files in the media folder by an hour, as the time a
station stays off after a cut would: the start-up sweep leaves files younger than its grace
period (they may belong to a save by another process in progress), so without ageing it would
never have anything to do in a test that restarts within milliseconds.
"""

from __future__ import annotations

import argparse
import hashlib
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

#: Media names the child saves with every trial.
MEDIA_NAMES = ("replay.mp4", "peak.jpg")
#: Phases the parent aims at, with weights, and how long after the phase's marker it may strike.
TARGETS: dict[str, tuple[float, float]] = {
    "start": (0.08, 0.35),      # imports; delay counts from the spawn
    "migrate": (0.08, 0.004),
    "sweep": (0.18, 0.004),     # plus SWEEP_S_PER_TRIAL per history trial
    "media": (0.22, 0.025),
    "tx": (0.14, 0.004),
    "commit": (0.22, 0.012),
    "idle": (0.08, 0.08),       # anywhere after a commit
}
SWEEP_S_PER_TRIAL = 40e-6      # the start-up sweep's time per stored trial (2 files), measured here
SESSION_TRIALS = 5              # trials per session before the child opens a new one


def media_for(key: int, *, small: bool = False) -> dict[str, bytes]:
    """The media bytes of the trial with ``key``: deterministic, so the content can be checked.
    ``small`` for the history trials, which only have to be many."""
    rng = random.Random(key)
    scale = 0.01 if small else 1.0
    return {"replay.mp4": rng.randbytes(int(rng.randint(20_000, 300_000) * scale)),
            "peak.jpg": rng.randbytes(int(rng.randint(4_000, 60_000) * scale))}


def _quality(key: int, files: dict[str, bytes], *, small: bool = False) -> dict:
    return {"power_loss_key": key, "small": small,
            "sha256": {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}}


# --- the child ---------------------------------------------------------------------------------

def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())  # unbuffered: the parent must see it before a kill


def child(state: Path, *, start_only: bool) -> int:
    """The station's store start-up, then trials with media until killed."""
    _say("P start")
    from kiosk.store import Store
    from kiosk.store import media as media_files
    from kiosk.store.sample import result_json

    store = Store(state, min_free_mb=0)
    _say("P migrate")
    store.migrate()
    _say("P sweep")
    _say(f"S {store.sweep_orphans()}")   # the default grace, as kiosk.web.create_app runs it
    _say("P ready")
    if start_only:
        store.close()
        return 0

    conn = store._conn()
    conn.set_trace_callback(lambda sql: _say("P commit") if sql == "COMMIT" else None)
    real_write, real_tx = media_files.write_media, store.tx
    first = {"media": True}

    def write_media(*args, **kw):  # type: ignore[no-untyped-def]
        if first["media"]:
            first["media"] = False
            _say("P media")
        return real_write(*args, **kw)

    def tx():  # type: ignore[no-untyped-def]
        _say("P tx")
        return real_tx()

    media_files.write_media = write_media
    store.tx = tx  # type: ignore[method-assign]
    count = int(store.query("SELECT COUNT(*) FROM trials")[0][0])
    rng = random.Random()
    while True:
        row = store.query("SELECT s.id, COUNT(t.id) FROM sessions s LEFT JOIN trials t ON t.session_id = s.id "
                          "GROUP BY s.id ORDER BY s.id DESC LIMIT 1")
        if row and row[0][1] < SESSION_TRIALS:
            sid = int(row[0][0])
        else:
            _say("P session")
            athletes = store.query("SELECT id FROM athletes ORDER BY id LIMIT 1")
            aid = int(athletes[0][0]) if athletes else store.add_athlete("Power Loss")
            sid = store.start_session(aid, "power-loss bench")
        key = rng.getrandbits(62)
        files = media_for(key)
        quality = _quality(key, files)
        first["media"] = True
        tid = store.save_trial(sid, result_json(random.Random(key)), files, quality=quality)
        count += 1
        _say(f"C {count} {tid} {key}")
        _say("P idle")


def seed_history(state: Path, trials: int, seed: int) -> None:
    """A station's past: ``trials`` small trials over the last weeks, so the start-up sweep walks
    thousands of files (as on a station in use) and a kill can land inside it. Written through
    ``save_trial`` with fsync switched off in this throw-away process: only speed differs."""
    from datetime import UTC, datetime, timedelta

    from kiosk.store import Store
    from kiosk.store.sample import result_json

    os.fsync = lambda fd: None  # type: ignore[assignment]
    store = Store(state, min_free_mb=0)
    store.migrate()
    store._conn().execute("PRAGMA synchronous = OFF")
    rng = random.Random(seed)
    aid = store.add_athlete("History")
    now = datetime.now(UTC)
    sid = 0
    for i in range(trials):
        when = now - timedelta(days=1 + i * 60 / max(1, trials), minutes=rng.uniform(0, 60))
        if i % SESSION_TRIALS == 0:
            sid = store.start_session(aid, "history", started_at=when)
        key = rng.getrandbits(62)
        files = media_for(key, small=True)
        store.save_trial(sid, result_json(random.Random(key)), files, recorded_at=when,
                         quality=_quality(key, files, small=True))
    store.close()


# --- the parent --------------------------------------------------------------------------------

@dataclass
class Report:
    seed: int
    kills: int = 0
    kill_phases: Counter = field(default_factory=Counter)   # phase each kill actually landed in
    acknowledged: dict[int, int] = field(default_factory=dict)  # trial id -> key, as the child reported
    max_count: int = 0                                      # highest "committed N" seen
    orphans_removed: int = 0
    temp_files_at_kill: int = 0                             # kills that left a half-written temp file
    history: int = 0
    seconds: float = 0.0


def _child_env(state: Path) -> dict[str, str]:
    """The children's environment, with Python's bytecode cache on (in a folder beside the state
    folder): some shells set PYTHONDONTWRITEBYTECODE, and then every restart would compile the
    whole package again, which would make the start-up, not the store, most of the run time."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(state.parent / f"{state.name}.pycache")
    return env


def _spawn(script: Path, state: Path, log: Path, *extra: str) -> tuple[subprocess.Popen, queue.Queue]:
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, str(script), "--child", str(state), *extra],
                                stdout=subprocess.PIPE, stderr=err, bufsize=0, env=_child_env(state))
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw.decode().strip())
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _note(report: Report, line: str) -> str | None:
    """Account one child line; returns the phase it announces, if any."""
    kind, _, rest = line.partition(" ")
    if kind == "P":
        return rest
    if kind == "C":
        count, tid, key = (int(x) for x in rest.split())
        report.max_count = max(report.max_count, count)
        report.acknowledged[tid] = key
    elif kind == "S":
        report.orphans_removed += int(rest)
    return None


def _live_folders(state: Path) -> list[Path]:
    """The day folders the child writes into now (today's, and yesterday's around midnight UTC);
    the seeded history lies in older ones and never changes."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    days = {f"{d:%Y/%m/%d}" for d in (now, now - timedelta(minutes=10))}
    return [state / "media" / d for d in sorted(days) if (state / "media" / d).is_dir()]


def _age_media(state: Path, seconds: float = 3600.0) -> None:
    """Make the child's files look as old as a power-off of ``seconds`` would make them."""
    then = time.time() - seconds
    for folder in _live_folders(state):
        for entry in os.scandir(folder):
            try:
                os.utime(entry.path, (then, then))
            except FileNotFoundError:
                pass


def _fail(proc: subprocess.Popen, log: Path, what: str) -> RuntimeError:
    return RuntimeError(f"the saving process {what} (exit {proc.returncode}): "
                        f"{log.read_text(errors='replace').strip()[-2000:]}")


def run(state: Path, kills: int, seed: int, *, history: int = 2000, progress: bool = False) -> Report:
    """Seed ``history`` past trials, kill and restart the saving child ``kills`` times, then run
    one clean start."""
    script = Path(__file__).resolve()
    rng = random.Random(seed)
    report = Report(seed=seed, history=history)
    log = state.parent / f"{state.name}.child-stderr.txt"
    state.mkdir(parents=True, exist_ok=True)
    if history:
        with open(log, "wb") as err:
            done = subprocess.run([sys.executable, str(script), "--child", str(state), "--seed-history", str(history),
                                   "--seed", str(seed)], stderr=err, timeout=600, env=_child_env(state))
        if done.returncode != 0:
            raise RuntimeError(f"seeding the history failed: {log.read_text(errors='replace')[-2000:]}")
    names = list(TARGETS)
    weights = [TARGETS[n][0] for n in names]
    t0 = time.monotonic()
    for i in range(kills):
        target = rng.choices(names, weights)[0]
        reach = TARGETS[target][1] + (history * SWEEP_S_PER_TRIAL if target == "sweep" else 0.0)
        delay = rng.uniform(0.0, reach)
        nth = rng.randint(1, 3) if target in ("media", "tx", "commit", "idle") else 1
        _age_media(state)
        proc, lines = _spawn(script, state, log)
        spawned = time.monotonic()
        phase, seen = "start", 0
        while True:
            if target == "start":
                timeout = max(0.0, spawned + delay - time.monotonic())
            else:
                timeout = 30.0
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                if target == "start":
                    break
                proc.kill()
                raise _fail(proc, log, "stalled") from None
            if line is None:
                proc.wait()
                raise _fail(proc, log, "exited before it was killed")
            announced = _note(report, line)
            if announced is not None:
                phase = announced
                if announced == target:
                    seen += 1
                    if seen >= nth:
                        if delay > 0:
                            time.sleep(delay)
                        break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        while (line := lines.get()) is not None:   # what it said up to the moment it died
            phase = _note(report, line) or phase
        if proc.returncode != -signal.SIGKILL:
            raise _fail(proc, log, "did not die of the kill")
        report.kills += 1
        report.kill_phases[phase] += 1
        if any(e.name.startswith(".") for folder in _live_folders(state) for e in os.scandir(folder)):
            report.temp_files_at_kill += 1
        if progress and (i + 1) % 20 == 0:
            print(f"  {i + 1} kills, {report.max_count} trials acknowledged", file=sys.stderr, flush=True)
    _age_media(state)
    proc, lines = _spawn(script, state, log, "--start-only")
    while (line := lines.get(timeout=60)) is not None:
        _note(report, line)
    if proc.wait(timeout=60) != 0:
        raise _fail(proc, log, "failed its clean start")
    log.unlink(missing_ok=True)
    report.seconds = time.monotonic() - t0
    return report


@dataclass
class Check:
    integrity: str
    foreign_key_problems: int
    trials: int
    bad_trials: list[str]
    orphans: list[str]
    temp_files: list[str]
    lost: list[int]              # acknowledged trial ids missing (or with other content)
    history: int                 # trials of the seeded past among ``trials``


def verify(state: Path, report: Report) -> Check:
    """Inspect the state folder the way an auditor would: plain sqlite3 and the file system."""
    conn = sqlite3.connect(state / "jumpkiosk.sqlite3")
    try:
        integrity = "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
        fk = len(conn.execute("PRAGMA foreign_key_check").fetchall())
        rows = conn.execute("SELECT id, quality, media FROM trials").fetchall()
    finally:
        conn.close()
    media_root = state / "media"
    bad: list[str] = []
    referenced: set[str] = set()
    keys: dict[int, int] = {}
    history = 0
    for tid, quality_text, media_text in rows:
        quality, media = json.loads(quality_text), json.loads(media_text)
        key = quality.get("power_loss_key")
        history += bool(quality.get("small"))
        if key is None or set(media) != set(MEDIA_NAMES):
            bad.append(f"trial {tid}: incomplete row")
            continue
        keys[tid] = key
        expected = media_for(key, small=bool(quality.get("small")))
        for name, rel in media.items():
            referenced.add(rel)
            path = media_root / rel
            if not path.is_file():
                bad.append(f"trial {tid}: {rel} missing")
                continue
            data = path.read_bytes()
            if data != expected[name] or hashlib.sha256(data).hexdigest() != quality["sha256"][name]:
                bad.append(f"trial {tid}: {rel} has other content ({len(data)} bytes)")
    on_disk = sorted(p.relative_to(media_root).as_posix() for p in media_root.rglob("*") if p.is_file())
    orphans = [p for p in on_disk if p not in referenced]
    temps = [p for p in on_disk if Path(p).name.startswith(".") or ".tmp" in Path(p).name]
    lost = sorted(tid for tid, key in report.acknowledged.items() if keys.get(tid) != key)
    return Check(integrity, fk, len(rows), bad, orphans, temps, lost, history)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--seed", type=int, default=None, help="kill points (default: random, printed)")
    ap.add_argument("--history", type=int, default=2000, help="past trials to seed first (default 2000)")
    ap.add_argument("--keep", type=Path, default=None, help="state folder to use and keep (must not exist)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--start-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seed-history", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None and args.seed_history:
        seed_history(args.child, args.seed_history, args.seed or 0)
        return 0
    if args.child is not None:
        return child(args.child, start_only=args.start_only)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    with tempfile.TemporaryDirectory() as tmp:
        state = args.keep if args.keep is not None else Path(tmp) / "state"
        print(f"seed {seed}; {args.kills} kills", flush=True)
        report = run(state, args.kills, seed, history=args.history, progress=True)
        check = verify(state, report)
    phases = ", ".join(f"{p} {n}" for p, n in sorted(report.kill_phases.items(), key=lambda kv: -kv[1]))
    print(f"kills: {report.kills} in {report.seconds:.0f} s (landed in: {phases})")
    print(f"trials acknowledged as committed: {report.max_count} (highest count the child printed, "
          f"{report.history} of them seeded history)")
    print(f"trials found: {check.trials}; incomplete or wrong: {len(check.bad_trials)}; "
          f"acknowledged but lost: {len(check.lost)}; committed but killed before acknowledging: "
          f"{check.trials - check.history - len(report.acknowledged)}")
    print(f"kills that left a half-written temp file: {report.temp_files_at_kill}; "
          f"orphan files moved to quarantine by start-up sweeps: {report.orphans_removed}; "
          f"orphans left: {len(check.orphans)}; temp files left: {len(check.temp_files)}")
    print(f"integrity_check: {check.integrity}; foreign_key_check problems: {check.foreign_key_problems}")
    for problem in (check.bad_trials + [f"lost trial {t}" for t in check.lost] + check.orphans)[:20]:
        print("  problem:", problem)
    ok = (check.integrity == "ok" and not check.foreign_key_problems and not check.bad_trials and not check.lost
          and not check.orphans and not check.temp_files and check.trials >= report.max_count)
    print("result:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
