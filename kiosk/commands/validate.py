"""``jumpkiosk validate``: pose accuracy on rendered athletes with exact ground truth.

Renders ``--n`` varied trials (normal trials only, no failure modes), runs MoveNet over the frames
the analysis uses, and reports keypoint error (% of body height) and FPPA/KASR error at initial
contact and at peak; the report replaces its own section of ``--out`` (docs/ACCURACY.md).
"""

from __future__ import annotations

import argparse
import shlex


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="measure pose accuracy on synthetic athletes with exact truth")
    p.add_argument("--n", type=int, default=60, help="number of rendered trials (default 60)")
    p.add_argument("--seed", type=int, default=0, help="seed of the trial set (default 0)")
    p.add_argument("--model", choices=("lightning", "thunder"), default="lightning", help="MoveNet model (default lightning)")
    p.add_argument("--refine", choices=("thunder", "lightning", "none"), default="thunder",
                   help="model re-running the frames that decide the verdict, as the kiosk scores (default thunder)")
    p.add_argument("--fps", type=float, default=60.0, help="frame rate of the rendered trials (default 60)")
    p.add_argument("--threads", type=int, default=2, help="interpreter threads (default 2)")
    p.add_argument("--no-track", action="store_true", help="run the model on the whole frame every time (no crop tracking)")
    p.add_argument("--out", default="docs/ACCURACY.md", help="report to update (default docs/ACCURACY.md); '-' prints only")
    p.add_argument("--json", metavar="FILE", help="also write the per-clip records and summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tqdm import tqdm

    from kiosk.errors import InputError
    from kiosk.pose.movenet import create_estimator
    from kiosk.synth.validate import markdown_section, run_validation, summarise, update_accuracy_doc, validation_params

    if not 1 <= args.n <= 10000:
        raise InputError(f"--n {args.n}: give 1..10000 trials")
    params = validation_params(args.n, args.seed, fps=args.fps)
    estimator = create_estimator(args.model, threads=args.threads)
    refiner = None if args.refine == "none" else create_estimator(args.refine, threads=args.threads)
    with tqdm(total=len(params), unit="trial", desc=f"validate ({args.model})") as bar:
        records = run_validation(params, estimator, on_clip=lambda _r: bar.update(1), track=not args.no_track,
                                 refiner=refiner)
    summary = summarise(records)
    parts = ["jumpkiosk validate", f"--n {args.n}", f"--seed {args.seed}", f"--model {args.model}",
             f"--refine {args.refine}", f"--fps {args.fps:g}"]
    if args.no_track:
        parts.append("--no-track")
    section = markdown_section(summary, " ".join(parts), args.model, args.fps, tracking=not args.no_track,
                               refine=args.refine)
    print(section)
    if args.out != "-":
        update_accuracy_doc(args.out, section)
        print(f"updated {shlex.quote(args.out)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "clips": [r.to_json() for r in records]}, indent=1))
    return 0
