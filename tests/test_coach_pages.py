"""Coach pages through Flask's test client with a real SQLite store: Today, Athlete, Trial,
Roster, Settings, downloads, media path safety, hostile and non-Latin names."""

from __future__ import annotations

import csv
import io
import os
import random
import re
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape

from kiosk.store import export
from kiosk.store.sample import result_json
from kiosk.web import create_app

NASTY = ["Zoë O'Brien", "Robert'); DROP TABLE athletes;--", "<script>alert(1)</script>", "李小龍", "Ἀχιλλεύς"]
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def _trial(store, name: str, verdict: str, at: datetime, *, team: str = "", media: dict | None = None) -> int:
    rng = random.Random(hash((name, verdict)) & 0xFFFF)
    res = result_json(rng, retake=verdict == "RETAKE")
    if verdict != "RETAKE":
        res["verdict"] = verdict
    existing = [a for a in store.list_athletes() if a["display_name"] == name]
    aid = existing[0]["id"] if existing else store.add_athlete(name, team=team)
    sid = store.start_session(aid, "Gym", started_at=at)
    return store.save_trial(sid, res, media, recorded_at=at)


def test_hostile_and_non_latin_names_round_trip(client, store, coach) -> None:
    for name in NASTY:
        r = client.post("/coach/roster", data={"display_name": name, "team": name, "csrf_token": coach, "active": "1"})
        assert r.status_code == 302, name
        _trial(store, name, "FLAG", NOW - timedelta(minutes=len(name)))
    assert sorted(a["display_name"] for a in store.list_athletes()) == sorted(NASTY)  # the table survived
    for page_url in ["/coach/", "/coach/roster"] + [f"/coach/athletes/{a['id']}" for a in store.list_athletes()]:
        body = client.get(page_url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in body, page_url
        assert "<script" not in body, page_url  # coach pages carry no script at all
    roster = client.get("/coach/roster").get_data(as_text=True)
    for name in NASTY:
        assert str(escape(name)) in roster, name
    rows = list(csv.DictReader(io.StringIO(client.get("/coach/export/trials.csv").get_data(as_text=True)
                                           .removeprefix(export.BOM), newline="")))
    assert sorted(export.unsafe_text(r["athlete_name"]) for r in rows) == sorted(NASTY)  # formula-neutralised cells
    token = store.new_token("anna")
    api = client.get("/api/v1/trials", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert sorted(t["athlete"]["display_name"] for t in api["trials"]) == sorted(NASTY)
    roster_csv = client.get("/coach/roster.csv").get_data(as_text=True)
    assert sorted(export.unsafe_text(r["display_name"])
                  for r in csv.DictReader(io.StringIO(roster_csv.removeprefix(export.BOM)))) == sorted(NASTY)


def test_trial_page_media_and_range_requests(client, store, coach) -> None:
    clip = os.urandom(5000)
    tid = _trial(store, "Media Person", "FLAG", NOW, media={"replay.mp4": clip, "peak.jpg": b"\xff\xd8\xff"})
    page = client.get(f"/coach/trials/{tid}").get_data(as_text=True)
    urls = re.findall(r'src="(/coach/media/[^"]+)"', page)
    assert len(urls) == 2 and "<video" in page and "<img" in page
    video = next(u for u in urls if u.endswith(".mp4"))
    assert client.get(video).data == clip
    r = client.get(video, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.data == clip[100:200]  # browsers seek in the replay
    assert client.get("/coach/trials/99999").status_code == 404


@pytest.mark.parametrize("bad", [
    "../jumpkiosk.sqlite3", "..%2Fjumpkiosk.sqlite3", "%2e%2e/jumpkiosk.sqlite3", "2026/11/21/../../../jumpkiosk.sqlite3",
    "/etc/passwd", "%2Fetc%2Fpasswd", "..%5cjumpkiosk.sqlite3", "2026/11/21/..%2f..%2f..%2fjumpkiosk.sqlite3",
    "2026/11/21/%252e%252e%252fx.mp4", "2026/11/21/aaaaaaaaaaaa-replay.mp4%00.jpg",
])
def test_media_path_traversal_is_refused(client, store, coach, bad) -> None:
    r = client.get(f"/coach/media/{bad}", follow_redirects=True)  # werkzeug may first merge '//' (308)
    assert r.status_code == 404 and b"SQLite" not in r.data and b"root:" not in r.data


def test_media_symlink_out_of_the_media_folder_is_refused(client, store, coach, tmp_path) -> None:
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not yours")
    day = store.media_root / "2026" / "11" / "21"
    day.mkdir(parents=True)
    (day / "bbbbbbbbbbbb-replay.mp4").symlink_to(secret)
    (day / "cccccccccccc-replay.mp4").symlink_to(store.db_path)
    for name in ("bbbbbbbbbbbb-replay.mp4", "cccccccccccc-replay.mp4"):
        assert client.get(f"/coach/media/2026/11/21/{name}").status_code == 404


def test_clips_zip_download(client, store, coach) -> None:
    tid = _trial(store, "Clip", "PASS", NOW, media={"replay.mp4": b"m" * 10})
    r = client.get(f"/coach/export/clips.zip?date={NOW.date().isoformat()}")
    assert r.mimetype == "application/zip" and r.is_streamed
    with zipfile.ZipFile(io.BytesIO(r.get_data())) as zf:
        assert zf.read(f"trial-{tid}/replay.mp4") == b"m" * 10 and "manifest.csv" in zf.namelist()


def test_retention_runs_at_start_and_keeps_results(app, store) -> None:
    old = _trial(store, "Old", "FLAG", NOW - timedelta(days=200), media={"replay.mp4": b"old"})
    recent = _trial(store, "Recent", "PASS", NOW - timedelta(days=2), media={"replay.mp4": b"new"})
    store.set_settings(app.config["KIOSK_CONFIG"], {"store.media_retention_days": 30})
    create_app(app.config["KIOSK_CONFIG"], store=store)  # a restart applies retention
    t = store.get_trial(old)
    assert t["media"] == {} and t["metrics"]["legs"] and t["verdict"] == "FLAG"
    assert store.get_trial(recent)["media"]
