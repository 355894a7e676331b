"""rmaxts: the driver's CPU per rollout and how busy the Lean workers are with many rollouts in flight.

Lean is the fake REPL (tests/fake_repl.py) behind the real Verifier.check_tactics, each check held `--lean-ms`
longer to stand for Lean's time; the model is a scripted generator that never proves (every tree runs its whole
budget). Driver CPU is this process's CPU time (scheduler, strategy, tree, truncation, goal keys, tactic
parsing; the REPL processes are others) over the rollouts; Lean busy is the time checks held the workers over
wall time × workers. No GPU is lent to this task: generation costs nothing here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench.report import table, write_section

ROOT = Path(__file__).resolve().parent.parent
TEXT = "theorem t{i} (x : ℕ) (h : 0 < x) : 0 < x * x := by sorry"


def _script(req):
    depth = req.prompt.count("have h")  # one more have each level, then a failing tactic: new states all the way
    return [f"have h{depth} : 0 < x + {depth} := by omega\n  nlinarith -- fake:fail\n```"
            if "tactic state" in req.prompt else
            "  have h0 : 0 < x := h\n  nlinarith -- fake:fail\n```"]


def run(statements: int, workers: int, in_flight: int, rollouts: int, lean_ms: float) -> dict:
    sys.path.insert(0, str(ROOT))
    from flywheel.config import LeanConfig, ProverConfig, RmaxtsConfig
    from flywheel.lean.guard.verifier import Verifier
    from flywheel.records import Side
    from prover_loop.prove import prove_pass
    from tests.doubles import ScriptedGenerator
    from tests.seed import statement

    os.environ.setdefault("FAKE_REPL_SHARED", str(ROOT / "tests" / "data"))
    repl = f"{sys.executable} {ROOT / 'tests' / 'fake_repl.py'}"
    cfg = ProverConfig(strategy=["rmaxts"], rmaxts=RmaxtsConfig(rollouts=rollouts, in_flight=in_flight))
    busy = [0.0]
    sts = [statement(i, text=TEXT.format(i=i)) for i in range(statements)]
    results = []
    with Verifier(LeanConfig(repl=repl, timeout_s=30.0, workers=workers)) as verifier:
        def tactics(header, goal, proof):
            start = time.perf_counter()
            time.sleep(lean_ms / 1000)
            out = verifier.check_tactics(header, goal, proof)
            busy[0] += time.perf_counter() - start
            return out

        wall, cpu = time.perf_counter(), time.process_time()
        prove_pass(sts, {}, [Side.STATEMENT, Side.NEGATION], cfg, 0, 1, ScriptedGenerator(_script), verifier.check,
                   workers, results.extend, tactics=tactics)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = sum(len(r.attempts) for r in results)
    return {"rollouts": n, "wall_s": wall, "driver_ms": 1000 * cpu / n, "busy": busy[0] / (wall * workers),
            "per_s": n / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--statements", type=int, default=8)
    ap.add_argument("--rollouts", type=int, default=16)
    ap.add_argument("--lean-ms", type=float, default=100.0)
    args = ap.parse_args()
    rows = []
    for workers, in_flight in [(1, 1), (4, 1), (4, 8), (8, 8)]:
        r = run(args.statements, workers, in_flight, args.rollouts, args.lean_ms)
        rows.append([workers, in_flight, r["rollouts"], r["wall_s"], r["per_s"], r["driver_ms"], f"{100 * r['busy']:.0f}%"])
    body = (f"{args.statements} statements × 2 sides, {args.rollouts} rollouts a side, fake REPL + {args.lean_ms:g} ms a "
            "check, scripted generator (no GPU lent: generation is free here).\n\n"
            + table(["Lean workers", "in flight a tree", "rollouts", "wall s", "rollouts/s", "driver CPU ms/rollout",
                     "Lean busy"], rows))
    write_section("rmaxts", "RMaxTS: driver overhead per rollout and Lean busy fraction", body)


if __name__ == "__main__":
    main()
