"""A time-bounded ring of camera frames with fixed memory.

The landing we measure is over in ~0.3 s, and pose estimation cannot keep up with a 120 fps
camera, so capture writes every frame here and the analysis later copies out only the window the
mat edges point at. Memory is allocated (and touched) once at construction: N = ceil(fps *
seconds * margin) slots of the frame shape, so RSS does not grow while the station runs.

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
                 dtype: np.dtype | type = np.uint8):
        if fps <= 0 or seconds <= 0:
            raise ValueError("fps and seconds must be positive")
        self.fps = float(fps)
        self.seconds = float(seconds)
        self.shape = tuple(int(s) for s in shape)
        self.capacity = int(math.ceil(fps * seconds * margin))
        self.period_ns = int(round(1e9 / fps))
        self._images = np.empty((self.capacity, *self.shape), dtype=dtype)
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
        """Copy one frame in (no allocation), overwriting the oldest slot when full."""
        if image.shape != self.shape:
            raise ValueError(f"frame shape {image.shape} does not match the ring's {self.shape}")
        with self._lock:
            slot = self._head
            self._gen[slot] += 1  # odd: readers treat the slot as unstable
            self._count_drops(int(t_ns), int(index))
        np.copyto(self._images[slot], image)
        with self._lock:
            self._t_ns[slot] = t_ns
            self._index[slot] = index
            self._gen[slot] += 1  # even again: stable
            self._head = (slot + 1) % self.capacity
            self._count = min(self._count + 1, self.capacity)
            self.frames_in += 1
            self._newest_t = int(t_ns)
            self._arrived.notify_all()

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

    def window(self, t0_ns: int, t1_ns: int, keep: Callable[[np.ndarray], np.ndarray] | None = None) -> BufferedFrames:
        """Copies of the frames with t0_ns <= t <= t1_ns, oldest first.

        ``keep(times_ns) -> bool mask`` picks a subset before anything is copied (the analysis
        poses only some frames, and copying 2 s of 120 fps frames would cost ~200 MB).

        Frames overwritten while being copied (the window reached past the ring's end) are left
        out rather than returned torn.
        """
        with self._lock:
            picks = [(s, int(self._gen[s]), int(self._t_ns[s]), int(self._index[s])) for s in self._slots_in_order()
                     if t0_ns <= self._t_ns[s] <= t1_ns and self._gen[s] % 2 == 0]
        if keep is not None and picks:
            mask = np.asarray(keep(np.array([p[2] for p in picks], dtype=np.int64)), dtype=bool)
            picks = [p for p, k in zip(picks, mask, strict=True) if k]
        images = np.empty((len(picks), *self.shape), dtype=self._images.dtype)
        keep = np.zeros(len(picks), dtype=bool)
        for k, (slot, gen, _, _) in enumerate(picks):
            np.copyto(images[k], self._images[slot])
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
        img = self._images[slot].copy()
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
            return {"capacity": self.capacity, "frames": self._count, "frames_in": self.frames_in,
                    "dropped": self.dropped, "gap_events": self.gap_events, "overruns": self.overruns,
                    "mbytes": round(self.nbytes / 1e6, 1)}
