"""The TFLite interpreter: LiteRT (``ai-edge-litert``) first, else the older ``tflite-runtime``.

LiteRT has wheels for Python 3.11-3.13 with numpy 2 on the Pi; ``tflite-runtime`` stopped at
2.14 (Python <= 3.11, numpy < 2) but is still what some Bookworm images carry. Both expose the
same ``Interpreter`` class. Nothing here runs at import time, so importing the kiosk never needs
a runtime; only creating an interpreter does.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from kiosk.errors import ModelError, RuntimeMissingError
from kiosk.pose.models import display_path

#: Modules tried in order; each must provide ``Interpreter``.
RUNTIME_MODULES: tuple[str, ...] = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")


def interpreter_class() -> tuple[type, str]:
    """The first importable ``Interpreter`` class and the module it came from."""
    errors = []
    for name in RUNTIME_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:  # also catches a wheel built against another numpy ABI
            errors.append(f"{name.split('.')[0]}: {exc}")
            continue
        return module.Interpreter, name.split(".")[0]
    raise RuntimeMissingError(
        "no TFLite runtime: install ai-edge-litert (pip install ai-edge-litert) "
        "or tflite-runtime; tried " + "; ".join(errors))


def runtime_name() -> str:
    """Name of the runtime that would be used (``ai_edge_litert`` or ``tflite_runtime``)."""
    return interpreter_class()[1]


def make_interpreter(model_path: str | Path, num_threads: int = 4) -> Any:
    """An interpreter with tensors allocated; a file the runtime refuses raises :class:`ModelError`."""
    if num_threads < 1:
        raise ModelError(f"num_threads must be at least 1, not {num_threads}")
    cls, _ = interpreter_class()
    path = Path(model_path)
    try:
        interp = cls(model_path=str(path), num_threads=int(num_threads))
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{display_path(path)}: not a valid TFLite model ({first[:120]}); "
                         "restore it with `git checkout models/` or re-run tools/convert_models/convert.py") from None
    return interp
