"""Camera sources behind one interface: Picamera2, V4L2/USB, replay of a clip, synthetic athlete.

Every source yields :class:`CameraFrame` (index, ``t_ns`` on the ``time.monotonic_ns()`` clock,
RGB uint8 at the analysis size). One clock for camera and mat is what lets a mat edge pick its
frames. Picamera2's ``SensorTimestamp`` already is that clock; replayed and synthetic clips have
their own timestamps mapped onto it from the moment they start playing.

Replay and synthetic sources hold the athlete still on the box (the clip's first frame, at the
clip's frame rate and fresh timestamps) until :meth:`Camera.trigger` plays the jump, so a demo
trial starts when the countdown ends, exactly like a real athlete would. ``on_play(origin_ns)``
tells a simulated mat when clip time zero happened.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from kiosk.errors import CameraError, KioskError
from kiosk.media import Frame


@dataclass(frozen=True)
class CameraFrame:
    index: int
    t_ns: int
    image: np.ndarray  # RGB uint8 (H, W, 3) at the analysis size


class Camera(ABC):
    """A started camera hands out frames in order; ``read`` blocks until the next one."""

    name = "camera"
    #: The image transform the source applies, for the doctor: "none" unless a driver flips. A
    #: mirror (one flip) swaps the athlete's legs and cannot be detected from keypoints (MoveNet
    #: labels a mirror image as a frontal person), so no source here ever mirrors.
    transform = "none"

    def __init__(self, width: int, height: int, fps: float):
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.on_play: Callable[[int], None] | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, 3)

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def read(self, timeout: float = 1.0) -> CameraFrame | None:
        """The next frame, or None if none arrived within ``timeout`` seconds."""

    @abstractmethod
    def stop(self) -> None: ...

    def trigger(self) -> None:
        """Start the recorded/synthetic jump (live cameras ignore this)."""

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """Resize to the analysis size if the source delivers another size (never mirrored)."""
        if image.shape[:2] == (self.height, self.width):
            return image
        import cv2

        return cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)


class Picamera2Camera(Camera):
    """A Raspberry Pi camera through picamera2 (libcamera), at a fixed short exposure.

    The sensor mode is the smallest one that reaches ``fps``; the ISP scales it to the analysis
    size on the ``main`` stream in ``BGR888`` (which picamera2 stores as R, G, B bytes: RGB).
    ``FrameDurationLimits`` pins the frame rate, and a fixed ``ExposureTime`` + ``AnalogueGain``
    keeps motion blur short and brightness steady (auto-exposure would lengthen exposure indoors).
    """

    name = "picamera2"

    def __init__(self, width: int = 640, height: int = 480, fps: float = 120, *, exposure_us: int = 2000,
                 analogue_gain: float = 4.0, camera_num: int = 0, buffer_count: int = 6):
        super().__init__(width, height, fps)
        self.exposure_us = exposure_us
        self.analogue_gain = analogue_gain
        self.camera_num = camera_num
        self.buffer_count = buffer_count
        self._cam = None
        self._index = 0
        self.sensor_mode: dict | None = None

    def start(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise CameraError("picamera2 is not installed: on Raspberry Pi OS run `sudo apt install python3-picamera2` "
                              "and create the venv with --system-site-packages") from None
        if not Picamera2.global_camera_info():
            raise CameraError("No camera found: check the ribbon cable (contacts facing the right way, both ends "
                              "latched) and run `rpicam-hello --list-cameras`")
        try:
            cam = Picamera2(self.camera_num)
            modes = [m for m in cam.sensor_modes if float(m.get("fps", 0)) >= self.fps - 0.5]
            if not modes:
                best = max(float(m.get("fps", 0)) for m in cam.sensor_modes)
                cam.close()
                raise CameraError(f"this camera reaches at most {best:.0f} fps; set [camera] fps to that or less")
            mode = min(modes, key=lambda m: m["size"][0] * m["size"][1])
            self.sensor_mode = {"size": tuple(mode["size"]), "fps": float(mode["fps"]), "bit_depth": mode["bit_depth"]}
            period_us = int(round(1e6 / self.fps))
            controls: dict = {"FrameDurationLimits": (period_us, period_us)}
            if self.exposure_us > 0:
                controls.update({"AeEnable": False, "ExposureTime": min(self.exposure_us, period_us - 100),
                                 "AnalogueGain": self.analogue_gain})
            from libcamera import Transform

            # No flip, ever: a mirrored feed puts the athlete's left leg where the right one is.
            config = cam.create_video_configuration(
                main={"size": (self.width, self.height), "format": "BGR888"},
                sensor={"output_size": mode["size"], "bit_depth": mode["bit_depth"]},
                buffer_count=self.buffer_count, controls=controls, transform=Transform(hflip=0, vflip=0))
            cam.configure(config)
            got = cam.camera_configuration().get("transform")
            hflip, vflip = bool(getattr(got, "hflip", False)), bool(getattr(got, "vflip", False))
            self.transform = {(False, False): "none", (True, True): "rotated 180"}.get((hflip, vflip), "mirrored")
            if self.transform == "mirrored":
                cam.close()
                raise CameraError(f"the camera delivers a mirrored image ({got}); the kiosk needs it unmirrored: "
                                  "remove any hflip/vflip from the camera tuning")
            cam.start()
        except KioskError:
            raise
        except Exception as exc:  # libcamera raises RuntimeError/OSError variants with long texts
            raise CameraError(f"the camera could not be started ({str(exc).splitlines()[0][:120]}); "
                              "is another program using it?") from None
        self._cam = cam

    def read(self, timeout: float = 1.0) -> CameraFrame | None:
        if self._cam is None:
            raise CameraError("camera is not started")
        try:
            job = self._cam.capture_request(wait=False)
            request = self._cam.wait(job, timeout=timeout)
        except TimeoutError:
            return None
        except Exception as exc:
            raise CameraError(f"the camera stopped sending frames ({str(exc)[:100]})") from None
        try:
            image = request.make_array("main")[:, :, :3]
            t_ns = int(request.get_metadata()["SensorTimestamp"])  # same clock as time.monotonic_ns()
        finally:
            request.release()
        frame = CameraFrame(self._index, t_ns, np.ascontiguousarray(self._fit(image)))
        self._index += 1
        return frame

    def stop(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
            finally:
                self._cam.close()
                self._cam = None


class V4L2Camera(Camera):
    """A USB/V4L2 camera through OpenCV. Timestamps are taken on arrival (monotonic clock)."""

    name = "v4l2"

    def __init__(self, device: str = "/dev/video0", width: int = 640, height: int = 480, fps: float = 60):
        super().__init__(width, height, fps)
        self.device = device
        self._cap = None
        self._index = 0

    def start(self) -> None:
        import cv2

        if self.device.startswith("/dev/") and not Path(self.device).exists():
            raise CameraError(f"No camera at {self.device}: plug in the USB camera or set [camera] device")
        target = int(self.device) if self.device.isdigit() else self.device
        cap = cv2.VideoCapture(target, cv2.CAP_V4L2) if isinstance(target, str) else cv2.VideoCapture(target)
        if not cap.isOpened():
            raise CameraError(f"No camera found at {self.device}: check the USB cable or that no other program uses it")
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))  # USB 2 needs MJPEG for high rates
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 2)
        self._cap = cap

    def read(self, timeout: float = 1.0) -> CameraFrame | None:
        import cv2

        if self._cap is None:
            raise CameraError("camera is not started")
        ok, bgr = self._cap.read()
        t_ns = time.monotonic_ns()
        if not ok or bgr is None:
            raise CameraError(f"the camera at {self.device} stopped sending frames: check its cable")
        rgb = cv2.cvtColor(self._fit(bgr), cv2.COLOR_BGR2RGB)
        frame = CameraFrame(self._index, t_ns, rgb)
        self._index += 1
        return frame

    def stop(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


#: After a replayed jump the athlete stays on the mat this long, then is back on the box (the
#: simulated mat opens at the same moment), so the next demo trial can start.
REST_S = 1.5


class _PacedCamera(Camera):
    """Shared pacing for clip-like sources: hold the first frame until triggered, then play the
    clip's frames at real speed with ``t_ns = origin + t``, hold the last frame for ``REST_S``,
    then show the athlete back on the box."""

    def __init__(self, width: int, height: int, fps: float, *, clock: Callable[[], int] = time.monotonic_ns,
                 sleep: Callable[[float], None] = time.sleep, autoplay: bool = False):
        super().__init__(width, height, fps)
        self._clock = clock
        self._sleep = sleep
        self._index = 0
        self._period_ns = int(round(1e9 / fps))
        self._next_ns: int | None = None
        self._triggered = threading.Event()
        self._playing: Sequence[Frame] | None = None
        self._pos = 0
        self._origin: int | None = None
        self._hold: np.ndarray | None = None
        self._rest_until: int | None = None
        self._rest_image: np.ndarray | None = None
        self.autoplay = autoplay
        self.plays = 0
        self.mat_edges: list | None = None  # the edges of the jump that plays next, if known

    @abstractmethod
    def _clip(self) -> Sequence[Frame]:
        """The frames of one jump, ``t`` in seconds from its start (already at the analysis size)."""

    def trigger(self) -> None:
        self._triggered.set()

    def _wait_until(self, t_ns: int, timeout: float) -> bool:
        delay = (t_ns - self._clock()) / 1e9
        if delay > timeout:
            return False
        if delay > 0:
            self._sleep(delay)
        return True

    def read(self, timeout: float = 1.0) -> CameraFrame | None:
        if self._hold is None:
            raise CameraError("camera is not started")
        if self._next_ns is None:
            self._next_ns = self._clock()
        if self._playing is None and (self._triggered.is_set() or self.autoplay):
            self._triggered.clear()
            self._playing = self._clip()
            self._pos = 0
            self._origin = self._next_ns
            self.plays += 1
            if self.on_play is not None:
                self.on_play(self._origin)
        if self._playing is not None:
            f = self._playing[self._pos]
            t_ns = self._origin + int(round(f.t * 1e9))
            image = f.image
            self._pos += 1
            if self._pos >= len(self._playing):
                self._playing = None
                self._rest_until = t_ns + int(REST_S * 1e9)
                self._rest_image = image
        elif self._rest_until is not None and self._next_ns < self._rest_until:
            t_ns, image = self._next_ns, self._rest_image  # athlete still on the mat after landing
        else:
            self._rest_until = None
            t_ns = self._next_ns
            image = self._hold
        if not self._wait_until(t_ns, timeout):
            return None
        self._next_ns = t_ns + self._period_ns
        frame = CameraFrame(self._index, t_ns, image)
        self._index += 1
        return frame

    def stop(self) -> None:
        self._hold = None
        self._playing = None


class ReplayCamera(_PacedCamera):
    """Plays a recorded clip (kiosk.media.open_source) at real speed with its own timestamps.

    ``more`` clips make a playlist: each trigger plays the next clip in turn (with its own
    mat.csv), and between jumps the athlete stands as in the first frame of the clip that plays
    next, so the demo shows a different athlete, and verdict, per trial."""

    name = "replay"

    def __init__(self, path: str | Path, width: int = 640, height: int = 480, *, mat_path: str | Path | None = None,
                 more: Sequence[str | Path] = (), **kw):
        self.path = Path(path)
        first, edges, fps = self._load(self.path, width, height, mat_path)
        super().__init__(width, height, fps, **kw)
        self._playlist: list[tuple[CompactClip, list | None]] = [(first, edges)]
        for extra in more:
            frames, extra_edges, extra_fps = self._load(Path(extra), width, height, None)
            if abs(extra_fps - fps) > 0.5:
                raise CameraError(f"{extra}: {extra_fps:g} fps; every clip of a replay playlist needs {fps:g} fps")
            self._playlist.append((frames, extra_edges))
        self._next_clip = 0
        self._frames = first
        self.mat_edges = edges

    def _load(self, path: Path, width: int, height: int,
              mat_path: str | Path | None) -> tuple[CompactClip, list | None, float]:
        from kiosk.matcsv import read_mat_csv
        from kiosk.media import open_source

        if mat_path is None:  # the synthetic athlete writes mat.csv beside its clip
            for cand in (path.with_name("mat.csv"), path.with_suffix(".mat.csv")):
                if cand.is_file():
                    mat_path = cand
                    break
        edges = read_mat_csv(mat_path) if mat_path is not None else None
        info, frames = open_source(path)
        if info.kind != "video":
            raise CameraError(f"{path}: replay needs a video clip, not a still image")
        clip = CompactClip(Frame(f.index, f.t, _fit_to(f.image, width, height)) for f in frames)
        if not len(clip):
            raise CameraError(f"{path}: clip has no frames")
        return clip, edges, float(info.fps or 30.0)

    def _clip(self) -> CompactClip:
        frames, edges = self._playlist[self._next_clip]
        self._next_clip = (self._next_clip + 1) % len(self._playlist)
        self._frames = frames
        if edges is not None and len(self._playlist) > 1:  # one clip: mat_edges stays as set (tests override it)
            self.mat_edges = edges
        self._hold = self._playlist[self._next_clip][0][0].image  # back on the box: the next athlete
        return frames

    def start(self) -> None:
        self._hold = self._playlist[self._next_clip][0][0].image


class CompactClip(Sequence[Frame]):
    """A decoded clip held as I420 planes (1.5 bytes a pixel, half of RGB), each frame turned
    back into RGB when it is read.

    A replayed demo clip is ~420 frames at 120 fps: as RGB that is ~390 MB at 640x480, and three
    clips did not fit a 2 GB Pi beside the ring. Converting one frame back costs well under a
    millisecond, as the ring does for the frames it hands out. Odd-sized frames stay RGB.
    """

    def __init__(self, frames: Iterable[Frame]):
        import cv2

        from kiosk.station.ringbuffer import i420_fits

        self._cv2 = cv2
        self._index: list[int] = []
        self._t: list[float] = []
        self._planes: list[np.ndarray] = []
        self._rgb: list[bool] = []
        for f in frames:
            even = i420_fits(f.image.shape)
            self._planes.append(cv2.cvtColor(np.ascontiguousarray(f.image), cv2.COLOR_RGB2YUV_I420) if even
                                else f.image)
            self._rgb.append(not even)
            self._index.append(int(f.index))
            self._t.append(float(f.t))

    def __len__(self) -> int:
        return len(self._planes)

    @overload
    def __getitem__(self, i: int) -> Frame: ...

    @overload
    def __getitem__(self, i: slice) -> list[Frame]: ...

    def __getitem__(self, i: int | slice) -> Frame | list[Frame]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        planes = self._planes[i]
        image = planes if self._rgb[i] else self._cv2.cvtColor(planes, self._cv2.COLOR_YUV2RGB_I420)
        return Frame(self._index[i], self._t[i], image)

    @property
    def nbytes(self) -> int:
        """Pixel memory held (the frames as stored)."""
        return sum(p.nbytes for p in self._planes)


def _fit_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to (width, height) unless it already is (never mirrored)."""
    if image.shape[:2] == (height, width):
        return image
    import cv2

    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


#: render(seed) -> (frames with t in seconds, the jump's mat edges)
SynthRender = Callable[[int], tuple[Iterator[Frame], list]]


def _render_synth(seed: int, width: int, height: int, fps: float) -> tuple[Iterator[Frame], list]:
    from kiosk.matcsv import MatEdge
    from kiosk.synth.clip import ClipRenderer
    from kiosk.synth.params import sample_params

    renderer = ClipRenderer(sample_params(seed, fps=float(fps), width=width, height=height))
    ev = renderer.scene.motion.ev
    edges = [MatEdge(ev.initial_contact, True), MatEdge(ev.takeoff, False), MatEdge(ev.second_landing, True)]
    frames = (Frame(k, f.t, f.image) for k, f in enumerate(renderer.frames()))
    return frames, edges


class SyntheticCamera(_PacedCamera):
    """The synthetic athlete (kiosk.synth), a new randomly drawn athlete per jump.

    Rendering is slower than 120 fps on small machines, so each jump is rendered ahead in a
    background thread and kept JPEG-compressed (~15 MB per jump rather than ~400 MB raw);
    a trigger that arrives before the jump is ready waits with the athlete standing on the box,
    as a real athlete would. ``mat_edges`` are the edges of the jump that plays next.
    """

    name = "synthetic"

    def __init__(self, width: int = 640, height: int = 480, fps: float = 120, *, seed: int = 0,
                 render: SynthRender | None = None, **kw):
        super().__init__(width, height, fps, **kw)
        self.seed = seed
        self._render = render or (lambda s: _render_synth(s, self.width, self.height, self.fps))
        self.mat_edges: list | None = None
        self._ready = threading.Event()
        self._encoded: list[tuple[int, float, bytes]] = []
        self._thread: threading.Thread | None = None
        self._render_error: KioskError | None = None

    def _prepare(self, seed: int) -> None:
        from kiosk.media import encode_jpeg

        try:
            frames, edges = self._render(seed)
            encoded = [(f.index, f.t, encode_jpeg(self._fit(f.image), 92)) for f in frames]
        except KioskError as exc:
            self._render_error = exc
            self._ready.set()
            return
        except ImportError:
            self._render_error = CameraError("the synthetic athlete (kiosk.synth) is not available in this build")
            self._ready.set()
            return
        self._encoded = encoded
        self._next_edges = list(edges)
        self._ready.set()

    def _render_next(self) -> None:
        self._ready.clear()
        seed, self.seed = self.seed, self.seed + 1
        self._thread = threading.Thread(target=self._prepare, args=(seed,), name="synth-render", daemon=True)
        self._thread.start()

    def _clip(self) -> Sequence[Frame]:
        self._ready.wait()
        if self._render_error is not None:
            raise self._render_error
        clip, self.mat_edges = _JpegClip(self._encoded), self._next_edges
        self._render_next()
        return clip

    def start(self) -> None:
        self._render_next()
        self._ready.wait()
        if self._render_error is not None:
            raise self._render_error
        self.mat_edges = self._next_edges
        self._hold = _JpegClip(self._encoded)[0].image

    def stop(self) -> None:
        super().stop()
        if self._thread is not None:
            self._thread.join(timeout=30.0)


class _JpegClip(Sequence):
    """Frames kept as JPEG bytes, decoded one at a time as they are played."""

    def __init__(self, encoded: list[tuple[int, float, bytes]]):
        self._encoded = encoded

    def __len__(self) -> int:
        return len(self._encoded)

    def __getitem__(self, k):  # type: ignore[override]
        import cv2

        i, t, data = self._encoded[k]
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return Frame(i, t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def open_camera(config, **paced: Any) -> Camera:  # config: kiosk.config.Config
    """The camera the station config names; ``paced`` (``clock``, ``sleep``) goes to the clip
    cameras (replay, synthetic), e.g. the soak's accelerated clock."""
    cam = config.camera
    if cam.source == "picamera2":
        return Picamera2Camera(cam.width, cam.height, cam.fps, exposure_us=cam.exposure_us,
                               analogue_gain=cam.analogue_gain)
    if cam.source == "v4l2":
        return V4L2Camera(cam.device, cam.width, cam.height, cam.fps)
    if cam.source == "replay":
        if not cam.replay_path:
            raise CameraError("[camera] source = \"replay\" needs replay_path: the clip to play")
        # Several clips separated by the OS path separator play in turn (the demo's playlist).
        first, *more = [p for p in cam.replay_path.split(os.pathsep) if p]
        return ReplayCamera(first, cam.width, cam.height, more=more, **paced)
    return SyntheticCamera(cam.width, cam.height, cam.fps, **paced)
