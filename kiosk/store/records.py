"""Fixing athlete records: merge a duplicate into the real record, delete an athlete with all
their data, and the audit log that records both (and every edit and roster import).

Results are minors' health data, so a delete removes every trial row, session row, media file
(replay clips and annotated frames) and the athlete's rows in the station's saved exports
(``<state dir>/exports``: trial/session CSVs are rewritten without them, clip ZIPs rebuilt
without their clips). The audit log keeps who deleted which record id and how much, not the
person's name or results.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from kiosk.errors import InputError, StoreError
from kiosk.store import media as media_files
from kiosk.store.db import Store

BOM = "\ufeff"
#: Fields a merge copies from the duplicate when the kept record has none.
_FILLABLE = ("athlete_number", "sex", "birth_year", "team")


def audit(conn: Any, store: Store, by: str, action: str, athlete_id: int | None, detail: dict) -> None:
    """One audit row, inside the caller's transaction."""
    conn.execute("INSERT INTO audit_log (at, by, action, athlete_id, detail) VALUES (?, ?, ?, ?, ?)",
                 (store.now_iso(), by, action, athlete_id, json.dumps(detail, ensure_ascii=False)))


def audit_log(store: Store, *, athlete_id: int | None = None, limit: int = 100) -> list[dict]:
    """Audit rows, newest first (one athlete's, or all)."""
    sql, params = "SELECT * FROM audit_log", []
    if athlete_id is not None:
        sql += " WHERE athlete_id = ?"
        params.append(athlete_id)
    rows = store.query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
    return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]


def edit_athlete(store: Store, athlete_id: int, fields: dict[str, Any], *, by: str) -> list[str]:
    """Update an athlete and log which fields changed (old and new values). Returns the changed names."""
    from kiosk.store.db import _athlete_values

    before = store.get_athlete(athlete_id)
    if before is None:
        raise InputError(f"no athlete with id {athlete_id}")
    values = _athlete_values(fields, partial=True)
    changed = {k: {"from": before.get(k), "to": v} for k, v in values.items() if before.get(k) != v}
    if not changed:
        return []
    with store.tx() as conn:
        conn.execute(f"UPDATE athletes SET {', '.join(f'{k} = ?' for k in changed)} WHERE id = ?",
                     [*(c["to"] for c in changed.values()), athlete_id])
        audit(conn, store, by, "athlete.edit", athlete_id, {"changed": changed})
    return list(changed)


def merge_athletes(store: Store, keep_id: int, duplicate_id: int, *, by: str) -> dict[str, int]:
    """Move the duplicate's sessions and trials to ``keep_id``, fill the kept record's empty fields
    from it, remember its identifier as an alias, and remove the duplicate; all in one transaction."""
    if keep_id == duplicate_id:
        raise InputError("choose two different athletes to merge")
    keep, dup = store.get_athlete(keep_id), store.get_athlete(duplicate_id)
    if keep is None or dup is None:
        raise InputError("one of the two athletes no longer exists")
    filled = {k: dup[k] for k in _FILLABLE if keep.get(k) in (None, "") and dup.get(k) not in (None, "")}
    notes = "\n".join(n for n in (keep["notes"], dup["notes"]) if n)
    with store.tx() as conn:
        sessions = conn.execute("UPDATE sessions SET athlete_id = ? WHERE athlete_id = ?", (keep_id, duplicate_id)).rowcount
        trials = conn.execute("UPDATE trials SET athlete_id = ? WHERE athlete_id = ?", (keep_id, duplicate_id)).rowcount
        conn.execute("UPDATE athlete_aliases SET athlete_id = ? WHERE athlete_id = ?", (keep_id, duplicate_id))
        conn.execute("INSERT OR REPLACE INTO athlete_aliases (uid, athlete_id) VALUES (?, ?)", (dup["uid"], keep_id))
        conn.execute("DELETE FROM athletes WHERE id = ?", (duplicate_id,))  # frees its number for the kept record
        values = {**filled, "notes": notes}
        conn.execute(f"UPDATE athletes SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                     [*values.values(), keep_id])
        detail = {"merged_id": duplicate_id, "merged_name": dup["display_name"], "merged_uid": dup["uid"],
                  "sessions_moved": sessions, "trials_moved": trials, "filled": sorted(filled)}
        audit(conn, store, by, "athlete.merge", keep_id, detail)
    return {"sessions": sessions, "trials": trials}


def delete_athlete(store: Store, athlete_id: int, *, by: str) -> dict[str, int]:
    """Delete the athlete, their sessions, trials and media files, and their rows in saved exports."""
    athlete = store.get_athlete(athlete_id)
    if athlete is None:
        raise InputError(f"no athlete with id {athlete_id}")
    rows = store.query("SELECT id, media FROM trials WHERE athlete_id = ?", (athlete_id,))
    trial_ids = {int(r["id"]) for r in rows}
    rels = [rel for r in rows for rel in json.loads(r["media"]).values()]
    with store.tx() as conn:
        trials = conn.execute("DELETE FROM trials WHERE athlete_id = ?", (athlete_id,)).rowcount
        sessions = conn.execute("DELETE FROM sessions WHERE athlete_id = ?", (athlete_id,)).rowcount
        conn.execute("DELETE FROM athlete_aliases WHERE athlete_id = ?", (athlete_id,))
        conn.execute("DELETE FROM athletes WHERE id = ?", (athlete_id,))
        # Rows first: a file that cannot be removed now is an orphan the next start's sweep removes.
        audit(conn, store, by, "athlete.delete", athlete_id,
              {"sessions": sessions, "trials": trials, "media_files": len(rels)})
    media_files.remove(store.media_root, rels)
    scrubbed = scrub_exports(store.root / "exports", athlete_id, trial_ids)
    return {"sessions": sessions, "trials": trials, "media_files": len(rels), "export_files": scrubbed}


# --- saved exports ------------------------------------------------------------------------------

def _read_csv(data: bytes) -> tuple[list[str], list[list[str]], bool]:
    text = data.decode("utf-8")
    bom = text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM), newline="")))
    return (rows[0] if rows else []), rows[1:], bom


def _write_csv(header: list[str], rows: list[list[str]], bom: bool) -> bytes:
    buf = io.StringIO()
    if bom:
        buf.write(BOM)
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _without(header: list[str], rows: list[list[str]], athlete_id: int, trial_ids: set[int]) -> list[list[str]]:
    a = header.index("athlete_id") if "athlete_id" in header else None
    t = header.index("trial_id") if "trial_id" in header else None
    keep = []
    for row in rows:
        if a is not None and a < len(row) and row[a] == str(athlete_id):
            continue
        if t is not None and t < len(row) and row[t].isdigit() and int(row[t]) in trial_ids:
            continue
        keep.append(row)
    return keep


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.scrub")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def scrub_exports(folder: Path, athlete_id: int, trial_ids: set[int]) -> int:
    """Rewrite saved CSVs and ZIPs under ``folder`` without the athlete; returns files changed."""
    if not folder.is_dir():
        return 0
    changed = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        try:
            if path.suffix.lower() == ".csv":
                header, rows, bom = _read_csv(path.read_bytes())
                kept = _without(header, rows, athlete_id, trial_ids)
                if len(kept) != len(rows):
                    _replace(path, _write_csv(header, kept, bom))
                    changed += 1
            elif path.suffix.lower() == ".zip":
                changed += _scrub_zip(path, athlete_id, trial_ids)
        except (OSError, UnicodeDecodeError, zipfile.BadZipFile, csv.Error) as exc:
            raise StoreError(f"{path}: cannot remove the athlete from this saved export ({exc}); "
                             "delete the file by hand") from None
    return changed


def _scrub_zip(path: Path, athlete_id: int, trial_ids: set[int]) -> int:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        if "manifest.csv" not in names:
            return 0
        header, rows, bom = _read_csv(zf.read("manifest.csv"))
        kept = _without(header, rows, athlete_id, trial_ids)
        if "trial_id" in header:
            t = header.index("trial_id")
            trial_ids = trial_ids | {int(r[t]) for r in rows if r not in kept and t < len(r) and r[t].isdigit()}
        gone = [n for n in names if n.split("/", 1)[0].removeprefix("trial-").isdigit()
                and int(n.split("/", 1)[0].removeprefix("trial-")) in trial_ids]
        if len(kept) == len(rows) and not gone:
            return 0
        tmp = path.with_name(f".{path.name}.scrub")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as out:
            out.writestr("manifest.csv", _write_csv(header, kept, bom))
            for info in zf.infolist():
                if info.filename == "manifest.csv" or info.filename in gone:
                    continue
                with zf.open(info) as src, out.open(info, "w", force_zip64=True) as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
    os.replace(tmp, path)
    return 1
