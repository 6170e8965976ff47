"""Ring buffer: fixed memory, windows by time, drop counting, concurrent read while writing,
and the compact I420 storage round trip."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kiosk.station.ringbuffer import RingBuffer

P = 8_333_333  # 120 fps period in ns


def _img(k: int) -> np.ndarray:
    return np.full((6, 8, 3), k % 251, dtype=np.uint8)


def test_capacity_and_fixed_memory():
    ring = RingBuffer(120, 4.0, (6, 8, 3), storage="rgb")
    assert ring.capacity == 576  # ceil(120 * 4 * 1.2)
    buf = ring._images
    for k in range(2000):
        ring.put(_img(k), 1_000 + k * P, k)
    assert ring._images is buf  # same allocation after wrapping many times
    assert len(ring) == ring.capacity
    oldest, newest = ring.time_span()
    assert newest == 1_000 + 1999 * P
    assert oldest == 1_000 + (2000 - ring.capacity) * P


def test_window_returns_copies_in_time_range():
    ring = RingBuffer(120, 1.0, (6, 8, 3), storage="rgb")
    for k in range(100):
        ring.put(_img(k), k * P, k)
    w = ring.window(10 * P, 20 * P)
    assert list(w.indices) == list(range(10, 21))
    assert [int(im[0, 0, 0]) for im in w.images] == list(range(10, 21))
    w.images[0][:] = 99
    assert int(ring.window(10 * P, 10 * P).images[0][0, 0, 0]) == 10  # a copy, not a view
    frames = w.to_frames(10 * P)
    assert frames[0].t == 0.0 and frames[-1].t == pytest.approx(10 * P / 1e9)
    assert len(ring.window(1000 * P, 2000 * P)) == 0


def test_drops_from_index_gaps_time_gaps_and_overruns():
    ring = RingBuffer(120, 1.0, (6, 8, 3))
    t = 0
    for k in [0, 1, 2, 5, 6]:  # index gap: 3 and 4 missing
        ring.put(_img(k), k * P, k)
    assert ring.dropped == 2
    # consecutive index but the sensor skipped 2 periods (time says so)
    t = 6 * P
    ring.put(_img(7), t + 3 * P, 7)
    assert ring.dropped == 4
    # small jitter (1.3 periods) is not a drop
    ring.put(_img(8), t + 3 * P + int(1.3 * P), 8)
    assert ring.dropped == 4
    ring.note_overrun(3)
    assert ring.dropped == 7 and ring.overruns == 3
    assert ring.stats()["gap_events"] == 2


def test_wrong_shape_refused():
    ring = RingBuffer(30, 1.0, (6, 8, 3))
    with pytest.raises(ValueError):
        ring.put(np.zeros((6, 9, 3), np.uint8), 0, 0)


def _race_writer_and_reader(ring: RingBuffer, frame, check) -> None:
    """A writer thread fills ``ring`` with ``frame(k)`` as fast as it can while this thread reads
    whole windows back; ``check(img, idx)`` judges each frame read, 200 frames in all."""
    stop = threading.Event()

    def writer() -> None:
        k = 0
        while not stop.is_set():
            ring.put(frame(k), k * P, k)
            k += 1

    th = threading.Thread(target=writer)
    th.start()
    try:
        checked = 0
        while checked < 200:
            span = ring.time_span()
            if span is None:
                continue
            w = ring.window(*span)
            for img, idx in zip(w.images, w.indices, strict=True):
                check(img, idx)
            checked += len(w)
    finally:
        stop.set()
        th.join()


def test_reader_never_sees_torn_frames_while_writer_runs():
    ring = RingBuffer(120, 0.2, (64, 64, 3), storage="rgb")  # small ring so the writer laps the reader often

    def same_frame(img: np.ndarray, idx: int) -> None:
        assert img.min() == img.max() == idx % 256  # every pixel from the same frame

    _race_writer_and_reader(ring, lambda k: np.full((64, 64, 3), k % 256, np.uint8), same_frame)
    assert ring.dropped == 0


def _scene(k: int, h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth colour picture that changes with k (chroma subsampling keeps smooth colour)."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 3 + k) % 256, (yy * 4 + 2 * k) % 256, np.full((h, w), (40 + 7 * k) % 256)], axis=-1)
    return img.astype(np.uint8)


def test_i420_storage_is_half_of_rgb_and_round_trips():
    rgb = RingBuffer(120, 1.0, (48, 64, 3), storage="rgb")
    yuv = RingBuffer(120, 1.0, (48, 64, 3))
    assert yuv.storage == "i420" and yuv.slot_shape == (72, 64)
    assert yuv._images.nbytes * 2 == rgb._images.nbytes
    for k in range(20):
        yuv.put(_scene(k), k * P, k)
    w = yuv.window(5 * P, 9 * P)
    assert list(w.indices) == [5, 6, 7, 8, 9] and w.images.shape == (5, 48, 64, 3) and w.images.dtype == np.uint8
    for k, img in zip(w.indices, w.images, strict=True):
        err = np.abs(img.astype(int) - _scene(int(k)).astype(int))
        # BT.601 round trip: luma to a few levels, chroma halved on a smooth picture; mean well under 2 levels
        assert err.mean() < 2.0 and np.percentile(err, 99) <= 6
    latest, t, idx = yuv.latest()
    assert idx == 19 and t == 19 * P and np.abs(latest.astype(int) - _scene(19).astype(int)).mean() < 2.0


def test_i420_frames_from_the_camera_are_stored_as_given():
    import cv2

    ring = RingBuffer(120, 1.0, (48, 64, 3), storage="i420")
    planes = cv2.cvtColor(_scene(3), cv2.COLOR_RGB2YUV_I420)
    ring.put_i420(planes, 0, 0)
    assert np.array_equal(ring._images[0], planes)
    assert np.array_equal(ring.window(0, 0).images[0], cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_I420))
    with pytest.raises(ValueError):
        ring.put_i420(planes[:-2], P, 1)
    with pytest.raises(ValueError):
        RingBuffer(120, 1.0, (48, 64, 3), storage="rgb").put_i420(planes, 0, 0)


def test_odd_sizes_fall_back_to_rgb_and_i420_refuses_them():
    assert RingBuffer(30, 1.0, (5, 8, 3)).storage == "rgb"
    with pytest.raises(ValueError):
        RingBuffer(30, 1.0, (5, 8, 3), storage="i420")
    with pytest.raises(ValueError):
        RingBuffer(30, 1.0, (6, 8, 3), storage="jpeg")


def test_i420_put_allocates_nothing_per_frame():
    import tracemalloc

    ring = RingBuffer(120, 1.0, (480, 640, 3))
    img = _scene(1, 480, 640)
    for k in range(5):
        ring.put(img, k * P, k)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for k in range(5, 200):
            ring.put(img, k * P, k)
        grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    finally:
        tracemalloc.stop()
    assert grown < 20_000  # a frame is 460 kB: nothing per frame is kept or allocated


def test_times_lists_held_timestamps_without_pixels():
    ring = RingBuffer(120, 1.0, (6, 8, 3), storage="rgb")
    for k in range(200):  # wraps: capacity 144
        ring.put(_img(k), k * P, k)
    t = ring.times()
    assert len(t) == ring.capacity and t[0] == (200 - ring.capacity) * P and t[-1] == 199 * P
    assert list(ring.times(150 * P, 152 * P)) == [150 * P, 151 * P, 152 * P]


def test_i420_reader_never_sees_torn_frames_while_writer_runs():
    ring = RingBuffer(120, 0.2, (32, 32, 3))

    def one_grey(img: np.ndarray, idx: int) -> None:
        assert int(img.max()) - int(img.min()) <= 1  # one frame's grey, not two halves
        assert abs(int(img[0, 0, 0]) - (idx * 10) % 250) <= 2

    _race_writer_and_reader(ring, lambda k: np.full((32, 32, 3), (k * 10) % 250, np.uint8), one_grey)
