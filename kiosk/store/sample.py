"""Plausible stored trials for demos, benchmarks and tests (not a model of real athletes).

Builds result dicts in the analysis' ``TrialResult.to_json()`` shape with metrics drawn around
published norms (DESIGN.md s.2), so pages, exports and plots can be exercised without a camera.
Which verdict a trial gets follows from its numbers, never from a fixed list.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiosk.store.db import Store


def result_json(rng: random.Random, *, valgus_bias: float = 0.0, retake: bool = False) -> dict:
    """One trial result dict; ``valgus_bias`` (deg) shifts both knees toward valgus."""
    legs = {}
    for side in ("left", "right"):
        static = rng.gauss(2.0, 2.0)
        ic = static + rng.gauss(1.0, 1.5)
        disp = max(0.0, rng.gauss(6.0 + valgus_bias, 3.0))
        legs[side] = {"fppa_ic": round(ic, 2), "fppa_peak": round(ic + disp, 2),
                      "valgus_displacement": round(disp, 2), "static_fppa": round(static, 2)}
    kasr_ic = rng.gauss(0.95, 0.06)
    kasr_peak = max(0.2, kasr_ic - rng.gauss(0.15 + valgus_bias / 60, 0.08))
    contact = rng.uniform(0.20, 0.45)
    flight = rng.uniform(0.35, 0.60)
    height = 9.81 * flight**2 / 8
    reasons: list[dict] = []
    if retake:
        verdict = "RETAKE"
        reasons.append({"code": "feet_out_of_view", "message": "Feet left the picture at landing."})
    else:
        for side, leg in legs.items():
            if leg["valgus_displacement"] >= 10.6:
                reasons.append({"code": f"valgus_displacement_{side}",
                                "message": f"{side.title()} knee moved {leg['valgus_displacement']:.1f} deg inward after contact."})
        if kasr_peak < 0.6:
            reasons.append({"code": "kasr_peak", "message": f"Knees closer than ankles at the deepest point (KASR {kasr_peak:.2f})."})
        verdict = "FLAG" if reasons else "PASS"
    return {
        "verdict": verdict,
        "reasons": reasons,
        "events": {"ic_t": 1.0, "peak_t": round(1.0 + contact * 0.4, 3), "takeoff_t": round(1.0 + contact, 3),
                   "landing2_t": round(1.0 + contact + flight, 3)},
        "legs": legs,
        "kasr_ic": round(kasr_ic, 3),
        "kasr_peak": round(kasr_peak, 3),
        "jump": {"contact_time_s": round(contact, 3), "flight_time_s": round(flight, 3),
                 "jump_height_m": round(height, 4), "rsi": round(height / contact, 3)},
        "scoring_version": "sample-1",
    }


def seed(store: Store, *, athletes: int = 12, sessions_per_athlete: int = 3, trials_per_session: int = 3,
         start: datetime, spacing: timedelta = timedelta(days=7), seed_value: int = 1,
         media: dict[str, bytes] | None = None) -> list[int]:
    """Fill the store with a roster and sessions; returns the athlete ids."""
    rng = random.Random(seed_value)
    teams = ("U16 Girls", "U18 Boys", "Senior Women")
    ids = []
    for i in range(athletes):
        sex = "female" if i % 2 == 0 else "male"
        ids.append(store.add_athlete(f"Athlete {i + 1:03d}", athlete_number=f"S{i + 1:04d}", team=teams[i % len(teams)],
                                     sex=sex, birth_year=2005 + i % 8))
    for a_index, athlete_id in enumerate(ids):
        bias = rng.uniform(-2.0, 6.0)
        for s in range(sessions_per_athlete):
            t0 = start + s * spacing + timedelta(minutes=7 * a_index)
            sid = store.start_session(athlete_id, "Sample station", started_at=t0)
            verdicts = []
            for k in range(trials_per_session):
                res = result_json(rng, valgus_bias=bias, retake=rng.random() < 0.08)
                verdicts.append(res["verdict"])
                store.save_trial(sid, res, media, recorded_at=t0 + timedelta(seconds=40 * (k + 1)),
                                 timings={"analysis_s": round(rng.uniform(0.4, 0.9), 3)})
            valid = [v for v in verdicts if v != "RETAKE"]
            verdict = "FLAG" if "FLAG" in valid else ("PASS" if valid else "INCOMPLETE")
            store.end_session(sid, verdict, {"valid_trials": len(valid)},
                              ended_at=t0 + timedelta(seconds=40 * trials_per_session + 20))
    return ids
