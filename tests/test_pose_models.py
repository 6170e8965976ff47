"""Model manifest checks and runtime loading: damaged files and a missing runtime give one clear line."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from kiosk.cli import main
from kiosk.errors import ModelError, RuntimeMissingError
from kiosk.pose import models as models_mod
from kiosk.pose.models import default_models_dir, load_manifest, resolve_model, verify_model
from kiosk.pose.movenet import create_estimator
from kiosk.pose.runtime import make_interpreter

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture
def models_copy(tmp_path: Path) -> Path:
    """A private copy of the models folder that tests may damage."""
    dst = tmp_path / "models"
    shutil.copytree(REPO_MODELS, dst)
    models_mod.clear_cache()
    return dst


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg and 20 < len(msg) < 300, msg
    return msg


def test_repository_models_verify_and_match_the_manifest() -> None:
    specs = load_manifest(REPO_MODELS)
    assert set(specs) >= {"lightning", "thunder"}
    assert (specs["lightning"].input_size, specs["thunder"].input_size) == (192, 256)
    for spec in specs.values():
        verify_model(spec)
    assert default_models_dir().resolve() == REPO_MODELS.resolve()


def test_models_command_lists_and_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--verify"]) == 0
    out = capsys.readouterr().out
    # every manifest entry: float16 and INT8 Lightning and Thunder
    assert "lightning" in out and "thunder_int8" in out
    assert out.count("checksum OK, loads") == len(load_manifest(REPO_MODELS)) == 4


def test_truncated_model_is_refused(models_copy: Path) -> None:
    f = models_copy / "movenet_lightning_f16.tflite"
    f.write_bytes(f.read_bytes()[:100_000])
    with pytest.raises(ModelError) as err:
        resolve_model("lightning", models_copy)
    msg = _one_line(err.value)
    assert "movenet_lightning_f16.tflite" in msg and "truncated" in msg and "git checkout models/" in msg


def test_replaced_model_with_matching_size_fails_the_checksum(models_copy: Path) -> None:
    f = models_copy / "movenet_thunder_f16.tflite"
    f.write_bytes(os.urandom(f.stat().st_size))
    with pytest.raises(ModelError) as err:
        create_estimator("thunder", threads=1, models_dir=models_copy)
    msg = _one_line(err.value)
    assert "movenet_thunder_f16.tflite" in msg and "checksum mismatch" in msg


def test_random_bytes_that_match_the_manifest_are_refused_by_the_runtime(models_copy: Path) -> None:
    """Even a file that passes the checksum (manifest edited too) must not load as garbage."""
    f = models_copy / "movenet_lightning_f16.tflite"
    data = os.urandom(50_000)
    f.write_bytes(data)
    manifest = json.loads((models_copy / "manifest.json").read_text())
    manifest["models"]["lightning"].update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    (models_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError) as err:
        create_estimator("lightning", threads=1, models_dir=models_copy)
    msg = _one_line(err.value)
    assert "movenet_lightning_f16.tflite" in msg and "not a valid TFLite model" in msg


def test_missing_file_manifest_and_folder(models_copy: Path, tmp_path: Path) -> None:
    (models_copy / "movenet_lightning_f16.tflite").unlink()
    with pytest.raises(ModelError, match="model file missing"):
        resolve_model("lightning", models_copy)
    with pytest.raises(ModelError, match="unknown model 'heavy'"):
        resolve_model("heavy", models_copy)
    (models_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="manifest.json: unreadable"):
        load_manifest(models_copy)
    (models_copy / "manifest.json").unlink()
    with pytest.raises(ModelError, match="manifest.json: missing"):
        load_manifest(models_copy)
    with pytest.raises(ModelError, match="models folder not found"):
        load_manifest(tmp_path / "nowhere")


def test_env_var_selects_the_models_folder(models_copy: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("JUMPKIOSK_MODELS", str(models_copy))
    assert default_models_dir() == models_copy
    f = models_copy / "movenet_thunder_f16.tflite"
    f.write_bytes(f.read_bytes()[:-10])
    assert main(["models"]) == 2
    captured = capsys.readouterr()
    assert "FAILED" in captured.out
    assert "movenet_thunder_f16.tflite: truncated" in captured.err


def test_checksum_is_cached_per_path_mtime_and_size(models_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    real = models_mod.sha256_file

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(models_mod, "sha256_file", counting)
    spec = load_manifest(models_copy)["lightning"]
    verify_model(spec)
    verify_model(spec)
    assert len(calls) == 1
    # Same size, new content, new mtime: hashed again and caught.
    data = bytearray(spec.path.read_bytes())
    data[1000] ^= 0xFF
    spec.path.write_bytes(bytes(data))
    st = spec.path.stat()
    os.utime(spec.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    with pytest.raises(ModelError, match="checksum mismatch"):
        verify_model(spec)
    assert len(calls) == 2


def _hide_runtimes(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import x` raise ImportError, as if x were not installed.
    for name in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime", "tflite_runtime.interpreter"):
        monkeypatch.setitem(sys.modules, name, None)


def test_missing_runtime_raises_runtime_missing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _hide_runtimes(monkeypatch)
    with pytest.raises(RuntimeMissingError) as err:
        create_estimator("lightning", threads=1)
    msg = _one_line(err.value)
    assert "ai-edge-litert" in msg and "tflite-runtime" in msg
    assert isinstance(err.value, ImportError) and isinstance(err.value, ModelError)
    assert main(["models", "--verify"]) == 2
    assert "no TFLite runtime" in capsys.readouterr().err


def test_tflite_runtime_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """With LiteRT absent, an importable tflite_runtime.interpreter is used."""
    import types

    from ai_edge_litert.interpreter import Interpreter

    _hide_runtimes(monkeypatch)
    fake_pkg = types.ModuleType("tflite_runtime")
    fake_mod = types.ModuleType("tflite_runtime.interpreter")
    fake_mod.Interpreter = Interpreter  # same API; stands in for the older wheel
    monkeypatch.setitem(sys.modules, "tflite_runtime", fake_pkg)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", fake_mod)
    from kiosk.pose.runtime import runtime_name

    assert runtime_name() == "tflite_runtime"
    interp = make_interpreter(REPO_MODELS / "movenet_lightning_f16.tflite", num_threads=1)
    assert list(interp.get_input_details()[0]["shape"]) == [1, 192, 192, 3]


def test_runtime_load_chatter_is_dropped_but_other_native_output_kept(capfd: pytest.CaptureFixture[str]) -> None:
    from kiosk.pose.runtime import _filtered_native_stderr

    make_interpreter(REPO_MODELS / "movenet_lightning_f16.tflite", num_threads=1)
    assert "XNNPACK" not in capfd.readouterr().err
    with _filtered_native_stderr():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nERROR: something real\n")
    assert capfd.readouterr().err == "ERROR: something real\n"


def test_threads_must_be_positive() -> None:
    with pytest.raises(ModelError, match="num_threads"):
        make_interpreter(REPO_MODELS / "movenet_lightning_f16.tflite", num_threads=0)
