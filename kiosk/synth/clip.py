"""Rendering a synthetic trial: frames in memory, or ``clip.mp4`` + ``mat.csv`` + ``truth.json``.

Frame ``i`` shows the instant ``t = i / fps``; its motion blur integrates the exposure window
centred on ``t``, so the true joints at ``t`` sit at the centre of the smear. Ground truth is
computed with :mod:`kiosk.geometry` from the PROJECTED 2D joints, exactly as the analysis computes
it from detected ones, at the exact event times (not the nearest frame).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from kiosk.geometry import fppa_deg, kasr, knee_separation_pct
from kiosk.keypoints import KEYPOINT_NAMES, KP, LEG_JOINTS
from kiosk.matcsv import MatEdge, format_mat_csv
from kiosk.media import VideoWriter, atomic_write_bytes
from kiosk.synth.body import make_body
from kiosk.synth.motion import BOX_FRONT_Z
from kiosk.synth.params import SynthParams
from kiosk.synth.render import Painter, PersonDrawer, Room, finish, make_luts, make_noise_bank, shadow
from kiosk.synth.scene import Scene, make_scene
from kiosk.synth.variants import VariantEvents
from kiosk.synth.walker import static_figure_pose, walker_pose

BATCH = 32


class SynthFrame(NamedTuple):
    t: float
    image: np.ndarray    # RGB uint8 (H, W, 3)
    joints: np.ndarray   # (17, 2) true COCO-17 joints in pixels


def project_joints(scene: Scene, times: np.ndarray) -> np.ndarray:
    """True COCO-17 joints (N, 17, 2) in pixels at the given times."""
    pose = scene.motion.evaluate(times)
    pts = np.stack([pose[name] for name in KEYPOINT_NAMES], axis=1)
    uv, _ = scene.camera.project(pts)
    return uv


class ClipRenderer:
    """Draws the frames of one trial. Build once per clip: the room and noise are cached."""

    def __init__(self, params: SynthParams):
        self.params = p = params
        self.scene = scene = make_scene(params)
        rng = np.random.default_rng([p.look_seed, 7])
        self.room = Room(scene.camera, scene.look, p.box_height_m, rng, box=not p.cmj_in_place)
        self.luts = make_luts(scene.look)
        self.noise = make_noise_bank((p.height, p.width, 3), scene.look.noise_sigma, rng)
        a = math.radians(scene.look.light_angle_deg)
        self.light = np.array([math.cos(a), -math.sin(a)])
        self.drawer = PersonDrawer(scene.body, scene.look, scene.camera)
        if p.static_figure:  # still, so drawn once into the background
            fig_pose, fig_body = static_figure_pose(p, scene.camera)
            PersonDrawer(fig_body, scene.look, scene.camera, athlete=False, face=True, skin=scene.look.walker_skin,
                         shirt=scene.look.walker_shirt, bottoms=scene.look.walker_bottoms).draw(
                Painter(self.room.image, self.light), fig_pose, 0)
        self.walker: PersonDrawer | None = None
        if p.second_person:
            wb = make_body(p.replace(height_m=float(np.clip(p.height_m * rng.uniform(0.9, 1.1), 1.3, 2.2)),
                                     girth=float(rng.uniform(0.9, 1.2))))
            self.walker = PersonDrawer(wb, scene.look, scene.camera, athlete=False, skin=scene.look.walker_skin,
                                       shirt=scene.look.walker_shirt, bottoms=scene.look.walker_bottoms)
        exp = scene.look.exposure_ms / 1000.0
        # shutter open from t - exp/2 to t + exp/2; sub-frames are spent only where joints move
        self.sub_offsets = np.array([-exp / 2, 0.0, exp / 2])
        self._frame_no = 0

    @property
    def duration(self) -> float:
        return self.scene.motion.ev.end

    def frame_times(self, t_start: float = 0.0, t_end: float | None = None) -> np.ndarray:
        fps = self.params.fps
        end = self.duration if t_end is None else min(t_end, self.duration)
        first = max(0, math.ceil(t_start * fps - 1e-9))
        last = math.floor(end * fps + 1e-9)
        return np.arange(first, last + 1) / fps

    def _draw_instant(self, pose: dict[str, np.ndarray], i: int, walker: dict[str, np.ndarray] | None) -> np.ndarray:
        img = self.room.image.copy()
        painter = Painter(img, self.light)
        on_box = pose["pelvis"][i][2] < BOX_FRONT_Z - 0.02
        shadow(img, self.scene.camera, pose, i, self.params.box_height_m if on_box else 0.0, 0.35)
        behind = walker is not None and not self.scene.look.walker_in_front
        if walker is not None and behind:
            self.walker.draw(painter, walker, i)  # type: ignore[union-attr]
        self.drawer.draw(painter, pose, i)
        if walker is not None and not behind:
            self.walker.draw(painter, walker, i)  # type: ignore[union-attr]
        return img

    def frames(self, t_start: float = 0.0, t_end: float | None = None) -> Iterator[SynthFrame]:
        times = self.frame_times(t_start, t_end)
        ev = self.scene.motion.ev
        for k in range(0, len(times), BATCH):
            tb = times[k:k + BATCH]
            sub_t = (tb[:, None] + self.sub_offsets[None, :]).ravel()
            pose = self.scene.motion.evaluate(sub_t)
            walker = None
            if self.walker is not None:
                walker = walker_pose(sub_t, self.walker.b, ev.initial_contact, self.scene.look.walker_in_front)
            joints = project_joints(self.scene, tb)
            uv, _ = self.scene.camera.project(np.stack([pose[n] for n in KEYPOINT_NAMES], axis=1))
            uv = uv.reshape(len(tb), 3, len(KEYPOINT_NAMES), 2)
            smear = np.abs(uv[:, 2] - uv[:, 0]).max(axis=(1, 2))
            for j, t in enumerate(tb):
                subs = (1,) if smear[j] < 1.0 else (0, 2) if smear[j] < 3.0 else (0, 1, 2)
                imgs = [self._draw_instant(pose, j * 3 + s, walker) for s in subs]
                img = imgs[0]
                if len(imgs) == 2:
                    img = cv2.addWeighted(imgs[0], 0.5, imgs[1], 0.5, 0)
                elif len(imgs) == 3:
                    img = cv2.addWeighted(cv2.addWeighted(imgs[0], 0.5, imgs[2], 0.5, 0), 2 / 3, imgs[1], 1 / 3, 0)
                self._frame_no += 1
                img = finish(img, self.scene.look, self.noise[self._frame_no % len(self.noise)], self.luts)
                yield SynthFrame(float(t), img, joints[j])


def iter_frames(params: SynthParams, t_start: float = 0.0, t_end: float | None = None) -> Iterator[SynthFrame]:
    """Frames of a trial without writing files (the station's synthetic camera uses this)."""
    yield from ClipRenderer(params).frames(t_start, t_end)


# --- ground truth ------------------------------------------------------------------------------

@dataclass
class Truth:
    fps: float
    width: int
    height: int
    events: dict[str, float]
    frames: list[dict[str, Any]]
    legs: dict[str, dict[str, float]]
    kasr_ic: float
    kasr_peak: float
    knee_separation_pct_peak: float
    params: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"fps": self.fps, "width": self.width, "height": self.height, "events": self.events, "frames": self.frames,
                "legs": self.legs, "kasr_ic": self.kasr_ic, "kasr_peak": self.kasr_peak,
                "knee_separation_pct_peak": self.knee_separation_pct_peak, "params": self.params, **self.extra}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Truth:
        known = {"fps", "width", "height", "events", "frames", "legs", "kasr_ic", "kasr_peak", "knee_separation_pct_peak", "params"}
        return cls(**{k: obj[k] for k in known}, extra={k: v for k, v in obj.items() if k not in known})

    @classmethod
    def load(cls, path: str | Path) -> Truth:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))

    def joints_array(self) -> np.ndarray:
        """(N, 17, 2) joints of all frames, COCO order."""
        return np.array([[f["joints"][n] for n in KEYPOINT_NAMES] for f in self.frames], dtype=np.float64)

    def times(self) -> np.ndarray:
        return np.array([f["t"] for f in self.frames], dtype=np.float64)

    def mat_edges(self) -> list[MatEdge]:
        if "mat_edges" in self.extra:  # a protocol failure: its own contact story
            return [MatEdge(t, bool(pressed)) for t, pressed in self.extra["mat_edges"]]
        e = self.events
        return [MatEdge(e["initial_contact_s"], True), MatEdge(e["takeoff_s"], False), MatEdge(e["second_landing_s"], True)]


def leg_fppa(j: np.ndarray, side: str) -> np.ndarray:
    """FPPA (deg) of one leg from joints (..., 17, 2)."""
    hip, knee, ankle, other = LEG_JOINTS[side]
    return fppa_deg(j[..., hip, :], j[..., knee, :], j[..., ankle, :], j[..., other, :])


def _kasr(j: np.ndarray) -> np.ndarray:
    return kasr(j[..., KP["left_knee"], :], j[..., KP["right_knee"], :], j[..., KP["left_ankle"], :], j[..., KP["right_ankle"], :])


def compute_truth(scene: Scene, frame_times: np.ndarray) -> Truth:
    p, ev = scene.params, scene.motion.ev
    joints = project_joints(scene, frame_times)
    pelvis = scene.motion.evaluate(frame_times)["pelvis"]
    _, depth = scene.camera.project(pelvis)
    body_px = scene.body.height * scene.camera.f / depth
    frames = [{"t": round(float(t), 6), "body_height_px": round(float(bh), 2),
               "joints": {n: [round(float(v), 3) for v in joints[i, k]] for k, n in enumerate(KEYPOINT_NAMES)}}
              for i, (t, bh) in enumerate(zip(frame_times, body_px, strict=True))]
    at_ic, at_peak = project_joints(scene, np.array([ev.initial_contact, ev.peak_flexion]))
    window = project_joints(scene, np.arange(ev.initial_contact, ev.takeoff + 1e-9, 0.001))
    standing = project_joints(scene, np.arange(0.1, ev.stand_end - 0.05, 0.01))
    legs = {side: {"fppa_ic": float(leg_fppa(at_ic, side)), "fppa_peak": float(np.nanmax(leg_fppa(window, side))),
                   "fppa_at_peak_flexion": float(leg_fppa(at_peak, side)),
                   "static_fppa": float(np.nanmean(leg_fppa(standing, side)))}
            for side in ("left", "right")}
    ksp = knee_separation_pct(at_peak[KP["left_knee"]], at_peak[KP["right_knee"]], at_peak[KP["left_hip"]], at_peak[KP["right_hip"]])
    events = {k: _round_times(v) for k, v in ev.to_json().items()}
    params = p.to_json() | {"look": scene.look.to_json()}
    extra: dict[str, Any] = {"static_kasr": float(np.nanmean(_kasr(standing)))}
    extra |= protocol_truth(scene)
    return Truth(p.fps, p.width - p.width % 2, p.height - p.height % 2, events, frames, legs, float(_kasr(at_ic)),
                 float(_kasr(at_peak)), float(ksp), params, extra=extra)


def _round_times(v: Any) -> Any:
    if isinstance(v, list):
        return [round(x, 6) for x in v]
    return None if v is None else round(v, 6)


def protocol_truth(scene: Scene) -> dict[str, Any]:
    """Truth keys of a protocol failure (none for a normal trial): the option, the finding the
    kiosk must give, every mat edge, and the option's own facts."""
    from kiosk.synth.protocol import describe

    p, ev = scene.params, scene.motion.ev
    about = describe(p)
    if about is None:
        return {}
    out: dict[str, Any] = {"protocol": about}
    if isinstance(ev, VariantEvents):
        out["mat_edges"] = [[round(t, 6), int(pressed)] for t, pressed in ev.mat]
    if p.static_figure:
        pose, _ = static_figure_pose(p, scene.camera)
        uv, _ = scene.camera.project(np.stack([pose[n][0] for n in KEYPOINT_NAMES]), athlete=False)
        out["static_figure_joints"] = {n: [round(float(v), 3) for v in uv[k]] for k, n in enumerate(KEYPOINT_NAMES)}
    return out


def render_clip(params: SynthParams, out_dir: str | Path, *, write_mat: bool = True,
                on_frame: Callable[[int, int], None] | None = None) -> Truth:
    """Render ``clip.mp4`` (+ ``mat.csv`` unless ``write_mat`` is false) and ``truth.json`` into
    ``out_dir``; returns the truth. ``on_frame(done, total)`` reports progress."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    renderer = ClipRenderer(params)
    times = renderer.frame_times()
    truth = compute_truth(renderer.scene, times)
    with VideoWriter(out / "clip.mp4", params.fps, params.width, params.height) as writer:
        for n, frame in enumerate(renderer.frames()):
            writer.write(frame.image)
            if on_frame is not None:
                on_frame(n + 1, len(times))
    if write_mat:
        atomic_write_bytes(out / "mat.csv", format_mat_csv(truth.mat_edges()).encode())
    else:
        (out / "mat.csv").unlink(missing_ok=True)
    atomic_write_bytes(out / "truth.json", json.dumps(truth.to_json(), separators=(",", ":")).encode())
    return truth
