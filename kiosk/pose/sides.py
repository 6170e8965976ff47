"""Left/right consistency of a keypoint series: undo MoveNet's per-frame side swaps.

MoveNet SinglePose sometimes labels a frontal athlete as if seen from behind: in single frames
(or runs of frames) every left/right pair comes out swapped, so the athlete's left hip, knee and
ankle sit where the right ones are. On a frontal 640x480 clip that looks like all lower-limb
joints jumping 30-55 px sideways, "growing down the body" because the ankles are further apart
than the hips; a one-pixel change of the crop square can tip the model from one labelling to the
other. Nothing is wrong with the pixels or the crop mapping: the labels are. FPPA and KASR are
per-leg measures, so a swap turns a valgus knee into a varus one.

The fix is a relabelling, never a mirroring of frames: for every left/right pair independently,
choose per frame "as detected" or "swapped" so that the series is

* continuous in time (a joint does not jump to where its partner was a frame ago),
* on the frontal side: the kiosk films the athlete from the front, so their left hip, shoulder,
  ankle... is on the image's right. This is the kiosk's set-up, not a measurement: on the
  synthetic athlete MoveNet labels whole standing phases as seen from behind (3 of 60 trials), so
  a side measured on the standing frames would carry the swap through the landing. Facing away
  is the face-based gate's job. ``side=None`` measures it on the standing frames instead,
* for knees and elbows, which may legitimately cross the midline (a valgus knee does), attached
  to their own limb: each lies nearer the midpoint of its own hip and ankle (shoulder and wrist).

The choice is a two-state Viterbi path per pair, so a lone confusing frame cannot flip a run.
Pure numpy; costs are in units of the athlete's median torso length, so they do not depend on
the image size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kiosk.keypoints import KP, NUM_KEYPOINTS, PoseFrame

#: Left/right pairs whose image order is fixed for a standing, roughly frontal athlete.
ORIENTED_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (KP[f"left_{n}"], KP[f"right_{n}"]) for n in ("hip", "shoulder", "ankle", "ear", "eye", "wrist"))
#: Pairs that may cross the midline, each with the pairs at the two ends of its limb.
CHAIN_PAIRS: tuple[tuple[tuple[int, int], tuple[int, int], tuple[int, int]], ...] = (
    ((KP["left_knee"], KP["right_knee"]), (KP["left_hip"], KP["right_hip"]), (KP["left_ankle"], KP["right_ankle"])),
    ((KP["left_elbow"], KP["right_elbow"]), (KP["left_shoulder"], KP["right_shoulder"]),
     (KP["left_wrist"], KP["right_wrist"])),
)
#: Seconds at the start of a series taken as "standing" for the reference side.
REFERENCE_S = 0.4
#: Cost weights (per torso length): moving between frames, being on the wrong image side,
#: a knee/elbow far from its own limb. The side term is a hinge: zero on the right side.
W_MOTION = 1.0
W_SIDE = 2.0
W_LIMB = 1.0
#: Joints scored below this take no part in a cost (their position is a guess).
MIN_SCORE = 0.1


def _torso_scale(kps: np.ndarray) -> float:
    """Median shoulder-midpoint to hip-midpoint distance in pixels (1.0 when unknown)."""
    sh = kps[:, [KP["left_shoulder"], KP["right_shoulder"]], :2].mean(axis=1)
    hp = kps[:, [KP["left_hip"], KP["right_hip"]], :2].mean(axis=1)
    d = np.hypot(*(hp - sh).T)
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.median(d)) if len(d) else 1.0


def reference_side(kps: np.ndarray, t: np.ndarray | None = None, reference_s: float = REFERENCE_S) -> int:
    """+1 when the standing frames show the athlete's left on the image's right, -1 when on the
    left; +1 (the kiosk's frontal set-up) when they do not tell.

    A vote over the first ``reference_s`` seconds (the first quarter of the frames without
    times) of the score-weighted hip and shoulder order, so a few swapped frames do not decide it.
    """
    n = len(kps)
    if n == 0:
        return 1
    if t is not None and len(t) == n:
        first = np.asarray(t) <= float(t[0]) + reference_s
    else:
        first = np.arange(n) < max(1, n // 4)
    votes = 0.0
    for left, right in ((KP["left_hip"], KP["right_hip"]), (KP["left_shoulder"], KP["right_shoulder"])):
        dx = kps[first, left, 0] - kps[first, right, 0]
        w = np.minimum(kps[first, left, 2], kps[first, right, 2])
        ok = np.isfinite(dx) & np.isfinite(w)
        votes += float(np.sum(np.sign(dx[ok]) * w[ok]))
    return -1 if votes < 0 else 1


def _viterbi(unary: np.ndarray, pair_cost: np.ndarray) -> np.ndarray:
    """Cheapest state path (N,) of a 2-state chain: ``unary`` (N, 2), ``pair_cost`` (N-1, 2, 2)
    indexed [t, state at t, state at t+1]."""
    n = len(unary)
    acc = unary[0].copy()
    back = np.zeros((n, 2), dtype=np.int8)
    for i in range(1, n):
        total = acc[:, None] + pair_cost[i - 1]  # (from, to)
        back[i] = np.argmin(total, axis=0)
        acc = total[back[i], [0, 1]] + unary[i]
    path = np.zeros(n, dtype=np.int8)
    path[-1] = int(np.argmin(acc))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def _labelled(kps: np.ndarray, pair: tuple[int, int]) -> np.ndarray:
    """(N, 2 states, 2 joints, 3): the pair as detected (state 0) and swapped (state 1)."""
    a, b = pair
    return np.stack([kps[:, [a, b]], kps[:, [b, a]]], axis=1)


def _motion_cost(lab: np.ndarray, scale: float) -> np.ndarray:
    """(N-1, 2, 2): how far the pair's joints move from frame t (state s) to t+1 (state s')."""
    xy, score = lab[..., :2], lab[..., 2]
    ok = np.isfinite(xy).all(axis=-1) & (score >= MIN_SCORE)  # (N, 2, 2)
    step = np.linalg.norm(xy[:-1, :, None] - xy[1:, None, :], axis=-1)  # (N-1, s, s', joint)
    both = ok[:-1, :, None] & ok[1:, None, :]
    return W_MOTION * np.where(both, step, 0.0).sum(axis=-1) / scale


def consistent_sides(keypoints: np.ndarray, t: np.ndarray | None = None, *,
                     side: int | None = 1) -> tuple[np.ndarray, np.ndarray]:
    """Relabel left/right per frame and pair; returns (keypoints (N, 17, 3), swapped (N, 17) bool).

    ``side`` +1: the athlete's left belongs on the image's right (frontal, the kiosk); -1 the
    other way; None: as the standing frames show (:func:`reference_side`).

    ``swapped[i, j]`` is True where joint ``j`` of frame ``i`` now carries its partner's
    detection. Positions and scores travel with their labels; nothing is mirrored.
    """
    kps = np.array(keypoints, dtype=np.float64, copy=True)
    if kps.ndim != 3 or kps.shape[1:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"expected keypoints of shape (N, 17, 3), got {kps.shape}")
    n = len(kps)
    swapped = np.zeros((n, NUM_KEYPOINTS), dtype=bool)
    if n == 0:
        return kps, swapped
    scale = _torso_scale(kps)
    if side is None:
        side = reference_side(kps, t)

    def apply(pair: tuple[int, int], path: np.ndarray) -> None:
        a, b = pair
        rows = np.flatnonzero(path == 1)
        kps[np.ix_(rows, [a, b])] = kps[np.ix_(rows, [b, a])]
        swapped[rows, a] = swapped[rows, b] = True

    for pair in ORIENTED_PAIRS:
        lab = _labelled(kps, pair)  # (N, s, joint, 3)
        dx = (lab[:, :, 0, 0] - lab[:, :, 1, 0]) * side  # > 0 on the reference side
        seen = (np.minimum(lab[:, :, 0, 2], lab[:, :, 1, 2]) >= MIN_SCORE) & np.isfinite(dx)
        unary = W_SIDE * np.where(seen, np.maximum(-dx, 0.0), 0.0) / scale
        apply(pair, _viterbi(unary, _motion_cost(lab, scale)))

    for pair, (top_a, top_b), (end_a, end_b) in CHAIN_PAIRS:
        lab = _labelled(kps, pair)
        mids = np.stack([(kps[:, top_a, :2] + kps[:, end_a, :2]) / 2, (kps[:, top_b, :2] + kps[:, end_b, :2]) / 2],
                        axis=1)  # (N, joint, 2): own-limb midpoints, already side-consistent
        dist = np.linalg.norm(lab[..., :2] - mids[:, None], axis=-1)  # (N, s, joint)
        ok = (lab[..., 2] >= MIN_SCORE) & np.isfinite(dist)
        unary = W_LIMB * np.where(ok, dist, 0.0).sum(axis=-1) / scale
        apply(pair, _viterbi(unary, _motion_cost(lab, scale)))
    return kps, swapped


def consistent_side_frames(frames: Sequence[PoseFrame]) -> list[PoseFrame]:
    """:func:`consistent_sides` over pose frames; frames needing no change are returned as is."""
    if not frames:
        return []
    kps = np.stack([np.asarray(f.keypoints, dtype=np.float64) for f in frames])
    fixed, swapped = consistent_sides(kps, np.array([f.t for f in frames], dtype=np.float64))
    return [f if not swapped[i].any() else PoseFrame(f.index, f.t, fixed[i].astype(np.float32))
            for i, f in enumerate(frames)]
