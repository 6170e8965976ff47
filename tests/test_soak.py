"""The soak in CI: 50 accelerated trials through the app (runtime, recorder, store) must all be
stored with media, leave the fd count flat and RSS within 10% of its post-warm-up value.
The 500-trial figures are in docs/OPERATIONS.md (bench/soak.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


def test_soak_50_trials_store_everything_without_leaks(tmp_path: Path) -> None:
    from soak import run_soak

    r = run_soak(50, speed=4.0, warmup=10, workdir=tmp_path)
    assert r["rows"] == 50 and r["replay_files"] == 50, r
    assert sum(r["verdicts"].values()) == 50
    assert r["fds_end"] <= r["fds_warm"], r
    assert r["rss_growth_pct"] < 10.0, r
    assert r["dropped_frames"] == 0
