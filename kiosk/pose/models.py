"""MoveNet model files: where they live, what the manifest says, and whether a file is intact.

The ``.tflite`` files ship in the repository's ``models/`` folder with a ``manifest.json``
recording each file's size and sha256. A file is checked against the manifest before it is
loaded, because a truncated copy or a replaced file can load and silently give wrong keypoints.
Hashing ~13 MB costs tens of milliseconds, so a passed check is remembered per
(path, mtime, size) and repeated loads (every trial, every test) are cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.errors import ModelError

MANIFEST_NAME = "manifest.json"
MODELS_ENV = "JUMPKIOSK_MODELS"
#: The models the repository ships (manifest names): float16 and INT8-quantised (docs/PERFORMANCE.md).
MODEL_NAMES: tuple[str, ...] = ("lightning", "thunder", "lightning_int8", "thunder_int8")
_RESTORE_HINT = "restore it with `git checkout models/` or re-run tools/convert_models/convert.py"

#: (resolved path, mtime_ns, size) -> sha256 of files already hashed.
_hash_cache: dict[tuple[str, int, int], str] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry, with the resolved file path."""

    name: str
    file: str
    path: Path
    sha256: str
    size: int
    input_size: int
    input_dtype: str
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def display_path(self) -> str:
        return display_path(self.path)


def display_path(path: Path) -> str:
    """A path as a person should see it: relative to the working folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def default_models_dir() -> Path:
    """``$JUMPKIOSK_MODELS`` if set, else ``models/`` beside the ``kiosk`` package (a checkout)."""
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "models"


def models_dir(override: str | Path | None = None) -> Path:
    """The models folder to use; raises :class:`ModelError` when it does not exist."""
    folder = Path(override) if override is not None else default_models_dir()
    if not folder.is_dir():
        how = f"set ${MODELS_ENV} to the folder holding {MANIFEST_NAME}" if override is None else "check the path"
        raise ModelError(f"{display_path(folder)}: models folder not found; {how}")
    return folder


def load_manifest(folder: str | Path | None = None) -> dict[str, ModelSpec]:
    """Model name -> :class:`ModelSpec` from ``manifest.json`` (files are not checked here)."""
    root = models_dir(folder)
    path = root / MANIFEST_NAME
    where = display_path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{where}: missing; {_RESTORE_HINT}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{where}: unreadable ({type(exc).__name__}); {_RESTORE_HINT}") from None
    if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("models"), dict):
        raise ModelError(f"{where}: not a format-1 model manifest; {_RESTORE_HINT}")
    specs: dict[str, ModelSpec] = {}
    for name, entry in data["models"].items():
        try:
            specs[name] = ModelSpec(
                name=name,
                file=str(entry["file"]),
                path=root / str(entry["file"]),
                sha256=str(entry["sha256"]).lower(),
                size=int(entry["size"]),
                input_size=int(entry["input_size"]),
                input_dtype=str(entry.get("input_dtype", "int32")),
                extra={k: v for k, v in entry.items()
                       if k not in {"file", "sha256", "size", "input_size", "input_dtype"}},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: entry '{name}' is incomplete ({exc}); {_RESTORE_HINT}") from None
    return specs


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_model(spec: ModelSpec) -> None:
    """Raise :class:`ModelError` unless the file exists with the manifest's size and sha256."""
    where = spec.display_path
    try:
        st = spec.path.stat()
    except FileNotFoundError:
        raise ModelError(f"{where}: model file missing; {_RESTORE_HINT}") from None
    except OSError as exc:
        raise ModelError(f"{where}: cannot read model file ({exc.strerror}); {_RESTORE_HINT}") from None
    if st.st_size != spec.size:
        what = "truncated" if st.st_size < spec.size else "larger than expected"
        raise ModelError(f"{where}: {what} ({st.st_size} of {spec.size} bytes); {_RESTORE_HINT}")
    key = (str(spec.path.resolve()), st.st_mtime_ns, st.st_size)
    with _cache_lock:
        digest = _hash_cache.get(key)
    if digest is None:
        try:
            digest = sha256_file(spec.path)
        except OSError as exc:
            raise ModelError(f"{where}: cannot read model file ({exc.strerror}); {_RESTORE_HINT}") from None
        with _cache_lock:
            _hash_cache[key] = digest
    if digest != spec.sha256:
        raise ModelError(f"{where}: checksum mismatch (file damaged or replaced); {_RESTORE_HINT}")


def resolve_model(name: str, folder: str | Path | None = None) -> ModelSpec:
    """The verified spec of one model by name (``lightning`` or ``thunder``)."""
    specs = load_manifest(folder)
    if name not in specs:
        known = ", ".join(sorted(specs)) or "none"
        raise ModelError(f"unknown model '{name}' (the manifest lists: {known})")
    spec = specs[name]
    verify_model(spec)
    return spec


def clear_cache() -> None:
    """Forget remembered checksums (tests; or after replacing files in place with the same mtime)."""
    with _cache_lock:
        _hash_cache.clear()
