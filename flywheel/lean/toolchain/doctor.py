"""`flywheel lean doctor`: what of the Lean toolchain is found and what is missing. Changes nothing:
in particular it never runs an elan proxy whose toolchain is absent, since elan would download it."""

from __future__ import annotations

import importlib.util
import shlex
import shutil
import tomllib
from pathlib import Path

from flywheel.config import LeanConfig
from flywheel.errors import ConfigError, LeanError
from flywheel.lean.toolchain.setup import StepResult, lean4checker_binary, project_files, repl_roundtrip, run_step
from flywheel.lean.toolchain.paths import (
    elan_home, find_tool, installed_toolchain, project_dir, repl_binary, repl_command, repl_cwd, toolchain_name,
)


def _elan() -> StepResult:
    elan = find_tool("elan")
    if elan is None:
        return StepResult("elan", False, f"not found on PATH or in {elan_home() / 'bin'} "
                                         "(`flywheel lean setup --yes` installs it; Debian: `apt-get install elan`)")
    return _version("elan", elan)


def _version(name: str, path: str, required: bool = True) -> StepResult:
    step = run_step(name, [path, "--version"], timeout_s=60)
    detail = f"{path}: {step.detail}" if step.ok else f"{path} --version failed: {step.detail}"
    return StepResult(name, step.ok, detail, step.command, required)


def _toolchain(cfg: LeanConfig, needed: bool) -> list[StepResult]:
    """The pinned toolchain, then lean and lake: the pinned ones when elan has them, else those on PATH."""
    name = toolchain_name(cfg)
    installed = installed_toolchain(cfg)
    elan = find_tool("elan")
    if installed is None and elan is not None:
        missing = f"{name} is not installed (`flywheel lean setup` installs it)"
        out = [StepResult("toolchain", False, missing, required=needed)]
        for tool in ("lean", "lake"):
            path = find_tool(tool)
            note = f"{path} found, not run: elan would download {name}" if path else "not found"
            out.append(StepResult(tool, False, note, required=needed))
        return out
    if installed:
        out = [StepResult("toolchain", True, str(installed))]
    else:
        out = [StepResult("toolchain", False, f"{name}: not installed, and no elan to install it", required=needed)]
    for tool in ("lean", "lake"):
        path = str(installed / "bin" / tool) if installed else find_tool(tool)
        if path is None:
            out.append(StepResult(tool, False, f"not found on PATH or in {elan_home() / 'bin'}", required=needed))
        else:
            out.append(_version(tool, path, needed))
    return out


def _project(cfg: LeanConfig, needed: bool) -> list[StepResult]:
    root = project_dir(cfg)
    pin = root / "lean-toolchain"
    if not pin.is_file():
        return [StepResult("project", False, f"{root}: not set up (no lean-toolchain)", required=needed)]
    content = pin.read_text(encoding="utf-8").strip()
    out = [StepResult("project", content == toolchain_name(cfg),
                      f"{root}: lean-toolchain {content}" + ("" if content == toolchain_name(cfg) else
                                                               f", but the config says {toolchain_name(cfg)}: rerun setup"),
                      required=needed)]
    out.append(_lakefile(cfg, root / "lakefile.toml", needed))
    return out


def _lakefile(cfg: LeanConfig, path: Path, needed: bool) -> StepResult:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        return StepResult("lakefile", False, f"{path}: cannot read it: {e}", required=needed)
    revs = {r.get("name"): r.get("rev") for r in data.get("require", []) if isinstance(r, dict)}
    want = {"mathlib": cfg.mathlib_rev, "REPL": cfg.repl_rev}
    wrong = [f"{k} at {revs.get(k)!r}, config says {v!r}" for k, v in want.items() if revs.get(k) != v]
    if wrong:
        return StepResult("lakefile", False, f"{path}: " + "; ".join(wrong) + " (rerun setup)", required=needed)
    return StepResult("lakefile", True, f"Mathlib {cfg.mathlib_rev}, REPL {cfg.repl_rev}", required=needed)


def _mathlib(cfg: LeanConfig, needed: bool) -> StepResult:
    build = project_dir(cfg) / ".lake" / "packages" / "mathlib" / ".lake" / "build"
    oleans = [build / "lib" / "lean" / "Mathlib.olean", build / "lib" / "Mathlib.olean"]
    found = next((p for p in oleans if p.is_file()), None)
    if found:
        return StepResult("mathlib", True, f"built: {found}")
    if build.is_dir():
        return StepResult("mathlib", False, f"{build} exists but has no Mathlib.olean: run `lake exe cache get` "
                                            "in the project (or `flywheel lean setup`)", required=needed)
    return StepResult("mathlib", False, f"not built: no {build} (run `flywheel lean setup`)", required=needed)


def _repl(cfg: LeanConfig, needed: bool) -> list[StepResult]:
    binary = repl_binary(cfg)
    out = [StepResult("repl binary", binary.is_file(), str(binary) if binary.is_file() else f"missing: {binary}",
                      required=needed)]
    if cfg.repl and cfg.repl.strip():
        first = shlex.split(cfg.repl)[0] if shlex.split(cfg.repl) else ""
        resolves = bool(first) and (shutil.which(first) is not None or Path(first).is_file())
        detail = cfg.repl if resolves else f"{cfg.repl}: {first or 'the command'} not found"
        out.append(StepResult("FLYWHEEL_LEAN_REPL", resolves, detail))
    else:
        out.append(StepResult("FLYWHEEL_LEAN_REPL", True, "not set: the REPL that setup built is used"))
    try:
        cwd = repl_cwd(cfg)
        out.append(StepResult("repl command", True, shlex.join(repl_command(cfg)) + (f"   (in {cwd})" if cwd else "")))
    except (LeanError, ConfigError) as e:
        out.append(StepResult("repl command", False, str(e)))
    return out


def _lean4checker(cfg: LeanConfig) -> StepResult:
    if cfg.compiler is not None and cfg.compiler.strip():  # a toolchain without a Lake project
        if cfg.checker is not None and cfg.checker.strip():
            return StepResult("lean4checker", True, f"lean.checker: {cfg.checker}", required=False)
        return StepResult("lean4checker", False, "lean.checker not set: `flywheel lean audit` compiles with "
                          f"lean.compiler ({cfg.compiler}) and runs no kernel replay; each audited proof records its "
                          "checks, and export.require_checks says whether such proofs are exported", required=False)
    binary = lean4checker_binary(cfg)
    if binary.is_file():
        return StepResult("lean4checker", True, str(binary), required=False)
    return StepResult("lean4checker", False, f"not built: {binary} (`flywheel lean setup` builds it); proving works, "
                                             "but `flywheel lean audit` refuses every proof", required=False)


def _memory(cfg: LeanConfig) -> StepResult:
    import psutil

    from flywheel.lean.tactics.dojo import dojo_memory_limit_gb

    total = psutil.virtual_memory().total // 2**20
    count = f" or {cfg.max_checks_per_process} checks" if cfg.max_checks_per_process else ""
    text = (f"machine {total:,} MB; per REPL: address space {cfg.memory_limit_mb:,} MB, restart past "
            f"{cfg.rss_limit_mb:,} MB resident{count}; {cfg.workers} worker(s) in all headers; "
            f"lean-dojo {dojo_memory_limit_gb(cfg, total)} GB")
    if cfg.rss_limit_mb >= cfg.memory_limit_mb > 0:
        return StepResult("memory", False, text + ": the restart threshold is not below the address-space cap")
    if cfg.rss_limit_mb * cfg.workers > total:
        return StepResult("memory", False, text + f": {cfg.workers} × {cfg.rss_limit_mb:,} MB exceeds the machine")
    return StepResult("memory", True, text)


def _dojo(cfg: LeanConfig) -> StepResult:
    missing = [t for t in ("lean", "lake", "git") if shutil.which(t) is None]
    if importlib.util.find_spec("lean_dojo") is None:
        missing.insert(0, "the lean-dojo package")
    if not (project_dir(cfg) / ".git").exists():
        missing.append(f"a git repository at {project_dir(cfg)}")
    if missing:
        hint = f" (add {elan_home() / 'bin'} to PATH)" if {"lean", "lake"} & set(missing) else ""
        return StepResult("lean-dojo", False, "missing: " + ", ".join(missing) + hint, required=False)
    return StepResult("lean-dojo", True, "lean, lake, git on PATH; project is a git repository")


def _toolchain_id(cfg: LeanConfig) -> StepResult:
    """What cached verdicts are keyed by: asked of the REPL, not taken from the config."""
    from flywheel.lean.repl.identity import toolchain_id

    try:
        ident = toolchain_id(cfg)
    except (LeanError, ConfigError) as e:
        return StepResult("toolchain id", False, str(e))
    unknown = "lean=unknown" in ident
    note = ": the REPL did not answer `#eval Lean.versionString`, so the id hashes its files" if unknown else ""
    return StepResult("toolchain id", True, ident + note)


def diagnose(cfg: LeanConfig, timeout_s: float = 60.0) -> list[StepResult]:
    # With lean.repl set the user brings their own REPL: our Lake project is then optional.
    needed = not (cfg.repl and cfg.repl.strip())
    try:
        project_files(cfg)
    except ConfigError as e:
        return [StepResult("config", False, str(e))]
    elan = _elan()
    out = [StepResult(elan.name, elan.ok, elan.detail, elan.command, needed)]
    out += _toolchain(cfg, needed) + _project(cfg, needed) + [_mathlib(cfg, needed)] + _repl(cfg, needed)
    if out[-1].ok:  # the REPL command resolved
        out.append(repl_roundtrip(cfg, timeout_s))
        if out[-1].ok:
            out.append(_toolchain_id(cfg))
    else:
        out.append(StepResult("repl check", False, "not run: there is no REPL command"))
    out += [_lean4checker(cfg), _memory(cfg), _dojo(cfg)]
    return out
