"""Verdict thresholds, configurable under ``[scoring]``; each names its source (docs/SCORING.md).

A result stores the thresholds it was scored with (:func:`snapshot`), so it can be scored again
to the same verdict after a coach has changed them (:func:`from_snapshot`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from kiosk.schema import setting


@dataclass(frozen=True)
class Thresholds:
    valgus_displacement_deg: float = setting(
        10.6, "FLAG when FPPA at peak knee flexion minus FPPA at contact reaches this, in degrees.", min=0.0, max=45.0,
        source="Holden et al. 2017: 2D valgus displacement >= 10.6 deg went with later patellofemoral pain in 76 girls "
               "aged 12-13 (8 cases, sens 0.75, spec 0.85), 31 cm drop jump; cut-off derived in that sample, not "
               "externally validated")
    peak_fppa_female_deg: float = setting(
        13.0, "FLAG when FPPA at peak knee flexion exceeds this for female athletes, and when sex is not recorded "
              "(the more lenient limit).", min=0.0, max=45.0,
        source="Herrington & Munro 2010, n=100 adults aged 18-28: FPPA at peak knee flexion in a drop jump, "
               "healthy females 7-13 deg")
    peak_fppa_male_deg: float = setting(
        8.0, "FLAG when FPPA at peak knee flexion exceeds this for male athletes.", min=0.0, max=45.0,
        source="Herrington & Munro 2010, n=100 adults aged 18-28: FPPA at peak knee flexion in a drop jump, "
               "healthy males 3-8 deg")
    borderline_peak_fppa_deg: float = setting(
        2.5, "A session's median FPPA at peak flexion within this of its limit is marked borderline.",
        min=0.0, max=15.0,
        source="Measured: 1.96 x the retest SD of the kiosk's 3-trial median on the synthetic athlete "
               "(bench/session_error.py, docs/ACCURACY.md)")
    borderline_displacement_deg: float = setting(
        3.0, "A session's median valgus displacement within this of its limit is marked borderline.",
        min=0.0, max=15.0,
        source="Measured: 1.96 x the retest SD of the kiosk's 3-trial median on the synthetic athlete "
               "(bench/session_error.py, docs/ACCURACY.md)")
    borderline_static_deg: float = setting(
        1.0, "A session's median standing FPPA within this of its limit is marked borderline.",
        min=0.0, max=15.0,
        source="Measured: 1.96 x the retest SD of the kiosk's 3-trial median on the synthetic athlete "
               "(bench/session_error.py, docs/ACCURACY.md)")
    static_fppa_refer_deg: float = setting(
        10.0, "FPPA while standing still at or above this suggests structural valgus: refer, don't coach.",
        min=0.0, max=45.0, source="Judgement: near the top of the adult drop-jump range while standing still; seed "
                                  "guidance: valgus while standing goes to a professional")
    pushoff_note_deg: float = setting(
        5.0, "A knee moving inward this much more between peak flexion and take-off gets a coaching note "
             "(never a FLAG).", min=0.0, max=45.0,
        source="Judgement: the push-off is a different movement from the landing the limits are about (Noyes 2005: "
               "knee separation falls on take-off in 72-80 % of athletes)")
    trunk_lean_deg: float = setting(
        10.0, "Lateral trunk lean at initial contact beyond this is noted (coaching note, not a FLAG).",
        min=0.0, max=45.0, source="Judgement: well beyond the few degrees of an upright landing; read at contact "
                                  "as LESS scores lateral trunk flexion")
    asymmetry_deg: float = setting(
        8.0, "A left/right difference in valgus displacement beyond this is noted as asymmetry.",
        min=0.0, max=45.0, source="Munro 2012: smallest detectable difference of 2D FPPA is 7.5-8.9 deg")
    implausible_fppa_deg: float = setting(
        40.0, "An FPPA beyond this (either sign) means the pose is wrong, not the knee: RETAKE.",
        min=10.0, max=90.0, source="Judgement: DVJ FPPA norms are 3-13 deg (Herrington & Munro 2010)")
    min_frames_contact_to_peak: int = setting(
        4, "RETAKE when fewer frames than this lie between contact and peak knee flexion (camera too slow).",
        min=1, max=50, source="Judgement: contact to peak flexion takes ~0.1-0.2 s; 15 fps gives 1-3 frames")
    turned_away_ratio: float = setting(
        0.8, "RETAKE when hip width in the landing falls below this fraction of the standing hip width.",
        min=0.0, max=1.0, source="Judgement: cos(35 deg) = 0.82; a turn that large distorts 2D FPPA")
    turned_away_nose_offset: float = setting(
        0.12, "RETAKE when the nose sits further than this many shoulder widths sideways of the shoulders' "
              "midpoint (the face turned; holds when the whole clip is turned).", min=0.0, max=1.0,
        source="Measured on rendered clips with MoveNet Lightning: <= 0.08 at 10 deg yaw, >= 0.16 at 35 deg")
    turned_away_shoulder_ratio: float = setting(
        0.45, "RETAKE when shoulder width / torso length is below this (narrower than a frontal adult).",
        min=0.0, max=2.0, source="Judgement: frontal adults measure 0.58-0.76 on rendered clips; cos 40 deg x 0.58 = 0.44")
    mat_video_tolerance_s: float = setting(
        0.05, "RETAKE when the video's contact time differs from the mat's by more than this (or 2.5 frames).",
        min=0.0, max=1.0, source="Judgement: a few frames at 120 fps; larger means wrong clock or wrong landing")
    off_mat_s: float = setting(
        0.15, "A mat contact this much later than the video's landing (or none) means the athlete landed off the mat.",
        min=0.0, max=2.0, source="Judgement: longer than any clock or detection error, shorter than a contact")
    max_gap_s: float = setting(
        0.05, "Joints missing for at most this long (or 1 frame) are interpolated; longer gaps stay missing.",
        min=0.0, max=0.5, source="Judgement: shorter than the ~50 ms from contact to valgus")


#: Keys of earlier scoring versions: a config that still sets one is loaded without it (the
#: config loader warns), so a station does not stop over a rule that no longer exists.
RETIRED = {
    "kasr_peak_min": "KASR decides nothing since scoring 2026.12 (no KASR cut-off with a source exists)",
    "borderline_kasr": "KASR decides nothing since scoring 2026.12",
    "borderline_deg": "replaced by borderline_peak_fppa_deg, borderline_displacement_deg and borderline_static_deg",
    "peak_fppa_unknown_deg": "an unrecorded sex gets peak_fppa_female_deg, the more lenient limit",
}


def snapshot(th: Thresholds) -> dict[str, Any]:
    """Every threshold's value, for storing with a result."""
    return dataclasses.asdict(th)


def from_snapshot(values: dict[str, Any]) -> Thresholds:
    """The thresholds a result was scored with; keys this version does not know are left out
    (a retired rule cannot be applied again) and missing ones take today's default."""
    known = {f.name for f in dataclasses.fields(Thresholds)}
    return Thresholds(**{k: v for k, v in (values or {}).items() if k in known})
