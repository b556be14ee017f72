"""The run's configuration, typed: configs/default.toml overlaid by a user's file (--config), one frozen dataclass
per section, checked once at load. Data files named in it are resolved relative to configs/.

Each field's type and limits are declared here; its value (and the comment saying why) lives in default.toml,
the one place defaults are written. A user's file may set any subset of the keys; an unknown key, a value of the
wrong type or an impossible value (a negative count, a share above 1, an unknown segmenter) is refused with the
key's name."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Optional, get_type_hints

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
    """A configuration file is missing, unreadable, sets an unknown key or a value its key cannot take."""


# Limits a key's value must keep, as field metadata: at least `min` (counts, sizes, timeouts: a negative or zero
# limit would silently turn it off), at most `max` (shares), or one of `choices`.
def _count(minimum: int = 1):
    return field(metadata={"min": minimum})


def _share():
    return field(metadata={"min": 0, "max": 1})


def _choice(*choices: str):
    return field(metadata={"choices": choices})


@dataclass(frozen=True)
class IngestConfig:
    to_simplified: bool
    min_cjk_chars: int = _count(0)
    min_cjk_ratio: float = _share()
    detect_bytes: int = _count()


@dataclass(frozen=True)
class BoilerplateConfig:
    patterns: str
    short_line: int = _count()
    anchor_line: int = _count()
    max_gap: int = _count(0)
    chrome_prose_score: int = _count(0)
    max_link_density: float = _share()
    site_repeat_min_pages: int = _count(0)  # 0 turns the site pre-pass off
    site_repeat_min_chars: int = _count()
    site_repeat_max_share: float = _share()
    repeated_paragraph_min_chars: int = _count()


@dataclass(frozen=True)
class RepairConfig:
    spam_synonyms: str
    fragment_clause_chars: int = _count(0)
    hard_wrap_share: float = _share()
    restore_min_support: float = _share()


@dataclass(frozen=True)
class DedupConfig:
    enabled: bool
    num_perm: int = _count(2)
    threshold: float = _share()
    shingle_chars: int = _count()


@dataclass(frozen=True)
class NlpConfig:
    domain_dict: str
    institutions: str
    programmes: str
    places: str
    institution_suffixes: str
    programme_suffixes: str
    aliases: str
    entity_patterns: str
    use_model: bool
    cache_dir: str
    segmenter: str = _choice("rjieba", "jieba")


@dataclass(frozen=True)
class ClassifyConfig:
    model_dir: str
    cues: str
    actors: str
    secondary_ratio: float = _share()
    secondary_min: float = _share()
    passage_weight: float = _share()


@dataclass(frozen=True)
class RunConfig:
    workers: int = _count(0)  # 0: all cores
    chunk_size: int = _count()
    eta_after: int = _count(0)


@dataclass(frozen=True)
class LimitsConfig:
    max_input_bytes: int = _count()
    max_blocks: int = _count()
    doc_timeout: int = _count(0)  # 0: no limit
    kill_grace: int = _count(0)
    window_bytes: int = _count()
    max_line_chars: int = _count()
    annotate_max_chars: int = _count()


@dataclass(frozen=True)
class Config:
    """The whole run configuration: one attribute per configs/default.toml section. Immutable and compared by
    value (two loads of the same files are equal). `version` is its fingerprint; `path()` resolves a data file."""
    ingest: IngestConfig
    boilerplate: BoilerplateConfig
    repair: RepairConfig
    dedup: DedupConfig
    nlp: NlpConfig
    classify: ClassifyConfig
    run: RunConfig
    limits: LimitsConfig
    source: Optional[str] = field(default=None, compare=False)  # the user's file, if any

    def path(self, name: str) -> Path:
        p = Path(name)
        return p if p.is_absolute() else CONFIG_DIR / p

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {s.name: dataclasses.asdict(getattr(self, s.name)) for s in _SECTIONS}

    @cached_property
    def version(self) -> str:
        """A short hash of the effective configuration, recorded in run.json and part of the run store's cache
        key: the same values give the same hash, any changed value another."""
        blob = json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


_SECTIONS = [f for f in dataclasses.fields(Config) if f.name != "source"]


def _checked(where: str, kind: type, value: Any, limits: dict) -> Any:
    """A value for a key, refused with the key's name when its type is not the key's (an int is a fine float)
    or it is outside the key's limits."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if not (isinstance(value, kind) and (kind is bool or not isinstance(value, bool)) or kind is float and is_int):
        raise ConfigError(f"config key {where!r} must be {kind.__name__}, not {type(value).__name__} ({value!r})")
    if "min" in limits and value < 0 <= limits["min"]:
        raise ConfigError(f"config key {where!r} must not be negative, not {value!r}")
    if "min" in limits and value < limits["min"]:
        raise ConfigError(f"config key {where!r} must be at least {limits['min']}, not {value!r}")
    if "max" in limits and value > limits["max"]:
        raise ConfigError(f"config key {where!r} must be between {limits['min']} and {limits['max']}, not {value!r}")
    if "choices" in limits and value not in limits["choices"]:
        raise ConfigError(f"config key {where!r} must be one of {', '.join(map(repr, limits['choices']))}, "
                          f"not {value!r}")
    return float(value) if kind is float else value


def _section(name: str, cls: type, values: dict) -> Any:
    """One section's dataclass from its table, every key checked."""
    if not isinstance(values, dict):
        raise ConfigError(f"config key {name!r} must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise ConfigError(f"unknown config key '{name}.{key}'")
    missing = sorted(set(fields) - set(values))
    if missing:
        raise ConfigError(f"config key '{name}.{missing[0]}' has no value (configs/default.toml sets every key)")
    types = get_type_hints(cls)
    return cls(**{key: _checked(f"{name}.{key}", types[key], values[key], dict(fields[key].metadata))
                  for key in fields})


def _overlay(base: dict, over: dict) -> dict:
    """default.toml's tables with a user's keys over them, key by key (an unknown table is refused here; an
    unknown key by _section)."""
    out = {name: dict(table) for name, table in base.items()}
    for name, table in over.items():
        if name not in out:
            raise ConfigError(f"unknown config key {name!r}")
        if not isinstance(table, dict):
            raise ConfigError(f"config key {name!r} must be a table")
        out[name].update(table)
    return out


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


# Tables of a user's config file that other readers own: [review] is the review app's and the report's
# (pipeline/review/settings.py), outside the run's configuration so that it never changes a run's fingerprint.
FOREIGN_TABLES = ("review",)


def load_config(user_file: Optional[str] = None) -> Config:
    """configs/default.toml, overlaid by `user_file`'s keys when given, as a checked Config. Raises ConfigError."""
    tables = _read_toml(CONFIG_DIR / "default.toml")
    if user_file:
        user = {k: v for k, v in _read_toml(Path(user_file)).items() if k not in FOREIGN_TABLES}
        tables = _overlay(tables, user)
    extra = sorted(set(tables) - {s.name for s in _SECTIONS})
    if extra:
        raise ConfigError(f"unknown config key {extra[0]!r}")
    types = get_type_hints(Config)
    return Config(**{s.name: _section(s.name, types[s.name], tables.get(s.name, {})) for s in _SECTIONS},
                  source=str(user_file) if user_file else None)


def read_toml(path: Path) -> dict[str, Any]:
    """A data file of configs/ (rules, cue lists) as a dict. Read by the stage that owns it, once."""
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
    path = Path(configured)
    if not path.is_absolute():
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        path = base / path
    path.mkdir(parents=True, exist_ok=True)
    return path
