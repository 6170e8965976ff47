"""Athlete records a coach can fix: edit, merge duplicates (history kept), delete with every
trial, clip and frame (files gone, saved exports scrubbed), an audit log of it all, and a roster
import that matches people by a stable identifier and previews its changes."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.errors import InputError
from kiosk.store import Store, export, records, roster
from kiosk.store.sample import result_json

NASTY = ["Zoë O'Brien", "Robert'); DROP TABLE athletes;--", "<script>alert(1)</script>", "李小龍", "=1+2"]
T0 = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)


def _session(store: Store, athlete: int, at: datetime, n: int = 3, media: bool = True) -> list[int]:
    rng = random.Random(athlete * 100 + at.day)
    sid = store.start_session(athlete, "Gym", started_at=at)
    ids = [store.save_trial(sid, result_json(rng), {"replay.mp4": b"clip" * 50, "peak.jpg": b"jpg"} if media else None,
                            recorded_at=at + timedelta(seconds=30 * k)) for k in range(n)]
    store.end_session(sid, "PASS", {}, ended_at=at + timedelta(minutes=2))
    return ids


def _files(store: Store) -> set[Path]:
    return {p for p in store.media_root.rglob("*") if p.is_file()}


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.removeprefix(export.BOM), newline="")))


def test_edit_is_audited(client, store, coach) -> None:
    a = store.add_athlete("Self Added")
    r = client.post(f"/coach/roster/{a}/edit", data={"display_name": "Self Added", "sex": "female", "birth_year": "2010",
                                                     "team": "U16", "athlete_number": "77", "active": "1",
                                                     "csrf_token": coach})
    assert r.status_code == 302
    got = store.get_athlete(a)
    assert (got["sex"], got["birth_year"], got["team"], got["athlete_number"]) == ("female", 2010, "U16", "77")
    entry = records.audit_log(store, athlete_id=a)[0]
    assert entry["by"] == "anna" and entry["action"] == "athlete.edit"
    assert entry["detail"]["changed"]["sex"] == {"from": None, "to": "female"}
    r = client.post(f"/coach/roster/{a}/edit", data={"display_name": "", "csrf_token": coach})
    assert r.status_code == 400 and "needs a name" in r.get_data(as_text=True)
    assert "athlete.edit" in client.get(f"/coach/audit?athlete={a}").get_data(as_text=True)


def test_merge_keeps_the_history_and_fills_empty_fields(client, store, coach) -> None:
    keep = store.add_athlete("Mia Jones", team="U16", sex="female")
    dup = store.add_athlete("Mia J", athlete_number="12", birth_year=2011)
    _session(store, keep, T0 - timedelta(days=7))
    moved = _session(store, dup, T0)
    files = _files(store)
    page = client.get(f"/coach/athletes/{dup}/merge").get_data(as_text=True)
    assert "Similar names" in page and f'value="{keep}"' in page
    r = client.post(f"/coach/athletes/{dup}/merge", data={"keep": str(keep), "csrf_token": coach})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/coach/athletes/{keep}")
    assert store.get_athlete(dup) is None
    kept = store.get_athlete(keep)
    assert (kept["athlete_number"], kept["birth_year"], kept["sex"], kept["team"]) == ("12", 2011, "female", "U16")
    assert {t["id"] for t in store.athlete_trials(keep)} >= set(moved) and len(store.athlete_trials(keep)) == 6
    assert _files(store) == files  # nothing deleted
    entry = records.audit_log(store, athlete_id=keep)[0]
    assert entry["action"] == "athlete.merge" and entry["detail"]["trials_moved"] == 3
    assert client.post(f"/coach/athletes/{keep}/merge", data={"keep": str(keep), "csrf_token": coach}).status_code == 302
    assert store.get_athlete(keep) is not None  # merging into itself is refused


def test_delete_removes_rows_files_and_saved_exports(client, store, coach) -> None:
    gone = store.add_athlete("Minor Athlete", team="U14")
    stays = store.add_athlete("Other Athlete", team="U14")
    gone_trials = _session(store, gone, T0)
    _session(store, stays, T0 + timedelta(minutes=5))
    gone_files = {store.media_root / rel for t in gone_trials for rel in store.get_trial(t)["media"].values()}
    assert gone_files and all(p.is_file() for p in gone_files)
    # the nightly export's files of that day
    exports = store.root / "exports"
    exports.mkdir()
    day = T0.date().isoformat()
    start, end = export.day_bounds(T0.date())
    trials = store.trials_between(start, end)
    (exports / f"trials_{day}.csv").write_text(export.trials_csv(trials, UTC), encoding="utf-8", newline="")
    (exports / f"sessions_{day}.csv").write_text(export.sessions_csv(store, start, end, UTC), encoding="utf-8", newline="")
    (exports / f"clips_{day}.zip").write_bytes(b"".join(export.clips_zip(store, trials, UTC)))

    page = client.get(f"/coach/athletes/{gone}/delete").get_data(as_text=True)
    assert "3 trials" in page and "cannot be undone" in page
    r = client.post(f"/coach/athletes/{gone}/delete", data={"confirm_name": "Minor", "csrf_token": coach})
    assert r.status_code == 400 and store.get_athlete(gone) is not None
    r = client.post(f"/coach/athletes/{gone}/delete", data={"confirm_name": "Minor Athlete", "csrf_token": coach},
                    follow_redirects=True)
    assert "Deleted Minor Athlete" in r.get_data(as_text=True) and "3 saved export files" in r.get_data(as_text=True)
    assert store.get_athlete(gone) is None and all(store.get_trial(t) is None for t in gone_trials)
    assert store.query("SELECT COUNT(*) FROM sessions WHERE athlete_id = ?", (gone,))[0][0] == 0
    assert not any(p.exists() for p in gone_files)
    assert len(_files(store)) == 6  # the other athlete's clips and pictures stay
    for name in (f"trials_{day}.csv", f"sessions_{day}.csv"):
        text = (exports / name).read_text(encoding="utf-8")
        assert "Minor Athlete" not in text and "Other Athlete" in text and text.startswith(export.BOM)
    with zipfile.ZipFile(exports / f"clips_{day}.zip") as zf:
        names = zf.namelist()
        assert not any(n.startswith(f"trial-{t}/") for t in gone_trials for n in names)
        assert len([n for n in names if n.endswith("replay.mp4")]) == 3
        assert "Minor Athlete" not in zf.read("manifest.csv").decode("utf-8")
    entry = records.audit_log(store, athlete_id=gone)[0]
    assert entry["action"] == "athlete.delete" and entry["by"] == "anna"
    assert "Minor" not in str(entry)  # the log keeps no name or result of a deleted person


def test_roster_import_from_another_station_matches_people_not_row_ids(client, store, coach, tmp_path) -> None:
    """Station B's roster, imported here, must not overwrite whoever has the same row id here."""
    here_girl = store.add_athlete("Girl Here", sex="female")
    _session(store, here_girl, T0, media=False)
    other = Store(tmp_path / "b")
    other.migrate()
    other.add_athlete("Boy There", athlete_number="5", sex="male")  # row id 1 there too
    shared_uid_person = other.add_athlete("Shared Person", team="U16")
    text = roster.roster_csv(other.list_athletes())
    assert _rows(text)[0]["athlete_id"] == str(here_girl)  # the same numeric id on both stations

    r = client.post("/coach/roster/import", data={"csrf_token": coach, "file": (io.BytesIO(text.encode()), "b.csv")},
                    content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "2 to add" in page and "Apply these changes" in page
    assert len(store.list_athletes()) == 1  # the preview wrote nothing
    r = client.post("/coach/roster/import/apply", data={"csrf_token": coach, "text": text}, follow_redirects=True)
    assert "2 added, 0 updated" in r.get_data(as_text=True)
    girl = store.get_athlete(here_girl)
    assert girl["display_name"] == "Girl Here" and girl["sex"] == "female" and len(store.athlete_trials(here_girl)) == 3
    # re-importing station B's (edited) roster updates the same people by their identifier
    rows = _rows(roster.roster_csv(other.list_athletes()))
    rows[1]["display_name"], rows[1]["team"] = "Shared Person-Smith", "U18"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=roster.ROSTER_COLUMNS)
    w.writeheader()
    w.writerows(rows)
    plans = roster.plan_import(store, buf.getvalue())
    assert [(p.action, p.matched_by) for p in plans] == [("same", "identifier"), ("update", "identifier")]
    assert plans[1].changes == {"display_name": ("Shared Person", "Shared Person-Smith"), "team": ("U16", "U18")}
    assert roster.apply_import(store, buf.getvalue(), by="anna") == {"added": 0, "updated": 1, "same": 1}
    other.close()
    assert shared_uid_person  # (its uid travelled in the file)


def test_roster_conflicts_are_shown_and_block_the_import(client, store, coach) -> None:
    store.add_athlete("Ann Number", athlete_number="7")
    store.add_athlete("Twin Name")
    store.add_athlete("Twin Name")
    text = "athlete_number,display_name\r\n7,Somebody Else\r\n,Twin Name\r\n,New Kid\r\n"
    plans = roster.plan_import(store, text)
    assert [p.action for p in plans] == ["conflict", "conflict", "add"]
    assert "belongs to Ann Number" in plans[0].problem
    r = client.post("/coach/roster/import", data={"csrf_token": coach, "file": (io.BytesIO(text.encode()), "r.csv")},
                    content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert "2 to fix first" in page and "Apply these changes" not in page
    r = client.post("/coach/roster/import/apply", data={"csrf_token": coach, "text": text})
    assert "Nothing imported" in r.get_data(as_text=True)
    assert store.athlete_by_number("7")["display_name"] == "Ann Number" and len(store.list_athletes()) == 3


def test_roster_round_trip_between_stations(store, tmp_path) -> None:
    for i, name in enumerate(NASTY):
        store.add_athlete(name, athlete_number=f"N{i}", team="=team" if i == 0 else "", sex="male" if i % 2 else None,
                          birth_year=2000 + i, notes="line1\nline2")
    text = roster.roster_csv(store.list_athletes())
    other = Store(tmp_path / "other")
    other.migrate()
    assert roster.apply_import(other, text, by="t") == {"added": len(NASTY), "updated": 0, "same": 0}
    strip = [{k: v for k, v in a.items() if k not in ("id", "created_at")} for a in store.list_athletes()]
    assert [{k: v for k, v in a.items() if k not in ("id", "created_at")} for a in other.list_athletes()] == strip
    # a sheet with a number and the same name updates that athlete; columns left out keep their values
    assert roster.apply_import(other, "athlete_number,display_name,team\r\nN1,Robert'); DROP TABLE athletes;--,U18\r\n",
                               by="t") == {"added": 0, "updated": 1, "same": 0}
    assert other.athlete_by_number("N1")["team"] == "U18" and other.athlete_by_number("N1")["birth_year"] == 2001
    other.close()


def test_roster_import_is_all_or_nothing(store) -> None:
    with pytest.raises(InputError, match="line 3: sex"):
        roster.apply_import(store, "display_name,sex\r\nAlice,female\r\nBob,robot\r\n", by="t")
    assert store.list_athletes() == []
    with pytest.raises(InputError, match="unknown column"):
        roster.plan_import(store, "display_name,password\r\nA,x\r\n")
    with pytest.raises(InputError, match="display_name"):
        roster.plan_import(store, "name\r\nA\r\n")


def test_prefer_not_to_say_is_kept_by_the_edit_form_and_the_roster(client, store, coach, tmp_path) -> None:
    a = store.add_athlete("Quiet One")
    assert "prefer not to say</option>" in client.get(f"/coach/roster/{a}/edit").get_data(as_text=True)
    r = client.post(f"/coach/roster/{a}/edit", data={"display_name": "Quiet One", "sex": "prefer_not_to_say",
                                                     "active": "1", "csrf_token": coach})
    assert r.status_code == 302 and store.get_athlete(a)["sex"] == "prefer_not_to_say"
    page = client.get(f"/coach/athletes/{a}").get_data(as_text=True)
    assert "· prefer not to say" in page and "Sex not recorded" not in page
    text = roster.roster_csv(store.list_athletes())
    assert _rows(text)[0]["sex"] == "prefer_not_to_say"
    other = Store(tmp_path / "other")
    other.migrate()
    assert roster.apply_import(other, text + "\r\n,,Second,,prefer not to say,,,1,\r\n", by="t")["added"] == 2
    assert [x["sex"] for x in other.list_athletes()] == ["prefer_not_to_say", "prefer_not_to_say"]
    with pytest.raises(InputError, match="sex must be"):
        roster.apply_import(other, "display_name,sex\r\nThird,diverse\r\n", by="t")
    other.close()
