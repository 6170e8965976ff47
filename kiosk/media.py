"""Reading and writing clips and still images, with per-frame timestamps.

Frames are RGB ``uint8`` arrays of shape (H, W, 3) everywhere in the kiosk. Timestamps are
seconds from the clip's first frame, taken from the container's presentation times (not from
an assumed frame rate), so variable-rate clips and camera recordings keep their real timing.
PyAV (FFmpeg) reads mp4/avi/mov/mkv/GIF; stills go through OpenCV.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.errors import MediaError

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".gif"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


@dataclass(frozen=True)
class Frame:
    index: int
    t: float
    image: np.ndarray  # RGB uint8 (H, W, 3)


@dataclass(frozen=True)
class SourceInfo:
    path: str
    kind: str  # "video" or "image"
    fps: float | None
    width: int
    height: int
    frame_count: int | None  # from the container; may be an estimate


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not a video or image")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty")


def read_image(path: str | Path) -> np.ndarray:
    """A still image as RGB uint8."""
    import cv2

    p = Path(path)
    _check_exists(p)
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise MediaError(f"{p}: not a readable image (png/jpg/bmp/webp)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def write_image(path: str | Path, image: np.ndarray, quality: int = 90) -> None:
    """Write an RGB image (format from the suffix) atomically."""
    import cv2

    p = Path(path)
    ok, buf = cv2.imencode(p.suffix or ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                           [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise MediaError(f"{p}: cannot encode image")
    atomic_write_bytes(p, buf.tobytes())


def encode_jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise MediaError("cannot encode JPEG")
    return buf.tobytes()


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: int | None = None) -> None:
    """Write via a temp file in the same folder, fsync, then rename: never a half file.
    ``mode`` (e.g. 0o600 for athletes' media) is set before any byte is written."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MediaError(f"{p}: cannot write ({exc.strerror or exc})") from exc
    fsync_dir(p.parent)


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class VideoReader:
    """Decodes a clip frame by frame. Use as a context manager or call ``close()``."""

    def __init__(self, path: str | Path):
        import av

        self.path = Path(path)
        _check_exists(self.path)
        try:
            self._container = av.open(str(self.path), mode="r")
        except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise MediaError(f"{self.path}: not a video this kiosk can read ({_short(exc)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise MediaError(f"{self.path}: has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        ctx = self._stream.codec_context
        if ctx is None or not ctx.width or not ctx.height:
            self._container.close()
            raise MediaError(f"{self.path}: video codec cannot be decoded here")
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.width = int(ctx.width)
        self.height = int(ctx.height)
        frames = int(self._stream.frames or 0)
        if not frames and self._stream.duration and self._stream.time_base and self.fps:
            frames = int(round(float(self._stream.duration * self._stream.time_base) * self.fps))
        self.frame_count = frames or None

    @property
    def info(self) -> SourceInfo:
        return SourceInfo(str(self.path), "video", self.fps, self.width, self.height, self.frame_count)

    def __iter__(self) -> Iterator[Frame]:
        import av

        t0: float | None = None
        index = 0
        to_rgb = _RgbConverter()
        try:
            for vf in self._container.decode(self._stream):
                if vf.pts is not None and vf.time_base is not None:
                    t_abs = float(vf.pts * vf.time_base)
                else:
                    t_abs = index / (self.fps or 30.0)
                if t0 is None:
                    t0 = t_abs
                yield Frame(index, t_abs - t0, to_rgb(vf))
                index += 1
        except av.error.FFmpegError as exc:
            if index == 0:
                raise MediaError(f"{self.path}: cannot decode video ({_short(exc)})") from None
            raise MediaError(f"{self.path}: video is damaged after frame {index} ({_short(exc)})") from None
        if index == 0:
            raise MediaError(f"{self.path}: video has no frames")

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Frame tags OpenCV's I420 conversion matches: BT.601 matrix (or untagged, which FFmpeg also
#: reads as BT.601) and limited ("MPEG") range (or untagged).
_BT601_SPACES = {2, 5, 6}  # AVCOL_SPC_UNSPECIFIED, BT470BG, SMPTE170M
_LIMITED_RANGES = {0, 1}   # AVCOL_RANGE_UNSPECIFIED, MPEG


class _RgbConverter:
    """Decoded frame -> RGB uint8, the same bytes on every CPU, as fast as OpenCV decodes.

    8-bit 4:2:0 BT.601 limited-range frames (H.264 from the kiosk's own recorder, the synthetic
    clips, most cameras): the Y, U and V planes as they are, and OpenCV's ``COLOR_YUV2RGB_I420``,
    the conversion the station's camera path uses on its I420 ring. It is fixed-point integer
    code whose SIMD and scalar variants give identical bytes (checked on x86-64 AVX2 and arm64
    NEON: docs/ACCURACY.md). Everything else (BT.709-tagged HD, full range, 4:4:4, 10-bit,
    odd sizes, GIF) goes through swscale's exact path (:func:`_bitexact_rgb`), which is C without
    SIMD and costs ~2.5x more, with one swscale context for the whole clip.
    """

    def __init__(self) -> None:
        self._reformatter: Any = None

    def __call__(self, vf: Any) -> np.ndarray:
        if (vf.format.name == "yuv420p" and vf.width % 2 == 0 and vf.height % 2 == 0
                and int(getattr(vf, "colorspace", 2)) in _BT601_SPACES
                and int(getattr(vf, "color_range", 0)) in _LIMITED_RANGES):
            import cv2

            return cv2.cvtColor(vf.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420)
        if self._reformatter is None:
            from av.video.reformatter import VideoReformatter

            self._reformatter = VideoReformatter()
        return self._reformatter.reformat(vf, format="rgb24", interpolation=_bitexact_rgb()).to_ndarray()


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:160]


def _bitexact_rgb() -> int | None:
    """swscale flags for a YUV->RGB conversion that is the same on every CPU.

    H.264 decoding is bit-exact by the standard, but swscale's default YUV->RGB path is SIMD code
    that rounds differently on x86 and Arm (the same clip gave keypoints 0.5 px apart at the
    median, 12 px at worst). ACCURATE_RND takes the generic path, BITEXACT its exact variants;
    FFmpeg's own cross-platform tests decode this way. See docs/ACCURACY.md. None (PyAV's
    default conversion) where PyAV is too old to take these flags.
    """
    try:
        from av.video.reformatter import Interpolation

        return int(Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.BITEXACT)
    except (ImportError, AttributeError):
        return None


def open_source(path: str | Path) -> tuple[SourceInfo, Iterator[Frame]]:
    """Info and a frame iterator for a clip or a still image (one frame at t = 0)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        img = read_image(p)
        info = SourceInfo(str(p), "image", None, img.shape[1], img.shape[0], 1)
        return info, iter([Frame(0, 0.0, img)])
    if suffix not in VIDEO_SUFFIXES:
        _check_exists(p)
        kinds = ", ".join(sorted(s.lstrip(".") for s in VIDEO_SUFFIXES | IMAGE_SUFFIXES))
        raise MediaError(f"{p}: unsupported file type '{suffix or '(none)'}' (use {kinds})")
    reader = VideoReader(p)

    def frames() -> Iterator[Frame]:
        with reader:
            yield from reader

    return reader.info, frames()


class VideoWriter:
    """Writes RGB frames to an H.264 mp4 that browsers play; written to a temp name, renamed on close."""

    def __init__(self, path: str | Path, fps: float, width: int, height: int, *, crf: int = 23):
        from fractions import Fraction

        import av

        self.path = Path(path)
        self._tmp = self.path.with_name(f".{self.path.stem}.tmp{os.getpid()}{self.path.suffix or '.mp4'}")
        try:
            self._container = av.open(str(self._tmp), mode="w")
        except (OSError, av.error.FFmpegError) as exc:
            raise MediaError(f"{self.path}: cannot create video ({_short(exc)})") from None
        rate = Fraction(fps).limit_denominator(1001)
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        self._stream = self._container.add_stream(codec, rate=rate)
        # yuv420p needs even sizes
        self.width, self.height = width - width % 2, height - height % 2
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self._stream.options = {"crf": str(crf), "preset": "veryfast", "movflags": "+faststart"}
        self._frames = 0

    def write(self, image: np.ndarray) -> None:
        import av

        img = np.ascontiguousarray(image[: self.height, : self.width])
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._frames += 1

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        if self._frames == 0:
            self._tmp.unlink(missing_ok=True)
            raise MediaError(f"{self.path}: no frames were written")
        with open(self._tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self._tmp, self.path)
        fsync_dir(self.path.parent)

    def abort(self) -> None:
        try:
            self._container.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
