"""Pictures for the station screens: the how-to loop, the peak-valgus freeze-frame, the replay.

All of it is served as small JPEG frames that the page flips through (a "flipbook"), not as
video: JPEG decodes in every browser build, including Chromium builds without H.264, and the
slow-motion replay is then just a slower flip rate. Frames are prepared once per clip or trial
and cached in memory (a few hundred kB), so a screen never waits on a decoder twice.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

#: How-to loop: frames per second the page flips at, and the longest side of each frame.
HOWTO_FPS = 15
HOWTO_MAX_SIDE = 480
#: Slow motion: the replay plays at 1/SLOWMO of real time.
SLOWMO = 4
REPLAY_MAX_SIDE = 480
REPLAY_MAX_FRAMES = 48

_lock = threading.Lock()


def downscale(image: np.ndarray, max_side: int) -> np.ndarray:
    """The image shrunk (never enlarged) so its longest side is ``max_side``."""
    import cv2

    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def pick_evenly(times: list[float], fps: float) -> list[int]:
    """Indices of frames spaced ~1/fps apart in time, from frames with timestamps ``times``."""
    picked: list[int] = []
    next_t = None
    for i, t in enumerate(times):
        if next_t is None or t >= next_t - 1e-6:
            picked.append(i)
            next_t = t + 1.0 / fps
    return picked


def howto_frames(app: Any) -> list[bytes] | None:
    """The how-to loop clip as JPEG frames at :data:`HOWTO_FPS`, decoded once per app."""
    from kiosk.media import encode_jpeg, open_source

    path = app.config.get("STATION_HOWTO_CLIP")
    if not path:
        return None
    with _lock:
        cached = app.extensions.get("station_howto")
        if cached is not None:
            return cached
        _, frames = open_source(path)
        decoded = [(f.t, f.image) for f in frames]
        keep = pick_evenly([t for t, _ in decoded], HOWTO_FPS)
        out = [encode_jpeg(downscale(decoded[i][1], HOWTO_MAX_SIDE), 75) for i in keep]
        app.extensions["station_howto"] = out
        return out


def annotate_peak(image: np.ndarray, keypoints: np.ndarray, angles: dict[str, float | None], *,
                  min_score: float = 0.3, flagged: tuple[str, ...] = ()) -> np.ndarray:
    """The freeze-frame: skeleton, thick hip-knee-ankle lines and each leg's FPPA by its knee;
    a thick ring around each knee in ``flagged`` (the athlete's own sides that moved inward).

    Labels name the athlete's own side ("L" is the athlete's left leg, which is on the image's
    right in the unmirrored frontal view) and sit on the outer side of each knee.
    """
    import cv2

    from kiosk.keypoints import LEG_JOINTS
    from kiosk.overlay import LEFT_COLOR, RIGHT_COLOR, draw_pose

    out = draw_pose(image, keypoints, min_score=min_score, labels=False)
    kps = np.asarray(keypoints, dtype=np.float64)
    h, w = out.shape[:2]
    unit = max(min(h, w), 120)
    thick = max(2, round(unit / 110))
    scale = unit / 420.0
    for side, color in (("left", LEFT_COLOR), ("right", RIGHT_COLOR)):
        hip, knee, ankle, other_hip = LEG_JOINTS[side]
        if not (kps[[hip, knee, ankle], 2] >= min_score).all():
            continue
        pts = [tuple(int(round(v)) for v in kps[j, :2]) for j in (hip, knee, ankle)]
        if side in flagged:
            ring = max(12, round(unit * 0.07))
            cv2.circle(out, pts[1], ring, (0, 0, 0), thick * 3, cv2.LINE_AA)
            cv2.circle(out, pts[1], ring, (255, 176, 32), thick * 2, cv2.LINE_AA)
        cv2.line(out, pts[0], pts[1], color, thick, cv2.LINE_AA)
        cv2.line(out, pts[1], pts[2], color, thick, cv2.LINE_AA)
        # the straight hip-ankle reference line, thin and white: the knee's offset from it is the valgus
        cv2.line(out, pts[0], pts[2], (255, 255, 255), max(1, thick // 2), cv2.LINE_AA)
        angle = angles.get(side)
        text = f"{'L' if side == 'left' else 'R'} {angle:+.0f} deg" if angle is not None else ("L" if side == "left" else "R")
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, thick - 1))
        # Outward = away from the other hip, judged at the hips: a valgus knee may cross the midline.
        outward = 1 if kps[hip, 0] >= kps[other_hip, 0] else -1
        edge = max(kps[knee, 0], kps[hip, 0]) if outward > 0 else min(kps[knee, 0], kps[hip, 0])
        x = int(edge + outward * unit * 0.04)
        x = x if outward > 0 else x - tw
        x = min(max(x, 2), w - tw - 2)
        y = min(max(int(kps[knee, 1] + th / 2), th + 2), h - 4)
        cv2.rectangle(out, (x - 4, y - th - 4), (x + tw + 4, y + 6), (0, 0, 0), -1)
        cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, max(1, thick - 1), cv2.LINE_AA)
    return out


def peak_picture(record: Any, max_side: int = 640) -> dict | None:
    """The trial's frame at the deepest point of the landing (peak knee flexion: the moment the
    peak-angle rule reads), downscaled, its keypoints on that scale and both legs' angles then:
    kept per jump so the summary can draw the middle jump with the flagged knee ringed."""
    result = record.result or {}
    legs = result.get("legs") or {}
    t_peak = (result.get("events") or {}).get("peak_flexion_s")
    angle_key = "fppa_peak_flexion"
    if t_peak is None:   # no flexion time: the worse leg's own peak, as the coach's picture
        from kiosk.web.station.recorder import peak_frame

        pk = peak_frame(record)
        if pk is None:
            return None
        t_peak, angle_key = record.poses[pk[0]].t, "fppa_peak"
    if not record.poses:
        return None
    times = np.array([p.t for p in record.poses])
    pose = record.poses[int(np.argmin(np.abs(times - float(t_peak))))]
    frame = next((f for f in record.frames if f.index == pose.index), None)
    if frame is None:
        return None
    angles = {side: (legs.get(side) or {}).get(angle_key, (legs.get(side) or {}).get("fppa_peak")) for side in ("left", "right")}
    small = downscale(frame.image, max_side)
    kps = np.array(pose.keypoints, dtype=np.float32)
    kps[:, :2] *= small.shape[1] / frame.image.shape[1]
    return {"image": small, "keypoints": kps, "angles": angles}


def pick_jpeg(ui: dict | None, name: str) -> bytes | None:
    """``freeze`` or ``replay-N`` from a trial's prepared pictures."""
    if not ui:
        return None
    if name == "freeze":
        return ui.get("freeze")
    if name.startswith("replay-") and name[7:].isdigit():
        frames = ui.get("replay") or []
        i = int(name[7:])
        return frames[i] if i < len(frames) else None
    return None
