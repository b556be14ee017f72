"""Settings: configs/default.toml overlaid by a user's file. Data files are resolved relative to configs/."""
from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


def _data_dir(name: str, marker: str) -> Path:
    """configs/ or models/: the source tree's (a checkout or an editable install), else the copy a wheel ships
    inside the package (pyproject's package-dir maps them to pipeline/configs and pipeline/models)."""
    source = PROJECT_DIR / name
    return source if (source / marker).exists() else PACKAGE_DIR / name


CONFIG_DIR = _data_dir("configs", "default.toml")
MODELS_DIR = _data_dir("models", "classifier")


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or sets an unknown key."""


def _checked(where: str, default: Any, value: Any) -> Any:
    """A user's value for a key, refused with the key's name when its type is not the default's (an int is a
    fine float), or when a key whose default is a positive number gets a number below 1 (counts, sizes, limits
    and timeouts: `max_blocks = -10` or `doc_timeout = -5` would silently turn a limit off)."""
    kind = type(default)
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool)) \
        or (kind is float and isinstance(value, int) and not isinstance(value, bool))
    if default is not None and not ok:
        raise ConfigError(f"config key {where!r} must be {kind.__name__}, not {type(value).__name__} ({value!r})")
    if kind in (int, float) and not isinstance(default, bool) and default >= 0 and value < 0:
        raise ConfigError(f"config key {where!r} must not be negative, not {value!r}")
    if kind is int and not isinstance(default, bool) and default >= 1 and value < 1 and where not in ZERO_DISABLES:
        raise ConfigError(f"config key {where!r} must be at least 1, not {value!r}")
    return value


# Count keys whose documented value 0 turns their step off (configs/default.toml says so beside each).
ZERO_DISABLES = {"boilerplate.site_repeat_min_pages"}


def _merge(base: dict, over: dict, path: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        where = f"{path}{key}"
        if key not in base:
            raise ConfigError(f"unknown config key {where!r}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {where!r} must be a table")
            out[key] = _merge(base[key], value, where + ".")
        else:
            out[key] = _checked(where, base[key], value)
    return out


@dataclass(frozen=True, eq=False)
class Settings:
    """Resolved settings. `data` is the merged TOML; `path()` resolves a data file named in it."""
    data: dict
    source: Optional[str] = None

    def __hash__(self) -> int:
        return hash(self.version)

    def __eq__(self, other) -> bool:
        return isinstance(other, Settings) and other.version == self.version

    def __getitem__(self, section: str) -> dict:
        return self.data[section]

    def path(self, name: str) -> Path:
        p = Path(name)
        return p if p.is_absolute() else CONFIG_DIR / p

    @property
    def version(self) -> str:
        """A short hash of the effective settings, recorded in run.json."""
        blob = json.dumps(self.data, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


# Tables of a user's config file that other readers own: [review] is the review app's and the report's
# (pipeline/review/settings.py), outside the run's settings so that it never changes a run's fingerprint.
FOREIGN_TABLES = ("review",)


@lru_cache(maxsize=8)
def load_settings(user_file: Optional[str] = None) -> Settings:
    base = _read_toml(CONFIG_DIR / "default.toml")
    if user_file:
        user = {k: v for k, v in _read_toml(Path(user_file)).items() if k not in FOREIGN_TABLES}
        base = _merge(base, user)
    return Settings(base, user_file)


@lru_cache(maxsize=32)
def load_toml_data(path: str) -> dict[str, Any]:
    return _read_toml(Path(path))


def read_lexicon_lines(path: Path) -> list[str]:
    """Non-comment, non-blank lines of a lexicon file (``#`` starts a comment)."""
    if not Path(path).exists():
        return []
    out = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.strip():
            out.append(line)
    return out


def cache_dir(configured: str) -> Path:
    """A cache folder of the project's (jieba's dictionary cache): absolute as given, else under the user's
    cache dir ($XDG_CACHE_HOME or ~/.cache). Created when missing."""
    import os

    path = Path(configured)
    if not path.is_absolute():
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        path = base / path
    path.mkdir(parents=True, exist_ok=True)
    return path
