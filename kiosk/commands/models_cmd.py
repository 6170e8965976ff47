"""``jumpkiosk models``: list the MoveNet models and check that they are intact.

Listing checks each file's size and sha256 against ``manifest.json``; ``--verify`` also loads each
model in the runtime and checks its input size and dtype against the manifest. ``setup.sh`` runs
``--verify`` so a damaged checkout or a missing runtime shows at install time, not at the first
jump.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the MoveNet models and check their checksums")
    p.add_argument("--verify", action="store_true",
                   help="also load every model in the runtime and check its input against the manifest")
    p.add_argument("--dir", metavar="DIR", default=None,
                   help="models folder (default: $JUMPKIOSK_MODELS, else models/ of the checkout)")
    p.set_defaults(func=run)


def _load_check(spec, threads: int = 1) -> None:
    """Load the (already checksummed) model; raises ModelError if it does not match the manifest."""
    import numpy as np

    from kiosk.errors import ModelError
    from kiosk.pose.runtime import make_interpreter

    interp = make_interpreter(spec.path, num_threads=threads)
    inp = interp.get_input_details()[0]
    shape = [int(v) for v in inp["shape"]]
    dtype = np.dtype(inp["dtype"]).name
    if shape != [1, spec.input_size, spec.input_size, 3]:
        raise ModelError(f"{spec.display_path}: input shape {shape} does not match the manifest's {spec.input_size} px")
    if dtype != spec.input_dtype:
        raise ModelError(f"{spec.display_path}: input dtype {dtype} does not match the manifest's {spec.input_dtype}")


def _report_native_crashes() -> None:
    """A crash in the runtime's native code prints its signal and the Python traceback (to stderr)
    instead of ending the process silently: setup.sh runs this command to check an install."""
    import faulthandler

    try:
        faulthandler.enable(all_threads=True)
    except (AttributeError, OSError, ValueError, RuntimeError):  # stderr without a file descriptor
        pass


def run(args: argparse.Namespace) -> int:
    from kiosk.errors import ModelError
    from kiosk.pose.models import display_path, load_manifest, models_dir, verify_model

    folder = models_dir(args.dir)
    specs = load_manifest(folder)
    if args.verify:
        from kiosk.pose.runtime import runtime_name

        _report_native_crashes()

        # flushed as it goes: a native crash in the next model's load must not take these lines with it
        print(f"models in {display_path(folder)} (runtime: {runtime_name()})", flush=True)
    else:
        print(f"models in {display_path(folder)}")
    failures = []
    for name, spec in specs.items():
        try:
            verify_model(spec)
            status = "checksum OK"
            if args.verify:
                _load_check(spec)
                status = "checksum OK, loads"
        except ModelError as exc:
            status = "FAILED"
            failures.append(str(exc))
        print(f"  {name:<14} {spec.file:<30} {spec.size / 1e6:6.2f} MB  sha256 {spec.sha256[:12]}  "
              f"input {spec.input_size}x{spec.input_size} {spec.input_dtype:<7}  {status}", flush=True)
    for msg in failures:
        print(f"jumpkiosk: error: {msg}", file=sys.stderr)
    if failures:
        return 2
    if not specs:
        raise ModelError(f"{display_path(folder / 'manifest.json')}: lists no models")
    return 0
