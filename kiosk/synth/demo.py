"""The demo trials and the "how to do it" loop, rendered once into a cache folder.

Fixed seeds and parameters, so every station shows the same demo; each clip folder holds a
``params.sha`` stamp and is re-rendered only when the params (or renderer version) change.
Clips live in the station's state folder, never in git.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kiosk.media import atomic_write_bytes
from kiosk.synth.params import SynthParams, sample_params

#: Bump when the renderer or motion changes what a given params object looks like
#: (2: shorts' crotch drawn at the anthropometric height).
RENDER_VERSION = "2"

#: name -> params of the demo trials: a clean landing, clear dynamic valgus, one-sided valgus.
#: Seeds are picked for looks MoveNet sees well standing on the box (the station's visible check
#: reads hips/knees/ankles there): seed 303 scored the ankles 0.22-0.25 (Lightning, median),
#: 309 scores every leg joint >= 0.75. The one-sided right valgus is 20 deg because Lightning
#: reads a 14 deg one as ~10 deg, under the 10.6 deg limit (a PASS, not the one-sided FLAG).
DEMO_TRIALS: dict[str, SynthParams] = {
    "demo-1-good": sample_params(101, fps=120, width=640, height=480, valgus_left=3.0, valgus_right=2.5,
                                 static_valgus_left=1.0, static_valgus_right=1.0, depth_deg=80, yaw_deg=2.0),
    "demo-2-valgus": sample_params(202, fps=120, width=640, height=480, valgus_left=17.0, valgus_right=16.0,
                                   static_valgus_left=2.0, static_valgus_right=1.5, depth_deg=70, yaw_deg=-3.0),
    "demo-3-one-side": sample_params(309, fps=120, width=640, height=480, valgus_left=3.0, valgus_right=20.0,
                                     static_valgus_left=1.0, static_valgus_right=1.0, depth_deg=75, yaw_deg=1.0,
                                     land_delay_ms=12.0),
}

#: The technique loop: knees over the toes, deep soft landing, no lean.
HOWTO: SynthParams = sample_params(404, fps=30, width=480, height=360, valgus_left=1.0, valgus_right=1.0,
                                   static_valgus_left=0.5, static_valgus_right=0.5, depth_deg=85, trunk_lean_deg=0.0,
                                   land_delay_ms=0.0, yaw_deg=0.0, stand_s=0.8, after_s=0.8)


def _stamp(params: SynthParams) -> str:
    return f"{params.hash()}-v{RENDER_VERSION}"


def _ensure(folder: Path, params: SynthParams) -> Path:
    from kiosk.synth.clip import render_clip

    stamp = folder / "params.sha"
    if stamp.is_file() and stamp.read_text().strip() == _stamp(params) and (folder / "clip.mp4").is_file():
        return folder
    # render beside, then swap in, so a crash never leaves a half demo under the real name
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    render_clip(params, tmp)
    atomic_write_bytes(tmp / "params.sha", (_stamp(params) + "\n").encode())
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def ensure_demo_clips(folder: str | Path) -> list[Path]:
    """The demo trial folders (each: clip.mp4, mat.csv, truth.json), rendering missing or stale ones.

    Also ensures the how-to loop (see :func:`ensure_howto_clip`).
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    trials = [_ensure(root / name, params) for name, params in DEMO_TRIALS.items()]
    ensure_howto_clip(root)
    return trials


def ensure_howto_clip(folder: str | Path) -> Path:
    """``howto/clip.mp4``: a good-technique drop jump (480x360, 30 fps) to loop on the welcome screen."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    return _ensure(root / "howto", HOWTO) / "clip.mp4"


def contact_sheet(seeds: tuple[int, ...] = (1, 4, 9, 23), tile: tuple[int, int] = (320, 240)):
    """Rows of (standing, initial contact, peak flexion) frames of sampled trials, one row per
    seed: the picture in docs/synthetic-athlete.md. Returns an RGB image."""
    import cv2
    import numpy as np

    from kiosk.synth.clip import ClipRenderer

    rows = []
    for seed in seeds:
        r = ClipRenderer(sample_params(seed))
        ev = r.scene.motion.ev
        cells = []
        for t in (0.5, ev.initial_contact, ev.peak_flexion):
            frame = next(r.frames(t - 0.5 / r.params.fps, t + 0.5 / r.params.fps))
            cells.append(cv2.resize(frame.image, tile, interpolation=cv2.INTER_AREA))
        rows.append(np.hstack(cells))
    return np.vstack(rows)
