"""`flywheel lean ...`: the toolchain (setup, doctor) and verification (check)."""

from __future__ import annotations

import argparse
import importlib

SUBMODULES = ["orchestration.commands.lean_toolchain", "orchestration.commands.lean_check",
               "orchestration.commands.lean_audit"]


def register(sub: argparse._SubParsersAction) -> None:
    lean = sub.add_parser("lean", help="Lean 4: set up the toolchain, diagnose it, check and audit proofs")
    leansub = lean.add_subparsers(dest="lean_command", metavar="ACTION", required=True)
    for name in SUBMODULES:
        importlib.import_module(name).register(leansub)
