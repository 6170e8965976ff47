"""Two-pass scoring: track the clip with Lightning, re-run the frames that decide the verdict
with Thunder, and score the merged poses (DESIGN.md section 7).

Lightning is fast enough to follow every frame but its knees and ankles are a few pixels off,
which is degrees of FPPA. Thunder is about 3x slower per frame, so it only sees the frames the
metrics read: from ``before_s`` before initial contact to ``after_s`` past take-off
(the contact phase holds FPPA at contact, at peak flexion and its peak) and a few frames of the
standing window (the static baseline). Each refined frame is cropped around that frame's own
Lightning pose (:func:`kiosk.pose.crop.body_crop_region`), so Thunder needs no tracking state.

:func:`score_trial` is THE way a trial is scored from frames and poses (the CLI's analyze, the
station runtime, validate and the scoring benchmark call it), so refinement is done once, in one
place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kiosk.keypoints import KP, PoseFrame
from kiosk.pose.crop import CropRegion, body_crop_region

#: Seconds re-run before initial contact: the FPPA at contact is read from a line through the
#: last 50 ms of flight (:func:`kiosk.analysis.series.value_before`), plus one frame of slack.
BEFORE_S = 0.06
#: Seconds re-run after take-off, so the last contact frames are refined on both sides.
AFTER_S = 0.02
#: Without a mat the events come from the ankles' height (:mod:`kiosk.analysis.phases`): contact
#: from the last ~100 ms of the fall, take-off from the first ~80 ms of the rise. Both fits must
#: read one model's keypoints (Lightning and Thunder put the ankle a few pixels apart, which the
#: fits would take for motion), so video-only trials re-run this much more around the events.
VIDEO_BEFORE_S = 0.15
VIDEO_AFTER_S = 0.2
#: A refined left/right pair closer than this share of its first-pass distance has collapsed.
COLLAPSED = 0.35
PAIRS = tuple((KP[f"left_{n}"], KP[f"right_{n}"]) for n in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"))
#: Where no landing was found and the tracked figure stood still, the second-body probe looks at
#: these shares of the clip.
STILL_PROBES = (0.25, 0.5, 0.75)
#: Standing frames re-run for the static baseline, spread over the standing window.
STANDING_FRAMES = 6


@dataclass(frozen=True)
class Refinement:
    """Which frames were re-run with which model (positions in the pose list)."""

    model: str
    positions: tuple[int, ...]


def refine_positions(t: np.ndarray, initial_contact_s: float | None, takeoff_s: float | None,
                     standing: tuple[int, int] | None, *, before_s: float = BEFORE_S,
                     after_s: float = AFTER_S, standing_frames: int = STANDING_FRAMES) -> np.ndarray:
    """Sorted positions (into the pose list) of the frames that decide the verdict.

    Nothing is chosen without an initial contact: a trial without one is a RETAKE whatever the
    poses say, so refining would only spend time.
    """
    t = np.asarray(t, dtype=np.float64)
    if initial_contact_s is None or not len(t):
        return np.zeros(0, dtype=int)
    first = max(int(np.searchsorted(t, initial_contact_s - before_s, side="left")) - 1, 0)
    end_t = (takeoff_s if takeoff_s is not None else float(t[-1])) + after_s
    last = int(np.searchsorted(t, end_t, side="right"))
    chosen = set(range(first, min(last, len(t))))
    if standing is not None and standing_frames > 0:
        a, b = standing
        if b > a:
            chosen.update(int(i) for i in np.unique(np.linspace(a, b - 1, min(standing_frames, b - a)).round()))
    return np.array(sorted(chosen), dtype=int)


#: ``images(positions)`` -> {position: RGB image}: the frames to refine, fetched together so a
#: video can be decoded once more in one pass (the CLI) or a ring buffer indexed (the station).
ImagesFor = Callable[[Sequence[int]], Mapping[int, np.ndarray]]


def images_from_list(images: Sequence[np.ndarray]) -> ImagesFor:
    """An :data:`ImagesFor` over frames already in memory, in pose order."""
    return lambda positions: {int(i): images[int(i)] for i in positions}


def images_from_dict(images: Mapping[int, np.ndarray]) -> ImagesFor:
    """An :data:`ImagesFor` over frames already fetched, by position (missing ones are left out)."""
    return lambda positions: {int(i): images[int(i)] for i in positions if int(i) in images}


def images_from_source(path: str) -> ImagesFor:
    """An :data:`ImagesFor` that decodes a clip once more, in one pass, keeping the requested
    frames (positions are decode order, as :func:`kiosk.pose.base.estimate_frames` saw them)."""

    def images(positions: Sequence[int]) -> Mapping[int, np.ndarray]:
        from kiosk.media import open_source

        want = {int(i) for i in positions}
        out: dict[int, np.ndarray] = {}
        _, frames = open_source(path)
        for i, frame in enumerate(frames):
            if i in want:
                out[i] = frame.image
                if len(out) == len(want):
                    break
        return out

    return images


def refine_poses(poses: Sequence[PoseFrame], positions: Sequence[int], images: ImagesFor,
                 estimator, regions: Mapping[int, CropRegion] | None = None) -> list[PoseFrame]:
    """``poses`` with the frames at ``positions`` re-estimated by ``estimator`` (a
    :class:`~kiosk.pose.movenet.MoveNetEstimator`), each on the square around its own first-pass
    pose, or on ``regions[position]`` where given (the landing square, :mod:`kiosk.pose.landing`)."""
    out = list(poses)
    got = images([int(i) for i in positions])
    for i in positions:
        if int(i) not in got:  # the source ended early (a truncated file): keep the first pass
            continue
        img = got[int(i)]
        h, w = img.shape[:2]
        region = (regions or {}).get(int(i)) or body_crop_region(poses[i].keypoints, w, h, min_score=estimator.min_score,
                                                                  margin=estimator.crop_margin)
        kps = np.asarray(estimator.infer_region(img, region), dtype=np.float32)
        # A joint the second model is unsure of but the first saw keeps the first one's answer:
        # Thunder's ankle scores dip on some shoes, and a dropped ankle is a RETAKE, not a refinement.
        first = np.asarray(poses[i].keypoints, dtype=np.float32)
        keep = (kps[:, 2] < estimator.min_score) & (first[:, 2] > kps[:, 2])
        kps[keep] = first[keep]
        # Thunder now and then puts both knees (or ankles) on one knee; the first pass had them
        # apart. Such a collapsed pair reads as a 50-70 deg FPPA, so that pair keeps the first pass.
        for a, b in PAIRS:
            apart = float(np.hypot(*(first[a, :2] - first[b, :2])))
            if float(np.hypot(*(kps[a, :2] - kps[b, :2]))) < COLLAPSED * apart:
                kps[[a, b]] = first[[a, b]]
        out[i] = PoseFrame(poses[i].index, poses[i].t, kps)
    return out


def second_body(result, poses: Sequence[PoseFrame], images: ImagesFor | None, estimator, events=None):
    """``result`` made a RETAKE ``second_person`` when a few frames around the landing, with the
    athlete masked out, still show a person (:func:`kiosk.pose.landing.probe_other_person`,
    :func:`kiosk.analysis.gates.check_second_body`). Needed since the landing square keeps the
    model on the athlete: a passer-by no longer shows as the body jumping, yet still hides and
    bends the athlete's joints. ``estimator`` is the first-pass model (a few Lightning runs);
    without it or ``images`` the result is returned as it is. ``events``: those the frames were
    fetched for (the first pass's), else the result's."""
    ev = events if events is not None else result.events
    if estimator is None or images is None or not hasattr(estimator, "infer_region") \
            or "second_person" in result.findings:
        return result
    from kiosk.analysis import series as ser
    from kiosk.analysis.gates import STATIC_LL, body_motion, check_second_body, with_failure
    from kiosk.pose.landing import probe_beside, probe_other_person, probe_positions

    t = np.array([p.t for p in poses], dtype=np.float64)
    if ev.initial_contact_s is not None:
        positions = probe_positions(t, ev.initial_contact_s, ev.takeoff_s)
    else:
        # No landing: if the model followed a figure that never moved (a poster, a screen, a
        # mirror image), look for the jumper beside it on a few frames across the clip.
        moved = body_motion(ser.from_frames(poses, getattr(estimator, "min_score", 0.3)).xy) if len(poses) > 1 else None
        if moved is None or moved >= STATIC_LL:
            return result
        positions = sorted({int(round(q * (len(t) - 1))) for q in STILL_PROBES})
    got = images(positions)
    for i in positions:  # the whole frame first, then beside the athlete; stop at the first person
        if i not in got:
            continue
        found = probe_other_person(estimator, got[i], poses[i].keypoints)
        if found is None:
            continue
        kps, box = found
        failure = check_second_body([(float(t[i]), kps, box)]) or \
            check_second_body([(float(t[i]), probe_beside(estimator, got[i], box), box)])
        if failure is not None:
            return with_failure(result, failure)
    return result


def keep_switch(result, tracked):
    """``result`` with what only the tracked poses (the first pass, one model on every frame)
    can tell: their ``second_person`` switch leads where they had one (the frame-by-frame track is
    what jumped to the other body, and its time is the switch's; the landing window re-posed on
    one square around a passer-by's "landing" would date it to that window's first frame), and
    their protocol failures are the trial's (:mod:`kiosk.analysis.protocol` compares the standing
    frames with the fall and the flight: the refined window, posed by another model a few pixels
    apart, would mix two models' biases into one comparison; the later passes skip them)."""
    from kiosk.analysis.gates import PROTOCOL, Failure, with_failure, without_failure

    failed = tracked.quality.get("failed", [])
    details = tracked.quality.get("details", [])
    for code, detail in zip(failed, details, strict=False):
        if code in PROTOCOL and code not in result.findings:
            result = with_failure(result, Failure(code, detail))
    if PROTOCOL & set(result.findings) and "camera_too_slow" not in failed:
        # a camera fast enough whose "contact to peak" came out short: the events were not a
        # drop jump's, which the protocol failure names (as run_gates does on one pass)
        result = without_failure(result, "camera_too_slow")
    if "second_person" in failed:
        result = with_failure(result, Failure("second_person", details[failed.index("second_person")]))
    return result


def score_trial(poses: Sequence[PoseFrame], mat_edges, *, images: ImagesFor | None = None,
                refiner=None, max_refined: int | None = None, tracker=None, landing: CropRegion | None = None,
                **analyze_kwargs):
    """Score one trial; with ``refiner`` (and ``images``), re-run the decisive frames first.

    ``tracker`` (the first-pass estimator, with ``images``): poses tracked frame by frame get
    their decisive window re-posed on the landing square first (:mod:`kiosk.pose.landing`), as
    the station poses it, so both read the same keypoints. ``landing``: that square when the
    caller already posed the window on it (the station); the refiner uses it too. With
    ``tracker`` and ``images`` a few frames around the landing are also posed with the athlete
    masked out, to find a second person (:func:`second_body`; pass both from the station too).

    Returns ``(TrialResult, poses used, Refinement | None)``. The first pass finds the events
    (from the mat when given) on the tracked poses; the result is that of the second pass on the
    merged poses. ``analyze_kwargs`` go to :func:`kiosk.analysis.analyze_trial`.
    Without a mat (``mat_edges`` None) the window runs from ``VIDEO_BEFORE_S`` before contact to
    ``VIDEO_AFTER_S`` past take-off, so the ankles' fall and rise that time the events come from
    one model.
    ``max_refined`` is a time budget (the station: how many refiner runs fit before its verdict
    deadline): with more decisive frames than that, none is refined, since a window refined only
    in part would mix two models' biases inside the metrics' own fits.
    """
    from kiosk.analysis import analyze_trial

    first = analyze_trial(poses, mat_edges, **analyze_kwargs)
    tracked = first
    ev = first.events
    t = np.array([p.t for p in poses], dtype=np.float64)
    span = {"before_s": VIDEO_BEFORE_S, "after_s": VIDEO_AFTER_S} if mat_edges is None else {}
    if tracker is not None and hasattr(tracker, "infer_region") and images is not None and landing is None \
            and ev.initial_contact_s is not None:
        from kiosk.pose.landing import probe_positions, repose_landing, window_positions

        # one decode for the window, the refiner's and the probes' frames (a video is read once more, not twice)
        want = set(window_positions(t, ev.initial_contact_s, ev.takeoff_s, **span).tolist())
        want |= set(probe_positions(t, ev.initial_contact_s, ev.takeoff_s))
        want |= set(refine_positions(t, ev.initial_contact_s, ev.takeoff_s, ev.standing, **span).tolist())
        got = dict(images(sorted(want)))
        images = images_from_dict(got)
        poses, landing = repose_landing(poses, got, tracker, ev.initial_contact_s, ev.takeoff_s, **span)
        first = analyze_trial(poses, mat_edges, **({"standing": ev.standing, "protocol": False} | analyze_kwargs))
    if refiner is None or images is None:
        return keep_switch(second_body(first, poses, images, tracker, ev), tracked), list(poses), None
    positions = refine_positions(t, ev.initial_contact_s, ev.takeoff_s, ev.standing, **span)
    if not len(positions) or (max_refined is not None and len(positions) > max_refined):
        return keep_switch(second_body(first, poses, images, tracker, ev), tracked), list(poses), None
    regions = None
    if landing is not None and ev.initial_contact_s is not None:
        from kiosk.pose.landing import window_positions

        regions = dict.fromkeys(window_positions(t, ev.initial_contact_s, ev.takeoff_s, **span).tolist(), landing)
    merged = refine_poses(poses, positions, images, refiner, regions)
    # The standing window stays the one the tracker's series showed: a few refined frames spread
    # over it step by the two models' few-pixel offset, which reads as motion and lost the
    # static baseline in 3 of 60 synthetic trials.
    result = analyze_trial(merged, mat_edges, **({"standing": ev.standing, "protocol": False} | analyze_kwargs))
    result = keep_switch(second_body(result, merged, images, tracker, ev), tracked)
    return result, merged, Refinement(getattr(refiner, "name", "unknown"), tuple(int(i) for i in positions))
