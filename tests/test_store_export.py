"""Exports: RFC 4180 CSV with documented columns, session medians, roster round trip, clips ZIP,
local-day boundaries."""

from __future__ import annotations

import csv
import io
import random
import statistics
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kiosk.errors import InputError
from kiosk.store import Store, export
from kiosk.store.sample import result_json, seed

ROOT = Path(__file__).resolve().parent.parent
NASTY = ["Zoë O'Brien", "Robert'); DROP TABLE athletes;--", "<script>alert(1)</script>", "李小龍", "Ἀχιλλεύς",
         "=HYPERLINK(\"http://x\")", 'Comma, "Quote"\nNewline']
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture()
def db(tmp_path: Path) -> Store:
    s = Store(tmp_path)
    s.migrate()
    yield s
    s.close()


def _parse(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.removeprefix(export.BOM), newline="")))


def test_every_column_is_documented_with_its_unit() -> None:
    doc = (ROOT / "docs" / "EXPORTS.md").read_text(encoding="utf-8")
    for name, unit, _ in export.TRIAL_COLUMNS:
        assert f"| `{name}` | {unit} |" in doc, name
    for name, unit, _ in export.SESSION_COLUMNS:
        assert f"| `{name}` | {unit} |" in doc, name


def test_trials_csv_is_rfc4180_and_round_trips_names(db: Store) -> None:
    rng = random.Random(5)
    for i, name in enumerate(NASTY):
        sid = db.start_session(db.add_athlete(name, team="Team, A"), "Gym", started_at=T0 + timedelta(minutes=i))
        db.save_trial(sid, result_json(rng), recorded_at=T0 + timedelta(minutes=i, seconds=30))
    text = export.trials_csv(db.trials_between(*export.day_bounds(T0.date())), None, bom=True)
    assert text.startswith(export.BOM)
    rows = _parse(text)
    # records end with CRLF; the one bare LF is the newline inside a quoted name
    assert text.count("\r\n") == len(rows) + 1 and text.replace("\r\n", "").count("\n") == 1
    assert [r["athlete_name"] for r in rows][:5] == [export.safe_text(n) for n in NASTY[:5]]
    assert [export.unsafe_text(r["athlete_name"]) for r in rows][:5] == NASTY[:5]  # the import gets them back
    assert rows[5]["athlete_name"] == "'" + NASTY[5]   # shown as text in a spreadsheet, not run
    assert rows[6]["athlete_name"] == NASTY[6] and rows[0]["team"] == "Team, A"
    assert list(rows[0]) == [c[0] for c in export.TRIAL_COLUMNS]
    assert not export.trials_csv([], None, bom=False).startswith(export.BOM)


def test_trial_values_and_units_follow_the_metrics(db: Store) -> None:
    res = result_json(random.Random(9))
    sid = db.start_session(db.add_athlete("A"), started_at=T0)
    db.save_trial(sid, res, {"replay.mp4": b"v"}, recorded_at=T0)
    row = _parse(export.trials_csv(db.trials_between("0", "9"), ZoneInfo("Europe/Berlin")))[0]
    assert float(row["left_fppa_peak_deg"]) == pytest.approx(res["legs"]["left"]["fppa_peak"], abs=0.005)
    assert float(row["right_valgus_displacement_deg"]) == pytest.approx(res["legs"]["right"]["valgus_displacement"], abs=0.005)
    assert float(row["jump_height_m"]) == pytest.approx(res["jump"]["jump_height_m"], abs=0.0005)
    assert row["recorded_at_local"] == "2026-11-21T10:00:00+01:00" and row["media_files"] == "1"


def test_session_medians_use_valid_trials_only(db: Store) -> None:
    rng = random.Random(11)
    sid = db.start_session(db.add_athlete("A"), started_at=T0)
    results = [result_json(rng), result_json(rng), result_json(rng, retake=True), result_json(rng)]
    for k, res in enumerate(results):
        db.save_trial(sid, res, recorded_at=T0 + timedelta(seconds=k))
    db.end_session(sid, "PASS", ended_at=T0 + timedelta(minutes=2))
    row = _parse(export.sessions_csv(db, *export.day_bounds(T0.date()), None))[0]
    valid = [r for r in results if r["verdict"] != "RETAKE"]
    assert row["trials"] == "4" and row["valid_trials"] == "3"
    assert float(row["median_rsi"]) == pytest.approx(statistics.median(r["jump"]["rsi"] for r in valid), abs=5e-4)
    assert float(row["median_left_fppa_peak_deg"]) == pytest.approx(
        statistics.median(r["legs"]["left"]["fppa_peak"] for r in valid), abs=5e-3)


def test_clips_zip_streams_media_with_manifest(db: Store) -> None:
    sid = db.start_session(db.add_athlete("李小龍"), started_at=T0)
    clip = bytes(range(256)) * 9000  # ~2.3 MB: several chunks
    t1 = db.save_trial(sid, result_json(random.Random(1)), {"replay.mp4": clip, "peak.jpg": b"jpg"}, recorded_at=T0)
    t2 = db.save_trial(sid, result_json(random.Random(2)), recorded_at=T0 + timedelta(seconds=5))
    chunks = list(export.clips_zip(db, db.trials_between("0", "9"), None, chunk=1 << 19))
    assert sum(1 for c in chunks if c) > 3
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as zf:
        assert zf.testzip() is None
        assert zf.read(f"trial-{t1}/replay.mp4") == clip and zf.read(f"trial-{t1}/peak.jpg") == b"jpg"
        manifest = _parse(zf.read("manifest.csv").decode("utf-8"))
    assert [r["trial_id"] for r in manifest] == [str(t1), str(t2)]
    assert manifest[0]["files"] == f"trial-{t1}/peak.jpg trial-{t1}/replay.mp4" and manifest[1]["files"] == ""
    assert manifest[0]["athlete_name"] == "李小龍"


def test_local_day_bounds_follow_the_station_zone(db: Store) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    sid = db.start_session(db.add_athlete("A"), started_at=T0)
    # 23:30 UTC on the 21st is 00:30 on the 22nd in Berlin
    db.save_trial(sid, result_json(random.Random(1)), recorded_at=datetime(2026, 11, 21, 23, 30, tzinfo=UTC))
    assert db.trials_between(*export.day_bounds(date(2026, 11, 21), tz=berlin)) == []
    assert len(db.trials_between(*export.day_bounds(date(2026, 11, 22), tz=berlin))) == 1
    # summer time: the local day starts at 22:00 UTC the day before
    assert export.day_bounds(date(2026, 7, 1), tz=berlin)[0] == "2026-06-30T22:00:00.000000Z"
    with pytest.raises(InputError):
        export.day_bounds(date(2026, 7, 2), date(2026, 7, 1))
    with pytest.raises(InputError):
        export.parse_day("21/11/2026", None)


def test_sample_seed_verdicts_follow_the_numbers(db: Store) -> None:
    seed(db, athletes=4, sessions_per_athlete=2, start=T0)
    for t in db.trials_between("0", "9"):
        legs = t["metrics"]["legs"]
        flagged = any(legs[s]["valgus_displacement"] >= 10.6 for s in legs) or t["metrics"]["kasr_peak"] < 0.6
        assert t["verdict"] == ("RETAKE" if t["verdict"] == "RETAKE" else "FLAG" if flagged else "PASS")


def test_parse_range_labels_filters_and_refuses_bad_input():
    from datetime import UTC

    from kiosk.errors import InputError
    from kiosk.store.export import parse_range

    r = parse_range({"from": "2026-11-01", "to": "2026-11-21", "athlete": "7", "team": "U17"}, UTC)
    assert r.label == "2026-11-01_2026-11-21_athlete7_team"
    assert r.filters == {"athlete_id": 7, "team": "U17"}
    assert r.start < r.end
    assert parse_range({"date": "2026-11-21"}, UTC).label == "2026-11-21"
    for bad in ({"date": "21/11/2026"}, {"athlete": "x; DROP TABLE"}, {"from": "2000-01-01", "to": "2026-01-01"}):
        with pytest.raises(InputError):
            parse_range(bad, UTC)


@pytest.mark.parametrize("name", ["Ava;=1+1", "=HYPERLINK(\"x\")", "Bo|@SUM(A1)", "Cy,+1", "Di;\t-2", "Ed\t=1"])
def test_formulas_are_neutralised_whatever_the_list_separator(name: str) -> None:
    cell = export.safe_text(name)
    for sep in (",", ";", "|", "\t"):
        for piece in cell.split(sep):
            assert not piece.lstrip().startswith(("=", "+", "-", "@")), (name, sep, cell)
    assert export.unsafe_text(cell) == name  # the roster import gets the name back
    assert export.safe_text("Anne-Marie O'Neil") == "Anne-Marie O'Neil"


@pytest.mark.parametrize("text", ["0001-01-01", "9999-12-31", "1899-12-31", "2201-01-01"])
def test_days_out_of_range_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="out of range"):
        export.parse_day(text, None)


def test_saved_clip_zips_follow_the_media_retention(tmp_path: Path) -> None:
    from kiosk.store.db import ClockError

    now = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    s = Store(tmp_path / "state", clock=lambda: now)
    s.migrate()
    sid = s.start_session(s.add_athlete("Z"), "Gym", started_at=now - timedelta(days=1))
    s.save_trial(sid, result_json(random.Random(1)), recorded_at=now - timedelta(days=1))
    out = tmp_path / "exports"
    out.mkdir()
    names = ["clips_2026-08-01.zip", "clips_2026-10-21.zip", "clips_2026-10-22.zip", "clips_2026-11-20.zip",
             "trials_2026-08-01.csv", "clips_2026-08-01_team.zip"]
    for n in names:
        (out / n).write_bytes(b"zip")
    assert export.prune_exports(out, s, 30) == 3  # 08-01, 08-01_team, 10-21 (before 10-22 09:30)
    assert sorted(p.name for p in out.iterdir()) == ["clips_2026-10-22.zip", "clips_2026-11-20.zip",
                                                    "trials_2026-08-01.csv"]
    s.clock = lambda: now - timedelta(days=300)  # a clock before the newest trial: nothing is touched
    with pytest.raises(ClockError):
        export.prune_exports(out, s, 1)
    s.close()
