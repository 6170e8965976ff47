"""Ring buffer: fixed memory, windows by time, drop counting, concurrent read while writing."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kiosk.station.ringbuffer import RingBuffer

P = 8_333_333  # 120 fps period in ns


def _img(k: int) -> np.ndarray:
    return np.full((6, 8, 3), k % 251, dtype=np.uint8)


def test_capacity_and_fixed_memory():
    ring = RingBuffer(120, 4.0, (6, 8, 3))
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
    ring = RingBuffer(120, 1.0, (6, 8, 3))
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


def test_reader_never_sees_torn_frames_while_writer_runs():
    ring = RingBuffer(120, 0.2, (64, 64, 3))  # small ring so the writer laps the reader often
    stop = threading.Event()

    def writer() -> None:
        k = 0
        while not stop.is_set():
            ring.put(np.full((64, 64, 3), k % 256, np.uint8), k * P, k)
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
                assert img.min() == img.max() == idx % 256  # every pixel from the same frame
            checked += len(w)
    finally:
        stop.set()
        th.join()
    assert ring.dropped == 0
