"""The review app's settings: configs/review.toml, kept apart from default.toml so that paging or filtering
choices never change a run's fingerprint. A file given to `load()` overlays it, key by key."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Optional

from pipeline.config import CONFIG_DIR, ConfigError

REVIEW_TOML = CONFIG_DIR / "review.toml"
TYPES = {"min_passage_chars": int, "page_size": int, "doc_menu_max": int, "max_request_bytes": int,
         "context_passages": int, "report_link_base": str}


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8")).get("review", {})
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load(overlay: Optional[Path] = None) -> dict:
    """configs/review.toml's [review] table (with `overlay`'s [review] keys over it), every key checked."""
    values = _read(REVIEW_TOML)
    if overlay:
        extra = _read(Path(overlay))
        unknown = sorted(set(extra) - set(TYPES))
        if unknown:
            raise ConfigError(f"unknown config key 'review.{unknown[0]}'")
        values.update(extra)
    for key, kind in TYPES.items():
        value = values.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"config key 'review.{key}' must be {kind.__name__}, not {value!r}")
        if kind is int and value < (0 if key == "context_passages" else 1):
            raise ConfigError(f"config key 'review.{key}' is too small: {value!r}")
    return values
