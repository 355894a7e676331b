"""Where the Lean toolchain lives and which command starts the REPL. Cheap to import: no processes run."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

from flywheel.config import LeanConfig
from flywheel.errors import ConfigError, LeanError

# A Lean release, release candidate or nightly, with or without the leading `v`.
_VERSION = re.compile(r"v?\d+\.\d+\.\d+(-rc\d+)?|nightly-\d{4}-\d{2}-\d{2}")
# Git revisions as Lake takes them: tags, branches, commit hashes. Nothing that could break TOML quoting.
_REV = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]*")


def data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("flywheel", appauthor=False))


def project_dir(cfg: LeanConfig) -> Path:
    return Path(cfg.project_dir).expanduser() if cfg.project_dir else data_dir() / "lean"


def toolchain_name(cfg: LeanConfig) -> str:
    """The elan toolchain of `lean.lean_version`: `v4.26.0` → `leanprover/lean4:v4.26.0`."""
    version = cfg.lean_version.strip()
    if ":" in version:  # already a full toolchain name
        return version
    if not _VERSION.fullmatch(version):
        raise ConfigError(f"lean.lean_version: {version!r} is not a Lean version such as v4.26.0")
    if version.startswith("nightly-"):
        return f"leanprover/lean4-nightly:{version}"
    return f"leanprover/lean4:{version if version.startswith('v') else 'v' + version}"


def check_rev(value: str, field: str) -> str:
    if not _REV.fullmatch(value):
        raise ConfigError(f"lean.{field}: {value!r} is not a git revision (a tag, branch or commit)")
    return value


def elan_home() -> Path:
    return Path(os.environ.get("ELAN_HOME") or Path.home() / ".elan")


def installed_toolchain(cfg: LeanConfig) -> Path | None:
    """The pinned toolchain's directory under elan's home, if elan has installed it."""
    # elan's own naming of toolchain directories: '/' becomes '--', ':' becomes '---'.
    name = toolchain_name(cfg).replace("/", "--").replace(":", "---")
    path = elan_home() / "toolchains" / name
    return path if (path / "bin").is_dir() else None


def find_tool(name: str) -> str | None:
    """A tool on PATH, else in elan's bin directory (a fresh elan install is not on PATH yet)."""
    found = shutil.which(name)
    if found:
        return found
    candidate = elan_home() / "bin" / name
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def repl_binary(cfg: LeanConfig) -> Path:
    """The REPL that `lake build repl` produced. Lake names the package directory after the
    `[[require]]` name, which is the REPL's own package name `REPL`; older set-ups used `repl`."""
    packages = project_dir(cfg) / ".lake" / "packages"
    candidates = [packages / name / ".lake" / "build" / "bin" / "repl" for name in ("REPL", "repl")]
    return next((c for c in candidates if c.is_file()), candidates[0])


def repl_command(cfg: LeanConfig) -> list[str]:
    """The REPL command for the pool: lean.repl (FLYWHEEL_LEAN_REPL) split like a shell would, else
    the REPL that `flywheel lean setup` built under `lake env`, which puts Mathlib's .olean files on
    LEAN_PATH. The latter must run in `repl_cwd(cfg)`: elan picks the Lean version from the
    project's lean-toolchain there, and `lake env` reads the project's lakefile there."""
    if cfg.repl is not None and cfg.repl.strip():
        try:
            argv = shlex.split(cfg.repl)
        except ValueError as e:
            raise ConfigError(f"lean.repl (FLYWHEEL_LEAN_REPL): cannot split {cfg.repl!r}: {e}") from e
        return argv
    binary = repl_binary(cfg)
    if not binary.is_file():
        raise LeanError(f"no Lean REPL at {binary}: run `flywheel lean setup` (or set FLYWHEEL_LEAN_REPL)")
    return [find_tool("lake") or "lake", "env", str(binary)]


def repl_cwd(cfg: LeanConfig) -> str | None:
    """Where `repl_command` runs: the Lake project for the built REPL; the caller's directory for lean.repl."""
    if cfg.repl is not None and cfg.repl.strip():
        return None
    return str(project_dir(cfg))
