"""`flywheel lean setup` and `flywheel lean doctor`: exit 0 when all is well, 1 when something is missing."""

from __future__ import annotations

import argparse
import re

from flywheel.config import Config

_RELEASE = re.compile(r"v\d+\.\d+\.\d+(-rc\d+)?")


def register(leansub: argparse._SubParsersAction) -> None:
    p = leansub.add_parser("setup", help="create the pinned Lake project, fetch the Mathlib cache, build the REPL")
    p.add_argument("--mathlib", metavar="REV", help="Mathlib revision (default: lean.mathlib_rev); a release tag such as "
                                                    "v4.26.0 also sets --lean and --repl-rev unless given")
    p.add_argument("--lean", metavar="VERSION", help="Lean version, e.g. v4.26.0 (default: lean.lean_version)")
    p.add_argument("--repl-rev", metavar="REV", help="REPL revision (default: lean.repl_rev)")
    p.add_argument("--project", metavar="DIR", help="where the Lake project goes (default: lean.project_dir)")
    p.add_argument("--yes", action="store_true", help="allow installing elan when it is missing")
    p.set_defaults(func=cmd_setup)
    d = leansub.add_parser("doctor", help="say what of the Lean toolchain is found and what is missing")
    d.add_argument("--timeout", type=float, default=60.0, metavar="S", help="seconds for the REPL round trip")
    d.set_defaults(func=cmd_doctor)


def _line(step) -> str:
    mark = "ok  " if step.ok else ("FAIL" if step.required else "--  ")
    first, *rest = (step.detail or "").splitlines() or [""]
    text = f"{mark} {step.name:<18} {first}"
    if step.command and not step.ok:
        text += f"\n     command: {step.command}"
    return text + "".join(f"\n     | {r}" for r in rest)


def _apply_flags(args: argparse.Namespace, cfg: Config) -> None:
    lean = cfg.lean
    if args.mathlib:
        lean.mathlib_rev = args.mathlib
        # Mathlib's release tags name the Lean they build with, and the REPL is tagged alike.
        if _RELEASE.fullmatch(args.mathlib):
            lean.lean_version = args.lean or args.mathlib
            lean.repl_rev = args.repl_rev or args.mathlib
    if args.lean:
        lean.lean_version = args.lean
    if args.repl_rev:
        lean.repl_rev = args.repl_rev
    if args.project:
        lean.project_dir = args.project


def cmd_setup(args: argparse.Namespace, cfg: Config) -> int:
    from flywheel.lean.toolchain.setup import SetupContext, project_files, setup_steps
    from flywheel.lean.toolchain.paths import repl_command, repl_cwd

    _apply_flags(args, cfg)
    project_files(cfg.lean)  # a malformed version or revision is a ConfigError before anything runs
    ctx = SetupContext(cfg.lean, assume_yes=args.yes, echo=lambda line: print(line, flush=True))
    for step in setup_steps(ctx):
        print(_line(step), flush=True)
        if not step.ok and step.required:
            print(f"lean setup stopped at step '{step.name}'")
            return 1
    print(f"lean setup: done. The REPL: {' '.join(repl_command(cfg.lean))}   (in {repl_cwd(cfg.lean)})")
    return 0


def cmd_doctor(args: argparse.Namespace, cfg: Config) -> int:
    from flywheel.lean.toolchain.setup import doctor

    steps = doctor(cfg.lean, timeout_s=args.timeout)
    for step in steps:
        print(_line(step))
    missing = [s.name for s in steps if not s.ok and s.required]
    optional = [s.name for s in steps if not s.ok and not s.required]
    summary = "all found" if not missing else "missing: " + ", ".join(missing)
    print("lean doctor: " + summary + (f" (optional, not available: {', '.join(optional)})" if optional else ""))
    return 1 if missing else 0
