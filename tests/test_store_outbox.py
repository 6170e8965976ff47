"""The outbox's own file handling: a removal a kill interrupts leaves nothing behind that no
drain reads, and the start-up sweep never touches an entry it cannot judge."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from kiosk.store.outbox import ENTRY, REMOVED_PREFIX, Outbox, new_uid


def _entry(box: Outbox) -> str:
    uid = new_uid(datetime(2026, 12, 6, 9, 30, tzinfo=UTC))
    box.put({"uid": uid, "recorded_at": "2026-12-06T09:30:00+00:00"})
    box.add_media(uid, {"peak.jpg": b"jpeg"})
    return uid


def test_remove_renames_first_so_a_cut_short_delete_is_swept(tmp_path: Path, monkeypatch) -> None:
    box = Outbox(tmp_path / "outbox")
    uid = _entry(box)
    # a kill inside rmtree: the folder was renamed, nothing inside deleted yet
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: None)
    box.remove(uid)
    monkeypatch.undo()
    assert box.entries() == [] and len(box) == 0
    assert [p.name for p in box.folder.iterdir()] == [f"{REMOVED_PREFIX}{uid}"]
    assert box.sweep() == 1
    assert list(box.folder.iterdir()) == []


def test_sweep_drops_a_put_cut_short_and_keeps_what_it_cannot_judge(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox")
    kept = _entry(box)
    cut = new_uid(datetime(2026, 12, 6, 9, 31, tzinfo=UTC))
    (box.folder / cut).mkdir()
    (box.folder / cut / f".{ENTRY}.tmp123").write_bytes(b"{")   # killed while writing its journal
    orphan_media = new_uid(datetime(2026, 12, 6, 9, 32, tzinfo=UTC))
    (box.folder / orphan_media).mkdir()
    (box.folder / orphan_media / "peak.jpg").write_bytes(b"jpeg")   # not ours to judge
    assert box.sweep() == 1
    assert sorted(p.name for p in box.folder.iterdir()) == sorted([kept, orphan_media])
    assert [e["uid"] for e in box.entries()] == [kept]
    assert box.media(kept) == {"peak.jpg": b"jpeg"}


def test_removing_twice_is_harmless(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox")
    uid = _entry(box)
    box.remove(uid)
    box.remove(uid)
    assert list(box.folder.iterdir()) == []
