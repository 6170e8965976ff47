"""``jumpkiosk simulate``: render a synthetic drop-jump trial with exact ground truth.

Writes ``clip.mp4`` (H.264), ``mat.csv`` (contact-mat edges) and ``truth.json`` (per-frame true
joints, events, FPPA/KASR truth, every parameter) into ``--out``. Anything not given on the command
line is drawn from ``--seed``.
"""

from __future__ import annotations

import argparse
import math

#: CLI flag -> SynthParams field, for the optional overrides
OVERRIDES = {
    "fps": float, "width": int, "height": int, "valgus_left": float, "valgus_right": float,
    "static_valgus": float, "depth": float, "stance_ratio": float, "contact_s": float, "flight_s": float,
    "trunk_lean": float, "land_delay_ms": float, "height_m": float, "camera_height": float,
    "camera_distance": float, "yaw": float,
}
FIELD = {"static_valgus": None, "depth": "depth_deg", "trunk_lean": "trunk_lean_deg", "camera_height": "camera_height_m",
         "camera_distance": "camera_distance_m", "yaw": "yaw_deg"}


#: argparse constants of an option given without its value: draw the value from the seed (a
#: number, not a string, for the numeric options: argparse would convert a string constant)
DRAW = "seed"
DRAW_NUMBER = -math.inf

#: CLI flag -> kiosk.synth.protocol option name
PROTOCOL_FLAGS = {"cmj_in_place": "cmj-in-place", "hops": "hops", "stuck_landing": "stuck-landing",
                  "jump_up_off_box": "jump-up-off-box", "toe_first": "toe-first", "playback_speed": "playback-speed",
                  "hand_over_knee": "hand-over-knee", "static_figure": "static-figure", "step_nearer": "step-nearer"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="render a synthetic drop-jump clip with exact ground truth",
                       description="Render a synthetic athlete doing a drop vertical jump: clip.mp4, mat.csv, truth.json.")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--seed", type=int, default=0, help="draws every parameter not given (default 0)")
    p.add_argument("--fps", type=float, help="frame rate, 15-240 (default 120)")
    p.add_argument("--width", type=int, help="frame width (default 640)")
    p.add_argument("--height", type=int, help="frame height (default 480)")
    p.add_argument("--valgus-left", type=float, metavar="DEG", help="peak FPPA of the left knee after contact")
    p.add_argument("--valgus-right", type=float, metavar="DEG", help="peak FPPA of the right knee after contact")
    p.add_argument("--static-valgus", type=float, metavar="DEG", help="FPPA while standing still, both knees")
    p.add_argument("--depth", type=float, metavar="DEG", help="peak knee flexion after landing (30-120)")
    p.add_argument("--stance-ratio", type=float, help="ankle separation / hip separation at landing")
    p.add_argument("--contact-s", type=float, help="ground contact time, s")
    p.add_argument("--flight-s", type=float, help="flight time, s")
    p.add_argument("--trunk-lean", type=float, metavar="DEG", help="lateral trunk lean at peak flexion, + = athlete's left")
    p.add_argument("--land-delay-ms", type=float, help="right foot lands this many ms after the left (negative: left later)")
    p.add_argument("--height-m", type=float, help="athlete's body height, m")
    p.add_argument("--camera-height", type=float, metavar="M", help="camera height above the floor, m")
    p.add_argument("--camera-distance", type=float, metavar="M", help="camera distance from the landing spot, m")
    p.add_argument("--yaw", type=float, metavar="DEG", help="athlete turned toward their own left by DEG (e.g. 40)")
    p.add_argument("--cut-off-feet", action="store_true", help="frame the camera so the feet are cut off at landing")
    p.add_argument("--second-person", action="store_true", help="someone walks through the picture during the landing")
    g = p.add_argument_group("protocol failures", "not a drop vertical jump: the kiosk must answer RETAKE with the reason "
                                                  "in brackets (docs/synthetic-athlete.md); a value left out is drawn from --seed")
    g.add_argument("--cmj-in-place", action="store_true", help="no box: countermovement jump in place on the mat [no_box]")
    g.add_argument("--hops", type=int, metavar="N", help="N continuous rope-skip-like hops after the landing [hopping]")
    g.add_argument("--stuck-landing", action="store_true", help="land off the box and stand up, no rebound jump [no_rebound]")
    g.add_argument("--jump-up-off-box", nargs="?", const=DRAW_NUMBER, type=float, metavar="M/S",
                   help="jump up off the box (take-off speed, 1.2-1.8 m/s drawn) before the fall [jumped_off_box]")
    g.add_argument("--toe-first", nargs="?", const=DRAW_NUMBER, type=float, metavar="MS",
                   help="staggered toe-first landing: the second foot lands MS later (80-150 drawn; negative: "
                        "the left foot later) [uneven_landing]")
    g.add_argument("--playback-speed", type=float, metavar="F",
                   help="the clip shows the motion F times faster than real, on a real clock (0.25: slow motion) [wrong_speed]")
    g.add_argument("--hand-over-knee", nargs="?", const=DRAW, choices=("left", "right", DRAW), metavar="SIDE",
                   help="that hand crosses in front of the same knee during the landing [legs_not_seen]")
    g.add_argument("--static-figure", action="store_true",
                   help="a still person in the background all clip long (poster, TV, mirror) [second_person]")
    g.add_argument("--step-nearer", nargs="?", const=DRAW_NUMBER, type=float, metavar="M",
                   help="land M (0.5-0.7 drawn) nearer the camera than the box's foot [off_mark]")
    p.add_argument("--no-mat", action="store_true", help="write no mat.csv (video-only event detection)")
    p.set_defaults(func=run)


def overrides_from_args(args: argparse.Namespace) -> dict[str, object]:
    over: dict[str, object] = {}
    for flag in OVERRIDES:
        value = getattr(args, flag, None)
        if value is None:
            continue
        if flag == "static_valgus":
            over["static_valgus_left"] = over["static_valgus_right"] = value
        else:
            over[FIELD.get(flag) or flag] = value
    if args.cut_off_feet:
        over["cut_off_feet"] = True
    if args.second_person:
        over["second_person"] = True
    from kiosk.synth.protocol import option_overrides

    for flag, name in PROTOCOL_FLAGS.items():
        value = getattr(args, flag, None)
        if value is None or value is False:
            continue
        drawn = value is True or value in (DRAW, DRAW_NUMBER)
        over |= option_overrides(name, args.seed, None if drawn else value)
    return over


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from kiosk.synth import render_clip, sample_params

    params = sample_params(args.seed, **overrides_from_args(args))
    out = Path(args.out)
    with tqdm(total=0, unit="frame", desc="rendering", leave=False) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        truth = render_clip(params, out, write_mat=not args.no_mat, on_frame=progress)
    ev, legs = truth.events, truth.legs

    def at(key: str) -> str:
        return "none" if ev.get(key) is None else f"{ev[key]:.3f} s"

    print(f"{out}: {len(truth.frames)} frames at {truth.fps:g} fps, {truth.width}x{truth.height}")
    print(f"  events: IC {at('initial_contact_s')}, peak flexion {at('peak_flexion_s')}, "
          f"take-off {at('takeoff_s')}, second landing {at('second_landing_s')}")
    if "protocol" in truth.extra:
        about = truth.extra["protocol"]
        print(f"  protocol failure: {', '.join(about['options'])}; the kiosk must answer RETAKE "
              f"({', '.join(about['expected_findings'])})")
    for side in ("left", "right"):
        leg = legs[side]
        print(f"  {side:5} FPPA: static {leg['static_fppa']:+.1f}, IC {leg['fppa_ic']:+.1f}, peak {leg['fppa_peak']:+.1f} deg")
    print(f"  KASR: IC {truth.kasr_ic:.2f}, peak {truth.kasr_peak:.2f}")
    return 0
