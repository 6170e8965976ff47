"""Quality gates: reasons a trial cannot be scored, each giving RETAKE with one plain sentence.

A wrong PASS is worse than a retake: an athlete who is told "fine" stops listening. So every
condition under which the numbers are not trustworthy stops the verdict. Gates look at the
decisive window (just before contact to take-off) unless they say otherwise. Each gate is a
small function that returns a :class:`Failure` or None, so each can be tested on its own.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kiosk.analysis.metrics import fppa_series
from kiosk.analysis.phases import Events, leg_length_px, mid_y, torso_length_px
from kiosk.analysis.protocol import check_protocol
from kiosk.analysis.result import TrialResult
from kiosk.analysis.series import Series
from kiosk.analysis.thresholds import Thresholds
from kiosk.keypoints import (
    KP,
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    NOSE,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
)
from kiosk.matcsv import MatEdge

LEFT_WRIST, RIGHT_WRIST = KP["left_wrist"], KP["right_wrist"]
LEFT_ELBOW, RIGHT_ELBOW = KP["left_elbow"], KP["right_elbow"]

#: Plain reasons, one per gate code; the guidance file explains how to fix each.
REASONS: dict[str, str] = {
    "no_landing": "We did not see a landing. Step off the box and land in front of the camera.",
    "off_mat": "You landed off the mat. Land with both feet on the mat.",
    "mat_video_disagree": "The mat and the camera did not agree on when you landed. Please jump again.",
    "camera_too_slow": "The camera was too slow to catch your landing. Ask the staff to check the camera.",
    "feet_cut_off": "Your feet were out of the picture. Stand where your whole body fits on the screen.",
    "legs_not_seen": "The camera could not see your hips, knees and ankles clearly. Keep your hands and arms away "
                     "from your legs and keep your legs in clear view.",
    "turned_away": "You were turned away from the camera. Face the camera straight on.",
    "second_person": "Someone else, a mirror, poster or screen showed a person in the picture. Only the jumper "
                     "should be in front of the camera.",
    "implausible_pose": "The camera lost track of your legs. Please jump again.",
    # protocol gates (kiosk.analysis.protocol): the clip was not a drop vertical jump
    "no_box": "Step onto the box and stand still for a moment before you step off.",
    "no_drop": "Step off the box and let yourself drop onto the mat.",
    "wrong_speed": "This video is not at real speed (slow motion or sped up). Record at normal speed.",
    "jumped_off_box": "Step off the box, do not jump up from it.",
    "no_rebound": "After you land, jump straight up as high as you can at once.",
    "hopping": "Do one drop and one jump, then stand still.",
    "uneven_landing": "Land on both feet at the same time.",
    "implausible_jump": "The timing did not look like one real jump. Please jump again.",
    "off_mark": "Drop straight down onto the mat in front of the box; do not leap forward.",
}

#: Contact to peak flexion lasts at most about this long in a drop landing; a camera that cannot
#: put ``min_frames_contact_to_peak`` frames into it is too slow whatever the clip shows.
CONTACT_TO_PEAK_S = 0.2
#: Switches of the tracked body count only once the track has held one body this long (the
#: tracker's first frames on the whole image may land anywhere before it locks on).
SETTLE_S = 0.2
#: A still figure: hips and ankles move less than this many leg lengths over the whole clip (a
#: jumper drops by a box, 0.2-0.6; a still figure's keypoints jitter by up to 0.05).
STATIC_LL = 0.15
#: A hand over a leg: the middle of a hand within this many leg lengths of a knee or ankle in
#: at least ``HAND_SHARE`` of the landing frames (the model then reads the knee or ankle off the
#: hand). 38 normal synthetic trials: 0 %; a hand crossing a knee (simulate --hand-over-knee): 52 %.
HAND_NEAR_LL = 0.15
HAND_SHARE = 0.2
#: The middle of the hand lies this share of the forearm (elbow to wrist) beyond the wrist
#: (hand ~0.19 m, forearm ~0.27 m: Winter's segment lengths, 0.108 and 0.146 of body height).
HAND_BEYOND_WRIST = 0.35
#: Before contact, the decisive window starts this early (the leg must be seen landing).
PRE_CONTACT_S = 0.05
#: A joint may be unseen in at most this share of the decisive window's frames.
MAX_MISSING_SHARE = 0.2
#: Ankles closer than this share of the image height to its bottom edge count as cut off.
EDGE_MARGIN = 0.01
#: Second person: over ``JUMP_BASE_S`` (at least one frame) the body centre may not move sideways
#: more than ``MAX_SIDE_SHIFT`` torso lengths (a drop landing is vertical), nor more than
#: ``MAX_SHIFT`` in any direction (a 3 m/s fall moves ~0.3), nor change its torso length by more
#: than ``MAX_SCALE_STEP`` (0.3-0.4 happens on one athlete: trunk flexion and shoulder jitter at
#: landing). A fixed time base keeps pixel jitter at 120 fps from reading as speed.
JUMP_BASE_S = 0.05
MAX_SIDE_SHIFT = 0.4
MAX_SHIFT = 0.8
MAX_SCALE_STEP = 0.5
#: Second body: with the athlete's body box masked out of a frame, the model still finds at least
#: ``MIN_OTHER_JOINTS`` keypoints scored >= ``OTHER_SCORE`` outside that box, among them at least
#: ``MIN_OTHER_TORSO`` of the shoulders and hips. The passer-by of the synthetic athlete gives
#: 10-17 (torso 3-4) where it is beside the athlete; normal clips give 0-6 (torso 0-1).
OTHER_SCORE = 0.3
MIN_OTHER_JOINTS = 10
MIN_OTHER_TORSO = 3
#: ... and a torso (shoulders' mid to hips' mid) at least this share of the athlete's box height:
#: a person even three times farther off than the athlete has one. Not a real body: all 17
#: joints heaped on the athlete's own raised hand, left outside the box when the landing square
#: cut the hands off in flight (synthetic seed 49: a torso of 0.05 box heights).
MIN_OTHER_TORSO_SHARE = 0.08
#: Facing away: the face (the nose, or both eyes) seen in under this share of the frames whose
#: shoulders are seen. MoveNet labels left and right by appearance, so a back view comes out with
#: its sides swapped and :mod:`kiosk.pose.sides` turns them frontal again: the face is what tells.
MIN_FACE_SHARE = 0.5
#: A partial turn: the nose off the shoulders' midpoint by at least this share of
#: ``turned_away_nose_offset`` (0.09 at the default; 20 normal clips, yaw within 10 deg, read <= 0.06)
#: names the turn as the cause when the legs are already unreadable (``PARTIAL_TURN_SYMPTOMS``).
#: It never stops a trial on its own, so it only changes which retake the athlete is told.
PARTIAL_TURN_SHARE = 0.75
PARTIAL_TURN_SYMPTOMS = frozenset({"legs_not_seen", "implausible_pose"})


@dataclass(frozen=True)
class Failure:
    code: str
    detail: str

    @property
    def reason(self) -> str:
        return REASONS[self.code]


def decisive_window(t: np.ndarray, ev: Events) -> np.ndarray:
    """Frames from just before contact to take-off (or 0.5 s after contact)."""
    ic = ev.initial_contact_s
    if ic is None:
        return np.zeros(len(t), dtype=bool)
    stop = ev.takeoff_s if ev.takeoff_s is not None else ic + 0.5
    return (t >= ic - PRE_CONTACT_S) & (t <= stop)


def _nanmedian(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else float("nan")


def check_landing(ev: Events) -> Failure | None:
    if ev.initial_contact_s is None:
        return Failure("no_landing", "no contact found by the mat or the video")
    return None


def check_mat(ev: Events, mat_edges: Sequence[MatEdge] | None, dt: float, th: Thresholds,
              t: np.ndarray | None = None) -> Failure | None:
    """Off the mat: the video saw a landing the mat did not (or much later). Disagree: both saw
    one, at times further apart than clock and detection error allow.

    The video's contact time is only as precise as the samples around it: ``dt`` is the camera's
    frame interval, and with the posed times ``t`` a sparser local sampling (a frame plan that
    poses every frame only near the mat's edge) widens the tolerance to 2.5 of its intervals.
    """
    if mat_edges is None or ev.video_initial_contact_s is None:
        return None
    v_ic, m_ic = ev.video_initial_contact_s, ev.mat_initial_contact_s
    if m_ic is None:
        return Failure("off_mat", "the mat never closed while the video shows a landing")
    diff = m_ic - v_ic
    if diff > th.off_mat_s:
        return Failure("off_mat", f"the mat closed {diff:.3f} s after the video's landing")
    step = dt
    if t is not None and len(t) > 1:
        k = int(np.clip(np.searchsorted(t, v_ic), 1, len(t) - 1))
        step = max(step, float(np.diff(t[max(k - 2, 0):k + 2]).max()))
    tol = max(th.mat_video_tolerance_s, 2.5 * step)
    if abs(diff) > tol:
        return Failure("mat_video_disagree", f"mat contact {m_ic:.3f} s vs video {v_ic:.3f} s")
    return None


def camera_frames(t: np.ndarray, start: float, stop: float, dt: float | None) -> int:
    """Camera frames in [start, stop]: the frames given, or with the camera's frame interval
    ``dt`` at least as many as any span that long holds (a frame plan poses only some of them)."""
    n = int(((t >= start) & (t <= stop)).sum())
    if dt is not None and dt > 0:
        n = max(n, int(np.floor((stop - start) / dt + 1e-6)))
    return n


def check_frame_rate(t: np.ndarray, ev: Events, th: Thresholds, dt: float | None = None) -> Failure | None:
    """Too few camera frames from contact to peak flexion to see the valgus. ``dt`` is the
    camera's frame interval when the caller knows it: the camera is judged, not the frame plan.
    A camera too slow to hold ``min_frames_contact_to_peak`` frames in ``CONTACT_TO_PEAK_S`` is
    named whatever else was seen (or not: at 5 fps the landing itself may go unseen)."""
    step = dt if dt is not None else (float(np.median(np.diff(t))) if len(t) > 1 else 0.0)
    if step > 0 and CONTACT_TO_PEAK_S / step + 1 < th.min_frames_contact_to_peak:
        return Failure("camera_too_slow", f"{1 / step:.0f} fps: under {th.min_frames_contact_to_peak} frames "
                                          f"in the {CONTACT_TO_PEAK_S:.2f} s from contact to peak flexion")
    ic, peak = ev.initial_contact_s, ev.peak_flexion_s
    if ic is None or peak is None:
        return None
    n = camera_frames(t, ic, peak, dt)
    if n < th.min_frames_contact_to_peak:
        return Failure("camera_too_slow", f"{n} frames from contact to peak flexion")
    return None


def check_feet(raw: Series, ev: Events, frame_size: tuple[int, int] | None) -> Failure | None:
    """Ankles missing, or at the image's bottom edge, while the rest of the legs are seen."""
    win = decisive_window(raw.t, ev)
    if not win.any():  # no landing found: look at the whole clip, feet cut off may be why
        win = np.ones(len(raw.t), dtype=bool)
    ankles = raw.xy[win][:, [LEFT_ANKLE, RIGHT_ANKLE]]
    missing = ~np.isfinite(ankles).all(axis=-1)
    share = float(missing.any(axis=1).mean())
    if share > MAX_MISSING_SHARE:
        return Failure("feet_cut_off", f"ankles unseen in {share:.0%} of the landing frames")
    if frame_size is not None:
        height = frame_size[1]
        # The model's raw guess, even when low-scored, shows where it thinks the ankle is.
        ys = np.concatenate([ankles[..., 1].ravel()])
        ys = ys[np.isfinite(ys)]
        if len(ys) and float(ys.max()) >= height * (1 - EDGE_MARGIN):
            return Failure("feet_cut_off", f"ankles at the bottom edge (y {ys.max():.0f} of {height})")
    return None


def check_visibility(raw: Series, clean_xy: np.ndarray, ev: Events) -> Failure | None:
    """Hips and knees seen in the decisive window, and present (after gap filling) at contact
    and at peak flexion."""
    win = decisive_window(raw.t, ev)
    if not win.any():
        return None
    for j in (LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE):
        share = float((~np.isfinite(raw.xy[win, j, 0])).mean())
        if share > MAX_MISSING_SHARE:
            return Failure("legs_not_seen", f"joint {j} unseen in {share:.0%} of the landing frames")
    for when in (ev.initial_contact_s, ev.peak_flexion_s):
        if when is None:
            continue
        k = int(np.clip(np.searchsorted(raw.t, when), 1, len(raw.t) - 1))
        around = clean_xy[[k - 1, k]][:, [LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE]]
        if not np.isfinite(around).all():
            return Failure("legs_not_seen", f"a leg joint is missing at {when:.3f} s")
    return None


def _width(xy: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.hypot(*(xy[:, a] - xy[:, b]).T)


def face_share(xy: np.ndarray) -> float | None:
    """Share of the frames with both shoulders seen that also show the face (the nose, or both
    eyes); None when no frame shows both shoulders."""
    shoulders = np.isfinite(xy[:, [LEFT_SHOULDER, RIGHT_SHOULDER]]).all(axis=(1, 2))
    if not shoulders.any():
        return None
    nose = np.isfinite(xy[:, NOSE]).all(axis=-1)
    eyes = np.isfinite(xy[:, [KP["left_eye"], KP["right_eye"]]]).all(axis=(1, 2))
    return float((nose | eyes)[shoulders].mean())


def facing_evidence(xy: np.ndarray) -> tuple[float | None, float | None]:
    """Evidence of a constant turn, from frames the caller chose: (nose offset, shoulder ratio).

    Nose offset: median of (nose x - shoulder-midpoint x) / shoulder width. The nose sits in front
    of the head, so when the athlete (or the camera) is turned it moves sideways off the
    shoulders' midpoint, whatever the body's proportions. Shoulder ratio: median shoulder width /
    torso length, which shrinks by cos(yaw). Both need no frontal reference from the same clip,
    so they catch a turn that lasts the whole clip, which a standing-vs-landing comparison cannot.
    None where the joints are not seen.
    """
    ls, rs = xy[:, LEFT_SHOULDER], xy[:, RIGHT_SHOULDER]
    sh_w = np.hypot(*(ls - rs).T)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        offset = (xy[:, NOSE, 0] - (ls[:, 0] + rs[:, 0]) / 2) / sh_w
        ratio = sh_w / torso_length_px(xy)
    off = _nanmedian(np.where(sh_w > 0, offset, np.nan))
    rat = _nanmedian(ratio)
    return (off if np.isfinite(off) else None), (rat if np.isfinite(rat) else None)


def check_facing(clean_xy: np.ndarray, t: np.ndarray, ev: Events, th: Thresholds) -> tuple[Failure | None, dict]:
    """Turned away, by three kinds of evidence:

    * facing away: the face not seen (:func:`face_share`) over the standing frames and the
      landing. The hips' image order cannot tell: MoveNet labels by appearance, so it calls a
      back view's image-right hip "left" about as often as a front view's, and the series has
      been turned frontal already (:mod:`kiosk.pose.sides`). A mirrored camera cannot be told
      from keypoints at all (the model labels the mirror image as a frontal person): nothing in
      the kiosk mirrors, and the camera is opened with no flip (``kiosk.station.camera``);
    * a constant turn: the nose off the shoulders' midpoint, or shoulders narrow for the torso,
      over the standing frames and the landing (:func:`facing_evidence`);
    * a turn during the landing: the hip width falls below ``turned_away_ratio`` of the standing
      hip width.

    Returns the failure (or None) and the measured figures.
    """
    win = decisive_window(t, ev)
    if not win.any():
        return None, {}
    xy = clean_xy[win]
    look = win.copy()
    if ev.standing is not None:
        look[ev.standing[0]:ev.standing[1]] = True
    ref = clean_xy[ev.standing[0]:ev.standing[1]] if ev.standing is not None else xy
    offset, sh_ratio = facing_evidence(clean_xy[look])
    face = face_share(clean_xy[look])
    figures: dict = {"nose_offset": offset, "shoulder_torso_ratio": sh_ratio, "hip_width_ratio": None,
                     "face_seen_share": face}
    if face is not None and face < MIN_FACE_SHARE:
        return Failure("turned_away", f"face seen in {face:.0%} of the frames: facing away"), figures
    if offset is not None and abs(offset) > th.turned_away_nose_offset:
        return Failure("turned_away", f"nose {offset:+.2f} shoulder widths off the shoulders' midpoint"), figures
    if sh_ratio is not None and sh_ratio < th.turned_away_shoulder_ratio:
        return Failure("turned_away", f"shoulder width {sh_ratio:.2f} x the torso length"), figures
    if ev.standing is not None:
        stand = _nanmedian(_width(ref, LEFT_HIP, RIGHT_HIP))
        land = _nanmedian(_width(xy, LEFT_HIP, RIGHT_HIP))
        if np.isfinite(stand) and stand > 0 and np.isfinite(land):
            ratio = land / stand
            figures["hip_width_ratio"] = ratio
            if ratio < th.turned_away_ratio:
                return Failure("turned_away", f"hip width {ratio:.2f} x the standing width"), figures
    return None, figures


def check_partial_turn(figures: dict, symptoms: Sequence[Failure | None], th: Thresholds) -> Failure | None:
    """``turned_away`` when a turn short of :func:`check_facing`'s threshold comes with its own
    symptoms: a leg unseen or an implausible angle. A body turned 30-35 deg hides one leg behind
    the other, so the model misplaces it (seed 1002 of the -35 deg option read a 55 deg FPPA with
    the nose 0.106 shoulder widths off); "face the camera" is then the retake that fixes it."""
    offset = figures.get("nose_offset")
    if offset is None or abs(offset) < PARTIAL_TURN_SHARE * th.turned_away_nose_offset:
        return None
    seen = [f for f in symptoms if f is not None and f.code in PARTIAL_TURN_SYMPTOMS]
    if not seen:
        return None
    return Failure("turned_away", f"nose {offset:+.2f} shoulder widths off the shoulders' midpoint, with "
                                  f"{seen[0].code}: a partial turn")


def check_second_person(raw: Series, ev: Events) -> Failure | None:
    """Single-person pose models jump to whoever is most salient. A jump shows as the body centre
    leaping sideways or faster than a person moves, or the torso changing size in one frame. The
    detail names the time of the first such jump once the track has settled (``SETTLE_S`` after
    the first frame it saw a torso in): the switch to the other body, not the first frames'."""
    t, xy = raw.t, raw.xy
    end = ev.second_landing_s if ev.second_landing_s is not None else t[-1]
    start = t[ev.standing[0]] if ev.standing is not None else t[0]
    sel = (t >= start) & (t <= end + 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        torso = torso_length_px(xy)
    body = xy[:, [LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP]]
    scale = _nanmedian(torso[sel])
    if not np.isfinite(scale) or scale <= 0:
        return None
    idx = np.flatnonzero(sel)
    seen = np.isfinite(body).all(axis=2).sum(axis=1) >= 2
    if not seen[idx].any():
        return None
    settled = t[idx[seen[idx]][0]] + SETTLE_S
    base = max(JUMP_BASE_S, 1.01 * raw.dt)
    for b in idx[1:]:
        if t[b] < settled:
            continue
        a = int(np.searchsorted(t, t[b] - base))
        a = max(a, int(idx[0]))
        if a >= b:
            continue
        # Compare only joints seen in both frames: a joint dropping out must not move the centre.
        both = np.isfinite(body[a]).all(axis=1) & np.isfinite(body[b]).all(axis=1)
        if both.sum() < 2:
            continue
        d = np.median(body[b, both] - body[a, both], axis=0)
        side = abs(d[0]) / scale
        shift = float(np.hypot(*d)) / scale
        step = abs(torso[b] - torso[a]) / scale if np.isfinite(torso[a]) and np.isfinite(torso[b]) else 0.0
        if side > MAX_SIDE_SHIFT or shift > MAX_SHIFT or step > MAX_SCALE_STEP:
            return Failure("second_person", f"body jumped at {t[b]:.3f} s (sideways {side:.2f}, total {shift:.2f} "
                                            f"torso lengths, size step {step:.2f})")
    return None


def check_second_body(probes: Sequence[tuple[float, np.ndarray, tuple[float, float, float, float]]]
                      ) -> Failure | None:
    """A second person from a second body in the frame, not from the model jumping to them.

    Since every decisive frame is posed on one landing square (:mod:`kiosk.pose.landing`), the
    model rarely leaves the athlete, so :func:`check_second_person` can miss someone who walks
    behind the athlete and only disturbs their joints. ``probes`` are ``(t, keypoints (17, 3),
    athlete box (x0, y0, x1, y1))``: keypoints found on a frame with the athlete's box masked out
    (:func:`kiosk.pose.landing.probe_other_person`). A person is there when enough confident
    keypoints, torso included, lie outside the box (the athlete's own hand at the box edge is not),
    and that torso has a person's size (keypoints heaped on one hand are not a body).
    """
    torso = np.zeros(17, dtype=bool)
    torso[[LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP]] = True
    shoulders, hips = np.array([LEFT_SHOULDER, RIGHT_SHOULDER]), np.array([LEFT_HIP, RIGHT_HIP])
    for t, kps, (x0, y0, x1, y1) in probes:
        k = np.asarray(kps, dtype=np.float64)
        inside = (k[:, 0] >= x0) & (k[:, 0] <= x1) & (k[:, 1] >= y0) & (k[:, 1] <= y1)
        seen = (k[:, 2] >= OTHER_SCORE) & ~inside
        if seen.sum() < MIN_OTHER_JOINTS or (seen & torso).sum() < MIN_OTHER_TORSO:
            continue
        sh, hp = k[shoulders[seen[shoulders]], :2].mean(axis=0), k[hips[seen[hips]], :2].mean(axis=0)
        if float(np.hypot(*(sh - hp))) >= MIN_OTHER_TORSO_SHARE * (y1 - y0):
            return Failure("second_person", f"another body at {t:.3f} s ({int(seen.sum())} joints beside the athlete)")
    return None


def check_static_figure(xy: np.ndarray, ev: Events, mat_edges: Sequence[MatEdge] | None) -> Failure | None:
    """The mat saw a landing but the tracked body never moved: the model followed a figure that
    does not jump with the mat (a poster, a screen, a mirror image, someone standing by)."""
    if mat_edges is None or ev.mat_initial_contact_s is None:
        return None
    moved = body_motion(xy)
    if moved is not None and moved < STATIC_LL:
        return Failure("second_person", f"the person followed did not move when the mat was pressed at "
                                        f"{ev.mat_initial_contact_s:.3f} s (moved {moved:.2f} leg lengths)")
    return None


def body_motion(xy: np.ndarray) -> float | None:
    """How far the tracked body's hips and ankles moved up or down over the clip (5th to 95th
    percentile), in leg lengths; None when they are not seen. A jumper moves by a leg length and
    more; a poster, a screen or a mirror image of someone standing by hardly at all."""
    scale = leg_length_px(xy)
    if not np.isfinite(scale) or scale <= 0:
        return None
    moves = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for a, b in ((LEFT_HIP, RIGHT_HIP), (LEFT_ANKLE, RIGHT_ANKLE)):
            y = mid_y(xy, a, b)
            y = y[np.isfinite(y)]
            if len(y) < 3:
                return None
            moves.append(float(np.percentile(y, 95) - np.percentile(y, 5)) / scale)
    return max(moves)


def hand_over_leg(xy: np.ndarray, t: np.ndarray, ev: Events) -> float:
    """Share of the decisive frames with a wrist on a knee or an ankle (within ``HAND_NEAR_LL``).
    MoveNet puts a knee or ankle hidden by a hand on the hand, which reads as a turned or
    implausible leg: that retake is then "keep your hands off your legs", not "face the camera"."""
    win = decisive_window(t, ev)
    scale = leg_length_px(xy)
    if not win.any() or not np.isfinite(scale) or scale <= 0:
        return 0.0
    wrist, elbow = xy[win][:, [LEFT_WRIST, RIGHT_WRIST]], xy[win][:, [LEFT_ELBOW, RIGHT_ELBOW]]
    w = wrist + HAND_BEYOND_WRIST * (wrist - elbow)  # the hand's middle, past the wrist keypoint
    legs = xy[win][:, [LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        d = np.hypot(*(w[:, :, None, :] - legs[:, None, :, :]).transpose(3, 0, 1, 2))
        near = np.nanmin(d.reshape(len(d), -1), axis=1) < HAND_NEAR_LL * scale
    return float(near.mean())


def with_failure(result: TrialResult, failure: Failure) -> TrialResult:
    """``result`` turned into a RETAKE that also carries ``failure`` (a gate judged outside
    :func:`run_gates`, on evidence only the pose pass has), its findings reduced to root causes
    like those of :func:`run_gates`; the metrics stay as measured."""
    quality = dict(result.quality)
    old = list(zip(quality.get("failed", []), quality.get("details", []), strict=False))
    failures = root_causes([failure] + [Failure(c, d) for c, d in old if c != failure.code])
    quality.update(failed=[f.code for f in failures], details=[f.detail for f in failures])
    return dataclasses.replace(result, verdict="RETAKE", reasons=tuple(dict.fromkeys(f.reason for f in failures)),
                               findings=tuple(dict.fromkeys(f.code for f in failures)), borderline=False,
                               refer=False, quality=quality,
                               metrics=jump_figures_shown(result.metrics, failures, result.events.source == "video"))


def without_failure(result: TrialResult, code: str) -> TrialResult:
    """``result`` (a RETAKE) without the failure ``code``, when other failures remain."""
    failed, details = list(result.quality.get("failed", [])), list(result.quality.get("details", []))
    if code not in failed or len(failed) < 2:
        return result
    keep = [Failure(c, d) for c, d in zip(failed, details, strict=False) if c != code]
    quality = dict(result.quality, failed=[f.code for f in keep], details=[f.detail for f in keep])
    return dataclasses.replace(result, reasons=tuple(dict.fromkeys(f.reason for f in keep)),
                               findings=tuple(dict.fromkeys(f.code for f in keep)), quality=quality)


def check_plausible(smooth_xy: np.ndarray, t: np.ndarray, ev: Events, th: Thresholds) -> Failure | None:
    """Angles beyond any human landing, or knees above hips / ankles above knees."""
    win = decisive_window(t, ev)
    if not win.any():
        return None
    xy = smooth_xy[win]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for leg in ("left", "right"):
            f = fppa_series(xy, leg)
            f = f[np.isfinite(f)]
            if len(f) and float(np.abs(f).max()) > th.implausible_fppa_deg:
                return Failure("implausible_pose", f"{leg} FPPA {float(np.abs(f).max()):.0f} deg")
        for hip, knee, ankle in ((LEFT_HIP, LEFT_KNEE, LEFT_ANKLE), (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE)):
            if np.any(xy[:, knee, 1] < xy[:, hip, 1]) or np.any(xy[:, ankle, 1] < xy[:, knee, 1]):
                return Failure("implausible_pose", "a knee above its hip or an ankle above its knee")
    return None


#: A failure that explains others: the athlete should hear the cause, not its symptoms. Someone
#: else in the picture makes the model follow them (their face, their legs, their landing); a turned body hides
#: a leg and an ankle and bends the 2D angles; feet out of the picture leave the legs half seen.
PROTOCOL = frozenset({"no_box", "no_drop", "wrong_speed", "jumped_off_box", "no_rebound", "hopping", "uneven_landing",
                      "implausible_jump", "off_mark"})
EXPLAINS: dict[str, frozenset[str]] = {
    # The video's events are then the other person's: their "landing" (and the peak flexion after
    # it) is what the camera, mat/video and protocol gates would judge.
    "second_person": frozenset({"turned_away", "feet_cut_off", "legs_not_seen", "implausible_pose",
                                "mat_video_disagree"}) | PROTOCOL,
    "turned_away": frozenset({"feet_cut_off", "legs_not_seen", "implausible_pose"}),
    # ... and leaves the ankles, which every protocol measure but the jump times reads, unseen
    # (not uneven_landing: a foot that lands late is seen late, and a toe-first foot's ankle is
    # the one the model is unsure of)
    "feet_cut_off": frozenset({"legs_not_seen", "implausible_pose", "no_box", "no_drop", "jumped_off_box",
                               "hopping", "off_mark"}),
    # Not a drop jump at all: what the mat, the timing and the landing gates say follows from it
    # (a crouch taken for a landing disagrees with the mat; hops have no still box phase).
    "hopping": frozenset({"no_box", "no_drop", "jumped_off_box", "no_rebound", "implausible_jump", "uneven_landing",
                          "off_mark", "mat_video_disagree", "off_mat"}),
    "wrong_speed": frozenset({"no_drop", "no_rebound", "implausible_jump", "hopping", "uneven_landing",
                              "mat_video_disagree"}),
    "no_box": frozenset({"no_drop", "jumped_off_box", "implausible_jump", "uneven_landing", "off_mark",
                         "mat_video_disagree", "off_mat"}),
    "jumped_off_box": frozenset({"no_drop", "implausible_jump", "mat_video_disagree"}),
    "no_drop": frozenset({"implausible_jump", "uneven_landing", "mat_video_disagree", "off_mat"}),
    "off_mark": frozenset({"mat_video_disagree", "off_mat"}),
    "no_rebound": frozenset({"implausible_jump"}),
    # the mat closes under the first foot, the video's contact waits for both
    "uneven_landing": frozenset({"mat_video_disagree"}),
}


#: Protocol failures after which the mat's or the video's contact, flight, height and RSI are not
#: those of a drop jump's rebound, so none is shown (a foot landing early or a step forward still
#: times a real rebound).
NO_JUMP_FIGURES = PROTOCOL - {"uneven_landing", "off_mark"}


def jump_figures_shown(metrics, failures: Sequence[Failure], from_video: bool = False):
    """``metrics`` without contact time, flight time, jump height and RSI when a failure says the
    events were not a drop jump's (``NO_JUMP_FIGURES``), or, timed from the video, someone else's
    (``second_person``; a mat still times the athlete); unchanged otherwise."""
    hide = NO_JUMP_FIGURES | ({"second_person"} if from_video else set())
    if not any(f.code in hide for f in failures):
        return metrics
    return dataclasses.replace(metrics, contact_time_s=None, flight_time_s=None, jump_height_m=None, rsi=None)


def root_causes(failures: list[Failure]) -> list[Failure]:
    """Drop the failures another one in the list explains (see ``EXPLAINS``), keeping order."""
    codes = {f.code for f in failures}
    hidden = set().union(*(EXPLAINS.get(c, frozenset()) for c in codes))
    return [f for f in failures if f.code not in hidden]


def run_gates(raw: Series, clean_xy: np.ndarray, smooth_xy: np.ndarray, ev: Events,
              mat_edges: Sequence[MatEdge] | None, frame_size: tuple[int, int] | None,
              th: Thresholds, dt: float | None = None, protocol: bool = True) -> tuple[list[Failure], dict]:
    """All gates, most specific first, reduced to root causes (``EXPLAINS``). Returns the
    failures and the quality figures measured. ``dt``: the camera's frame interval when known
    (the frames given may be a sparse plan). ``protocol`` False leaves the protocol gates out (a
    second pass on refined frames: they were judged on the first pass's one model)."""
    cam_dt = dt if dt is not None else raw.dt
    fps = {"fps": round(1.0 / cam_dt, 2) if cam_dt > 0 else None}
    feet = check_feet(raw, ev, frame_size)
    landing = check_landing(ev)
    slow = check_frame_rate(raw.t, ev, th, dt)
    switch = check_second_person(raw, ev)
    if landing is not None:
        found = [switch, feet if feet is not None else landing, slow]
        return root_causes([f for f in found if f is not None]), fps
    facing, figures = check_facing(clean_xy, raw.t, ev, th)
    visibility, plausible = check_visibility(raw, clean_xy, ev), check_plausible(smooth_xy, raw.t, ev, th)
    if facing is None:
        facing = check_partial_turn(figures, (visibility, plausible), th)
    hands = hand_over_leg(clean_xy, raw.t, ev)
    if hands >= HAND_SHARE:
        # a hand over the knee or ankle: the model reads (or puts) the leg's joints on the hand,
        # which a turn or an implausible angle would only be the symptom of
        hand = Failure("legs_not_seen", f"a hand over a knee or ankle in {hands:.0%} of the landing frames")
        if facing is not None and not facing.detail.startswith("face seen"):
            facing = None
        visibility, plausible = hand, None
    protocol_failures, proto_figures = check_protocol(raw.t, clean_xy, ev, cam_dt, mat_edges) if protocol else ([], {})
    protocol = protocol_failures
    failures: list[Failure] = [f for f in (switch, check_static_figure(clean_xy, ev, mat_edges)) if f is not None]
    failures += [Failure(f.code, f.detail) for f in protocol]
    if protocol and slow is not None and check_frame_rate(raw.t, dataclasses.replace(ev, initial_contact_s=None), th,
                                                          dt) is None:
        # a camera fast enough whose "contact to peak" was short: the events were not a drop
        # jump's (a late foot, a crouch), which the protocol failure names
        slow = None
    for f in (check_mat(ev, mat_edges, cam_dt, th, raw.t), slow, facing, feet, visibility, plausible):
        if f is not None:
            failures.append(f)
    firsts = {}
    for f in failures:  # one failure per code, the first (most specific) found
        firsts.setdefault(f.code, f)
    failures = root_causes(list(firsts.values()))
    win = decisive_window(raw.t, ev)
    ic, peak = ev.initial_contact_s, ev.peak_flexion_s
    quality = {
        **fps,
        "frames": len(raw.t),
        "frames_contact_to_peak": camera_frames(raw.t, ic, peak, dt) if peak is not None else None,
        **{k: (round(v, 3) if v is not None else None) for k, v in figures.items()},
        "lower_limb_seen_share": round(float(np.isfinite(raw.xy[win][:, [LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE,
                                                                          LEFT_ANKLE, RIGHT_ANKLE], 0]).mean()), 3)
        if win.any() else None,
        "standing_frames": (ev.standing[1] - ev.standing[0]) if ev.standing is not None else 0,
        "hand_on_leg_share": round(hands, 3),
        **proto_figures,
    }
    return failures, quality
