"""Verdict thresholds, configurable under ``[scoring]``; each names its source (DESIGN.md s.2)."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.schema import setting


@dataclass(frozen=True)
class Thresholds:
    valgus_displacement_deg: float = setting(
        10.6, "FLAG when FPPA(peak) - FPPA(contact) reaches this, in degrees.", min=0.0, max=45.0,
        source="Holden et al. 2017: >= 10.6 deg predicted patellofemoral pain (sens 0.75, spec 0.85), 31 cm drop jump")
    peak_fppa_female_deg: float = setting(
        13.0, "FLAG when peak FPPA exceeds this for female athletes (upper normal).", min=0.0, max=45.0,
        source="Herrington & Munro 2010, n=100: DVJ FPPA in healthy females 7-13 deg")
    peak_fppa_male_deg: float = setting(
        8.0, "FLAG when peak FPPA exceeds this for male athletes (upper normal).", min=0.0, max=45.0,
        source="Herrington & Munro 2010, n=100: DVJ FPPA in healthy males 3-8 deg")
    peak_fppa_unknown_deg: float = setting(
        13.0, "Peak FPPA limit when sex is not given: the female limit, so nobody is flagged only for a missing field.",
        min=0.0, max=45.0, source="Judgement: the wider normal range of Herrington & Munro 2010")
    kasr_peak_min: float = setting(
        0.6, "FLAG when knee/ankle separation at peak flexion is below this.", min=0.0, max=2.0,
        source="Judgement: KASR tracks 3D knee abduction (Gray 2017); 0.6 matches the often-quoted 60% "
               "knee-separation screen (Noyes 2005), not verified from the primary text")
    borderline_deg: float = setting(
        3.0, "Within this many degrees of an FPPA threshold the result is marked borderline.", min=0.0, max=15.0,
        source="Munro 2012: between-day SEM 2.7-3.0 deg for 2D FPPA")
    borderline_kasr: float = setting(
        0.05, "Within this of the KASR threshold the result is marked borderline.", min=0.0, max=0.5,
        source="Judgement: about the KASR noise of single-camera 2D measures")
    static_fppa_refer_deg: float = setting(
        10.0, "FPPA while standing still at or above this suggests structural valgus: refer, don't coach.",
        min=0.0, max=45.0, source="Judgement: beyond the DVJ normal range while static; seed guidance: valgus "
                                  "while standing goes to a professional")
    trunk_lean_deg: float = setting(
        10.0, "Lateral trunk lean at peak flexion beyond this is noted (coaching note, not a FLAG).",
        min=0.0, max=45.0, source="Judgement: well beyond the few degrees of an upright landing")
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
