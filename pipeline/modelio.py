"""Safe model files: skops for scikit-learn objects (no pickle), a meta.json with the format version and the
SHA-256 of every artefact, verified on load."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

# Types a model file may instantiate: scikit-learn, NumPy and SciPy only. Anything else is refused.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.", "re.")


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


def load_sklearn(path: Path, expected_sha256: str | None) -> Any:
    import skops.io as sio

    if not path.exists():
        raise ModelError(f"{path}: model file not found; train it with `policyminer train`")
    if expected_sha256 and sha256_of(path) != expected_sha256:
        raise ModelError(f"{path}: checksum mismatch; the file was altered or is from another training run")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # not a skops archive (e.g. a pickle)
        raise ModelError(f"{path}: not a skops model file ({type(exc).__name__}); refusing to load") from None
    bad = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if bad:
        raise ModelError(f"{path}: model file asks for untrusted types {bad[:5]}; refusing to load")
    return sio.load(path, trusted=untrusted)


def read_meta(model_dir: Path) -> dict:
    meta_path = model_dir / "meta.json"
    if not meta_path.exists():
        raise ModelError(f"{model_dir}: no meta.json; train the model with `policyminer train`")
    return json.loads(meta_path.read_text(encoding="utf-8"))


def check_version(meta: dict, expected: str, model_dir: Path) -> None:
    if meta.get("format_version") != expected:
        raise ModelError(f"{model_dir}: model format {meta.get('format_version')!r} does not match this code's "
                         f"{expected!r}; retrain with `policyminer train`")
