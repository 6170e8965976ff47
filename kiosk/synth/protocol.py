"""The synthetic athlete's protocol failures: trials that are not a drop vertical jump, each with
the finding code the kiosk must answer with (a RETAKE, never PASS or FLAG).

``option_overrides(name, seed)`` gives the :class:`~kiosk.synth.params.SynthParams` fields of one
failure, with the values the option leaves open (the toe-first lag, the step length, ...) drawn
from the seed so that a few seeds span them; ``describe(params)`` is what ``truth.json`` records
under ``protocol``. ``jumpkiosk simulate`` and ``bench/protocol_failures.py`` both use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kiosk.synth.params import SynthParams


@dataclass(frozen=True)
class ProtocolOption:
    field: str       # the SynthParams field the option sets
    finding: str     # the finding code the kiosk must give
    what: str        # one line: what the clip shows


OPTIONS: dict[str, ProtocolOption] = {
    "cmj-in-place": ProtocolOption("cmj_in_place", "no_box", "no box: stands on the mat, countermovement jump, lands, stands"),
    "hops": ProtocolOption("hops", "hopping", "continuous rope-skip-like hops after the landing instead of one rebound"),
    "stuck-landing": ProtocolOption("stuck_landing", "no_rebound", "lands off the box and stands up: no rebound jump"),
    "jump-up-off-box": ProtocolOption("jump_up_off_box_mps", "jumped_off_box", "jumps up off the box: rises, then falls"),
    "toe-first": ProtocolOption("toe_first_ms", "uneven_landing", "one foot lands toe first 80-150 ms before the other"),
    "playback-speed": ProtocolOption("playback_speed", "wrong_speed", "slow-motion or sped-up playback on a real clock"),
    "hand-over-knee": ProtocolOption("hand_over_knee", "legs_not_seen", "a hand crosses in front of one knee at landing"),
    "static-figure": ProtocolOption("static_figure", "second_person", "a still person in the background all clip long"),
    "step-nearer": ProtocolOption("step_nearer_m", "off_mark", "lands 0.5-0.7 m nearer the camera (a forward leap)"),
}

#: The existing failure the acceptance also runs over many seeds.
SECOND_PERSON = ProtocolOption("second_person", "second_person", "someone walks through during the landing")

DEFAULT_HOPS = 4


def option_overrides(name: str, seed: int, value: Any = None) -> dict[str, Any]:
    """SynthParams fields for one protocol option; ``value`` (None: drawn from the seed) is the
    option's argument: hops count, take-off speed m/s, toe-first lag ms (sign: which foot lags),
    playback speed, knee side, step length m."""
    if name == "second-person":
        return {"second_person": True}
    opt = OPTIONS[name]
    rng = np.random.default_rng([int(seed), 0xFA11, list(OPTIONS).index(name)])
    if name in ("cmj-in-place", "stuck-landing", "static-figure"):
        return {opt.field: True}
    if name == "hops":
        return {"hops": int(value) if value is not None else DEFAULT_HOPS}
    if name == "jump-up-off-box":
        return {opt.field: float(value) if value is not None else float(rng.uniform(1.2, 1.8))}
    if name == "toe-first":
        lag = float(value) if value is not None else float(rng.uniform(80, 150)) * (1 if rng.uniform() < 0.5 else -1)
        return {opt.field: lag}
    if name == "playback-speed":
        return {opt.field: float(value) if value is not None else 0.25}
    if name == "hand-over-knee":
        return {opt.field: str(value) if value is not None else str(rng.choice(["left", "right"]))}
    if name == "step-nearer":
        return {opt.field: float(value) if value is not None else float(rng.uniform(0.5, 0.7))}
    raise KeyError(name)


def describe(p: SynthParams) -> dict[str, Any] | None:
    """What ``truth.json`` says under ``protocol``: the options set, the findings they must give,
    and the facts the gates should see (None for a normal trial)."""
    from kiosk.synth.params import PROTOCOL_DEFAULTS

    names = [n for n, o in OPTIONS.items() if getattr(p, o.field) != PROTOCOL_DEFAULTS[o.field]]
    if not names:
        return None
    out: dict[str, Any] = {"options": names, "expected_findings": sorted({OPTIONS[n].finding for n in names})}
    if p.hops:
        out["flights"] = p.hops
    if p.toe_first_ms:
        out["first_foot"] = "left" if p.toe_first_ms > 0 else "right"
        out["second_foot_later_ms"] = abs(p.toe_first_ms)
    if p.playback_speed != 1.0:
        out["playback_speed"] = p.playback_speed
        out["apparent_gravity_mps2"] = round(9.80665 * p.playback_speed**2, 4)
    if p.hand_over_knee:
        out["hidden_knee"] = p.hand_over_knee
    if p.step_nearer_m:
        out["landing_z_m"] = p.step_nearer_m
    if p.jump_up_off_box_mps:
        out["rise_above_box_m"] = round(p.jump_up_off_box_mps**2 / (2 * 9.80665), 4)
    return out
