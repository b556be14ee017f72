"""Safe model files: skops for scikit-learn objects (no pickle), a meta.json with the format version and the
SHA-256 of every artefact, verified on load."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

# Types and functions a model file may name beyond skops' own safe defaults (plain containers and numbers):
# scikit-learn, NumPy and SciPy. Anything else is refused, builtins included: the ones skops does not trust
# by default are eval, exec, getattr, open and the like, which a FunctionTransformer would call on our input.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")
# Parts of those libraries that read files, run code or exist for testing: refused even so.
UNTRUSTED_PARTS = ("testing", "f2py", "distutils", "ctypeslib", "npyio", "memmap", "fromfile", "tofile", "datasets",
                   "externals", "conftest", "build_utils", "check_build")
UNTRUSTED_STARTS = ("load", "save", "open", "exec", "eval", "system", "popen", "spawn", "compile", "import")


class ModelError(RuntimeError):
    """A model file is missing, altered, of another version, or asks for untrusted code."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dump_sklearn(obj: Any, path: Path) -> str:
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    import zipfile

    sio.dump(obj, path, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    return sha256_of(path)


def is_trusted_type(name: str) -> bool:
    """Whether a model file may name this type or function (a dotted path such as sklearn.svm._classes.LinearSVC)."""
    if not name.startswith(TRUSTED_PREFIXES):
        return False
    for part in name.lower().split(".")[1:]:
        part = part.strip("_")
        if part.startswith(UNTRUSTED_STARTS) or any(bad in part for bad in UNTRUSTED_PARTS):
            return False
    return True


def load_sklearn(path: Path, expected_sha256: str | None) -> Any:
    """A scikit-learn object from a skops file, after checking its SHA-256 against meta.json and the types it
    names against the allow-list. Never unpickles: a pickle (or anything but a skops zip) is refused before
    any of its content is interpreted."""
    import zipfile

    import skops.io as sio

    verified_path(path, expected_sha256)
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not a skops model file (not a zip archive; a pickle?); refusing to load")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a zip that is not a skops archive
        raise ModelError(f"{path}: not a skops model file ({type(exc).__name__}); refusing to load") from None
    bad = [t for t in untrusted if not is_trusted_type(t)]
    if bad:
        raise ModelError(f"{path}: model file asks for untrusted types {bad[:5]}; refusing to load")
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as exc:
        raise ModelError(f"{path}: cannot load the model ({type(exc).__name__}: {exc})"[:500]) from None


def verified_path(path: Path, expected_sha256: Optional[str]) -> Path:
    """The path, after checking the file exists and matches the SHA-256 recorded in meta.json."""
    if not path.exists():
        raise ModelError(f"{path}: model file not found; train it with `policyminer train`")
    if not expected_sha256:
        raise ModelError(f"{path}: meta.json records no SHA-256 for this file; retrain with `policyminer train`")
    if sha256_of(path) != expected_sha256:
        raise ModelError(f"{path}: checksum mismatch; the file was altered or is from another training run")
    return path


def read_meta(model_dir: Path) -> dict:
    meta_path = model_dir / "meta.json"
    if not meta_path.exists():
        raise ModelError(f"{model_dir}: no meta.json; train the model with `policyminer train`")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{meta_path}: not valid JSON ({exc}); retrain with `policyminer train`") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{meta_path}: not a JSON object; retrain with `policyminer train`")
    return meta


def check_version(meta: dict, expected: str, model_dir: Path) -> None:
    if meta.get("format_version") != expected:
        raise ModelError(f"{model_dir}: model format {meta.get('format_version')!r} does not match this code's "
                         f"{expected!r}; retrain with `policyminer train`")
