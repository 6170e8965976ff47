"""Trial media files (replay clip, annotated frames) under ``STATE/media/YYYY/MM/DD/``.

Files are written atomically (temp name, fsync, rename) before the trial row exists, so a
crash leaves at most a complete file without a row, which :func:`sweep` moves to the
quarantine folder later (never deleted at start: a file without a row may also mean a database
restored from an older backup). Files are 0600 and folders 0700: athletes' pictures. Paths
stored in the database are relative, with forward slashes; every path that comes from a
request goes through :func:`resolve`, which refuses anything that leaves the media folder
(``..``, absolute paths, encoded variants after decoding, symlinks pointing out).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from kiosk.errors import DiskFullError, InputError
from kiosk.media import atomic_write_bytes, fsync_dir

#: Allowed media names: a short lower-case stem and a known suffix ("replay.mp4", "peak.jpg").
MEDIA_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}\.(mp4|webm|jpg|jpeg|png|json)$")
_REL_PATH = re.compile(r"^\d{4}/\d{2}/\d{2}/[0-9a-f]{12}-[a-z0-9][a-z0-9_-]{0,31}\.(mp4|webm|jpg|jpeg|png|json)$")
#: Orphans go here (``STATE/quarantine/<its media path>``), beside ``media/``, not in it.
QUARANTINE = "quarantine"
FILE_MODE = 0o600
FOLDER_MODE = 0o700
VIDEO_SUFFIXES = (".mp4", ".webm")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def check_free_space(root: Path, min_free_mb: int, needed_bytes: int = 0) -> None:
    """Refuse (DiskFullError) when writing ``needed_bytes`` would leave under ``min_free_mb``."""
    try:
        free = shutil.disk_usage(root).free
    except OSError:
        return  # cannot tell; the write itself will report a full disk
    if free - needed_bytes < min_free_mb * 1024 * 1024:
        raise DiskFullError(f"only {free // (1024 * 1024)} MB free on the station's disk (needs {min_free_mb} MB); "
                            "the trial was not saved - prune old media or free space")


def write_media(media_root: Path, when: datetime, name: str, data: bytes) -> str:
    """Write one media file atomically; returns its path relative to ``media_root``."""
    if not MEDIA_NAME.match(name):
        raise InputError(f"media name {name!r} is not allowed (use e.g. replay.mp4 or peak.jpg)")
    day = when.astimezone(UTC)
    rel = f"{day:%Y/%m/%d}/{secrets.token_hex(6)}-{name}"
    target = media_root / rel
    make_folder(target.parent)
    atomic_write_bytes(target, data, mode=FILE_MODE)
    return rel


def probe_writable(folder: Path) -> str | None:
    """None when a file can be created, written, fsynced and removed in ``folder`` (as a trial's
    media will be), else why not: catches a card remounted read-only, a folder made
    read-only or immutable, a broken mount."""
    probe = folder / f".probe-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as exc:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass
        return f"the media folder {folder} cannot be written ({exc.strerror or exc})"
    return None


def count_files(media_root: Path) -> int:
    """Stored media files under ``media_root`` (temp files of interrupted writes not counted)."""
    if not media_root.is_dir():
        return 0
    return sum(1 for _d, _s, files in os.walk(media_root) for f in files if not f.startswith("."))


def make_folder(folder: Path) -> None:
    """Create ``folder`` and its missing parents durably: a new folder's name lives in its parent
    folder, which must be fsynced too, or a power cut after the trial's commit can take the whole
    new day folder (and the files in it) with it while the row survives."""
    missing: list[Path] = []
    p = folder
    while not p.is_dir():
        missing.append(p)
        p = p.parent
    for created in reversed(missing):  # one by one: parents=True would give the parents 0755
        created.mkdir(mode=FOLDER_MODE, exist_ok=True)
    for created in reversed(missing):
        fsync_dir(created.parent)


def remove(media_root: Path, rel_paths: Iterable[str]) -> None:
    """Delete stored media files (missing ones are fine) and day folders left empty."""
    for rel in rel_paths:
        if not _REL_PATH.match(rel):
            continue  # never delete a path this module did not make
        path = media_root / rel
        try:
            path.unlink(missing_ok=True)
        except OSError:
            continue
        _remove_empty_parents(path.parent, media_root)


def _remove_empty_parents(folder: Path, media_root: Path) -> None:
    while folder != media_root and media_root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def sweep(media_root: Path, referenced: set[str], *, grace_s: float = 600.0,
          quarantine: Path | None = None) -> int:
    """Move files under ``media_root`` that no trial refers to into ``quarantine`` (default
    ``media_root/../quarantine``), keeping their relative path; returns how many were moved.

    Temp files of interrupted writes (``.name.tmpPID``, never complete) are deleted. Files
    younger than ``grace_s`` are left alone: another process may be saving that trial now.
    """
    if not media_root.is_dir():
        return 0
    quarantine = quarantine or media_root.parent / QUARANTINE
    moved = 0
    cutoff = time.time() - grace_s
    for dirpath, _dirs, files in os.walk(media_root):
        for fname in files:
            path = Path(dirpath) / fname
            rel = path.relative_to(media_root).as_posix()
            if rel in referenced:
                continue
            try:
                if path.lstat().st_mtime > cutoff:
                    continue
                if _TEMP_NAME.match(fname):
                    path.unlink()
                    continue
                target = quarantine / rel
                make_folder(target.parent)
                os.replace(path, target)  # same file system: a rename, nothing copied or lost
                moved += 1
            except OSError:
                continue
    for dirpath, dirs, files in os.walk(media_root, topdown=False):
        if not dirs and not files and Path(dirpath) != media_root:
            _remove_empty_parents(Path(dirpath), media_root)
    return moved


_TEMP_NAME = re.compile(r"^\..+\.tmp\d+$")


def resolve(media_root: Path, rel: str) -> Path | None:
    """The file for a requested relative path, or None when it is not a stored media file.

    Only paths of the shape this module writes are accepted, and the resolved real path must
    still lie inside the media folder (a symlink placed there cannot point out).
    """
    if not rel or "\\" in rel or "\x00" in rel or not _REL_PATH.match(rel):
        return None
    root = media_root.resolve()
    try:
        real = (media_root / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if root not in real.parents or not real.is_file():
        return None
    return real


def kind(rel: str) -> str:
    """'video', 'image' or 'other', from the suffix."""
    low = rel.lower()
    if low.endswith(VIDEO_SUFFIXES):
        return "video"
    if low.endswith(IMAGE_SUFFIXES):
        return "image"
    return "other"
