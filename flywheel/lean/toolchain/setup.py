"""`flywheel lean setup`: a Lake project pinned to one Lean, one Mathlib and one REPL, built with elan.

Each step is a function returning a StepResult; setup stops at the first failing step, and a failed
step carries the exact command and the part of its output that says why."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from flywheel.config import LeanConfig
from flywheel.errors import ConfigError, LeanError
from flywheel.lean.toolchain.paths import (
    check_rev, elan_home, find_tool, project_dir, repl_binary, repl_command, repl_cwd, toolchain_name,
)

MATHLIB_GIT = "https://github.com/leanprover-community/mathlib4"
REPL_GIT = "https://github.com/leanprover-community/repl"
LEAN4CHECKER_GIT = "https://github.com/leanprover/lean4checker"
ELAN_INIT_URL = "https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh"
PROBE = "example : 1 + 1 = 2 := rfl"
# Cloning Mathlib and fetching its cache are minutes on a good link; a stuck step must still end.
SLOW_STEP_S = 3600.0
# Lines of a tool's output that carry no reason: elan's Rust backtraces, blank lines.
_NOISE = re.compile(r"^\s*(\d+:\s.*|at \S+|info: backtrace:?|)\s*$")


@dataclass(slots=True, frozen=True)
class StepResult:
    name: str
    ok: bool
    detail: str
    command: str = ""
    required: bool = True  # doctor: a missing optional part does not make the toolchain unusable


@dataclass(slots=True)
class SetupContext:
    cfg: LeanConfig
    assume_yes: bool = False  # the user allowed us to install elan
    echo: Callable[[str], None] = field(default=lambda line: None)


# the project's files
def lakefile_text(cfg: LeanConfig) -> str:
    mathlib, repl = check_rev(cfg.mathlib_rev, "mathlib_rev"), check_rev(cfg.repl_rev, "repl_rev")
    # The REPL's package is named `REPL`; Lake wants the require name to match it.
    return (
        'name = "flywheel_lean"\ndefaultTargets = ["Flywheel"]\n\n'
        f'[[require]]\nname = "mathlib"\ngit = "{MATHLIB_GIT}"\nrev = "{mathlib}"\n\n'
        f'[[require]]\nname = "REPL"\ngit = "{REPL_GIT}"\nrev = "{repl}"\n\n'
        f'[[require]]\nname = "lean4checker"\ngit = "{LEAN4CHECKER_GIT}"\nrev = "{lean4checker_rev(cfg)}"\n\n'
        '[[lean_lib]]\nname = "Flywheel"\n'
    )


def lean4checker_rev(cfg: LeanConfig) -> str:
    """lean4checker is tagged per Lean release; the tag equal to our Lean version replays what it compiles."""
    version = toolchain_name(cfg).rsplit(":", 1)[-1]
    return check_rev(version, "lean_version")


def lean4checker_binary(cfg: LeanConfig) -> Path:
    return project_dir(cfg) / ".lake" / "packages" / "lean4checker" / ".lake" / "build" / "bin" / "lean4checker"


def project_files(cfg: LeanConfig) -> dict[str, str]:
    """Relative path → content. The Flywheel library holds a probe theorem for lean-dojo."""
    return {
        "lean-toolchain": toolchain_name(cfg) + "\n",
        "lakefile.toml": lakefile_text(cfg),
        "Flywheel.lean": "import Flywheel.Probe\n",
        "Flywheel/Probe.lean": "theorem flywheel_probe (n : Nat) : n + 0 = n := by\n  rfl\n",
        ".gitignore": "/.lake\n",
    }


def write_project(cfg: LeanConfig) -> StepResult:
    root = project_dir(cfg)
    try:
        files = project_files(cfg)
    except ConfigError as e:
        return StepResult("project", False, str(e))
    try:
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            # Rewriting an unchanged file would make Lake think the configuration changed.
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
    except OSError as e:
        return StepResult("project", False, f"cannot write the Lake project in {root}: {e.strerror} ({e.filename})")
    return StepResult("project", True, f"{root}: {toolchain_name(cfg)}, Mathlib {cfg.mathlib_rev}, REPL {cfg.repl_rev}")


# running tools
def reason(stdout: str, stderr: str, lines: int = 12) -> str:
    """The lines of a failed command's output that say why: stderr first, stdout to fill up."""
    def meaningful(text: str) -> list[str]:
        return [x.rstrip() for x in (text or "").splitlines() if not _NOISE.match(x)]

    err, out = meaningful(stderr), meaningful(stdout)
    picked = err[-lines:]
    if len(picked) < 3:
        picked = out[-(lines - len(picked)):] + picked
    return "\n".join(picked)


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = env.get("PATH", "") + os.pathsep + str(elan_home() / "bin")
    return env


def run_step(name: str, argv: list[str], cwd: Path | None = None, timeout_s: float = 600.0,
             echo: Callable[[str], None] | None = None) -> StepResult:
    """Run one command to completion in its own process group (killed whole on timeout)."""
    command = shlex.join(argv) + (f"   (in {cwd})" if cwd else "")
    if echo:
        echo(f"  ... {name}: {command}")
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=tool_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    except FileNotFoundError as e:
        missing = argv[0] if cwd is None or Path(cwd).is_dir() else f"the directory {cwd}"
        return StepResult(name, False, f"{missing}: not found ({e.strerror})", command)
    except PermissionError as e:
        return StepResult(name, False, f"{argv[0]}: not executable ({e.strerror})", command)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return StepResult(name, False, f"no result within {timeout_s:g} s (killed)\n{reason(out, err)}".rstrip(), command)
    if proc.returncode != 0:
        status = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
        return StepResult(name, False, f"{status}\n{reason(out, err)}".rstrip(), command)
    last = next((x.strip() for x in reversed(out.splitlines()) if x.strip()), "done")
    return StepResult(name, True, last[:200], command)


# the steps
def elan_install_plan(assume_root: bool | None = None) -> list[list[str]] | None:
    """The commands that install elan here: the official installer (current elan, per user, no root)
    when curl is there, else Debian's `elan` package through apt-get. None when neither can."""
    if find_tool("curl"):
        script = str(Path(tempfile.gettempdir()) / "flywheel-elan-init.sh")
        return [["curl", "-sSfL", ELAN_INIT_URL, "-o", script], ["sh", script, "-y", "--default-toolchain", "none"]]
    root = os.geteuid() == 0 if assume_root is None else assume_root
    if find_tool("apt-get") and (root or find_tool("sudo")):
        sudo = [] if root else ["sudo", "-n"]  # -n: fail rather than wait for a password nobody types
        return [sudo + ["apt-get", "update"], sudo + ["apt-get", "install", "-y", "elan"]]
    return None


def find_or_install_elan(ctx: SetupContext) -> StepResult:
    elan = find_tool("elan")
    if elan:
        return StepResult("elan", True, elan)
    plan = elan_install_plan()
    if not ctx.assume_yes:
        how = " then ".join(f"`{shlex.join(c)}`" for c in plan) if plan else "see https://github.com/leanprover/elan"
        return StepResult("elan", False, f"elan not found on PATH or in {elan_home() / 'bin'}. Install it with {how}, "
                                         "or rerun `flywheel lean setup --yes` to let flywheel run that")
    if plan is None:
        return StepResult("elan", False, "elan not found, and neither curl nor apt-get is available to install it")
    for argv in plan:
        step = run_step("elan", argv, timeout_s=900, echo=ctx.echo)
        if not step.ok:
            return step
    elan = find_tool("elan")
    if elan is None:
        return StepResult("elan", False, f"the installer ran but no elan is on PATH or in {elan_home() / 'bin'}",
                          shlex.join(plan[-1]))
    return StepResult("elan", True, f"installed: {elan}", shlex.join(plan[-1]))


def lake_argv(cfg: LeanConfig) -> list[str]:
    lake = find_tool("lake")
    if lake:
        return [lake]
    # elan without its proxies on PATH (some packages ship only the `elan` binary)
    return [find_tool("elan") or "elan", "run", toolchain_name(cfg), "lake"]


def install_toolchain(ctx: SetupContext) -> StepResult:
    argv = [find_tool("elan") or "elan", "toolchain", "install", toolchain_name(ctx.cfg)]
    return run_step("lean", argv, timeout_s=1800, echo=ctx.echo)


def update_dependencies(ctx: SetupContext) -> StepResult:
    cfg = ctx.cfg
    return run_step("dependencies", lake_argv(cfg) + ["update"], cwd=project_dir(cfg), timeout_s=SLOW_STEP_S, echo=ctx.echo)


def check_mathlib_toolchain(ctx: SetupContext) -> StepResult:
    """Mathlib only builds with the Lean it names; say so now instead of in a failed build."""
    theirs_path = project_dir(ctx.cfg) / ".lake" / "packages" / "mathlib" / "lean-toolchain"
    ours = toolchain_name(ctx.cfg)
    if not theirs_path.is_file():
        return StepResult("mathlib toolchain", True, f"not checked: {theirs_path} is absent")
    theirs = theirs_path.read_text(encoding="utf-8").strip()
    if theirs != ours:
        version = theirs.rsplit(":", 1)[-1]
        return StepResult("mathlib toolchain", False, f"Mathlib {ctx.cfg.mathlib_rev} needs {theirs} but the project pins "
                                                      f"{ours}: rerun with --lean {version}")
    return StepResult("mathlib toolchain", True, theirs)


def fetch_mathlib_cache(ctx: SetupContext) -> StepResult:
    cfg = ctx.cfg
    return run_step("mathlib cache", lake_argv(cfg) + ["exe", "cache", "get"], cwd=project_dir(cfg),
                    timeout_s=SLOW_STEP_S, echo=ctx.echo)


def build_repl(ctx: SetupContext) -> StepResult:
    cfg = ctx.cfg
    step = run_step("repl build", lake_argv(cfg) + ["build", "repl"], cwd=project_dir(cfg), timeout_s=SLOW_STEP_S, echo=ctx.echo)
    if step.ok and not repl_binary(cfg).is_file():
        return StepResult(step.name, False, f"the build succeeded but there is no REPL at {repl_binary(cfg)}", step.command)
    return StepResult(step.name, True, str(repl_binary(cfg)), step.command) if step.ok else step


def build_lean4checker(ctx: SetupContext) -> StepResult:
    """The kernel replay the audit needs; proving works without it, so its failure is said, not fatal."""
    cfg = ctx.cfg
    step = run_step("lean4checker build", lake_argv(cfg) + ["build", "lean4checker"], cwd=project_dir(cfg),
                    timeout_s=SLOW_STEP_S, echo=ctx.echo)
    if step.ok and not lean4checker_binary(cfg).is_file():
        step = StepResult(step.name, False, f"the build succeeded but there is no {lean4checker_binary(cfg)}", step.command)
    if not step.ok:
        return StepResult(step.name, False, step.detail + "\n`flywheel lean audit` refuses every proof without it",
                          step.command, required=False)
    return StepResult(step.name, True, str(lean4checker_binary(cfg)), step.command)


def repl_roundtrip(cfg: LeanConfig, timeout_s: float = 120.0) -> StepResult:
    """One real exchange with the REPL: PROBE must come back with an env and no error."""
    from flywheel.lean.repl.client import LeanRepl, ReplFailure

    try:
        argv, cwd = repl_command(cfg), repl_cwd(cfg)
    except (LeanError, ConfigError) as e:
        return StepResult("repl check", False, str(e))
    command = shlex.join(argv) + (f"   (in {cwd})" if cwd else "")
    try:
        with LeanRepl(argv, "", timeout_s=timeout_s, memory_limit_mb=cfg.memory_limit_mb, cwd=cwd) as repl:
            answer = repl.run(PROBE)
    except LeanError as e:
        return StepResult("repl check", False, str(e), command)
    except ReplFailure as e:
        return StepResult("repl check", False, f"`{PROBE}` got no answer: {e}", command)
    errors = [m.get("data", "") for m in answer.get("messages") or [] if m.get("severity") == "error"]
    if errors or "env" not in answer:
        what = errors[0] if errors else f"no env in the answer {answer}"
        return StepResult("repl check", False, f"`{PROBE}` was not accepted: {what}", command)
    return StepResult("repl check", True, f"`{PROBE}` checked", command)


def snapshot_git(ctx: SetupContext) -> StepResult:
    """lean-dojo traces a git commit of the project, so the project files are committed locally;
    only when they changed, because every new commit costs lean-dojo a new trace."""
    root, echo = project_dir(ctx.cfg), ctx.echo
    git = find_tool("git")
    if git is None:
        return StepResult("git snapshot", False, "git not found on PATH (lean-dojo needs the project as a git repository)")
    if not (root / ".git").exists():
        step = run_step("git snapshot", [git, "init", "-q"], cwd=root, echo=echo)
        if not step.ok:
            return step
    step = run_step("git snapshot", [git, "add", "-A"], cwd=root, echo=echo)
    if not step.ok:
        return step
    staged = subprocess.run([git, "diff", "--cached", "--quiet"], cwd=root, capture_output=True)
    has_head = subprocess.run([git, "rev-parse", "--verify", "-q", "HEAD"], cwd=root, capture_output=True)
    if staged.returncode == 0 and has_head.returncode == 0:
        return StepResult("git snapshot", True, f"{root}: unchanged since the last commit", step.command)
    ident = [git, "-c", "user.name=flywheel", "-c", "user.email=flywheel@localhost"]
    step = run_step("git snapshot", ident + ["commit", "-q", "-m", "flywheel lean setup"], cwd=root, echo=echo)
    return StepResult("git snapshot", True, f"{root} committed for lean-dojo", step.command) if step.ok else step


def setup_steps(ctx: SetupContext) -> Iterator[StepResult]:
    """Each step's result in order; stops after the first that failed."""
    steps = [
        find_or_install_elan, lambda c: write_project(c.cfg), install_toolchain, update_dependencies,
        check_mathlib_toolchain, fetch_mathlib_cache, build_repl, build_lean4checker,
        lambda c: repl_roundtrip(c.cfg, timeout_s=max(c.cfg.timeout_s, 120.0)), snapshot_git,
    ]
    for step in steps:
        result = step(ctx)
        yield result
        if not result.ok and result.required:
            return


def setup(cfg: LeanConfig, assume_yes: bool = False, echo: Callable[[str], None] | None = None) -> list[StepResult]:
    return list(setup_steps(SetupContext(cfg, assume_yes, echo or (lambda line: None))))


def doctor(cfg: LeanConfig, timeout_s: float = 60.0) -> list[StepResult]:
    """What is found and what is missing, changing nothing (see toolchain_doctor)."""
    from flywheel.lean.toolchain.doctor import diagnose

    return diagnose(cfg, timeout_s)
