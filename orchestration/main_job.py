"""What the main job (scripts/run.sh) can run here: the model, the hardware to run it on, the network. Each
missing piece is named with the one command that fixes it (on stderr); the plan goes to stdout as shell
assignments for run.sh to `eval`. Lean is the script's to check: `flywheel lean doctor` says it best."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from flywheel.config import DEFAULT_MODEL, load_config
from flywheel.errors import FlywheelError

PROBE_TIMEOUT_S = 8.0
CPU_PILOT = 2  # problems: transformers on a CPU takes minutes a sample for a 7B prover
HUB, GITHUB = "https://huggingface.co", "https://github.com"


@dataclass(slots=True)
class Plan:
    model: str
    backend: str
    configured: bool  # the user named a model (config or FLYWHEEL_*): their settings stand
    model_ok: bool
    network: bool  # github.com answers: `flywheel lean setup` can fetch Lean and Mathlib (run.sh says it when needed)
    limit: int | None  # problems for this round; None: every sample problem

    def shell(self) -> str:
        values = {"MODEL": self.model, "BACKEND": self.backend, "CONFIGURED": int(self.configured),
                  "MODEL_OK": int(self.model_ok), "NETWORK_OK": int(self.network), "LIMIT": self.limit or ""}
        return "\n".join(f"{k}={shlex.quote(str(v))}" for k, v in values.items())


def say(message: str) -> None:
    print(f"run: {message}", file=sys.stderr, flush=True)


def gpus() -> int:
    """NVIDIA GPUs that nvidia-smi lists (0 without the driver)."""
    if not shutil.which("nvidia-smi"):
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU ")) if out.returncode == 0 else 0


def answers(url: str) -> bool:
    """Whether the host answers at all (any HTTP status counts: it is the network we ask about)."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return True


def model_at_hand(model: str, hub: bool) -> bool:
    """A local folder, a hub name already in the cache, or a hub name the hub can serve now."""
    if Path(model).expanduser().is_dir():
        return True
    try:
        import huggingface_hub
    except ImportError:
        return hub
    if isinstance(huggingface_hub.try_to_load_from_cache(model, "config.json"), str):
        return True
    return hub


def plan(environ: dict[str, str]) -> Plan:
    cfg = load_config(environ.get("FLYWHEEL_CONFIG") or None, environ=environ)
    configured = bool(cfg.generator.model)
    model = cfg.generator.model or DEFAULT_MODEL
    offline = any(environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    hub = not offline and answers(HUB)
    network = answers(GITHUB)
    if configured:
        backend, limit = cfg.generator.backend, None
        say(f"model: {model} with {backend}, as configured")
    else:
        backend, limit = _hardware(model)
    model_ok = backend == "openai" or model_at_hand(model, hub)
    if not model_ok:
        why = "HF_HUB_OFFLINE is set" if offline else f"{HUB} cannot be reached (no network)"
        say(f"MISSING network for the model: {model} is not in the hub cache and {why}. "
            f"Fix: connect this machine, then `hf download {model}` (or set FLYWHEEL_GENERATOR__MODEL to a local copy)")
    return Plan(model, backend, configured, model_ok, network, limit)


def _hardware(model: str) -> tuple[str, int | None]:
    """vLLM on a GPU; transformers otherwise, over a pilot of CPU_PILOT problems on a CPU."""
    found = gpus()
    if found and importlib.util.find_spec("vllm") is not None:
        say(f"model: {model} with vLLM on {found} GPU(s)")
        return "vllm", None
    if found:
        say(f"MISSING vLLM: {found} GPU(s) found, but vLLM is not installed, so transformers runs the model. "
            "Fix: `.venv/bin/pip install -e '.[gpu]'`")
        return "hf", None
    say(f"MISSING GPU: nvidia-smi finds no NVIDIA GPU, so transformers runs {model} on the CPU, slowly: this round is "
        f"a pilot of {CPU_PILOT} problems. Fix: run `bash scripts/run.sh` on a machine with an NVIDIA GPU")
    return "hf", CPU_PILOT


def main() -> int:
    try:
        print(plan(dict(os.environ)).shell())
    except FlywheelError as e:
        say(f"error: {e}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
