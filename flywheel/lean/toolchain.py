"""`flywheel lean setup` and `flywheel lean doctor`: a Lake project pinned to one Lean and one Mathlib,
with the REPL as a dependency, built with elan. Every step says which command failed and why."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from flywheel.config import LeanConfig
from flywheel.lean.toolchain_paths import project_dir, repl_binary, repl_command

MATHLIB_GIT = "https://github.com/leanprover-community/mathlib4"
REPL_GIT = "https://github.com/leanprover-community/repl"


@dataclass(slots=True, frozen=True)
class StepResult:
    name: str
    ok: bool
    detail: str
    command: str = ""


def lakefile(cfg: LeanConfig) -> str:
    return (
        'name = "flywheel_lean"\n'
        'defaultTargets = []\n\n'
        "[[require]]\n"
        'name = "mathlib"\n'
        f'git = "{MATHLIB_GIT}"\n'
        f'rev = "{cfg.mathlib_rev}"\n\n'
        "[[require]]\n"
        'name = "repl"\n'
        f'git = "{REPL_GIT}"\n'
        f'rev = "{cfg.repl_rev}"\n'
    )


def toolchain_line(cfg: LeanConfig) -> str:
    return f"leanprover/lean4:{cfg.lean_version}\n"


def write_project(cfg: LeanConfig) -> StepResult:
    root = project_dir(cfg)
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / "lean-toolchain").write_text(toolchain_line(cfg), encoding="utf-8")
        (root / "lakefile.toml").write_text(lakefile(cfg), encoding="utf-8")
    except OSError as e:
        return StepResult("project", False, f"cannot write the Lake project in {root}: {e.strerror}")
    return StepResult("project", True, f"{root} (Lean {cfg.lean_version}, Mathlib {cfg.mathlib_rev}, REPL {cfg.repl_rev})")


def find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    elan_bin = Path.home() / ".elan" / "bin" / name
    return str(elan_bin) if elan_bin.exists() else None


def run_step(name: str, argv: list[str], cwd: Path | None = None, timeout_s: float = 3600) -> StepResult:
    command = " ".join(argv)
    env = dict(os.environ)
    elan_bin = str(Path.home() / ".elan" / "bin")
    env["PATH"] = env.get("PATH", "") + os.pathsep + elan_bin
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s)
    except FileNotFoundError:
        return StepResult(name, False, f"{argv[0]} not found on PATH", command)
    except subprocess.TimeoutExpired:
        return StepResult(name, False, f"no result within {timeout_s:g} s", command)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        return StepResult(name, False, f"exit status {done.returncode}\n{tail}", command)
    last = (done.stdout.strip().splitlines() or [""])[-1]
    return StepResult(name, True, last[:200], command)


def setup_steps(cfg: LeanConfig, install_elan: bool = False):
    """Yield each step's result; the caller stops at the first failure."""
    elan = find_tool("elan")
    if elan is None and install_elan:
        yield run_step("elan", ["apt-get", "install", "-y", "elan"], timeout_s=900)
        elan = find_tool("elan")
    if elan is None:
        yield StepResult("elan", False, "elan not found: install it (Debian: `apt-get install elan`, or the "
                                        "elan installer), or rerun with --install-elan")
        return
    yield StepResult("elan", True, elan)
    yield write_project(cfg)
    root = project_dir(cfg)
    yield run_step("lean", [elan, "toolchain", "install", f"leanprover/lean4:{cfg.lean_version}"], timeout_s=1800)
    lake = find_tool("lake") or "lake"
    yield run_step("dependencies", [lake, "update"], cwd=root)
    yield run_step("mathlib cache", [lake, "exe", "cache", "get"], cwd=root)
    yield run_step("repl", [lake, "build", "repl"], cwd=root)
    yield smoke_test(cfg)


def smoke_test(cfg: LeanConfig, timeout_s: float = 300) -> StepResult:
    """One real round trip through the REPL: `example : 1 + 1 = 2 := rfl` must come back clean."""
    from flywheel.errors import LeanError
    from flywheel.lean.repl import LeanRepl, ReplFailure

    try:
        argv, cwd = repl_command(cfg)
    except LeanError as e:
        return StepResult("repl check", False, str(e))
    try:
        with LeanRepl(argv, "", timeout_s=timeout_s, cwd=cwd) as repl:
            answer = repl.run("example : 1 + 1 = 2 := rfl", env=None)
    except (LeanError, ReplFailure) as e:
        return StepResult("repl check", False, str(e), " ".join(argv))
    errors = [m for m in answer.get("messages", []) if m.get("severity") == "error"]
    if errors or "env" not in answer:
        return StepResult("repl check", False, f"unexpected answer: {answer}", " ".join(argv))
    return StepResult("repl check", True, "example : 1 + 1 = 2 := rfl checked", " ".join(argv))


def doctor(cfg: LeanConfig) -> list[StepResult]:
    """What is there and what is missing, without changing anything."""
    out = []
    for tool in ("elan", "lean", "lake"):
        path = find_tool(tool)
        if path is None:
            out.append(StepResult(tool, False, "not found on PATH or in ~/.elan/bin"))
        else:
            out.append(run_step(tool, [path, "--version"], timeout_s=60))
    root = project_dir(cfg)
    tc = root / "lean-toolchain"
    out.append(StepResult("project", tc.exists(), f"{root}: " + (tc.read_text().strip() if tc.exists() else "not set up")))
    mathlib = root / ".lake" / "packages" / "mathlib" / ".lake" / "build"
    out.append(StepResult("mathlib", mathlib.is_dir(), str(mathlib) if mathlib.is_dir() else "no built Mathlib (run setup)"))
    binary = repl_binary(cfg)
    out.append(StepResult("repl binary", binary.exists(), str(binary) if binary.exists() else f"missing: {binary}"))
    out.append(StepResult("FLYWHEEL_LEAN_REPL", True, cfg.repl or "(not set: the built REPL is used)"))
    out.append(StepResult("limits", True, f"timeout {cfg.timeout_s:g} s, address space {cfg.memory_limit_mb} MB, "
                                          f"restart at {cfg.rss_limit_mb} MB resident or {cfg.max_checks_per_process} checks"))
    out.append(smoke_test(cfg, timeout_s=min(cfg.timeout_s * 5, 600)))
    return out
