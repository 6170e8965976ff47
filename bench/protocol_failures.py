"""Protocol failures end to end: every synthetic motion that is not a drop vertical jump must get
RETAKE with its own reason from ``jumpkiosk analyze --json``, with the mat and without.

For each option of ``jumpkiosk simulate`` in :data:`kiosk.synth.protocol.OPTIONS` (slow and fast
playback both, hops both off the box and in place) and the existing ``--second-person``, over a
few seeds: render the clip as ``jumpkiosk simulate --seed S --<option>`` does (``clip.mp4`` H.264
+ ``mat.csv`` + ``truth.json``, kept under ``--cache``), pose it with real MoveNet through
:func:`kiosk.commands.analyze.run_pose` and score it with
:func:`kiosk.commands.analyze.print_trials` (the functions ``analyze --json`` and
``analyze --json --mat mat.csv`` run; one pose pass serves both), with the station's config as
``jumpkiosk`` finds it. Prints one row per clip and mat/no-mat: verdict, findings, whether the
expected code is among them. Exit status 1 if any row is PASS or FLAG.

    nice -n 5 .venv/bin/python bench/protocol_failures.py --cache /tmp/protocol-clips [--seeds 3]
    nice -n 5 .venv/bin/python bench/protocol_failures.py --cache /tmp/protocol-clips --second-person-seeds 10

Each row reproduces with ``jumpkiosk simulate --out D --seed S <flags>`` then
``jumpkiosk analyze D/clip.mp4 --json [--mat D/mat.csv]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import inspect
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYNTH_MODULES = ("body", "camera", "clip", "motion", "params", "protocol", "render", "scene", "variants", "walker")


@dataclass(frozen=True)
class Case:
    label: str               # row name: the simulate flags
    option: str              # kiosk.synth.protocol option name (or "second-person")
    value: Any = None        # the option's value (None: drawn from the seed, as simulate does)
    extra: tuple = ()        # more (option, value) pairs combined with it
    expected: str = ""       # the finding code that must be among the findings


def cases() -> list[Case]:
    from kiosk.synth.protocol import OPTIONS, SECOND_PERSON

    out = []
    for name, opt in OPTIONS.items():
        if name == "playback-speed":
            out += [Case("--playback-speed 0.25", name, 0.25, expected=opt.finding),
                    Case("--playback-speed 2", name, 2.0, expected=opt.finding)]
        elif name == "hops":
            out += [Case("--hops 4", name, 4, expected=opt.finding),
                    Case("--hops 4 --cmj-in-place", name, 4, (("cmj-in-place", None),), expected=opt.finding)]
        else:
            out.append(Case(f"--{name}", name, expected=opt.finding))
    out.append(Case("--second-person", "second-person", expected=SECOND_PERSON.finding))
    return out


def render_signature() -> str:
    """Digest of the synthetic athlete's source: a cached clip is only valid for the code that drew it."""
    h = hashlib.sha256()
    for name in SYNTH_MODULES:
        h.update(inspect.getsource(importlib.import_module(f"kiosk.synth.{name}")).encode())
    return h.hexdigest()[:8]


def params_for(case: Case, seed: int):
    from kiosk.synth import sample_params
    from kiosk.synth.protocol import option_overrides

    over = option_overrides(case.option, seed, case.value)
    for name, value in case.extra:
        over |= option_overrides(name, seed, value)
    return sample_params(seed, **over)


def ensure_clip(case: Case, seed: int, cache: Path) -> Path:
    """The rendered clip folder (clip.mp4, mat.csv, truth.json), rendered once per params and code."""
    from kiosk.synth import render_clip

    params = params_for(case, seed)
    folder = cache / f"{case.option}-s{seed}-{params.hash()}-{render_signature()}"
    if not (folder / "truth.json").is_file():
        tmp = folder.with_name(folder.name + ".tmp")
        render_clip(params, tmp)
        tmp.rename(folder)
    return folder


class Analyzer:
    """``jumpkiosk analyze --json [--mat]`` on one clip: the command's own functions and config."""

    def __init__(self, threads: int | None):
        from kiosk.cli import default_config_path
        from kiosk.config import load_config
        from kiosk.pose.movenet import create_estimator

        self.config_path = default_config_path()
        self.cfg = load_config(self.config_path)
        self.threads = threads or self.cfg.pose.threads
        self.estimator = create_estimator(self.cfg.pose.model, self.threads, min_score=self.cfg.pose.min_score)

    def close(self) -> None:
        self.estimator.close()

    def __call__(self, folder: Path) -> dict[str, dict]:
        """{"mat": result JSON, "no mat": result JSON}."""
        from kiosk.cli import build_parser
        from kiosk.commands.analyze import print_trials, run_pose

        clip = folder / "clip.mp4"
        results = [run_pose(clip, self.estimator, track=True, progress=False)]
        out = {}
        for key, mat in (("mat", ["--mat", str(folder / "mat.csv")]), ("no mat", [])):
            # the command's own parser: every analyze option at its default, as on the command line
            args = build_parser().parse_args(["analyze", str(clip), "--json", "--threads", str(self.threads), *mat])
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                print_trials(args, self.cfg, results, self.cfg.pose.model)
            out[key] = json.loads(buf.getvalue())
        return out


def run_rows(todo: list[tuple[Case, int]], cache: Path, analyzer: Analyzer, json_out: Path | None = None) -> list[dict]:
    from kiosk.errors import KioskError

    rows = []
    started = time.monotonic()
    for case, seed in todo:
        folder = ensure_clip(case, seed, cache)
        try:
            scored = analyzer(folder)
        except KioskError as exc:
            scored = {k: {"verdict": "ERROR", "findings": [str(exc)]} for k in ("mat", "no mat")}
        for key, r in scored.items():
            findings = list(r.get("findings") or [])
            rows.append({"case": case.label, "seed": seed, "mat": key, "verdict": r.get("verdict"),
                         "findings": findings, "expected": case.expected, "hit": case.expected in findings})
        print(f"  {case.label} seed {seed}: mat {scored['mat'].get('verdict')} {scored['mat'].get('findings')}, "
              f"no mat {scored['no mat'].get('verdict')} {scored['no mat'].get('findings')} "
              f"({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        if json_out is not None:  # after every clip: a run cut short keeps its rows
            json_out.write_text(json.dumps(rows, indent=1))
    return rows


def print_table(rows: list[dict]) -> None:
    w = max(len(r["case"]) for r in rows)
    print(f"{'option':{w}}  seed  {'mat':6}  {'verdict':7}  {'expected':15}  hit  findings")
    for r in rows:
        print(f"{r['case']:{w}}  {r['seed']:4}  {r['mat']:6}  {r['verdict']:7}  {r['expected']:15}  "
              f"{'yes' if r['hit'] else 'NO ':3}  {', '.join(r['findings']) or '-'}")


def summarise(rows: list[dict]) -> tuple[int, int]:
    """Prints per-case counts; returns (rows that are PASS/FLAG, rows without the expected code)."""
    bad = sum(r["verdict"] in ("PASS", "FLAG") for r in rows)
    miss = sum(not r["hit"] for r in rows)
    print()
    for label in dict.fromkeys(r["case"] for r in rows):
        mine = [r for r in rows if r["case"] == label]
        for key in ("mat", "no mat"):
            part = [r for r in mine if r["mat"] == key]
            ok = sum(r["verdict"] == "RETAKE" and r["hit"] for r in part)
            retake = sum(r["verdict"] == "RETAKE" for r in part)
            print(f"{label} ({key}): RETAKE {retake}/{len(part)}, with '{part[0]['expected']}' {ok}/{len(part)}")
    print(f"\n{len(rows)} rows: {bad} PASS/FLAG, {miss} without the expected code")
    return bad, miss


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="folder for the rendered clips (kept between runs)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per option (default 3)")
    ap.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--only", nargs="+", metavar="LABEL", help="only rows whose label (dashes dropped) starts so, e.g. hops")
    ap.add_argument("--second-person-seeds", type=int, metavar="N",
                    help="instead: simulate --second-person over seeds first..first+N-1, RETAKE count with and without the mat")
    ap.add_argument("--threads", type=int, default=None, help="interpreter threads (default: the config's)")
    ap.add_argument("--json-out", type=Path, help="also write the rows as JSON here")
    ap.add_argument("--render-only", action="store_true", help="only render the clips into the cache (no analysis)")
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)

    if args.second_person_seeds:
        case = next(c for c in cases() if c.option == "second-person")
        todo = [(case, s) for s in range(args.first_seed, args.first_seed + args.second_person_seeds)]
    else:
        chosen = [c for c in cases() if not args.only or any(c.label.lstrip("-").startswith(o.lstrip("-")) for o in args.only)]
        # seed by seed, so that a run cut short still has every option
        todo = [(c, s) for s in range(args.first_seed, args.first_seed + args.seeds) for c in chosen]
    if args.render_only:
        for case, seed in todo:
            print(ensure_clip(case, seed, args.cache), flush=True)
        return 0
    analyzer = Analyzer(args.threads)
    try:
        rows = run_rows(todo, args.cache, analyzer, args.json_out)
    finally:
        analyzer.close()
    print_table(rows)
    bad, _ = summarise(rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
