"""Before a run records anything: the Lean REPL command resolves, then the model can be reached. Each check
answers in seconds and names what to fix; none loads a model or starts a REPL."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from flywheel.config import Config, GeneratorConfig, LeanConfig
from flywheel.errors import ConfigError, GenerationError, LeanError

PROBE_TIMEOUT_S = 10.0
_TRUE = ("1", "true", "yes", "on")


def preflight(cfg: Config) -> None:
    """Lean first (it is the cheaper fix and every stage needs it), then each model the round will use."""
    check_lean(cfg.lean)
    check_model(cfg.generator, "generator")
    if cfg.grader is not None and cfg.filters.grade:
        check_model(cfg.grader, "grader")


def check_lean(cfg: LeanConfig) -> None:
    from flywheel.lean.toolchain_paths import repl_command

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
