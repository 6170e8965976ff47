"""Clip and image I/O: real files written here, read back with their timing; bad files refused."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from kiosk.errors import KioskError, MediaError
from kiosk.media import VideoWriter, open_source, read_image, write_image


def _bar_frame(i: int, w: int = 96, h: int = 64) -> np.ndarray:
    """A frame whose white bar position encodes its index (survives lossy coding)."""
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[:, (i * 8) % w:(i * 8) % w + 8] = 255
    return img


def _bar_index(img: np.ndarray) -> int:
    return int(np.argmax(img[:, :, 1].mean(axis=0) > 128)) // 8


def _write_clip(path: Path, n: int = 10, fps: float = 30.0) -> None:
    with VideoWriter(path, fps, 96, 64) as vw:
        for i in range(n):
            vw.write(_bar_frame(i))


def test_clip_round_trip_keeps_frames_and_timestamps(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    _write_clip(clip, n=12, fps=30.0)
    info, frames = open_source(clip)
    assert (info.kind, info.width, info.height) == ("video", 96, 64)
    assert info.fps == pytest.approx(30.0)
    got = list(frames)
    assert [f.index for f in got] == list(range(12))
    np.testing.assert_allclose([f.t for f in got], np.arange(12) / 30.0, atol=1e-6)
    assert [_bar_index(f.image) for f in got] == list(range(12))
    assert got[0].image.dtype == np.uint8 and got[0].image.shape == (64, 96, 3)


def test_variable_frame_times_come_from_the_container(tmp_path: Path) -> None:
    """Camera clips are not evenly spaced: timestamps must be the stored ones, not index / fps."""
    import av

    clip = tmp_path / "vfr.mkv"
    pts_ms = [0, 8, 17, 25, 50, 58, 100]  # a 120 fps camera with two dropped stretches
    with av.open(str(clip), "w") as c:
        s = c.add_stream("libx264", rate=120)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        s.time_base = Fraction(1, 1000)
        s.codec_context.time_base = Fraction(1, 1000)
        for i, ms in enumerate(pts_ms):
            f = av.VideoFrame.from_ndarray(_bar_frame(i), format="rgb24")
            f.pts, f.time_base = ms, Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    _, frames = open_source(clip)
    got = list(frames)
    np.testing.assert_allclose([f.t for f in got], np.array(pts_ms) / 1000.0, atol=1e-3)
    assert [_bar_index(f.image) for f in got] == list(range(len(pts_ms)))


def test_gif_is_read_with_its_frame_delays(tmp_path: Path) -> None:
    import av

    gif = tmp_path / "anim.gif"
    with av.open(str(gif), "w") as c:
        s = c.add_stream("gif", rate=10)
        s.width, s.height, s.pix_fmt = 96, 64, "rgb8"
        for i in range(6):
            for p in s.encode(av.VideoFrame.from_ndarray(_bar_frame(i), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    info, frames = open_source(gif)
    got = list(frames)
    assert info.kind == "video" and (info.width, info.height) == (96, 64)
    assert len(got) == 6
    np.testing.assert_allclose([f.t for f in got], np.arange(6) / 10.0, atol=1e-6)
    assert [_bar_index(f.image) for f in got] == list(range(6))


def test_still_image_is_one_frame_at_zero(tmp_path: Path) -> None:
    img = _bar_frame(3)
    img[0, 0] = (255, 0, 0)  # red stays red: no BGR/RGB swap anywhere
    path = tmp_path / "still.png"
    write_image(path, img)
    info, frames = open_source(path)
    got = list(frames)
    assert info.kind == "image" and info.fps is None and info.frame_count == 1
    assert len(got) == 1 and got[0].t == 0.0
    np.testing.assert_array_equal(got[0].image, img)
    np.testing.assert_array_equal(read_image(path)[0, 0], (255, 0, 0))


def _truncated_mp4(tmp_path: Path) -> Path:
    good = tmp_path / "good.mp4"
    _write_clip(good, n=30)
    data = good.read_bytes()
    bad = tmp_path / "truncated.mp4"
    bad.write_bytes(data[: len(data) // 3])
    return bad


@pytest.mark.parametrize("case", ["missing", "empty", "text", "truncated", "folder", "suffix", "bad_png", "no_video"])
def test_bad_inputs_are_one_line_media_errors(tmp_path: Path, case: str) -> None:
    if case == "missing":
        path = tmp_path / "nope.mp4"
    elif case == "empty":
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
    elif case == "text":
        path = tmp_path / "notes.mp4"
        path.write_text("this is not a video\n" * 20)
    elif case == "truncated":
        path = _truncated_mp4(tmp_path)
    elif case == "folder":
        path = tmp_path / "dir.mp4"
        path.mkdir()
    elif case == "suffix":
        path = tmp_path / "clip.txt"
        path.write_text("hello")
    elif case == "bad_png":
        path = tmp_path / "broken.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    else:  # an audio-only container has no video stream
        import av

        path = tmp_path / "audio.mkv"
        with av.open(str(path), "w") as c:
            s = c.add_stream("pcm_s16le", rate=8000)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), dtype=np.int16), format="s16", layout="mono")
            frame.sample_rate = 8000
            for p in s.encode(frame):
                c.mux(p)
            for p in s.encode():
                c.mux(p)
    with pytest.raises(MediaError) as err:
        info, frames = open_source(path)
        list(frames)
    msg = str(err.value)
    assert isinstance(err.value, KioskError)
    assert "\n" not in msg and str(path.name) in msg and len(msg) < 300
