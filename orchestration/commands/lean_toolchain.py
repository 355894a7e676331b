"""`flywheel lean setup` and `flywheel lean doctor`."""

from __future__ import annotations

import argparse

from flywheel.config import Config


def register(leansub: argparse._SubParsersAction) -> None:
    p = leansub.add_parser("setup", help="create the pinned Lake project, fetch the Mathlib cache, build the REPL")
    p.add_argument("--mathlib", help="Mathlib revision (lean.mathlib_rev)")
    p.add_argument("--lean", help="Lean version, e.g. v4.26.0 (lean.lean_version)")
    p.add_argument("--repl-rev", help="REPL revision (lean.repl_rev)")
    p.add_argument("--project", help="where the Lake project goes (lean.project_dir)")
    p.add_argument("--install-elan", action="store_true", help="install elan with apt-get when it is missing")
    p.set_defaults(func=cmd_setup)
    d = leansub.add_parser("doctor", help="say what of the Lean toolchain is found and what is missing")
    d.set_defaults(func=cmd_doctor)


def _line(step) -> str:
    mark = "ok  " if step.ok else "FAIL"
    first, *rest = (step.detail or "").splitlines() or [""]
    text = f"{mark} {step.name:<18} {first}"
    if step.command and not step.ok:
        text += f"\n     command: {step.command}"
    return text + "".join(f"\n     {r}" for r in rest)


def cmd_setup(args: argparse.Namespace, cfg: Config) -> int:
    from flywheel.lean.toolchain import setup_steps

    for flag, field in (("mathlib", "mathlib_rev"), ("lean", "lean_version"), ("repl_rev", "repl_rev"), ("project", "project_dir")):
        if getattr(args, flag):
            setattr(cfg.lean, field, getattr(args, flag))
    for step in setup_steps(cfg.lean, install_elan=args.install_elan):
        print(_line(step), flush=True)
        if not step.ok:
            print(f"lean setup stopped at step '{step.name}'")
            return 1
    print("lean setup: done")
    return 0


def cmd_doctor(args: argparse.Namespace, cfg: Config) -> int:
    from flywheel.lean.toolchain import doctor

    steps = doctor(cfg.lean)
    for step in steps:
        print(_line(step))
    missing = [s.name for s in steps if not s.ok]
    print("lean doctor: " + ("all found" if not missing else "missing: " + ", ".join(missing)))
    return 1 if missing else 0
