"""The TFLite interpreter: LiteRT (``ai-edge-litert``) first, else the older ``tflite-runtime``.

LiteRT has wheels for Python 3.11-3.13 with numpy 2 on the Pi; ``tflite-runtime`` stopped at
2.14 (Python <= 3.11, numpy < 2) but is still what some Bookworm images carry. Both expose the
same ``Interpreter`` class. Nothing here runs at import time, so importing the kiosk never needs
a runtime; only creating an interpreter does.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import os
import subprocess
import sys
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


def _start_filter(read_fd: int, out_fd: int) -> subprocess.Popen | None:
    """``grep`` copying lines from ``read_fd`` to ``out_fd`` as they come, without the noise lines;
    None where there is no grep."""
    args = ["grep", "--line-buffered", "-v", "-x", "-F"]
    for line in _NOISE:
        args += ["-e", line.decode()]
    try:
        return subprocess.Popen(args, stdin=read_fd, stdout=out_fd, stderr=subprocess.DEVNULL)
    except OSError:
        return None


@contextlib.contextmanager
def _filtered_native_stderr() -> Iterator[None]:
    """Drop the runtime's C++ INFO chatter on fd 2; pass every other line on as it comes.

    LiteRT logs through its own minimal logger straight to file descriptor 2 (no Python logging,
    no environment switch), so the only way to drop its per-load INFO line is to point the fd at
    a pipe while the interpreter is built. The filter at the other end is a separate process, so
    what the runtime wrote before a native crash (an abort's "Check failed" line) still comes out
    after this process is gone; and faulthandler writes to a copy of the ORIGINAL stderr
    meanwhile, so a segfault prints its signal and the Python traceback instead of nothing.
    """
    fd = 2  # native code writes to fd 2 whatever Python's sys.stderr is
    try:
        os.fstat(fd)
    except OSError:  # no stderr at all (a daemon with fd 2 closed)
        yield
        return
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    original = os.dup(fd)
    fault_was_enabled = faulthandler.is_enabled()
    faulthandler.enable(file=original, all_threads=True)
    read_fd, write_fd = os.pipe()
    grep = _start_filter(read_fd, original)
    os.close(read_fd)
    if grep is not None:
        os.dup2(write_fd, fd)
    os.close(write_fd)
    try:
        yield
    finally:
        os.dup2(original, fd)  # the pipe's last writer closes: the filter sees its end and exits
        if grep is not None:
            try:
                grep.wait(timeout=10)
            except subprocess.TimeoutExpired:  # a child started meanwhile still holds the pipe
                grep.kill()
                grep.wait()
        if fault_was_enabled:
            faulthandler.enable(file=fd, all_threads=True)
        else:
            faulthandler.disable()
        os.close(original)


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
