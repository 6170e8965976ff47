"""The outbox: trials the station has scored, kept as files until the database holds them.

Every trial is journaled here *before* its verdict is shown, then stored in the database; the
entry is removed once its row and media are stored. When the database or the media folder
cannot be written (read-only or immutable file, a card remounted read-only, a lock held by
another program, a full disk, a damaged page), the trial stays here, with its media, and the
recorder stores it when the store works again. A crash between the journal and the database is
caught at the next start by the same drain; the entry's ``uid`` (in the trial's ``timings``)
makes storing it twice impossible.

Why files and not a second SQLite database: the failures this guards against are the
database's own (locked, read-only, damaged), and a plain file written with the same
temp-fsync-rename as the media needs nothing but a writable folder. The folder is
``[store] outbox_dir``: put it on another partition (or a USB stick) to survive a state
partition that went read-only; by default it is ``outbox/`` in the state folder, which still
covers a locked, read-only, immutable or damaged database.

Layout: ``<outbox>/<uid>/trial.json`` plus the media files (``replay.mp4``, ``peak.jpg``) once
they are made. ``uid`` starts with the UTC time, so entries sort in the order of the trials.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk.errors import StoreError
from kiosk.media import atomic_write_bytes, fsync_dir
from kiosk.store.media import FILE_MODE, FOLDER_MODE, MEDIA_NAME

ENTRY = "trial.json"
#: A removed entry's folder is renamed to this prefix + uid before it is deleted.
REMOVED_PREFIX = ".removed-"
_UID = re.compile(r"^\d{8}T\d{12}-[0-9a-f]{8}$")


def new_uid(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}"


class Outbox:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _dir(self, uid: str) -> Path:
        if not _UID.match(uid):
            raise StoreError(f"not an outbox entry: {uid!r}")
        return self.folder / uid

    def put(self, entry: dict[str, Any]) -> None:
        """Journal one trial durably (file and folders fsynced); raises StoreError if it cannot."""
        folder = self._dir(entry["uid"])
        try:
            self.folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
            folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
            data = json.dumps(entry, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
            atomic_write_bytes(folder / ENTRY, data, mode=FILE_MODE)
            fsync_dir(self.folder)
        except (OSError, ValueError) as exc:
            raise StoreError(f"the outbox {self.folder} cannot be written ({exc})") from None

    def update(self, entry: dict[str, Any]) -> None:
        self.put(entry)

    def add_media(self, uid: str, files: dict[str, bytes]) -> None:
        folder = self._dir(uid)
        try:
            for name, data in files.items():
                if MEDIA_NAME.match(name):
                    atomic_write_bytes(folder / name, data, mode=FILE_MODE)
        except OSError as exc:
            raise StoreError(f"the outbox {self.folder} cannot be written ({exc})") from None

    def media(self, uid: str) -> dict[str, bytes]:
        folder = self._dir(uid)
        out = {}
        for path in sorted(folder.iterdir()):
            if path.name != ENTRY and MEDIA_NAME.match(path.name):
                out[path.name] = path.read_bytes()
        return out

    def entries(self) -> list[dict[str, Any]]:
        """Every complete entry, oldest first (a folder without its trial.json is skipped)."""
        if not self.folder.is_dir():
            return []
        out = []
        for folder in sorted(self.folder.iterdir()):
            if not _UID.match(folder.name):
                continue
            try:
                out.append(json.loads((folder / ENTRY).read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        return out

    def remove(self, uid: str) -> None:
        """Drop a stored trial's entry. The folder is first renamed out of the entries' names in
        one step, so a kill half-way through deleting never leaves media without their journal
        (a folder no drain would read, and no start-up would clear)."""
        folder = self._dir(uid)
        gone = self.folder / f"{REMOVED_PREFIX}{uid}"
        try:
            folder.rename(gone)
        except FileNotFoundError:
            return
        fsync_dir(self.folder)
        shutil.rmtree(gone, ignore_errors=True)

    def sweep(self) -> int:
        """At start-up, before any trial is journaled: finish removals a kill interrupted, and drop
        entry folders that hold no journal and no media (a put cut short before its trial.json
        existed: that trial was never committed nor shown). A folder with media but no journal is
        left alone: it is not ours to judge. Returns how many folders went."""
        if not self.folder.is_dir():
            return 0
        swept = 0
        for folder in sorted(self.folder.iterdir()):
            if not folder.is_dir():
                continue
            unfinished_put = _UID.match(folder.name) and not (folder / ENTRY).exists() and all(
                f.name.startswith(".") and ".tmp" in f.name for f in folder.iterdir())
            if folder.name.startswith(REMOVED_PREFIX) or unfinished_put:
                shutil.rmtree(folder, ignore_errors=True)
                swept += 1
        if swept:
            fsync_dir(self.folder)
        return swept

    def __len__(self) -> int:
        if not self.folder.is_dir():
            return 0
        return sum(1 for f in self.folder.iterdir() if _UID.match(f.name) and (f / ENTRY).is_file())


def outbox_dir(config: Any, state_root: Path) -> Path:
    configured = config.store.outbox_dir
    return Path(configured).expanduser().absolute() if configured else state_root / "outbox"
