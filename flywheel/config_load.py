"""Reading a config tree into dataclasses: types converted and refused with the field named as the user
wrote it (the file and key, or the FLYWHEEL_* variable). Generic: flywheel/config.py holds the types."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Callable, Mapping

from flywheel.errors import ConfigError


def _convert(value: Any, tp: Any, where: str, name: Callable[[str], str]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], where, name)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name(where)}: expected a mapping, got {type(value).__name__}")
        return build(tp, value, where, name)
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{name(where)}: expected a list, got {type(value).__name__}")
        return [_convert(v, item, f"{where}[{i}]", name) for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{name(where)}: expected true or false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{name(where)}: expected a number, got {value!r}")
        try:
            out = tp(value)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{name(where)}: expected {tp.__name__}, got {value!r}") from e
        if tp is int and isinstance(value, float) and value != out:
            raise ConfigError(f"{name(where)}: expected an integer, got {value!r}")
        return out
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{name(where)}: expected text, got {value!r}")
        return str(value)
    return value


def build(cls: type, values: Mapping[str, Any], where: str = "",
          name: Callable[[str], str] | None = None) -> Any:
    """Build dataclass `cls` from a mapping, refusing unknown keys and wrong types with the field named.
    `name` turns a field's dotted path into what the user wrote (the file and key, or the variable)."""
    name = name or (lambda path: path)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        path = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"{name(path)}: unknown field {unknown[0]!r} (known: {', '.join(sorted(names))})")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k, name) for k, v in values.items()}
    return cls(**kwargs)


def _set_path(tree: dict, path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        node = tree.get(key)
        if not isinstance(node, dict):
            node = tree[key] = {}
        tree = node
    tree[path[-1]] = value


def env_overrides(environ: Mapping[str, str], aliases: Mapping[str, tuple[str, ...]],
                  origins: dict[str, str] | None = None) -> dict[str, Any]:
    """The FLYWHEEL_* variables as a nested mapping; `origins` gets each one's dotted path -> `NAME=value`."""
    tree: dict[str, Any] = {}
    for key, value in environ.items():
        if key in aliases:
            path = aliases[key]
        elif key.startswith("FLYWHEEL_") and "__" in key:
            path = tuple(p.lower() for p in key[len("FLYWHEEL_"):].split("__"))
        else:
            continue
        _set_path(tree, path, value)
        if origins is not None:
            origins[".".join(path)] = f"{key}={value}"
    return tree


def merge(base: dict, extra: Mapping) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def leaves(tree: Mapping, prefix: str = "") -> list[str]:
    out = []
    for k, v in tree.items():
        dotted = f"{prefix}.{k}" if prefix else k
        out += leaves(v, dotted) if isinstance(v, Mapping) else [dotted]
    return out


def namer(file: str | None, file_keys: set[str], origins: Mapping[str, str]) -> Callable[[str], str]:
    """Dotted path -> what the user wrote: the variable that set it (or a section above it), else the file and
    key when the file set it, else the bare path (a default)."""
    def name(path: str) -> str:
        key = path.split("[", 1)[0]
        while key:
            if key in origins:
                return f"{origins[key]} ({path})"
            if key in file_keys and file:
                return f"{file}: {path}"
            key = key.rpartition(".")[0]
        return path

    return name


def read_file(p: Path) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from e
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of sections")
    return loaded or {}
