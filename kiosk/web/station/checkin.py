"""Check-in at the station: roster search, athlete-number lookup, quick-add, and this visit's results.

The roster picker is the one place the station lists other people, so it lists as little as
possible: nothing until the athlete has typed two letters, then at most a handful of display
names (with a number only to tell two "Sam"s apart). Never a result, team or any other field.
"""

from __future__ import annotations

import threading
from typing import Any

from kiosk.errors import KioskError

MIN_QUERY = 2
MAX_MATCHES = 6
MAX_NAME = 60


class CheckInError(KioskError, ValueError):
    """The athlete's check-in cannot be done as asked (unknown number, empty name, quick-add off)."""


class NameExists(CheckInError):
    """ "I'm new" with a name already on the roster: the page asks "is this you?" first."""

    def __init__(self, name: str, matches: list[dict]):
        super().__init__(f"{name} is already on the list. Is this you?")
        self.matches = matches


#: A second "add me" of the same name within this many seconds is the same tap, not a twin.
REPEAT_ADD_S = 30.0
_recent_adds: dict[str, tuple[int, float]] = {}
_add_lock = threading.Lock()


def _athlete_dict(row: Any) -> dict:
    """A store row/record as a plain dict (the store may return dataclasses or mappings)."""
    if row is None:
        return {}
    if isinstance(row, dict):
        return dict(row)
    if hasattr(row, "to_json"):
        return dict(row.to_json())
    if hasattr(row, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(row)
    return dict(row)


def search_roster(store: Any, query: str) -> list[dict]:
    """Up to :data:`MAX_MATCHES` active athletes whose name contains ``query`` (2+ letters)."""
    q = " ".join(query.split())[:MAX_NAME]
    if len(q.replace(" ", "")) < MIN_QUERY:
        return []
    rows = [_athlete_dict(r) for r in _matches(store.list_athletes(active_only=True), q)]
    out = []
    for r in rows[:MAX_MATCHES]:
        item = {"id": int(r["id"]), "name": str(r.get("display_name") or r.get("name") or "")}
        out.append(item)
    # Two athletes with one name: show their numbers so each can find themself.
    names = [o["name"].casefold() for o in out]
    for o, r in zip(out, rows, strict=False):
        if names.count(o["name"].casefold()) > 1 and r.get("athlete_number"):
            o["number"] = str(r["athlete_number"])
    return out


def _matches(rows: list[dict], query: str) -> list[dict]:
    """Names containing every typed word; names where a word *starts* with it come first."""
    words = query.casefold().split()
    scored = []
    for r in rows:
        name = str(r.get("display_name") or "")
        parts = name.casefold().split()
        if all(w in name.casefold() for w in words):
            prefix = sum(any(p.startswith(w) for p in parts) for w in words)
            scored.append((-prefix, name.casefold(), r))
    scored.sort(key=lambda item: item[:2])
    return [r for _, _, r in scored[:MAX_MATCHES]]


def resolve_athlete(store: Any, data: dict, *, allow_quick_add: bool) -> dict:
    """The athlete record to check in, from ``{"athlete_id"}``, ``{"number"}`` or ``{"new_name"}``."""
    if data.get("athlete_id") is not None:
        try:
            athlete_id = int(data["athlete_id"])
        except (TypeError, ValueError):
            raise CheckInError("That name is not on the list.") from None
        row = store.get_athlete(athlete_id)
        athlete = _athlete_dict(row)
        if not athlete or not athlete.get("active", True):
            raise CheckInError("That name is not on the list. Please ask a coach.")
        return athlete
    if data.get("number") not in (None, ""):
        number = "".join(str(data["number"]).split())[:20]
        athlete = _athlete_dict(store.athlete_by_number(number))
        if not athlete or not athlete.get("active", True):
            raise CheckInError(f"No athlete has number {number}. Check it or pick your name.")
        return athlete
    if data.get("new_name") not in (None, ""):
        if not allow_quick_add:
            raise CheckInError("Adding yourself is switched off here. Please ask a coach.")
        name = " ".join(str(data["new_name"]).split())[:MAX_NAME]
        if len(name) < MIN_QUERY:
            raise CheckInError("Please type your name (at least 2 letters).")
        return _athlete_dict(store.get_athlete(_add_once(store, name, confirmed=bool(data.get("confirm_new")))))
    raise CheckInError("Pick your name, key your number, or add yourself.")


def same_name(store: Any, name: str) -> list[dict]:
    """Active athletes whose name is ``name`` (case and spacing ignored), as roster items."""
    key = " ".join(name.split()).casefold()
    out = []
    for r in map(_athlete_dict, store.list_athletes(active_only=True)):
        if " ".join(str(r.get("display_name") or "").split()).casefold() == key:
            item = {"id": int(r["id"]), "name": str(r.get("display_name") or "")}
            if r.get("athlete_number"):
                item["number"] = str(r["athlete_number"])
            out.append(item)
    return out[:MAX_MATCHES]


def _add_once(store: Any, name: str, *, confirmed: bool) -> int:
    """The new athlete's id. A name already on the roster needs ``confirmed`` (the athlete said
    "no, that is not me"); a repeat of the same add within REPEAT_ADD_S (a double or triple tap,
    two browser tabs) gives the athlete just made instead of a second one."""
    import time

    key = name.casefold()
    with _add_lock:
        now = time.monotonic()
        recent = _recent_adds.get(key)
        if recent is not None and now - recent[1] < REPEAT_ADD_S and store.get_athlete(recent[0]):
            return recent[0]
        existing = same_name(store, name)
        if existing and not confirmed:
            raise NameExists(name, existing)
        athlete_id = int(store.add_athlete(name))
        _recent_adds[key] = (athlete_id, now)
        return athlete_id


SEX_CHOICES = {"female": "female", "male": "male", "prefer_not_to_say": "prefer_not_to_say", "": None}


def about_fields(data: dict, *, this_year: int) -> dict:
    """The optional sex and birth year from the "About you" step, checked; empty ones left out."""
    out: dict[str, Any] = {}
    sex = str(data.get("sex") or "").strip().lower().replace(" ", "_")
    if sex not in SEX_CHOICES:
        raise CheckInError("Pick female, male or prefer not to say (or skip).")
    if SEX_CHOICES[sex] is not None:
        out["sex"] = SEX_CHOICES[sex]
    year = str(data.get("birth_year") or "").strip()
    if year:
        if not (year.isdigit() and len(year) == 4 and this_year - 100 <= int(year) <= this_year - 5):
            raise CheckInError(f"Please key your birth year as four digits, like {this_year - 15}.")
        out["birth_year"] = int(year)
    return out


def save_about(store: Any, athlete_id: int, fields: dict) -> dict:
    """Store the optional fields on the athlete ("prefer not to say" is kept as the answer it is);
    the updated athlete."""
    if fields:
        store.update_athlete(athlete_id, **fields)
    return _athlete_dict(store.get_athlete(athlete_id))


class SessionTracker:
    """This visit's trial results, kept only until the athlete leaves (cancel or idle reset).

    The runtime reports the last result and the attempt count in every snapshot; the tracker
    collects each attempt's result once, so the summary screen needs nothing from
    the store and cannot show anybody else's trials.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._athlete: Any = None
        self._results: dict[Any, dict] = {}
        self._pictures: dict[int, dict] = {}   # attempt -> the peak frame and replay, for the summary

    def reset(self) -> None:
        with self._lock:
            self._athlete = None
            self._results = {}
            self._pictures = {}

    def wants_pictures(self, attempt: int) -> bool:
        with self._lock:
            return attempt not in self._pictures

    def keep_pictures(self, attempt: int, pictures: dict) -> None:
        """The summary shows the middle jump's picture: each jump's is kept until the visit ends."""
        with self._lock:
            self._pictures.setdefault(attempt, pictures)

    def pictures(self, attempt: int) -> dict | None:
        with self._lock:
            return self._pictures.get(attempt)

    def observe(self, snapshot: dict) -> None:
        athlete = snapshot.get("athlete") or None
        key_athlete = (athlete or {}).get("id") if isinstance(athlete, dict) else None
        with self._lock:
            if athlete is None:
                if snapshot.get("state") == "idle":
                    self._athlete, self._results = None, {}
                return
            if key_athlete != self._athlete:
                self._athlete, self._results, self._pictures = key_athlete, {}, {}
            session = snapshot.get("session")
            if isinstance(session, dict) and isinstance(session.get("results"), list):
                self._results = {i: r for i, r in enumerate(session["results"]) if isinstance(r, dict)}
                return
            result = snapshot.get("last_result")
            attempt = snapshot.get("attempts")
            if isinstance(result, dict) and snapshot.get("state") == "result" and attempt and \
                    (snapshot.get("last_outcome") or {}).get("kind") != "practice":
                # One result per attempt: repeated snapshots of the same result do not add up.
                self._results.setdefault(int(attempt), result)

    def results(self) -> list[dict]:
        with self._lock:
            return list(self._results.values())

    def by_attempt(self) -> list[tuple[int, dict]]:
        """(attempt number, result) of this visit's jumps, in order."""
        with self._lock:
            return sorted(((int(k), r) for k, r in self._results.items()), key=lambda item: item[0])
