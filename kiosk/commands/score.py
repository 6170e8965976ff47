"""``jumpkiosk score``: score a stored keypoint series without the clip, as ``analyze --json`` does.

The input is the file ``jumpkiosk analyze --keypoints-out`` writes. When ``analyze`` also scored
the clip (``--json`` or ``--mat``), each source carries a ``scored`` block: the poses the verdict
was computed from (the landing re-posed on one square and refined, as the station does), the
standing window the first pass found, and the failures only the images could show (a second
body in the frame). ``score`` scores those, so its verdict and metrics are those of ``analyze
--json`` on the clip; a file without the block is scored from its first-pass poses as they are.
Researchers re-score with it under other thresholds (``--config``) or another athlete profile.

    jumpkiosk score KEYPOINTS.json [--mat mat.csv] [--sex female|male|prefer_not_to_say]
                    [--birth-year YEAR [--test-year YEAR]] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from kiosk.errors import InputError, MediaError

SEX_CHOICES = ("female", "male", "prefer_not_to_say")


def add_profile_arguments(p: argparse.ArgumentParser) -> None:
    """The athlete options that choose the peak-FPPA limit (``analyze`` and ``score`` share them)."""
    p.add_argument("--sex", choices=SEX_CHOICES, default=None,
                   help="athlete's sex for the reference range (not given: the female range, the more lenient)")
    p.add_argument("--birth-year", type=int, default=None, metavar="YEAR",
                   help="athlete's birth year: under 18 the result says the range is an adult one")
    p.add_argument("--test-year", type=int, default=None, metavar="YEAR",
                   help="calendar year of the test, for the age (default: this year)")


def profile_kwargs(args: argparse.Namespace, cfg: Any) -> dict[str, Any]:
    """``analyze_trial`` keywords from the profile options and the config's trial count."""
    from kiosk.analysis.limits import age_in_year

    year = args.test_year if getattr(args, "test_year", None) is not None else dt.date.today().year
    birth = getattr(args, "birth_year", None)
    if birth is not None and age_in_year(birth, year) is None:
        raise InputError(f"--birth-year {birth} does not fit a test in {year}")
    return {"sex": args.sex, "age": age_in_year(birth, year), "trials_needed": cfg.session.trials}


def scored_block(result: Any, poses: list, edges: Any, analyze_kwargs: dict[str, Any]) -> dict[str, Any]:
    """What ``score`` needs to give ``result`` again from ``poses`` without the clip: the poses,
    the standing window, and the failures that ``analyze_trial`` on these poses alone does not
    find (those judged on the images)."""
    import numpy as np

    from kiosk.analysis import analyze_trial

    standing = result.events.standing
    base = analyze_trial(poses, edges, **({"standing": standing} | analyze_kwargs))
    known = set(base.quality.get("failed", []))
    extra = [{"code": c, "detail": d} for c, d in zip(result.quality.get("failed", []), result.quality.get("details", []),
                                                      strict=False) if c not in known]
    # full precision (the first-pass frames are rounded to 0.01 px): the same numbers, the same metrics
    frames = [{"index": int(p.index), "t": float(p.t), "keypoints": np.asarray(p.keypoints, dtype=np.float64).tolist()}
              for p in poses]
    return {"frames": frames, "standing": list(standing) if standing is not None else None,
            "image_failures": extra, "scoring_version": result.scoring_version}


def write_scored_keypoints(path: str | Path, model: str, results: list, scored: list[dict]) -> None:
    """The keypoints file with each source's ``scored`` block (atomic, like ``--keypoints-out``)."""
    from kiosk.keypoints import KEYPOINT_NAMES
    from kiosk.media import atomic_write_bytes
    from kiosk.pose.recorded import source_to_json

    sources = [{**source_to_json(info, poses), "scored": block} for (info, poses), block in zip(results, scored, strict=True)]
    doc = {"model": model, "keypoint_names": list(KEYPOINT_NAMES), "sources": sources}
    atomic_write_bytes(path, (json.dumps(doc, separators=(",", ":")) + "\n").encode("utf-8"))


def _scored_blocks(path: str | Path, count: int) -> list[dict | None]:
    """Each source's ``scored`` block (None where there is none); the file was checked already."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    blocks = [s.get("scored") if isinstance(s, dict) else None for s in doc.get("sources", [])]
    return (blocks + [None] * count)[:count]


def score_source(source: Any, block: dict | None, edges: Any, analyze_kwargs: dict[str, Any]) -> Any:
    """One recorded source scored: the ``scored`` poses when there are, else the first pass."""
    from kiosk.analysis import analyze_trial
    from kiosk.analysis.gates import Failure, with_failure
    from kiosk.keypoints import PoseFrame

    frames, standing, extra = source.frames, None, []
    if block is not None:
        try:
            frames = [PoseFrame.from_json(f) for f in block["frames"]]
            standing = tuple(block["standing"]) if block.get("standing") else None
            extra = [Failure(str(f["code"]), str(f.get("detail", ""))) for f in block.get("image_failures", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise MediaError(f"{source.path}: the scored block is not of the expected layout ({exc})") from None
    kwargs = {"frame_size": (source.width, source.height)} | analyze_kwargs
    if standing is not None:
        kwargs["standing"] = standing
    result = analyze_trial(frames, edges, **kwargs)
    for failure in extra:
        result = with_failure(result, failure)
    return result


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score", help="score a stored keypoint file (analyze --keypoints-out) without the clip",
        description="Score the landing in a keypoints file written by 'jumpkiosk analyze --keypoints-out', with the "
                    "config's thresholds: the same result JSON as 'analyze --json' on the clip.")
    p.add_argument("keypoints", metavar="KEYPOINTS.json", help="file written by analyze --keypoints-out")
    p.add_argument("--mat", metavar="MAT.csv", help="contact-mat edges (one source only); without it events come from the video")
    add_profile_arguments(p)
    p.add_argument("--json", action="store_true", help="print the trial result as JSON (as analyze --json)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.matcsv import read_mat_csv
    from kiosk.pose.recorded import read_keypoints_json

    cfg = load_config(args.config)
    _, sources = read_keypoints_json(args.keypoints)
    if not sources:
        raise MediaError(f"{args.keypoints}: holds no source")
    if args.mat and len(sources) != 1:
        raise MediaError(f"--mat takes a file of one source, {args.keypoints} has {len(sources)}")
    edges = read_mat_csv(args.mat) if args.mat else None
    kwargs = {"thresholds": cfg.scoring, "min_score": cfg.pose.min_score, **profile_kwargs(args, cfg)}
    blocks = _scored_blocks(args.keypoints, len(sources))
    results = [score_source(s, b, edges, kwargs) for s, b in zip(sources, blocks, strict=True)]
    if args.json:
        out = [r.to_json() for r in results]
        print(json.dumps(out[0] if len(out) == 1 else out, indent=2))
        return 0
    for s, r in zip(sources, results, strict=True):
        why = (r.limit or {}).get("why", "")
        print(f"{s.path}: {r.verdict}" + (f" ({why})" if r.verdict != "RETAKE" and why else ""))
        for reason in r.reasons:
            print(f"  - {reason}")
    return 0
