"""Roster CSV: export, and an import that shows what it will change before it changes anything.

People are matched by a stable identifier, never by a row id: a row id is only this station's
counter, so another station's "7" is somebody else here (importing by id once gave a girl's
record another athlete's name and moved her trial). The order:

1. ``athlete_uid`` (made by the station that first stored the athlete, kept through exports and
   merges) - the same person wherever the file came from;
2. ``athlete_number`` (club/bib number), accepted only when the stored name is the same:
   a number held here by someone with another name is a conflict, shown, not overwritten;
3. the exact name, when no identifier is given and exactly one athlete here has it.

Anything else is a new athlete. ``athlete_id`` is exported for reference and ignored on import.
A plan with a conflict is refused whole; the coach fixes the file or the roster first.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from kiosk.errors import InputError
from kiosk.store.db import Store, _athlete_values
from kiosk.store.export import BOM, safe_text, unsafe_text, write_csv
from kiosk.store.records import audit

ROSTER_COLUMNS = ["athlete_uid", "athlete_number", "display_name", "team", "sex", "birth_year", "notes", "active",
                  "athlete_id"]
_FIELDS = ("athlete_number", "display_name", "team", "sex", "birth_year", "notes", "active")


def roster_csv(athletes: list[dict], *, bom: bool = True) -> str:
    buf = io.StringIO()
    rows = ([a["uid"] or "", safe_text(a["athlete_number"]), safe_text(a["display_name"]), safe_text(a["team"]),
             a["sex"] or "", str(a["birth_year"] or ""), safe_text(a["notes"]), "1" if a["active"] else "0", str(a["id"])]
            for a in athletes)
    write_csv(buf, ROSTER_COLUMNS, rows, bom=bom)
    return buf.getvalue()


@dataclass
class RowPlan:
    line: int
    action: str                      # "add", "update", "same", "conflict"
    name: str
    athlete_id: int | None = None
    matched_by: str = ""
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    uid: str = ""
    problem: str = ""


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def _by_uid(store: Store, uid: str) -> dict | None:
    rows = store.query("SELECT a.* FROM athletes a WHERE a.uid = ? UNION "
                       "SELECT a.* FROM athletes a JOIN athlete_aliases x ON x.athlete_id = a.id WHERE x.uid = ?",
                       (uid, uid))
    return dict(rows[0]) if rows else None


def plan_import(store: Store, text: str) -> list[RowPlan]:
    """What importing ``text`` would do, row by row; nothing is written."""
    reader = csv.DictReader(io.StringIO(text.removeprefix(BOM), newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "display_name" not in header:
        raise InputError("the roster CSV needs a header row with at least a display_name column")
    unknown = set(header) - set(ROSTER_COLUMNS)
    if unknown:
        raise InputError(f"the roster CSV has unknown column(s): {', '.join(sorted(unknown))}")
    everyone = store.list_athletes()
    plans: list[RowPlan] = []
    for row in reader:
        line = reader.line_num
        row = {(k or "").strip(): unsafe_text((v or "").strip()) for k, v in row.items() if k}
        if not any(v for k, v in row.items() if k != "athlete_id"):
            continue
        fields = {k: row[k] for k in _FIELDS if k in row}
        if fields.get("active") == "":
            del fields["active"]
        uid, number, name = row.get("athlete_uid", ""), row.get("athlete_number", ""), row.get("display_name", "")
        plan = RowPlan(line, "add", name, uid=uid)
        existing, how = (_by_uid(store, uid), "identifier") if uid else (None, "")
        if existing is None and number:
            holder = store.athlete_by_number(number)
            if holder is not None and (not name or _same_name(holder["display_name"], name)):
                existing, how = holder, "number"
            elif holder is not None:
                plan.action, plan.athlete_id = "conflict", holder["id"]
                plan.problem = f"number {number} belongs to {holder['display_name']} here, not to {name}"
        if existing is None and plan.action != "conflict" and not uid and not number and name:
            same = [a for a in everyone if _same_name(a["display_name"], name)]
            if len(same) == 1:
                existing, how = same[0], "name"
            elif len(same) > 1:
                plan.action, plan.problem = "conflict", f"{len(same)} athletes here are called {name}; add a number or identifier"
        try:
            plan.values = _athlete_values(fields, partial=existing is not None)
        except InputError as exc:
            plan.action, plan.problem = "conflict", str(exc)
        if existing is not None and plan.action != "conflict":
            plan.athlete_id, plan.matched_by, plan.name = existing["id"], how, existing["display_name"]
            plan.changes = {k: (existing[k], v) for k, v in plan.values.items() if existing[k] != v}
            plan.action = "update" if plan.changes else "same"
        plans.append(plan)
    _check_duplicates(plans)
    return plans


def _check_duplicates(plans: list[RowPlan]) -> None:
    """Two rows of one file aimed at the same athlete or number would overwrite each other."""
    seen: dict[Any, int] = {}
    for p in plans:
        keys = [("id", p.athlete_id)] if p.athlete_id is not None and p.action != "conflict" else []
        if p.values.get("athlete_number"):
            keys.append(("number", p.values["athlete_number"]))
        for key in keys:
            if key in seen and p.action != "conflict":
                p.action, p.problem = "conflict", f"line {seen[key]} of the file is the same athlete or number"
            seen.setdefault(key, p.line)


def apply_import(store: Store, text: str, *, by: str) -> dict[str, int]:
    """Plan again and apply, all rows or none; refused while any row is a conflict."""
    plans = plan_import(store, text)
    bad = [p for p in plans if p.action == "conflict"]
    if bad:
        raise InputError(f"roster line {bad[0].line}: {bad[0].problem}")
    counts = {"added": 0, "updated": 0, "same": 0}
    with store.tx() as conn:
        for p in plans:
            if p.action == "add":
                values = {**p.values, "created_at": store.now_iso()}
                if p.uid:
                    values["uid"] = p.uid
                cur = conn.execute(f"INSERT INTO athletes ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
                                   list(values.values()))
                audit(conn, store, by, "roster.add", int(cur.lastrowid), {"line": p.line})
                counts["added"] += 1
            elif p.action == "update":
                conn.execute(f"UPDATE athletes SET {', '.join(f'{k} = ?' for k in p.changes)} WHERE id = ?",
                             [*(new for _, new in p.changes.values()), p.athlete_id])
                audit(conn, store, by, "roster.update", p.athlete_id,
                      {"line": p.line, "matched_by": p.matched_by,
                       "changed": {k: {"from": old, "to": new} for k, (old, new) in p.changes.items()}})
                counts["updated"] += 1
            else:
                counts["same"] += 1
    return counts
