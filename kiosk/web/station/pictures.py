"""The pictures of a finished trial: the result screen's freeze-frame and slow-motion frames, and
the media stored with it (``peak.jpg`` annotated, ``replay.mp4`` of the landing with the skeleton)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.web.station import media


def peak_frame(record: Any) -> tuple[int, dict[str, float | None]] | None:
    """Index into ``record.poses`` of the peak-valgus frame (the worse leg's), and both legs' peaks."""
    if not record.poses:
        return None
    legs = record.result.get("legs") or {}
    angles = {side: (legs.get(side) or {}).get("fppa_peak") for side in ("left", "right")}
    known = {s: a for s, a in angles.items() if a is not None}
    if known:
        worse = max(known, key=lambda s: known[s])
        t_peak = (legs.get(worse) or {}).get("peak_fppa_s")
    else:
        t_peak = None
    if t_peak is None:
        t_peak = (record.result.get("events") or {}).get("peak_flexion_s")
    if t_peak is None:
        return None
    times = np.array([p.t for p in record.poses])
    return int(np.argmin(np.abs(times - float(t_peak)))), angles


def landing_frames(record: Any) -> list[int]:
    """Indices into ``record.frames`` from just before contact to take-off: the replayed landing."""
    events = record.result.get("events") or {}
    ic, off = events.get("initial_contact_s"), events.get("takeoff_s")
    times = [f.t for f in record.frames]
    if ic is None:
        return list(range(len(times)))[-media.REPLAY_MAX_FRAMES:]
    lo, hi = float(ic) - 0.25, float(off) + 0.05 if off is not None else float(ic) + 0.5
    picked = [i for i, t in enumerate(times) if lo <= t <= hi]
    return picked[: media.REPLAY_MAX_FRAMES]


def screen_pictures(rec: Any, min_score: float) -> dict:
    """``{"freeze": jpeg, "replay": [jpeg...], "replay_fps": f}`` for the result screen."""
    from kiosk.media import encode_jpeg
    from kiosk.overlay import draw_pose

    out: dict[str, Any] = {"freeze": None, "replay": [], "replay_fps": 0.0}
    pk = peak_frame(rec)
    if pk is not None:
        i, angles = pk
        pose = rec.poses[i]
        frame = next((f for f in rec.frames if f.index == pose.index), None)
        if frame is not None:
            out["freeze"] = encode_jpeg(media.annotate_peak(frame.image, pose.keypoints, angles, min_score=min_score), 82)
    by_index = {p.index: p for p in rec.poses}
    picked = landing_frames(rec)
    for i in picked:
        f = rec.frames[i]
        pose = by_index.get(f.index)
        img = draw_pose(f.image, pose.keypoints, min_score=min_score) if pose is not None else f.image
        out["replay"].append(encode_jpeg(media.downscale(img, media.REPLAY_MAX_SIDE), 72))
    if len(picked) > 1:
        dt = float(np.median(np.diff([rec.frames[i].t for i in picked])))
        out["replay_fps"] = (1.0 / dt) / media.SLOWMO if dt > 0 else 8.0
    return out


def stored_media(rec: Any, min_score: float) -> dict[str, bytes]:
    """``peak.jpg`` (annotated) and ``replay.mp4`` (the landing with the skeleton) for the coach."""
    from kiosk.media import VideoWriter, encode_jpeg
    from kiosk.overlay import draw_pose

    files: dict[str, bytes] = {}
    pk = peak_frame(rec)
    if pk is not None:
        pose = rec.poses[pk[0]]
        frame = next((f for f in rec.frames if f.index == pose.index), None)
        if frame is not None:
            files["peak.jpg"] = encode_jpeg(media.annotate_peak(frame.image, pose.keypoints, pk[1], min_score=min_score), 85)
    picked = landing_frames(rec)
    if len(picked) >= 2:
        by_index = {p.index: p for p in rec.poses}
        h, w = rec.frames[picked[0]].image.shape[:2]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "replay.mp4"
            # Written at a quarter of the real rate: the file itself is the slow-motion replay.
            fps = max(1.0, 1.0 / max(1e-3, float(np.median(np.diff([rec.frames[i].t for i in picked])))) / media.SLOWMO)
            with VideoWriter(path, fps, w, h) as vw:
                for i in picked:
                    f = rec.frames[i]
                    pose = by_index.get(f.index)
                    vw.write(draw_pose(f.image, pose.keypoints, min_score=min_score) if pose is not None else f.image)
            files["replay.mp4"] = path.read_bytes()
    return files
