"""Tactic-level interaction through lean-dojo, on a theorem of our Lake project, with our settings.

lean_dojo reads its settings from the environment when it is imported, so they are set first:
its cache under our data directory, no remote cache (offline clusters), and a tactic memory limit
below the machine's memory."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from flywheel.config import LeanConfig
from flywheel.errors import LeanError
from flywheel.lean.toolchain_paths import data_dir, project_dir


@dataclass(slots=True, frozen=True)
class TacticState:
    pp: str  # the goals, pretty-printed
    id: int


@dataclass(slots=True, frozen=True)
class ProofFinished:
    id: int


@dataclass(slots=True, frozen=True)
class TacticError:
    message: str


@dataclass(slots=True, frozen=True)
class TacticTimeout:
    seconds: float


Outcome = Union[TacticState, ProofFinished, TacticError, TacticTimeout]


def dojo_environment(cfg: LeanConfig, total_memory_mb: int | None = None) -> dict[str, str]:
    """The variables lean_dojo reads at import; the memory limit never reaches the machine's memory."""
    if total_memory_mb is None:
        import psutil

        total_memory_mb = psutil.virtual_memory().total // 2**20
    limit = min(cfg.dojo_memory_limit_mb, int(total_memory_mb * 0.8))
    return {
        "CACHE_DIR": str(Path(cfg.dojo_cache_dir) if cfg.dojo_cache_dir else data_dir() / "lean_dojo"),
        "DISABLE_REMOTE_CACHE": "1",
        "TACTIC_MEMORY_LIMIT": f"{max(limit, 512)}m",
        "TACTIC_CPU_LIMIT": "1",
    }


def _import_lean_dojo(cfg: LeanConfig):
    missing = [t for t in ("lean", "lake") if shutil.which(t) is None]
    if missing:
        raise LeanError(f"lean-dojo needs {' and '.join(missing)} on PATH: run `flywheel lean setup` and add ~/.elan/bin to PATH")
    os.environ.update(dojo_environment(cfg))
    try:
        import lean_dojo
    except ImportError as e:
        raise LeanError("lean-dojo is not installed: pip install lean-dojo") from e
    return lean_dojo


class TacticSession:
    """`with TacticSession(cfg, file, name) as (session, state): session.run_tac(state, "simp")`."""

    def __init__(self, cfg: LeanConfig, file_path: str, theorem: str, timeout_s: int = 600):
        self.cfg, self.file_path, self.theorem, self.timeout_s = cfg, file_path, theorem, timeout_s
        self._dojo = None
        self._ld = None

    def __enter__(self):
        ld = self._ld = _import_lean_dojo(self.cfg)
        root = project_dir(self.cfg)
        if not (root / ".git").exists():
            raise LeanError(f"lean-dojo needs the Lake project at {root} to be a git repository (run `flywheel lean setup`)")
        repo = ld.LeanGitRepo.from_path(root)
        thm = ld.Theorem(repo, self.file_path, self.theorem)
        try:
            self._dojo = ld.Dojo(thm, timeout=self.timeout_s)
            dojo, state = self._dojo.__enter__()
        except ld.DojoInitError as e:
            raise LeanError(f"lean-dojo could not start on {self.theorem}: {e}") from e
        return self, self._convert(state)

    def __exit__(self, *exc) -> None:
        if self._dojo is not None:
            self._dojo.__exit__(*exc)

    def _convert(self, result) -> Outcome:
        ld = self._ld
        if isinstance(result, ld.TacticState):
            return TacticState(result.pp, result.id)
        if isinstance(result, ld.ProofFinished):
            return ProofFinished(result.tactic_state_id)
        if isinstance(result, ld.LeanError):
            return TacticError(result.error)
        return TacticError(f"unexpected lean-dojo result: {result!r}")

    def run_tac(self, state: TacticState, tactic: str) -> Outcome:
        ld = self._ld
        try:
            original = ld.TacticState(state.pp, state.id)
            return self._convert(self._dojo.run_tac(original, tactic))
        except ld.DojoTacticTimeoutError:
            return TacticTimeout(self.timeout_s)
        except ld.DojoCrashError as e:
            return TacticError(f"lean-dojo crashed: {e}")
