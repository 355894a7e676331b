"""Where the Lean toolchain lives and which command starts the REPL."""

from __future__ import annotations

import shlex
from pathlib import Path

from flywheel.config import LeanConfig
from flywheel.errors import LeanError


def data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("flywheel", appauthor=False))


def project_dir(cfg: LeanConfig) -> Path:
    return Path(cfg.project_dir) if cfg.project_dir else data_dir() / "lean"


def repl_binary(cfg: LeanConfig) -> Path:
    return project_dir(cfg) / ".lake" / "packages" / "repl" / ".lake" / "build" / "bin" / "repl"


def repl_command(cfg: LeanConfig) -> tuple[list[str], str | None]:
    """(argv, working directory). FLYWHEEL_LEAN_REPL / lean.repl wins; else the REPL that
    `flywheel lean setup` built, run under `lake env` so that Mathlib's .olean files are found."""
    if cfg.repl:
        argv = shlex.split(cfg.repl)
        if not argv:
            raise LeanError("lean.repl (FLYWHEEL_LEAN_REPL) is empty")
        return argv, None
    binary = repl_binary(cfg)
    if not binary.exists():
        raise LeanError(f"no Lean REPL at {binary}: run `flywheel lean setup` or set FLYWHEEL_LEAN_REPL")
    return ["lake", "env", str(binary)], str(project_dir(cfg))


def toolchain_id(cfg: LeanConfig) -> str:
    """What a cached verdict depends on besides the code: the Lean, Mathlib and REPL in use."""
    repl = cfg.repl or str(repl_binary(cfg))
    return f"lean={cfg.lean_version};mathlib={cfg.mathlib_rev};repl={repl}"
