"""``jumpkiosk analyze``: MoveNet keypoints for clips and photos, as JSON, an overlay, or a summary.

The pose part is :func:`run_pose` (one source -> its info and per-frame keypoints), which the
landing analysis (``--mat``/``--json``) builds on; this module keeps argument parsing, output
files and the printed summary apart from it so those options can be added without touching the
pose code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kiosk.errors import KioskError, MediaError
from kiosk.keypoints import PoseFrame

OVERLAY_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
OVERLAY_VIDEO_SUFFIXES = {".mp4"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze", help="run MoveNet on clips or photos and write keypoints or a skeleton overlay",
        description="Run MoveNet pose estimation on clips (mp4/avi/mov/mkv/GIF) or photos (png/jpg). "
                    "Without output options, prints a per-source summary.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="clips or photos to analyse")
    p.add_argument("--model", choices=("lightning", "thunder", "lightning_int8", "thunder_int8"), default=None,
                   help="MoveNet model (default: [pose] model from the config, lightning)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="interpreter threads (default: [pose] threads from the config, 4)")
    p.add_argument("--no-track", action="store_true",
                   help="run every frame on the whole frame instead of cropping around the last pose")
    p.add_argument("--keypoints-out", metavar="FILE.json", help="write per-frame keypoints of every source to this JSON file")
    p.add_argument("--overlay-out", metavar="FILE.mp4",
                   help="draw the skeleton onto the (single) input; .mp4 for clips, .png/.jpg also for a photo")
    p.add_argument("--mat", metavar="MAT.csv", help="contact-mat edges for the (single) clip; without it events come from the video")
    p.add_argument("--json", action="store_true", help="score the landing and print the trial result as JSON")
    from kiosk.commands.score import add_profile_arguments

    add_profile_arguments(p)  # --sex, --birth-year, --test-year: the limit that applies (shared with `score`)
    p.set_defaults(func=run)


# --- the pose part, reused by the landing analysis ---------------------------------------------

def run_pose(
    path: str | Path,
    estimator,
    *,
    track: bool = True,
    on_frame: Callable | None = None,
    on_info: Callable | None = None,
    progress: bool = True,
) -> tuple:
    """Decode one clip or photo and estimate every frame: ``(SourceInfo, list[PoseFrame])``.

    ``on_info(info)`` is called once the source is opened, before any frame is decoded;
    ``on_frame(frame, pose)`` sees each decoded :class:`~kiosk.media.Frame` with its result (the
    overlay writer uses it, so frames are never all held in memory). Tracking state is reset per
    source. Bad input raises :class:`~kiosk.errors.MediaError`.
    """
    from tqdm import tqdm

    from kiosk.media import open_source
    from kiosk.pose.base import estimate_frames

    info, frames = open_source(path)
    if on_info is not None:
        on_info(info)
    show = progress and info.kind == "video" and sys.stderr.isatty()
    bar = tqdm(frames, total=info.frame_count, desc=Path(path).name, unit="frame",
               file=sys.stderr, disable=not show, leave=False)
    try:
        poses = estimate_frames(estimator, bar, track=track, on_frame=on_frame)
    finally:
        bar.close()
    if not poses:
        raise MediaError(f"{path}: no frames")
    return info, poses


def mean_scores(frames: list[PoseFrame]) -> dict[str, float]:
    """Mean model score of hips, knees and ankles (both sides) over the frames."""
    from kiosk.keypoints import KP

    kps = np.stack([f.keypoints for f in frames])
    groups = {"hips": ("left_hip", "right_hip"), "knees": ("left_knee", "right_knee"),
              "ankles": ("left_ankle", "right_ankle")}
    return {g: float(kps[:, [KP[n] for n in names], 2].mean()) for g, names in groups.items()}


def summary_line(info, frames: list[PoseFrame]) -> str:
    scores = ", ".join(f"{g} {v:.2f}" for g, v in mean_scores(frames).items())
    if info.kind == "video":
        span = frames[-1].t - frames[0].t
        fps = f" at {info.fps:.1f} fps" if info.fps else ""
        what = f"{len(frames)} frames, {info.width}x{info.height}{fps}, {span:.2f} s"
    else:
        what = f"photo {info.width}x{info.height}"
    return f"{info.path}: {what}; mean score {scores}"


# --- overlay output --------------------------------------------------------------------------

class OverlaySink:
    """Draws each analysed frame and writes it to an mp4 (clips) or one image (a photo)."""

    def __init__(self, out: Path, min_score: float):
        self.out = out
        self.min_score = min_score
        self._writer = None
        self._last = None
        self._fps = 30.0

    def start(self, info) -> None:
        """Take the source's frame rate (clips keep their timing in the overlay)."""
        self._fps = info.fps or 30.0

    def __call__(self, frame, pose: PoseFrame) -> None:
        from kiosk.media import VideoWriter
        from kiosk.overlay import draw_pose

        drawn = draw_pose(frame.image, pose.keypoints, min_score=self.min_score, copy=True)
        if self.out.suffix.lower() in OVERLAY_IMAGE_SUFFIXES:
            self._last = drawn
            return
        if self._writer is None:
            self._writer = VideoWriter(self.out, self._fps, drawn.shape[1], drawn.shape[0])
        self._writer.write(drawn)

    def finish(self) -> None:
        from kiosk.media import write_image

        if self._writer is not None:
            self._writer.close()
        elif self._last is not None:
            write_image(self.out, self._last)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse bad output options before the model loads or any frame is decoded."""
    if args.threads is not None and args.threads < 1:
        raise KioskError(f"--threads must be at least 1, not {args.threads}")
    for opt, value in (("--keypoints-out", args.keypoints_out), ("--overlay-out", args.overlay_out)):
        if value and not Path(value).resolve().parent.is_dir():
            raise MediaError(f"{value}: folder for {opt} does not exist")
    if args.keypoints_out and Path(args.keypoints_out).suffix.lower() != ".json":
        raise MediaError(f"{args.keypoints_out}: --keypoints-out must end in .json")
    if args.mat and len(args.paths) != 1:
        raise MediaError(f"--mat takes one clip, got {len(args.paths)}")
    if args.overlay_out:
        if len(args.paths) != 1:
            raise MediaError(f"--overlay-out takes one input, got {len(args.paths)}")
        suffix = Path(args.overlay_out).suffix.lower()
        from kiosk.media import IMAGE_SUFFIXES

        is_photo = Path(args.paths[0]).suffix.lower() in IMAGE_SUFFIXES
        allowed = OVERLAY_VIDEO_SUFFIXES | (OVERLAY_IMAGE_SUFFIXES if is_photo else set())
        if suffix not in allowed:
            kinds = "/".join(sorted(s.lstrip(".") for s in allowed))
            raise MediaError(f"{args.overlay_out}: --overlay-out must be {kinds} for this input")


def run(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.pose.movenet import create_estimator
    from kiosk.pose.recorded import write_keypoints_json

    _check_outputs(args)
    cfg = load_config(args.config)
    model = args.model or cfg.pose.model
    threads = args.threads or cfg.pose.threads
    estimator = create_estimator(model, threads, min_score=cfg.pose.min_score)
    results = []
    sink = OverlaySink(Path(args.overlay_out), cfg.pose.min_score) if args.overlay_out else None
    try:
        for path in args.paths:
            # the bar is on stderr and only on a terminal; --json output stays machine-only
            info, poses = run_pose(path, estimator, track=not args.no_track,
                                   on_info=sink.start if sink else None, on_frame=sink, progress=not args.json)
            results.append((info, poses))
            if not (args.keypoints_out or args.overlay_out or args.json or args.mat):
                print(summary_line(info, poses), flush=True)
        if sink is not None:
            sink.finish()
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        estimator.close()
    if args.keypoints_out and not (args.json or args.mat):  # scored: written with the scored poses below
        write_keypoints_json(args.keypoints_out, model, results)
        print(f"wrote {args.keypoints_out} ({sum(len(p) for _, p in results)} frames, model {model})")
    if args.overlay_out:
        print(f"wrote {args.overlay_out}")
    if args.json or args.mat:
        print_trials(args, cfg, results, model)
    return 0


def print_trials(args: argparse.Namespace, cfg, results: list, model: str = "") -> None:
    """Score each clip's landing and print ``TrialResult.to_json()`` (one object, or a list).
    With ``--keypoints-out`` the file also holds the poses each verdict came from, so
    ``jumpkiosk score`` gives the same result without the clip (kiosk.commands.score)."""
    import json

    from kiosk.commands.score import profile_kwargs, scored_block, write_scored_keypoints
    from kiosk.matcsv import read_mat_csv
    from kiosk.pose.movenet import create_estimator
    from kiosk.pose.refine import images_from_source, score_trial

    edges = read_mat_csv(args.mat) if args.mat else None
    # the kiosk's one scoring path: the decisive frames re-run with [pose] refine_model
    refine = cfg.pose.refine_model
    refiner = None if refine in ("none", args.model or cfg.pose.model) else create_estimator(
        refine, args.threads or cfg.pose.threads, min_score=cfg.pose.min_score)
    # the landing window re-posed on one square, as the station poses it (kiosk.pose.landing)
    tracker = None if args.no_track else create_estimator(args.model or cfg.pose.model, args.threads or cfg.pose.threads,
                                                          min_score=cfg.pose.min_score)
    profile = profile_kwargs(args, cfg)
    out, scored = [], []
    try:
        for info, poses in results:
            kwargs = {"thresholds": cfg.scoring, "frame_size": (info.width, info.height),
                      "min_score": cfg.pose.min_score, **profile}
            result, used, _ = score_trial(poses, edges, images=images_from_source(info.path) if info.kind == "video" else None,
                                          refiner=refiner, tracker=tracker, **kwargs)
            out.append(result.to_json())
            if args.keypoints_out:
                scored.append(scored_block(result, used, edges, kwargs))
    finally:
        for est in (refiner, tracker):
            if est is not None:
                est.close()
    if args.keypoints_out:
        write_scored_keypoints(args.keypoints_out, model, results, scored)
        print(f"wrote {args.keypoints_out} ({sum(len(p) for _, p in results)} frames, model {model}, with the scored poses)")
    print(json.dumps(out[0] if len(out) == 1 else out, indent=2))
