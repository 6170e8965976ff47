"""Settings changes take effect at the next check-in, as the Settings page says: the station reads
one config source (the config file with the page's overrides) at every check-in, scores that
visit with it, and shows the limits that visit was scored with."""

from __future__ import annotations

import random
import time
from pathlib import Path

from conftest import BarEstimator, write_bar_clip
from conftest import SampleResult as Result

from kiosk.config import config_from_dict
from kiosk.matcsv import MatEdge
from kiosk.station.camera import ReplayCamera
from kiosk.station.mat import SimulatedMat
from kiosk.station.runtime import StationRuntime
from kiosk.station.statemachine import Timing
from kiosk.store import Store
from kiosk.store.sample import result_json
from kiosk.web import create_app

EDGES = [MatEdge(0.60, True), MatEdge(0.90, False), MatEdge(1.35, True)]


def _wait(rt: StationRuntime, want: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    snap = rt.snapshot()
    while snap["state"] != want:
        assert time.monotonic() < deadline, f"stuck in {snap['state']}: {snap['prompt']}"
        snap = rt.wait_for_change(snap["seq"], timeout=max(0.05, deadline - time.monotonic()))
    return snap


def _jump(rt: StationRuntime) -> None:
    deadline = time.monotonic() + 10
    while rt.snapshot()["mat_pressed"] and time.monotonic() < deadline:
        time.sleep(0.05)
    rt.start()
    _wait(rt, "result")


def test_settings_reach_scoring_at_the_next_check_in_not_mid_visit(tmp_path: Path) -> None:
    clip = write_bar_clip(tmp_path, 60, EDGES, crf=18, background=40)
    cfg = config_from_dict({"station": {"state_dir": str(tmp_path / "state"), "name": "Gym"},
                            "web": {"secret_key": "v" * 40}, "session": {"trials": 3}})
    store = Store(tmp_path / "state")
    store.migrate()
    used: list[float] = []

    def analyzer(poses, edges, *, frame_size, sex, thresholds):
        used.append(thresholds.valgus_displacement_deg)
        data = result_json(random.Random(len(poses)))
        return Result(data["verdict"], data)

    cam = ReplayCamera(clip, 160, 120)
    rt = StationRuntime(cam, SimulatedMat(cam.mat_edges), BarEstimator, analyzer, timing=Timing(countdown_s=0.2))
    rt.config_source = lambda: store.effective_config(cfg)
    app = create_app(cfg, rt, store=store)
    client = app.test_client()
    athlete = {"id": store.add_athlete("Live Settings", sex="female"), "display_name": "Live Settings",
               "sex": "female"}
    try:
        with rt:
            rt.check_in(athlete, practice=False)
            _jump(rt)
            store.set_settings(cfg, {"scoring.valgus_displacement_deg": 14.0, "session.trials": 4})
            _jump(rt)  # the same visit: still scored with what it started with
            assert client.get("/station/state").get_json()["trial"]["of"] == 3
            rt.check_in(athlete, practice=False)  # the next check-in reads the new settings
            assert rt.snapshot()["trials_total"] == 4
            _jump(rt)
        assert used == [10.6, 10.6, 14.0]
        assert rt.visit_config.scoring.valgus_displacement_deg == 14.0
    finally:
        store.close()
