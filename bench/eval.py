"""`flywheel eval`'s throughput: proofs sampled, verified and stored per second at n = 32 on miniF2F valid, with
the scripted generator (in-process, instant) and the fake REPL (FAKE_REPL_LATENCY_MS per check). Every sample
differs, so none is answered from the verdict cache. What it measures is our overhead around Lean: with the
real REPL a check costs seconds, and the rate is workers / seconds per check. The GPU row (a real prover under
vLLM) is not measured here: no GPU was lent to this task."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from bench.report import scratch_db, table, write_section

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fake_repl.py"
FAIL = "  omega -- fake:error=omega could not prove the goal\n```"


def script(req):
    """Every fourth sample proves (no error marker), the rest fail; each sample's text is distinct."""
    return [f"  -- sample {i}\n" + ("  norm_num\n```" if i % 4 == 0 else FAIL) for i in range(req.n)]


def run(workers: int, problems: int, n: int, latency: str) -> dict:
    from db.store import Store
    from flywheel.config import Config, DbConfig, EvalConfig
    from orchestration.engines import open_verifier
    from orchestration.eval_stage import run_eval
    from tests.doubles import ScriptedGenerator

    os.environ.update(FAKE_REPL_NO_REPLAY="1", FAKE_REPL_LATENCY_MS=latency)
    cfg = Config()
    cfg.lean.repl = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE))}"
    cfg.lean.workers, cfg.lean.timeout_s = workers, 30.0
    ev = EvalConfig(benchmark="minif2f", split="valid", n=n, k=[1, 8, n], limit=problems)
    with scratch_db("flywheel_bench_eval") as url, Store.open(DbConfig(url=url)) as store:
        with open_verifier(cfg.lean, store) as verifier:
            verifier.check(cfg.lean.header, "theorem w : True", "by trivial")  # REPL start-up before the clock
            wall0, cpu0 = time.perf_counter(), time.process_time()
            summary, counts = run_eval(store, cfg, ev, ScriptedGenerator(script), verifier.check, workers, "scripted")
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    samples = int(counts.outcomes["samples"])
    return {"workers": workers, "problems": problems, "samples": samples, "wall": wall, "rate": samples / wall,
            "cpu_ms": cpu / samples * 1e3, "pass1": summary["pass_at_k"]["1"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,4", help="comma-separated Lean worker counts")
    ap.add_argument("--problems", type=int, default=40)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--latency-ms", default="0", help="fake REPL latency per check")
    args = ap.parse_args()
    rows = []
    for w in (int(x) for x in args.workers.split(",")):
        r = run(w, args.problems, args.n, args.latency_ms)
        rows.append((r["workers"], r["problems"], r["samples"], r["wall"], r["rate"], r["cpu_ms"], r["pass1"]))
    body = table(["Lean workers", "problems", "proofs (n = %d)" % args.n, "wall s", "proofs/s", "driver CPU ms/proof",
                  "pass@1"], rows)
    body += (f"\n\nFake REPL latency {args.latency_ms} ms a check; scripted generator in-process. The GPU row (a real "
             "prover under vLLM, and real Lean) is not measured: no GPU was lent to this task.")
    write_section("eval", "Evaluation throughput (flywheel eval)", body)


if __name__ == "__main__":
    main()
