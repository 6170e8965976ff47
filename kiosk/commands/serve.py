"""``jumpkiosk serve`` (the station on its hardware) and ``jumpkiosk demo`` (no Pi needed).

Both run everything in ONE process: the camera and the GPIO pins have one owner, so the web
server (waitress, threads) and the station runtime share it. waitress serves from a background
thread; the main thread is the supervision loop that feeds the systemd watchdog only while the
runtime still answers, so a hung camera or a deadlock gets the service restarted.

``demo`` swaps in the replay camera, the simulated mat and the synthetic athlete's demo clips
(rendered into the state folder on first use, with progress in the terminal), so the whole
station runs on a fresh laptop.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError


class ServeError(KioskError, OSError):
    """The web server cannot start (address in use, no permission for the port)."""


#: The demo trials the replay camera plays in turn (folder names from kiosk.synth.demo.DEMO_TRIALS),
#: so a visitor's three jumps show a PASS, a FLAG on both knees and a FLAG on one knee.
DEMO_CLIPS = ("demo-1-good", "demo-2-valgus", "demo-3-one-side")

#: waitress worker threads: SSE streams (one per open station page) each hold one while open.
THREADS = 12


def register(sub: argparse._SubParsersAction) -> None:
    for name, help_text in (("serve", "run the station: touch UI, coach pages and API, on this device's camera and mat"),
                            ("demo", "run the station with a replayed synthetic athlete and a simulated mat (no Pi needed)")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--host", help="address to listen on (default: [web] host)")
        p.add_argument("--port", type=int, help="TCP port (default: [web] port); 0 picks a free one")
        p.add_argument("--accept-empty-database", action="store_true",
                       help="start although the results database is empty while media files exist "
                            "(after restoring failed on purpose); the files move to quarantine/, none is deleted")
        p.set_defaults(func=run, demo=(name == "demo"))


def demo_config(config: Any, clip: Path | list[Path]) -> Any:
    """The config with the replay camera on ``clip`` (or a playlist of clips, each with its
    mat.csv beside it) and the simulated mat."""
    import os

    from kiosk.config import replace

    clips = clip if isinstance(clip, list) else [clip]
    cfg = replace(config, "camera", source="replay", replay_path=os.pathsep.join(str(c) for c in clips))
    return replace(cfg, "mat", kind="simulated", pin_factory="mock")


def prepare_demo(config: Any) -> tuple[Any, Path]:
    """Render the demo clips into ``<state dir>/demo`` if missing (slow once, then cached).

    Returns the demo config and the how-to loop clip."""
    import time

    from kiosk.store.db import state_dir
    from kiosk.synth.demo import DEMO_TRIALS, ensure_demo_clips, ensure_howto_clip

    folder = state_dir(config) / "demo"
    fresh = not all((folder / name / "clip.mp4").is_file() for name in DEMO_TRIALS)
    if fresh:
        print(f"jumpkiosk demo: rendering the synthetic athlete's demo clips into {folder} "
              f"({len(DEMO_TRIALS)} trials + how-to loop; first run only, about a minute)...", flush=True)
    t0 = time.monotonic()
    trials = ensure_demo_clips(folder)
    howto = ensure_howto_clip(folder)
    if fresh:
        print(f"jumpkiosk demo: demo clips ready in {time.monotonic() - t0:.0f} s", flush=True)
    by_name = {t.name: t for t in trials}
    chosen = [by_name[n] / "clip.mp4" for n in DEMO_CLIPS if n in by_name] or [trials[0] / "clip.mp4"]
    return demo_config(config, chosen), howto


def run(args: argparse.Namespace) -> int:
    from kiosk.config import load_config, replace

    config = load_config(args.config)
    if args.host is not None:
        config = replace(config, "web", host=args.host)
    if args.port is not None and args.port != 0:
        config = replace(config, "web", port=args.port)
    howto = None
    if args.demo:
        config, howto = prepare_demo(config)
    return serve(config, port_override=args.port, howto_clip=howto, demo=args.demo,
                 accept_empty_database=bool(getattr(args, "accept_empty_database", False)))


def serve(config: Any, *, port_override: int | None = None, howto_clip: Path | None = None, demo: bool = False,
          accept_empty_database: bool = False) -> int:
    """Start runtime + web app, serve until SIGTERM/SIGINT, then stop both cleanly."""
    import os

    from waitress.server import create_server

    from kiosk.station.runtime import StationRuntime
    from kiosk.store import Store
    from kiosk.web import create_app, limits, tls
    from kiosk.web.station.recorder import StationRecorder

    os.umask(os.umask(0) | 0o007)  # athletes' data: nothing the station writes is for other users
    watchdog = _watchdog()
    store = Store.for_config(config)
    # Before anything else touches the store: refuses an empty database beside existing media.
    store.startup(config, accept_empty=accept_empty_database)
    effective = store.effective_config(config)   # the coach's Settings page overrides (trials, thresholds)
    recorder = StationRecorder(store, effective)
    runtime = StationRuntime.from_config(effective, on_trial_done=recorder.on_trial_done)
    model_fault = check_models(effective)
    if model_fault is not None:  # serve anyway: the screen says what is wrong, /healthz reports it
        print(f"jumpkiosk: {model_fault}", file=sys.stderr, flush=True)
        runtime.report_fault("model", model_fault)
    # One config source, read at every check-in: the coach's Settings changes apply to the next visit.
    runtime.config_source = recorder.config_source = lambda: store.effective_config(config)
    recorder.attach(runtime)  # a full disk becomes the station's "storage full" fault
    app = create_app(config, runtime, store=store, accept_empty_database=accept_empty_database)
    app.extensions["station_recorder"] = recorder
    if howto_clip is not None:
        app.config["STATION_HOWTO_CLIP"] = str(howto_clip)
    port = 0 if port_override == 0 else config.web.port
    try:
        server = create_server(app, host=config.web.host, port=port, threads=THREADS, ident="jumpkiosk",
                               **limits.SERVER_SETTINGS)
        limits.guard_server(server)  # per-address connection limits for the LAN
    except OSError as exc:
        runtime.close()
        recorder.close()
        store.close()
        raise ServeError(f"cannot listen on {config.web.host}:{port} ({exc.strerror or exc}); "
                         "is another jumpkiosk running? Try --port") from None
    try:
        https = tls.start_listener(app, config, threads=THREADS)  # coaches on the LAN: HTTPS only
    except KioskError:
        server.close()
        runtime.close()
        recorder.close()
        store.close()
        raise
    bound = server.effective_port  # type: ignore[union-attr]
    host = config.web.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    stop = threading.Event()
    _on_signals(stop)
    runtime.begin()
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    mode = "demo" if demo else "station"
    print(f"jumpkiosk {mode}: open http://{shown}:{bound}/ (coach pages: /coach)", flush=True)
    if https is not None:
        print(f"jumpkiosk {mode}: coaches on the LAN: {https.url} (certificate SHA-256 {https.fingerprint})", flush=True)
    if watchdog is not None:
        watchdog.ready(f"serving on {host}:{bound}")
    try:
        while not stop.wait(1.0):
            if not thread.is_alive():
                print("jumpkiosk: the web server stopped", file=sys.stderr)
                return 1
            if watchdog is not None:
                runtime.snapshot()  # hangs here (no ping) if the runtime is deadlocked
                watchdog.ping()
    finally:
        if watchdog is not None:
            watchdog.stopping("shutting down")
        server.close()
        if https is not None:
            https.stop()
        runtime.close()
        recorder.close()
        store.close()
    return 0


#: What the station screen says when the pose model cannot be loaded (then the model's own error).
MODEL_FAULT = "Model file damaged: run `setup.sh update` (see docs/OPERATIONS.md, Faults)"


def station_models(config: Any) -> list[str]:
    """Every pose model the station will run: the tracking model and the refine model."""
    names = [config.pose.model]
    if config.pose.refine_model != "none" and config.pose.refine_model not in names:
        names.append(config.pose.refine_model)
    return names


def check_models(config: Any) -> str | None:
    """None when every model the station will use (:func:`station_models`) verifies against its
    manifest and loads, else the station's fault message. Checked at start so a damaged or
    missing file (Thunder, the default refine model, included) shows as a fault screen at
    once, instead of every trial failing its analysis later."""
    from kiosk.errors import ModelError

    for name in station_models(config):
        try:
            from kiosk.pose.movenet import create_estimator

            create_estimator(name, 1).close()
        except ModelError as exc:
            return f"{MODEL_FAULT}: {exc}"
    return None


check_model = check_models  # the name earlier callers used


def _watchdog() -> Any:
    """The ops engineer's sd_notify watchdog when it is installed; None on a plain laptop."""
    try:
        from kiosk.sdnotify import Watchdog
    except ModuleNotFoundError:
        return None
    return Watchdog()


def _on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
