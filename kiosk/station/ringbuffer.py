"""A time-bounded ring of camera frames with fixed memory.

The landing we measure is over in ~0.3 s, and pose estimation cannot keep up with a 120 fps
camera, so capture writes every frame here and the analysis later copies out only the frames
the mat edges point at. Memory is allocated (and touched) once at construction: N = ceil(fps *
seconds * margin) slots, so RSS does not grow while the station runs.

Slots hold YUV 4:2:0 (I420: a full-size Y plane, then quarter-size U and V planes, 1.5 bytes per
pixel), half of RGB's 3 bytes: 4 s of 640x480 at 120 fps is 265 MB instead of 531 MB, which is
what lets a 2 GB Pi 4 keep the ring. I420 is also what picamera2's lores stream delivers on a Pi
4, so a camera that hands over I420 (:meth:`RingBuffer.put_i420`) is stored with one copy. Only the
few frames that get posed or shown are converted back to RGB. The chroma is halved in each
direction, which a pose model does not notice (it sees a 192-256 px square of a 640 px frame).
Frames with odd sizes, or ``storage="rgb"``, are stored as RGB.

Writers and readers share one lock only for bookkeeping; pixel copies happen outside it, guarded
by a per-slot generation number (a seqlock), so a reader copying a 2 s window never stalls the
camera thread.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kiosk.media import Frame


def i420_fits(shape: tuple[int, ...]) -> bool:
    """Whether an image of ``shape`` can be held as I420: RGB with an even height and width
    (the chroma planes are a quarter of the pixels)."""
    return len(shape) == 3 and shape[2] == 3 and shape[0] % 2 == 0 and shape[1] % 2 == 0


@dataclass(frozen=True)
class BufferedFrames:
    """Copies of frames in a time window: images (K, H, W, 3), times and camera frame indices."""

    images: np.ndarray
    t_ns: np.ndarray
    indices: np.ndarray

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])

    def to_frames(self, t0_ns: int) -> list[Frame]:
        """As :class:`kiosk.media.Frame` with ``t`` in seconds from ``t0_ns`` (the analysis clock)."""
        return [Frame(int(i), (int(t) - t0_ns) / 1e9, img)
                for i, t, img in zip(self.indices, self.t_ns, self.images, strict=True)]


class RingBuffer:
    """Last ``seconds`` of frames at ``fps``; thread-safe; counts dropped frames.

    Drops are counted three ways, all in ``dropped``: gaps in the camera's frame index, gaps in
    timestamps longer than 1.5 frame periods when the source has no reliable index, and frames
    the capture thread reports it could not hand over (``note_overrun``).
    """

    def __init__(self, fps: float, seconds: float, shape: tuple[int, ...], *, margin: float = 1.2,
                 storage: str = "auto"):
        if fps <= 0 or seconds <= 0:
            raise ValueError("fps and seconds must be positive")
        if storage not in ("auto", "i420", "rgb"):
            raise ValueError(f"unknown ring storage {storage!r}: use auto, i420 or rgb")
        self.fps = float(fps)
        self.seconds = float(seconds)
        self.shape = tuple(int(s) for s in shape)
        even = i420_fits(self.shape)
        if storage == "i420" and not even:
            raise ValueError(f"I420 storage needs an even-sized RGB frame, got {self.shape}")
        self.storage = "i420" if storage in ("auto", "i420") and even else "rgb"
        h, w = self.shape[:2]
        #: shape of one stored slot: (H * 3/2, W) planes for I420, the frame's own for RGB
        self.slot_shape = (h * 3 // 2, w) if self.storage == "i420" else self.shape
        if self.storage == "i420":
            import cv2  # imported once here, not per frame in the capture thread

            self._cv2 = cv2
        self.capacity = int(math.ceil(fps * seconds * margin))
        self.period_ns = int(round(1e9 / fps))
        self._images = np.empty((self.capacity, *self.slot_shape), dtype=np.uint8)
        self._images.fill(0)  # commit the pages now, so memory use is flat from the first frame
        self._t_ns = np.zeros(self.capacity, dtype=np.int64)
        self._index = np.full(self.capacity, -1, dtype=np.int64)
        self._gen = np.zeros(self.capacity, dtype=np.int64)  # odd while a slot is being written
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._head = 0          # next slot to write
        self._count = 0         # filled slots
        self._last_t: int | None = None
        self._newest_t: int | None = None  # newest frame fully copied in
        self._last_index: int | None = None
        self.frames_in = 0
        self.dropped = 0
        self.gap_events = 0
        self.overruns = 0

    @property
    def nbytes(self) -> int:
        return int(self._images.nbytes + self._t_ns.nbytes + self._index.nbytes + self._gen.nbytes)

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def put(self, image: np.ndarray, t_ns: int, index: int) -> None:
        """Store one RGB frame (converted straight into its slot: no allocation), overwriting the
        oldest slot when full."""
        if image.shape != self.shape:
            raise ValueError(f"frame shape {image.shape} does not match the ring's {self.shape}")
        slot = self._begin_write(int(t_ns), int(index))
        if self.storage == "i420":
            self._cv2.cvtColor(image, self._cv2.COLOR_RGB2YUV_I420, dst=self._images[slot])
        else:
            np.copyto(self._images[slot], image)
        self._end_write(slot, int(t_ns), int(index))

    def put_i420(self, planes: np.ndarray, t_ns: int, index: int) -> None:
        """Store one frame already in I420 (H * 3/2, W), as picamera2's lores stream gives it."""
        if self.storage != "i420":
            raise ValueError("this ring stores RGB; give it RGB frames")
        if planes.shape != self.slot_shape:
            raise ValueError(f"I420 frame shape {planes.shape} does not match the ring's {self.slot_shape}")
        slot = self._begin_write(int(t_ns), int(index))
        np.copyto(self._images[slot], planes)
        self._end_write(slot, int(t_ns), int(index))

    def _begin_write(self, t_ns: int, index: int) -> int:
        with self._lock:
            slot = self._head
            self._gen[slot] += 1  # odd: readers treat the slot as unstable
            self._count_drops(t_ns, index)
        return slot

    def _end_write(self, slot: int, t_ns: int, index: int) -> None:
        with self._lock:
            self._t_ns[slot] = t_ns
            self._index[slot] = index
            self._gen[slot] += 1  # even again: stable
            self._head = (slot + 1) % self.capacity
            self._count = min(self._count + 1, self.capacity)
            self.frames_in += 1
            self._newest_t = t_ns
            self._arrived.notify_all()

    def _to_rgb(self, stored: np.ndarray, out: np.ndarray) -> None:
        """One stored slot (or a copy of it) into ``out`` (H, W, 3) RGB."""
        if self.storage == "i420":
            self._cv2.cvtColor(stored, self._cv2.COLOR_YUV2RGB_I420, dst=out)
        else:
            np.copyto(out, stored)

    def _count_drops(self, t_ns: int, index: int) -> None:
        # A gap shows in the index (the source skipped numbers) or in time (the sensor skipped
        # but our counter did not, as with picamera2 requests). One gap is counted once: the
        # larger of the two estimates.
        if self._last_t is not None and self._last_index is not None:
            missing_idx = index - self._last_index - 1
            dt = t_ns - self._last_t
            missing_t = int(round(dt / self.period_ns)) - 1 if dt > 1.5 * self.period_ns else 0
            missing = max(missing_idx, missing_t, 0)
            if missing:
                self.dropped += missing
                self.gap_events += 1
        self._last_t = t_ns
        self._last_index = index

    def note_overrun(self, n: int = 1) -> None:
        """The producer lost ``n`` frames before they reached the ring (queue full, slow copy)."""
        with self._lock:
            self.overruns += n
            self.dropped += n

    def _slots_in_order(self) -> list[int]:
        start = (self._head - self._count) % self.capacity
        return [(start + k) % self.capacity for k in range(self._count)]

    def times(self, t0_ns: int | None = None, t1_ns: int | None = None) -> np.ndarray:
        """Timestamps held (oldest first), optionally only those in [t0_ns, t1_ns]: the frame
        plan chooses among these before any pixels are copied."""
        with self._lock:
            slots = self._slots_in_order()
            t = self._t_ns[slots] if slots else np.zeros(0, dtype=np.int64)
            stable = self._gen[slots] % 2 == 0 if slots else np.zeros(0, dtype=bool)
        t = t[stable]
        if t0_ns is not None:
            t = t[t >= t0_ns]
        if t1_ns is not None:
            t = t[t <= t1_ns]
        return t.copy()

    def window(self, t0_ns: int, t1_ns: int, keep: Callable[[np.ndarray], np.ndarray] | None = None) -> BufferedFrames:
        """RGB copies of the frames with t0_ns <= t <= t1_ns, oldest first.

        ``keep(times_ns) -> bool mask`` picks a subset before anything is copied or converted
        (the analysis poses only some frames, and 2 s of 120 fps RGB frames would be ~200 MB).

        Frames overwritten while being copied (the window reached past the ring's end) are left
        out rather than returned torn.
        """
        with self._lock:
            picks = [(s, int(self._gen[s]), int(self._t_ns[s]), int(self._index[s])) for s in self._slots_in_order()
                     if t0_ns <= self._t_ns[s] <= t1_ns and self._gen[s] % 2 == 0]
        if keep is not None and picks:
            mask = np.asarray(keep(np.array([p[2] for p in picks], dtype=np.int64)), dtype=bool)
            picks = [p for p, k in zip(picks, mask, strict=True) if k]
        images = np.empty((len(picks), *self.shape), dtype=np.uint8)
        keep = np.zeros(len(picks), dtype=bool)
        for k, (slot, gen, _, _) in enumerate(picks):
            self._to_rgb(self._images[slot], images[k])
            with self._lock:
                keep[k] = self._gen[slot] == gen
        t = np.array([p[2] for p in picks], dtype=np.int64)
        idx = np.array([p[3] for p in picks], dtype=np.int64)
        if not keep.all():
            images, t, idx = images[keep], t[keep], idx[keep]
        return BufferedFrames(images, t, idx)

    def latest(self) -> tuple[np.ndarray, int, int] | None:
        """A copy of the newest frame with its time and index, or None when empty."""
        with self._lock:
            if self._count == 0:
                return None
            slot = (self._head - 1) % self.capacity
            gen, t, idx = int(self._gen[slot]), int(self._t_ns[slot]), int(self._index[slot])
        img = np.empty(self.shape, dtype=np.uint8)
        self._to_rgb(self._images[slot], img)
        with self._lock:
            if self._gen[slot] != gen:
                return None
        return img, t, idx

    def wait_for_time(self, t_ns: int, timeout: float) -> bool:
        """Block until a frame at or after ``t_ns`` is in the ring (or ``timeout`` seconds pass)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._newest_t is not None and self._newest_t >= t_ns, timeout)

    def time_span(self) -> tuple[int, int] | None:
        """(oldest, newest) timestamps held, or None when empty."""
        with self._lock:
            if self._count == 0:
                return None
            slots = self._slots_in_order()
            return int(self._t_ns[slots[0]]), int(self._t_ns[slots[-1]])

    def stats(self) -> dict:
        with self._lock:
            return {"capacity": self.capacity, "storage": self.storage, "frames": self._count, "frames_in": self.frames_in,
                    "dropped": self.dropped, "gap_events": self.gap_events, "overruns": self.overruns,
                    "mbytes": round(self.nbytes / 1e6, 1)}
