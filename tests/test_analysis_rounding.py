"""Numbers shown the way the rule compares them: a value the rule put over its limit never reads
at or under it, and the other way round, in the analysis' reasons, the coach pages and the CSVs."""

from __future__ import annotations

import pytest

from kiosk.analysis import Thresholds
from kiosk.analysis.limits import applied_limit
from kiosk.analysis.rounding import rule_round, shown_for_rule
from kiosk.analysis.verdict import ScoreInput, score
from kiosk.store.export import _judged
from kiosk.web.station import summary

LR = ("left", "right")


@pytest.mark.parametrize(("value", "digits", "limit", "out", "shown"), [
    (0.597, 2, 0.6, True, 0.59),      # "at least 0.6" missed: never 0.60
    (0.597, 1, 0.6, True, 0.5),
    (10.58, 1, 10.6, False, 10.5),    # under "10.6 or more": never 10.6
    (10.6, 1, 10.6, True, 10.6),      # exactly at a ">=" limit reads right as the limit
    (13.04, 1, 13.0, True, 13.1),     # over "more than 13": never 13.0
    (13.0, 1, 13.0, False, 13.0),     # at a ">" limit, not over: 13.0 is right
    (12.96, 1, 13.0, False, 12.9),
    (13.2, 0, 13.0, True, 14.0),      # whole degrees: one whole step away
    (7.26, 1, 13.0, False, 7.3),      # far from the limit: plain rounding
    (-0.04, 1, 0.0, False, -0.1),
])
def test_rule_round_boundaries(value: float, digits: int, limit: float, out: bool, shown: float) -> None:
    assert rule_round(value, digits, limit, out=out) == shown


def test_each_rule_compares_its_own_way() -> None:
    assert shown_for_rule(13.0, 13.0, "peak_fppa") == 13.0            # > : at the limit is not over
    assert shown_for_rule(13.001, 13.0, "peak_fppa") == 13.1
    assert shown_for_rule(10.599, 10.6, "valgus_displacement") == 10.5   # >= : under by a hair
    assert shown_for_rule(10.6, 10.6, "valgus_displacement") == 10.6
    assert shown_for_rule(4.96, 5.0, "static_fppa") == 4.9
    with pytest.raises(KeyError):
        shown_for_rule(1.0, 1.0, "kasr")                              # KASR decides nothing


def test_the_station_uses_the_one_function() -> None:
    assert summary.rule_round is rule_round


def test_reason_texts_agree_with_the_verdict() -> None:
    th = Thresholds()
    lim = applied_limit(th, "female", 25)
    just_over = lim.peak_fppa_deg + 0.04
    v = ScoreInput(valgus_displacement=dict(zip(LR, (th.valgus_displacement_deg, 1.0), strict=True)),
                   fppa_peak_flexion=dict(zip(LR, (2.0, just_over), strict=True)),
                   static_fppa={"left": 1.0, "right": 1.0})
    s = score(v, th, lim)
    assert s.verdict == "FLAG"
    text = " ".join(s.reasons)
    assert f"right knee inward angle was {lim.peak_fppa_deg + 0.1:.1f}°" in text, text
    assert f"left knee moved {th.valgus_displacement_deg:.1f}° inward" in text, text


def test_csv_cells_agree_with_the_verdict() -> None:
    assert _judged(13.004, 13.0, "peak_fppa", 2) == "13.01"
    assert _judged(10.5996, 10.6, "valgus_displacement", 2) == "10.59"
    assert _judged(10.5996, None, "valgus_displacement", 2) == "10.60"   # no stored limit: plain
    assert _judged(None, 13.0, "peak_fppa", 2) == ""
