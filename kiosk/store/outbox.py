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
        shutil.rmtree(self._dir(uid), ignore_errors=True)
        fsync_dir(self.folder)

    def __len__(self) -> int:
        if not self.folder.is_dir():
            return 0
        return sum(1 for f in self.folder.iterdir() if _UID.match(f.name) and (f / ENTRY).is_file())


def outbox_dir(config: Any, state_root: Path) -> Path:
    configured = config.store.outbox_dir
    return Path(configured).expanduser().absolute() if configured else state_root / "outbox"
