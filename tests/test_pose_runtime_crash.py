"""A native crash while a model loads must leave a trace on stderr.

The runtime's stderr (fd 2) is filtered while the interpreter is built, to drop its INFO chatter.
Under emulation LiteRT segfaulted right there, and the process died with status 139 and printed
nothing. These tests crash a real LiteRT interpreter on purpose inside that filtered window (in
a subprocess) and check that the signal, the Python traceback and the native lines written
before the crash all reach the original stderr, while the INFO line is still dropped.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models"

# The real interpreter class, with allocate_tensors crashing the way native code does after it
# printed something: faulthandler._sigsegv() raises SIGSEGV from C.
CRASHING = textwrap.dedent("""
    import faulthandler, os, sys
    from kiosk.pose import runtime

    real, name = runtime.interpreter_class()

    class CrashingInterpreter(real):
        def allocate_tensors(self):
            super().allocate_tensors()
            os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
            os.write(2, b"F native/allocator.cc:42 Check failed: arena size\\n")
            faulthandler._sigsegv()

    runtime.interpreter_class = lambda: (CrashingInterpreter, name)
""")


NATIVE_LINE = "F native/allocator.cc:42 Check failed: arena size\n"


def _lightning() -> Path:
    return next(MODEL.glob("*lightning*.tflite"))


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)


def _assert_crash_report(proc: subprocess.CompletedProcess, *frames: str) -> None:
    assert proc.returncode == -signal.SIGSEGV, proc.stderr
    # The filter child passes the native line on while faulthandler writes its report, so the line
    # may land anywhere inside the report on the shared stderr: read the report without it.
    assert NATIVE_LINE in proc.stderr  # the native message before the crash is not lost
    err = proc.stderr.replace(NATIVE_LINE, "", 1)
    assert "Fatal Python error: Segmentation fault" in err, err
    for frame in frames:
        assert f"in {frame}" in err, err
    assert "XNNPACK delegate" not in err  # and the chatter is still filtered


def test_segfault_while_building_the_interpreter_prints_signal_and_traceback():
    code = CRASHING + f"runtime.make_interpreter({str(_lightning())!r}, num_threads=1)\n"
    _assert_crash_report(_run(code), "allocate_tensors", "make_interpreter")


def test_models_verify_crash_prints_a_traceback():
    code = CRASHING + "from kiosk.cli import main\nsys.exit(main(['models', '--verify']))\n"
    proc = _run(code)
    _assert_crash_report(proc, "allocate_tensors", "make_interpreter", "_load_check")
    assert "models in models" in proc.stdout  # printed before the crash, not lost in a buffer


def test_filtered_window_passes_lines_on_and_restores_stderr():
    code = textwrap.dedent(f"""
        import faulthandler, os
        from kiosk.pose import runtime
        was = faulthandler.is_enabled()
        interp = runtime.make_interpreter({str(_lightning())!r}, num_threads=1)
        with runtime._filtered_native_stderr():
            os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\nERROR: a real one\\n")
        os.write(2, b"after\\n")
        print(was, faulthandler.is_enabled(), interp.get_input_details()[0]["shape"].tolist())
    """)
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "ERROR: a real one\nafter\n"
    assert proc.stdout.split()[:2] == ["False", "False"]  # faulthandler as it was before
