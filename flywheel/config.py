"""Typed configuration: one dataclass per component, loaded from YAML, overridden by FLYWHEEL_* variables
and flags. Nothing here reads the environment at import time."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from flywheel.errors import ConfigError

DEFAULT_HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)


@dataclass(slots=True)
class DbConfig:
    url: str | None = None  # None: the embedded PostgreSQL under the user's data directory
    data_dir: str | None = None  # where the embedded server lives; None: platformdirs' user data dir
    echo: bool = False


@dataclass(slots=True)
class LeanConfig:
    repl: str | None = None  # REPL command; None: the one `flywheel lean setup` built
    project_dir: str | None = None  # the Lake project; None: <data dir>/lean
    lean_version: str = "v4.26.0"
    mathlib_rev: str = "v4.26.0"
    repl_rev: str = "v4.26.0"
    header: str = DEFAULT_HEADER
    timeout_s: float = 60.0
    workers: int = 1
    memory_limit_mb: int = 8192  # address-space cap per REPL process
    rss_limit_mb: int = 6144  # restart a REPL whose resident memory passed this
    max_checks_per_process: int = 200
    max_heartbeats: int = 400000  # the largest maxHeartbeats (and synthInstance.maxHeartbeats) code may set
    max_rec_depth: int = 10000  # the largest maxRecDepth code may set
    allow_native_decide: bool = False
    allowed_axioms: list[str] = field(default_factory=lambda: ["propext", "Classical.choice", "Quot.sound"])
    dojo_cache_dir: str | None = None
    dojo_memory_limit_mb: int = 16384


@dataclass(slots=True)
class GeneratorConfig:
    backend: str = "hf"  # vllm | openai | hf
    model: str | None = None  # a local path or a hub name
    tensor_parallel_size: int = 1
    dtype: str = "auto"
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    enable_prefix_caching: bool = True
    enforce_eager: bool = False  # skip graph capture/compilation (faster start, slower steps)
    base_url: str | None = None  # openai back end
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = 32
    max_retries: int = 5
    request_timeout_s: float = 600.0
    device: str = "auto"  # hf back end
    batch_size: int = 16  # hf back end: sequences generated together
    trust_remote_code: bool = False  # vllm and hf: run the model repository's own code
    extra_body: dict[str, Any] = field(default_factory=dict)  # openai back end: extra request fields (top_k, ...)
    seed: int = 0


@dataclass(slots=True)
class SamplingConfig:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 2048
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


@dataclass(slots=True)
class AutoformalizeConfig:
    samples: int = 4
    template: str | None = None  # a file; None: DeepSeek-Prover V1's prompt
    few_shot: int = 3
    few_shot_file: str | None = None  # None: the bundled miniF2F-valid examples
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=0.8, max_tokens=1024))


@dataclass(slots=True)
class FilterConfig:
    compile: bool = True
    dedup: bool = True
    decontaminate: bool = True
    benchmarks: list[str] = field(default_factory=lambda: ["minif2f", "proofnet"])
    ngram: int = 5
    jaccard_threshold: float = 0.8
    grade: bool = True
    min_grade: str = "above average"  # excellent > good > above average > fair > poor
    grade_retries: int = 2
    grade_sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=0.0, max_tokens=1024))


@dataclass(slots=True)
class ProverConfig:
    samples_per_side: int = 8
    passes: int = 1
    wall_time_s: float = 3600.0
    negation_form: str = "hyps"  # hyps: hyps ⊢ ¬concl; forall: ⊢ ¬ ∀ binders, concl
    # completion: the model continues the code block (DeepSeek-Prover-V1.5); chat: the statement is asked in a
    # chat turn and the answer's last Lean block is taken (reasoning provers: Kimina, Goedel-V2, DeepSeek-V2)
    prompt_style: str = "completion"
    prove_negation: bool = True
    hypothesis_rejection: bool = True
    false_hyps_samples: int = 4
    template: str | None = None
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=1.0, max_tokens=2048))


@dataclass(slots=True)
class RunConfig:
    rounds: int = 1
    workers: int = 1
    ray_address: str | None = None
    log_dir: str | None = None


@dataclass(slots=True)
class Config:
    db: DbConfig = field(default_factory=DbConfig)
    lean: LeanConfig = field(default_factory=LeanConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    grader: GeneratorConfig | None = None  # None: the generator grades
    autoformalize: AutoformalizeConfig = field(default_factory=AutoformalizeConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    prover: ProverConfig = field(default_factory=ProverConfig)
    run: RunConfig = field(default_factory=RunConfig)


# Short names users already know; the general form is FLYWHEEL_<SECTION>__<FIELD>.
ENV_ALIASES = {
    "FLYWHEEL_DB_URL": ("db", "url"),
    "FLYWHEEL_DATA_DIR": ("db", "data_dir"),
    "FLYWHEEL_LEAN_REPL": ("lean", "repl"),
    "FLYWHEEL_LEAN_PROJECT": ("lean", "project_dir"),
}


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return build(tp, value, where)
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            out = tp(value)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}") from e
        if tp is int and isinstance(value, float) and value != out:
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return out
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return str(value)
    return value


def build(cls: type, values: Mapping[str, Any], where: str = "config") -> Any:
    """Build dataclass `cls` from a mapping, refusing unknown keys and wrong types with the field named."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(names))})")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    for k, v in kwargs.items():
        allowed = CHOICES.get((cls.__name__, k))
        if allowed and v not in allowed:
            raise ConfigError(f"{where}.{k}: expected one of {', '.join(allowed)}, got {v!r}")
    return cls(**kwargs)


# Fields that take one of a few words, checked when the config is read, before any stage runs.
CHOICES = {
    ("ProverConfig", "negation_form"): ("hyps", "forall"),
    ("ProverConfig", "prompt_style"): ("completion", "chat"),
}


def _set_path(tree: dict, path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        node = tree.get(key)
        if not isinstance(node, dict):
            node = tree[key] = {}
        tree = node
    tree[path[-1]] = value


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in environ.items():
        if key in ENV_ALIASES:
            _set_path(tree, ENV_ALIASES[key], value)
        elif key.startswith("FLYWHEEL_") and "__" in key:
            path = tuple(p.lower() for p in key[len("FLYWHEEL_"):].split("__"))
            _set_path(tree, path, value)
    return tree


def _merge(base: dict, extra: Mapping) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def load_config(
    path: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """File < FLYWHEEL_* environment < explicit overrides (flags, as a nested mapping)."""
    tree: dict[str, Any] = {}
    if path is not None:
        import yaml

        p = Path(path)
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"{p}: cannot read config: {e.strerror}") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections")
        tree = loaded or {}
    tree = _merge(tree, env_overrides(os.environ if environ is None else environ))
    if overrides:
        tree = _merge(tree, overrides)
    return build(Config, tree, str(path) if path else "config")


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
