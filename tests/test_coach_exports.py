"""The exports open in pandas with the columns and types docs/EXPORTS.md documents, and carry the
session verdict, borderline, finding codes with plain text, the limits applied, left/right
difference, change since the last screen and capture quality."""

from __future__ import annotations

import io
import random
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.store import export
from kiosk.store.sample import result_json

pd = pytest.importorskip("pandas", reason="pandas is in the dev extra (pip install -e .[dev])")

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)
PANDAS_TYPE = {"integer": "int64", "integer or empty": "Int64", "number": "float64", "0/1": "int64",
               "text": "string", "time": "string"}


def documented(section: str) -> list[tuple[str, str]]:
    """(column, type) rows of one table in docs/EXPORTS.md, in order."""
    doc = (ROOT / "docs" / "EXPORTS.md").read_text(encoding="utf-8")
    body = doc.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9_]+)` \| [^|]* \| ([a-z0-9/ ]+) \| ", body, re.M)


def read(text: str, columns: list[tuple[str, str]]):
    """The file read the way EXPORTS.md tells a pandas user to."""
    dtype = {c: PANDAS_TYPE[t] for c, t in columns if PANDAS_TYPE[t] in ("string", "Int64")}
    return pd.read_csv(io.StringIO(text), encoding="utf-8-sig", dtype=dtype)


def scored(rng: random.Random, verdict: str, left: float, right: float, *, sex: str = "female") -> dict:
    """A stored result as the current analysis writes it (findings, borderline, limit, thresholds, quality)."""
    res = result_json(rng, retake=verdict == "RETAKE")
    res["legs"]["left"]["valgus_displacement"], res["legs"]["right"]["valgus_displacement"] = left, right
    res["verdict"] = verdict
    res["findings"] = {"FLAG": ["dynamic_valgus_left", "borderline"], "PASS": ["pass"], "RETAKE": ["feet_cut_off"]}[verdict]
    res["borderline"] = verdict == "FLAG"
    res["limit"] = {"peak_fppa_deg": 13.0 if sex == "female" else 8.0, "why": f"{sex}: the {sex} range was used"}
    res["scoring"] = {"thresholds": {"valgus_displacement_deg": 10.6}, "trials_needed": 3}
    res["quality"] = {"fps": 119.6, "frames_contact_to_peak": 14, "lower_limb_seen_share": 0.97,
                      "hand_on_leg_share": 0.0, "hip_width_ratio": 0.98}
    return res


@pytest.fixture()
def filled(store):
    rng = random.Random(3)
    zoe = store.add_athlete("Zoë, \"Z\" O'Brien", team="U16", sex="female", athlete_number="007")
    ben = store.add_athlete("=cmd|' /C calc'!A0", team="U16")  # no sex, no birth year: empty cells
    for day, plan in ((0, [("PASS", 4, 3)] * 3), (7, [("FLAG", 12, 3), ("RETAKE", 0, 0), ("FLAG", 11.5, 4),
                                                      ("PASS", 9, 2)])):
        sid = store.start_session(zoe, "Gym A", started_at=T0 - timedelta(days=7) + timedelta(days=day))
        for k, (v, left, right) in enumerate(plan):
            store.save_trial(sid, scored(rng, v, left, right), recorded_at=T0 - timedelta(days=7 - day, seconds=-30 * k))
        verdict = "FLAG" if any(v == "FLAG" for v, _, _ in plan) else "PASS"
        summary = {"borderline": verdict == "FLAG", "findings": ["dynamic_valgus_left"] if verdict == "FLAG" else ["pass"],
                   "limit": {"peak_fppa_deg": 13.0, "why": "female: the female range was used"},
                   "scoring": {"thresholds": {"valgus_displacement_deg": 10.6}, "trials_needed": 3}}
        store.end_session(sid, verdict, summary, ended_at=T0 - timedelta(days=7 - day, minutes=-5))
    sid = store.start_session(ben, "Gym A", started_at=T0 + timedelta(hours=1))  # an old-style result, still open
    store.save_trial(sid, result_json(rng), recorded_at=T0 + timedelta(hours=1))
    return store


def test_trials_csv_opens_in_pandas_with_documented_columns_and_types(client, filled, coach) -> None:
    frm, to = (T0 - timedelta(days=7)).date().isoformat(), T0.date().isoformat()
    text = client.get(f"/coach/export/trials.csv?from={frm}&to={to}").get_data(as_text=True)
    cols = documented("Trials CSV")
    assert [c for c, _ in cols] == [c[0] for c in export.TRIAL_COLUMNS]
    df = read(text, cols)
    assert list(df.columns) == [c for c, _ in cols] and len(df) == 8
    for column, kind in cols:
        assert str(df[column].dtype) == PANDAS_TYPE[kind], (column, kind, df[column].dtype)
    assert set(df["borderline"]) <= {0, 1}
    pd.to_datetime(df["recorded_at_utc"], utc=True, format="ISO8601")
    pd.to_datetime(df["recorded_at_local"], utc=True, format="ISO8601")
    flag = df[df["verdict"] == "FLAG"].iloc[0]
    assert flag["session_verdict"] == "FLAG" and flag["borderline"] == 1
    assert flag["finding_codes"] == "dynamic_valgus_left borderline"
    assert flag["reasons"] == "Left knee moves inward; Close to a limit"  # plain words, no "you"
    assert flag["limit_peak_fppa_deg"] == 13.0 and flag["limit_valgus_displacement_deg"] == 10.6
    assert flag["lr_diff_valgus_displacement_deg"] == pytest.approx(12 - 3)
    assert flag["capture_fps"] == pytest.approx(119.6) and flag["capture_frames_contact_to_peak"] == 14
    assert df[df["verdict"] == "RETAKE"].iloc[0]["finding_codes"] == "feet_cut_off"
    old = df[df["athlete_name"].str.contains("calc")].iloc[0]
    assert old["athlete_name"].startswith("'=")  # a formula stays text
    assert pd.isna(old["limit_peak_fppa_deg"]) and pd.isna(old["session_verdict"]) and pd.isna(old["birth_year"])
    assert df["athlete_number"].dropna().tolist()[0] == "007"  # the leading zero survives as text


def test_sessions_csv_opens_in_pandas_with_documented_columns_and_types(client, filled, coach) -> None:
    frm, to = (T0 - timedelta(days=7)).date().isoformat(), T0.date().isoformat()
    text = client.get(f"/coach/export/sessions.csv?from={frm}&to={to}&team=U16").get_data(as_text=True)
    cols = documented("Session summary CSV")
    assert [c for c, _ in cols] == [c[0] for c in export.SESSION_COLUMNS]
    df = read(text, cols)
    assert list(df.columns) == [c for c, _ in cols] and len(df) == 3
    for column, kind in cols:
        assert str(df[column].dtype) == PANDAS_TYPE[kind], (column, kind, df[column].dtype)
    first, second, open_ = df.iloc[0], df.iloc[1], df.iloc[2]
    assert (first["verdict"], second["verdict"]) == ("PASS", "FLAG") and pd.isna(open_["verdict"])
    assert second["flagged_side"] == "left" and second["borderline"] == 1
    assert second["finding_codes"] == "dynamic_valgus_left" and second["reasons"] == "Left knee moves inward"
    assert (second["trials"], second["valid_trials"], second["flagged_trials"]) == (4, 3, 2)
    assert second["median_left_valgus_displacement_deg"] == pytest.approx(11.5)  # median of 12, 11.5, 9
    assert second["median_lr_diff_valgus_displacement_deg"] == pytest.approx(11.5 - 3)
    assert second["change_left_valgus_displacement_deg"] == pytest.approx(11.5 - 4)
    assert second["previous_verdict"] == "PASS" and pd.isna(first["change_left_valgus_displacement_deg"])
    assert second["limit_valgus_displacement_deg"] == 10.6 and second["capture_fps_min"] == pytest.approx(119.6)
    assert pd.isna(open_["limit_peak_fppa_deg"])  # stored without limits: not invented from today's settings


def _fods_rows(path: Path) -> list[list[tuple[str, str]]]:
    """(value type, shown text) of every cell of a flat-XML spreadsheet LibreOffice wrote."""
    import xml.etree.ElementTree as ET

    ns = {"table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
          "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
          "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0"}
    rows = []
    for row in ET.parse(path).getroot().iter(f"{{{ns['table']}}}table-row"):
        cells: list[tuple[str, str]] = []
        for cell in row:
            repeat = int(cell.get(f"{{{ns['table']}}}number-columns-repeated", "1"))
            kind = cell.get(f"{{{ns['office']}}}value-type", "")
            shown = "".join("".join(p.itertext()) for p in cell.findall("text:p", ns))
            cells += [(kind, shown)] * min(repeat, 200)
        rows.append(cells)
    return [r for r in rows if any(kind for kind, _ in r)]


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (apt-get install libreoffice-calc-nogui)")
@pytest.mark.parametrize("which", ["trials", "sessions"])
def test_exports_open_cleanly_in_libreoffice(client, filled, coach, tmp_path, which) -> None:
    """LibreOffice Calc, with the import settings EXPORTS.md gives, reads every row and column:
    numbers as numbers, names (a formula-like one included) as text, nothing run as a formula."""
    frm, to = (T0 - timedelta(days=7)).date().isoformat(), T0.date().isoformat()
    body = client.get(f"/coach/export/{which}.csv?from={frm}&to={to}").get_data()
    src = tmp_path / f"{which}.csv"
    src.write_bytes(body)
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}", "--headless", "--norestore",
                    "--infilter=CSV:44,34,76,1", "--convert-to", "fods", "--outdir", str(tmp_path), str(src)],
                   check=True, capture_output=True, timeout=300)
    rows = _fods_rows(tmp_path / f"{which}.fods")
    cols = documented("Trials CSV" if which == "trials" else "Session summary CSV")
    header = [shown for _, shown in rows[0]][:len(cols)]
    assert header == [c for c, _ in cols]
    df = read(body.decode("utf-8"), cols)
    assert len(rows) == len(df) + 1
    for r, cells in enumerate(rows[1:]):
        for c, (column, kind) in enumerate(cols):
            value_type, shown = cells[c] if c < len(cells) else ("", "")
            if kind in ("number", "integer", "integer or empty", "0/1") and not pd.isna(df[column].iloc[r]):
                assert value_type == "float", (column, r, shown)
            if column in ("athlete_name", "team", "reasons", "finding_codes") and not pd.isna(df[column].iloc[r]):
                assert value_type == "string" and shown == df[column].iloc[r], (column, r, shown)
    names = [cells[[c for c, _ in cols].index("athlete_name")][1] for cells in rows[1:]]
    assert any(n.startswith("'=cmd") or n.startswith("=cmd") for n in names)  # shown as text, never run
