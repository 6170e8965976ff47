"""Trial and session results: frozen records with a stable JSON form for the store and the UI.

``SCORING_VERSION`` changes whenever a rule, threshold default or metric definition changes, so a
stored result always says which rules produced it. Each result also keeps the thresholds in force
and the session's trial count (``scoring``), and the limit that applied with the reason for it
(``limit``): :func:`kiosk.analysis.rescore.rescore_trial` gives a stored trial its stored verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kiosk.analysis.metrics import LegMetrics, Metrics
from kiosk.analysis.phases import Events

SCORING_VERSION = "2026.12-1"

VERDICTS = ("PASS", "FLAG", "RETAKE")

_LEG_KEYS = {  # JSON key -> LegMetrics field
    "fppa_ic": "fppa_ic", "fppa_peak": "fppa_peak", "fppa_peak_flexion": "fppa_peak_flexion",
    "valgus_displacement": "valgus_displacement", "static_fppa": "static_fppa",
    "peak_fppa_s": "peak_fppa_s", "peak_fppa_frame": "peak_fppa_frame", "pushoff_valgus": "pushoff_valgus",
}
_TOP_KEYS = ("kasr_ic", "kasr_peak", "kasr_min", "static_kasr", "knee_sep_pct_ic", "knee_sep_pct_peak",
             "trunk_lean_ic_deg", "trunk_lean_peak_deg", "trunk_lean_max_deg", "stance_width_ratio",
             "stance_width_peak_ratio")
_JUMP_KEYS = ("contact_time_s", "flight_time_s", "jump_height_m", "rsi")
_EVENT_KEYS = ("initial_contact_s", "peak_flexion_s", "takeoff_s", "second_landing_s", "source",
               "video_initial_contact_s", "video_takeoff_s", "mat_initial_contact_s")


def _r(v: Any, nd: int = 4) -> Any:
    return round(float(v), nd) if isinstance(v, float) else v


@dataclass(frozen=True)
class TrialResult:
    verdict: str
    reasons: tuple[str, ...]
    findings: tuple[str, ...]          # guidance codes; for a RETAKE the gate codes
    borderline: bool
    refer: bool
    events: Events
    metrics: Metrics
    quality: dict = field(default_factory=dict)
    sex: str | None = None
    scoring_version: str = SCORING_VERSION
    limit: dict | None = None          # Limit.to_json(): the peak-FPPA limit used and why
    near_limits: tuple[dict, ...] = ()  # NearLimit.to_json() of each value within its borderline band
    scoring: dict = field(default_factory=dict)  # {"thresholds": snapshot, "trials_needed": n}

    @property
    def valid(self) -> bool:
        return self.verdict != "RETAKE"

    def to_json(self) -> dict:
        ev = self.events
        m = self.metrics
        legs = {leg: {k: _r(getattr(getattr(m, leg), f)) for k, f in _LEG_KEYS.items()} for leg in ("left", "right")}
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "findings": list(self.findings),
            "borderline": self.borderline,
            "refer": self.refer,
            "events": {**{k: _r(getattr(ev, k), 5) for k in _EVENT_KEYS},
                       "standing_frames": list(ev.standing) if ev.standing is not None else None},
            "legs": legs,
            **{k: _r(getattr(m, k)) for k in _TOP_KEYS},
            "jump": {k: _r(getattr(m, k)) for k in _JUMP_KEYS},
            "quality": dict(self.quality),
            "sex": self.sex,
            "limit": self.limit,
            "near_limits": list(self.near_limits),
            "scoring_version": self.scoring_version,
            "scoring": dict(self.scoring),
        }

    @classmethod
    def from_json(cls, obj: dict) -> TrialResult:
        e = obj["events"]
        events = Events(**{k: e.get(k) for k in _EVENT_KEYS},
                        standing=tuple(e["standing_frames"]) if e.get("standing_frames") else None)  # type: ignore[arg-type]
        legs = {leg: LegMetrics(**{f: obj["legs"][leg].get(k) for k, f in _LEG_KEYS.items()}) for leg in ("left", "right")}
        metrics = Metrics(left=legs["left"], right=legs["right"], **{k: obj.get(k) for k in _TOP_KEYS},
                          **{k: obj["jump"].get(k) for k in _JUMP_KEYS})
        return cls(verdict=obj["verdict"], reasons=tuple(obj["reasons"]), findings=tuple(obj.get("findings", ())),
                   borderline=bool(obj.get("borderline", False)), refer=bool(obj.get("refer", False)),
                   events=events, metrics=metrics, quality=dict(obj.get("quality", {})), sex=obj.get("sex"),
                   scoring_version=obj.get("scoring_version", "unknown"), limit=obj.get("limit"),
                   near_limits=tuple(obj.get("near_limits") or ()), scoring=dict(obj.get("scoring") or {}))


@dataclass(frozen=True)
class SessionResult:
    """A session: every trial kept; the verdict from the per-metric medians of the valid ones."""

    trials: tuple[TrialResult, ...]
    trials_needed: int
    verdict: str                       # "PASS", "FLAG", or "INCOMPLETE" until enough valid trials
    provisional_verdict: str | None    # from the valid trials so far (None: none yet)
    reasons: tuple[str, ...]
    findings: tuple[str, ...]
    borderline: bool
    refer: bool
    medians: dict                      # metric name -> median over the valid trials used
    used_trials: tuple[int, ...]       # positions in ``trials`` that entered the medians
    sex: str | None = None
    scoring_version: str = SCORING_VERSION
    limit: dict | None = None
    near_limits: tuple[dict, ...] = ()
    scoring: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.verdict != "INCOMPLETE"

    @property
    def valid_count(self) -> int:
        return sum(1 for t in self.trials if t.valid)

    def to_json(self) -> dict:
        return {
            "verdict": self.verdict,
            "provisional_verdict": self.provisional_verdict,
            "complete": self.complete,
            "trials_needed": self.trials_needed,
            "valid_trials": self.valid_count,
            "reasons": list(self.reasons),
            "findings": list(self.findings),
            "borderline": self.borderline,
            "refer": self.refer,
            "medians": {k: (_r(v) if not isinstance(v, dict) else {kk: _r(vv) for kk, vv in v.items()})
                        for k, v in self.medians.items()},
            "used_trials": list(self.used_trials),
            "trials": [t.to_json() for t in self.trials],
            "sex": self.sex,
            "limit": self.limit,
            "near_limits": list(self.near_limits),
            "scoring_version": self.scoring_version,
            "scoring": dict(self.scoring),
        }

    @classmethod
    def from_json(cls, obj: dict) -> SessionResult:
        return cls(trials=tuple(TrialResult.from_json(t) for t in obj["trials"]), trials_needed=int(obj["trials_needed"]),
                   verdict=obj["verdict"], provisional_verdict=obj.get("provisional_verdict"),
                   reasons=tuple(obj["reasons"]), findings=tuple(obj.get("findings", ())),
                   borderline=bool(obj.get("borderline", False)), refer=bool(obj.get("refer", False)),
                   medians=dict(obj.get("medians", {})), used_trials=tuple(obj.get("used_trials", ())),
                   sex=obj.get("sex"), scoring_version=obj.get("scoring_version", "unknown"), limit=obj.get("limit"),
                   near_limits=tuple(obj.get("near_limits") or ()), scoring=dict(obj.get("scoring") or {}))
