"""Tactic-level interaction through lean-dojo, on a theorem of our Lake project, with our settings.

lean_dojo reads its settings from the environment once, when it is imported, so they are set just
before: its cache under our data directory, no remote cache (it only holds public GitHub repos, and
clusters are often offline), and a tactic memory limit below the machine's memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from flywheel.config import LeanConfig
from flywheel.errors import LeanError
from flywheel.lean.toolchain.paths import data_dir, elan_home, project_dir


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
class Timeout:
    seconds: float


Outcome = Union[TacticState, ProofFinished, TacticError, Timeout]


def dojo_memory_limit_gb(cfg: LeanConfig, total_memory_mb: int | None = None) -> int:
    """cfg.dojo_memory_limit_mb in whole GB (lean_dojo only takes `<N>g`), at most 80% of the machine."""
    if total_memory_mb is None:
        import psutil

        total_memory_mb = psutil.virtual_memory().total // 2**20
    return max(1, min(cfg.dojo_memory_limit_mb, int(total_memory_mb * 0.8)) // 1024)


def dojo_environment(cfg: LeanConfig, total_memory_mb: int | None = None) -> dict[str, str]:
    """The variables lean_dojo reads when it is imported."""
    cache = Path(cfg.dojo_cache_dir).expanduser() if cfg.dojo_cache_dir else data_dir() / "lean_dojo"
    return {
        "CACHE_DIR": str(cache.absolute()),
        "DISABLE_REMOTE_CACHE": "1",  # lean_dojo tests presence, not value
        "TACTIC_MEMORY_LIMIT": f"{dojo_memory_limit_gb(cfg, total_memory_mb)}g",
        # One thread per Dojo: throughput comes from running several Dojos, not from one wide one.
        "TACTIC_CPU_LIMIT": "1",
    }


def _stale_import(env: dict[str, str]) -> str | None:
    """If lean_dojo is already imported, what of its settings differs from ours."""
    constants = sys.modules.get("lean_dojo.constants")
    if constants is None:
        return None
    seen = {
        "CACHE_DIR": str(constants.CACHE_DIR),
        "DISABLE_REMOTE_CACHE": "1" if constants.DISABLE_REMOTE_CACHE else "(unset)",
        "TACTIC_MEMORY_LIMIT": str(constants.TACTIC_MEMORY_LIMIT),
        "TACTIC_CPU_LIMIT": str(constants.TACTIC_CPU_LIMIT),
    }
    wrong = [f"{k}={seen[k]} (want {v})" for k, v in env.items() if seen[k] != v]
    return ", ".join(wrong) or None


def import_lean_dojo(cfg: LeanConfig, total_memory_mb: int | None = None):
    """lean_dojo, imported with our settings in the environment; LeanError naming what is missing."""
    missing = [t for t in ("lean", "lake") if shutil.which(t) is None]
    if missing:
        raise LeanError(f"lean-dojo needs {' and '.join(missing)} on PATH: run `flywheel lean setup`, "
                        f"then add {elan_home() / 'bin'} to PATH")
    env = dojo_environment(cfg, total_memory_mb)
    stale = _stale_import(env)
    if stale:
        raise LeanError(f"lean_dojo was imported before flywheel could configure it: {stale}; "
                        "import flywheel.lean.tactics.dojo first, or set these variables yourself")
    os.environ.update(env)
    try:
        import lean_dojo
    except ImportError as e:
        raise LeanError(f"lean-dojo is not installed ({e}): pip install lean-dojo") from e
    except (AssertionError, subprocess.CalledProcessError, OSError) as e:
        # Its import checks git's version with an assert.
        raise LeanError(f"lean-dojo could not start: {e or type(e).__name__} (it needs git >= 2.25 on PATH)") from e
    return lean_dojo


def _check_project(root: Path, file_path: str) -> None:
    if not (root / "lakefile.toml").is_file():
        raise LeanError(f"no Lake project at {root}: run `flywheel lean setup`")
    if not (root / file_path).is_file():
        raise LeanError(f"{file_path} is not a file of the Lake project at {root}")
    # lean-dojo clones the project's HEAD commit, so the file must be committed there.
    try:
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", file_path], cwd=root, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise LeanError("lean-dojo needs git on PATH") from e
    if tracked.returncode != 0:
        raise LeanError(f"{file_path} is not committed in {root} (lean-dojo reads the last commit): "
                        f"commit it, or rerun `flywheel lean setup`. git said: {tracked.stderr.strip()}")


class TacticSession:
    """`with TacticSession(cfg, "Flywheel/Probe.lean", "flywheel_probe") as s: s.run_tac(s.initial, "rfl")`.

    After a Timeout or a crash the Lean process is in an unknown state: the session refuses further
    tactics and a new one must be opened."""

    def __init__(self, cfg: LeanConfig, file_path: str, theorem: str, timeout_s: int = 600):
        self.cfg, self.file_path, self.theorem, self.timeout_s = cfg, file_path, theorem, timeout_s
        self.initial: TacticState | None = None
        self._ld = None
        self._dojo = None
        self._broken: str | None = None

    def __enter__(self) -> "TacticSession":
        ld = self._ld = import_lean_dojo(self.cfg)
        root = project_dir(self.cfg)
        _check_project(root, self.file_path)
        try:
            # build_deps=False: lean-dojo fetches Mathlib's cache instead of tracing all of Mathlib.
            thm = ld.Theorem(ld.LeanGitRepo.from_path(root), self.file_path, self.theorem)
            self._dojo = ld.Dojo(thm, timeout=int(self.timeout_s), build_deps=False)
            _, state = self._dojo.__enter__()
        except Exception as e:  # lean_dojo fails with asserts, ValueError, GitPython and its own errors alike
            self._close()
            raise LeanError(f"lean-dojo could not start on {self.theorem} in {self.file_path}: {e!r}") from e
        initial = self._convert(state)
        if not isinstance(initial, TacticState):
            self._close()
            raise LeanError(f"lean-dojo gave no goal for {self.theorem}: {initial}")
        self.initial = initial
        return self

    def __exit__(self, *exc) -> None:
        self._close()

    def _close(self) -> None:
        dojo, self._dojo = self._dojo, None
        if dojo is None:
            return
        if getattr(dojo, "proc", None) is not None:
            from lean_dojo.interaction.dojo import kill_descendants

            kill_descendants(dojo.proc.pid)
        if getattr(dojo, "modified_file", None) is not None:
            dojo.modified_file.__exit__(None, None, None)  # deletes lean-dojo's modified copy of the file

    def _convert(self, result) -> Outcome:
        ld = self._ld
        if isinstance(result, ld.TacticState):
            return TacticState(result.pp, result.id)
        if isinstance(result, ld.ProofFinished):
            return ProofFinished(result.tactic_state_id)
        if isinstance(result, ld.LeanError):
            return TacticError(result.error)
        if isinstance(result, ld.ProofGivenUp):
            return TacticError("the proof gave up (sorry)")
        return TacticError(f"unexpected lean-dojo result: {result!r}")

    def run_tac(self, state: TacticState, tactic: str) -> Outcome:
        if self._dojo is None:
            raise LeanError("the tactic session is not open (use it in a `with` block)")
        if self._broken:
            raise LeanError(f"the tactic session is unusable after {self._broken}: open a new one")
        ld = self._ld
        try:
            return self._convert(self._dojo.run_tac(ld.TacticState(state.pp, state.id), tactic))
        except ld.DojoTacticTimeoutError:
            self._broken = f"a timeout ({self.timeout_s} s)"
            return Timeout(float(self.timeout_s))
        except ld.DojoCrashError as e:
            self._broken = f"a crash ({e})"
            return TacticError(f"Lean crashed: {e}")
