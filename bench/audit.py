"""Audit throughput with the fake toolchain (tests/fake_lean_audit.py): proofs/s and proofs/s per core, by
module size, share of bad proofs and workers. What it measures is the audit's own overhead (module writing,
process starts, bisection, parsing); with real Lean each compile adds Mathlib's import and the elaboration."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.report import table, write_section
from flywheel.config import LeanConfig
from flywheel.lean.audit.checks import AuditInput, AuditStatus, audit

HEADER = "import Mathlib\nopen Real\n"


def proofs(n: int, bad_every: int) -> list[AuditInput]:
    out = []
    for i in range(n):
        marker = " -- fake:compile-error=unsolved goals" if bad_every and i % bad_every == bad_every - 1 else ""
        out.append(AuditInput(f"p{i}", HEADER, "", f"theorem s{i} (x : ℕ) (h : x = {i}) : x + 1 = {i + 1}",
                              f"by\n  subst h\n  omega{marker}"))
    return out


def main() -> None:
    from tests.fake_lean_audit import install

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--proofs", type=int, default=512)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "lean").mkdir()
        install(root / "bin", root / "lean", root / "tools.log")
        os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}"
        cfg = LeanConfig(project_dir=str(root / "lean"), timeout_s=30.0)
        for per_module, bad_every, workers in [(16, 0, 1), (64, 0, 1), (64, 0, 2), (64, 100, 1), (64, 20, 1)]:
            items = proofs(args.proofs, bad_every)
            before = len((root / "tools.log").read_text().splitlines()) if (root / "tools.log").exists() else 0
            start = time.perf_counter()
            results = audit(items, cfg, workers=workers, per_module=per_module)
            elapsed = time.perf_counter() - start
            runs = len((root / "tools.log").read_text().splitlines()) - before
            audited = sum(r.status is AuditStatus.AUDITED for r in results)
            rate = len(items) / elapsed
            rows.append((per_module, f"{100 / bad_every:.0f} %" if bad_every else "0 %", workers, len(items), audited,
                         runs, round(elapsed, 2), round(rate, 1), round(rate / workers, 1)))
    body = table(["proofs/module", "bad", "workers", "proofs", "audited", "tool runs", "s", "proofs/s",
                  "proofs/s per core"], rows)
    body += ("\n\nTool runs: `lake env lean` and `lake env lean4checker` processes (each a Python start in the "
             "double). A bad proof costs its module one compile of the rest and one of itself alone.\n")
    write_section("audit", "Audit outside the REPL: throughput with the fake toolchain", body)


if __name__ == "__main__":
    main()
