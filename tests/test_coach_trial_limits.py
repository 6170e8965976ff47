"""The coach's trial page names the limit the trial was scored with and why, the thresholds in
force and the values close to a limit; an old result without them says so."""

from __future__ import annotations

import random

from test_analysis_build import Jump, frames, mat

from kiosk.analysis import analyze_trial
from kiosk.store.sample import result_json


def test_trial_page_shows_the_limit_that_applied(client, store, coach) -> None:
    aid = store.add_athlete("Noor", birth_year=2012)
    sid = store.start_session(aid, "Gym")
    j = Jump(valgus={"left": 9.5, "right": 3.0})   # 9.5 deg: within the band of 10.6
    tid = store.save_trial(sid, analyze_trial(frames(j), mat(j), sex="prefer_not_to_say", age=14).to_json())
    page = client.get(f"/coach/trials/{tid}").get_data(as_text=True)
    assert "over 13.0° counts" in page
    assert "prefer not to say: the female range (up to 13°) was used, the more lenient of the two; adult reference range: under 18" \
        in page.replace("&#39;", "'")
    assert "from 10.6° counts" in page and "3 trials per session" not in page  # the trial kept no trial count
    assert "Close to a limit" in page and "left valgus displacement" in page
    assert "FPPA at peak flexion (deg, judged)" in page and "decides nothing" in page
    old = store.save_trial(sid, result_json(random.Random(3)))
    assert "Stored before limits were kept" in client.get(f"/coach/trials/{old}").get_data(as_text=True)
