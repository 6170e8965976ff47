"""The TFLite interpreter: LiteRT (``ai-edge-litert``) first, else the older ``tflite-runtime``.

LiteRT has wheels for Python 3.11-3.13 with numpy 2 on the Pi; ``tflite-runtime`` stopped at
2.14 (Python <= 3.11, numpy < 2) but is still what some Bookworm images carry. Both expose the
same ``Interpreter`` class. Nothing here runs at import time, so importing the kiosk never needs
a runtime; only creating an interpreter does.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile
from collections.abc import Iterator
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


#: Native log lines the runtime prints on every load; they would break "errors are one line".
_NOISE = (b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",)


@contextlib.contextmanager
def _filtered_native_stderr() -> Iterator[None]:
    """Hold back the runtime's C++ INFO chatter on fd 2; anything else is passed on afterwards.

    LiteRT logs through its own minimal logger straight to file descriptor 2 (no Python logging,
    no environment switch), so the only way to drop its per-load INFO line is to capture the fd
    for the duration of the constructor and replay every other line.
    """
    fd = 2  # native code writes to fd 2 whatever Python's sys.stderr is
    try:
        os.fstat(fd)
    except OSError:  # no stderr at all (a daemon with fd 2 closed)
        yield
        return
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            kept = [ln for ln in tmp.read().splitlines(keepends=True) if ln.strip() not in _NOISE]
            if kept:
                os.write(fd, b"".join(kept))


def make_interpreter(model_path: str | Path, num_threads: int = 4) -> Any:
    """An interpreter with tensors allocated; a file the runtime refuses raises :class:`ModelError`."""
    if num_threads < 1:
        raise ModelError(f"num_threads must be at least 1, not {num_threads}")
    cls, _ = interpreter_class()
    path = Path(model_path)
    try:
        with _filtered_native_stderr():
            interp = cls(model_path=str(path), num_threads=int(num_threads))
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{display_path(path)}: not a valid TFLite model ({first[:120]}); "
                         "restore it with `git checkout models/` or re-run tools/convert_models/convert.py") from None
    return interp
