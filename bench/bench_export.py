"""Benchmark: export 10,000 stored trials as the trials CSV (target < 2 s on the station).

    .venv/bin/python bench/bench_export.py [--trials 10000]

Builds a temporary store with sample trials (kiosk.store.sample), then times the same path the
coach download takes: one SQL query joined with athlete and session, then the CSV writer.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta

from kiosk.store import Store, export
from kiosk.store.sample import seed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp)
        store.migrate()
        athletes = max(1, -(-args.trials // 30))  # 10 sessions x 3 trials each
        start = datetime(2026, 1, 1, 8, tzinfo=UTC)
        t = time.perf_counter()
        seed(store, athletes=athletes, sessions_per_athlete=10, trials_per_session=3, start=start,
             spacing=timedelta(days=1))
        fill_s = time.perf_counter() - t
        n = store.query("SELECT COUNT(*) FROM trials")[0][0]
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            rows = store.trials_between("0000", "9999", decode=False)
            text = export.trials_csv(rows, None)
            runs.append(time.perf_counter() - t)
        print(f"trials: {n}; filling the store took {fill_s:.1f} s ({n / fill_s:.0f} trials/s, one transaction each)")
        print(f"trials CSV export: best {min(runs):.3f} s, worst {max(runs):.3f} s of 3; "
              f"{len(text.encode('utf-8')) / 1e6:.1f} MB")
        store.close()


if __name__ == "__main__":
    main()
