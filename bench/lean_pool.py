"""The Lean layer's own cost, with an instant fake REPL (tests/fake_repl.py, no replay, no latency).

Targets: pool overhead <= 0.5 ms per check and >= 2,000 checks/s with 2 workers; a cache hit <= 1 ms;
parsing all 859 benchmark statements < 1 s. Each check is the REPL round trip for the code plus the
`#print axioms` follow-up in the env it produced, as every `proved` verdict needs.

"Driver CPU per check" is the CPU time this process spends per check (pool, pipes, JSON, threads):
the overhead our layer adds on top of whatever Lean takes. Wall time per check also includes the fake
REPL's own work, so it is an upper bound on the overhead. With a real REPL (`FLYWHEEL_LEAN_REPL`) the
same run measures Lean's time per check on a trivial theorem."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import threading
import time
from pathlib import Path

from bench.report import scratch_db, table, write_section

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "flywheel" / "data"
FAKE = ROOT / "tests" / "fake_repl.py"
HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n"
STATEMENT = "theorem bench_add (a b : ℕ) (h₀ : a = 2) (h₁ : b = 3) : a + b = 5"


def statements() -> list[str]:
    out = []
    for name in ("minif2f.jsonl", "proofnet.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            out.append(row.get("formal_statement") or row["statement"])
    return out


def bench_parse() -> tuple[int, float]:
    from flywheel.lean.statements import parse_theorem

    texts = statements()
    start = time.perf_counter()
    for t in texts:
        parse_theorem(t)
    return len(texts), time.perf_counter() - start


def _pool_run(command: list[str], workers: int, checks: int, max_checks: int = 10**9) -> dict:
    from flywheel.lean.pool import ReplPool
    from flywheel.lean.repl import LeanRepl

    def factory() -> LeanRepl:
        return LeanRepl(command, HEADER, timeout_s=30.0)

    code = f"{STATEMENT} := by\n  subst h₀ h₁\n  rfl"
    with ReplPool(factory, workers, max_checks=max_checks) as pool:
        warm = [threading.Thread(target=pool.check, args=(code,)) for _ in range(workers)]
        for t in warm:
            t.start()
        for t in warm:
            t.join()
        per = checks // workers
        follow = lambda answer: "#print axioms bench_add"  # noqa: E731

        def loop() -> None:
            for _ in range(per):
                outcome = pool.check(code, follow)
                assert outcome.failure is None and outcome.env_answer is not None, outcome

        threads = [threading.Thread(target=loop) for _ in range(workers)]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    done = per * workers
    return {"workers": workers, "checks": done, "wall": wall, "rate": done / wall, "wall_per": wall / done * 1e3,
            "cpu_per": cpu / done * 1e3}


def bench_verifier(command: str, checks: int) -> dict:
    """The whole verifier path (scan, statement surgery, pool, classification) and cache hits."""
    from db.store import Store
    from db.verdict_cache import StoreCache
    from flywheel.config import DbConfig, LeanConfig
    from flywheel.lean.cache import MemoryCache
    from flywheel.lean.verifier import Verifier

    cfg = LeanConfig(repl=command, timeout_s=30.0, workers=1, max_checks_per_process=10**9)
    out = {}
    with Verifier(cfg) as v:
        v.check(HEADER, STATEMENT, "by\n  subst h₀ h₁\n  rfl")
        start = time.perf_counter()
        for k in range(checks):
            v.check(HEADER, STATEMENT, f"by\n  subst h₀ h₁\n  -- {k}\n  rfl")
        out["full"] = (time.perf_counter() - start) / checks * 1e3
    proofs = [f"by\n  subst h₀ h₁\n  norm_num [Nat.add_comm] -- {k}" for k in range(200)]

    def hit_ms(cache) -> float:
        """Fill the cache with each proof once, then time the repeats."""
        with Verifier(cfg, cache=cache) as v:
            for p in proofs:
                v.check(HEADER, STATEMENT, p)
            start = time.perf_counter()
            for p in proofs:
                assert v.check(HEADER, STATEMENT, p).cached
            return (time.perf_counter() - start) / len(proofs) * 1e3

    out["memory_hit"] = hit_ms(MemoryCache())
    with scratch_db("flywheel_bench_cache") as url, Store.open(DbConfig(url=url)) as store:
        out["store_hit"] = hit_ms(StoreCache(store))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checks", type=int, default=6000, help="checks per pool run")
    ap.add_argument("--repl", default=os.environ.get("FLYWHEEL_LEAN_REPL"),
                    help="a real REPL command; default: the instant fake REPL")
    args = ap.parse_args()
    fake = not args.repl
    if fake:
        os.environ.update(FAKE_REPL_NO_REPLAY="1", FAKE_REPL_LATENCY_MS="")
        command = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE))}"
    else:
        command = args.repl
    n, parse_s = bench_parse()
    runs = [_pool_run(shlex.split(command), w, args.checks if fake else min(args.checks, 40)) for w in (1, 2)]
    fresh = _pool_run(shlex.split(command), 1, 60 if fake else 6, max_checks=1)  # a new process (and header) per check
    ver = bench_verifier(command, 2000 if fake else 20)

    def met(ok: bool) -> str:
        return "yes" if ok else "NO"

    rows = []
    for r in runs:
        rows.append([f"pool, {r['workers']} worker(s)", f"{r['checks']:,}", f"{r['rate']:,.0f} checks/s",
                     f"{r['wall_per']:.3f} ms wall, {r['cpu_per']:.3f} ms driver CPU",
                     ">= 2,000 checks/s, <= 0.5 ms" if r["workers"] == 2 and fake else "",
                     met(r["rate"] >= 2000 and r["cpu_per"] <= 0.5) if r["workers"] == 2 and fake else ""])
    warm = runs[0]
    rows.append(["fresh process per check (1 worker)", f"{fresh['checks']:,}", f"{fresh['rate']:,.1f} checks/s",
                 f"{fresh['wall_per']:.1f} ms wall ({fresh['wall_per'] / warm['wall_per']:.0f}x the warm pool)", "", ""])
    rows.append(["whole verifier check (scan, surgery, pool, verdict)", "", "", f"{ver['full']:.3f} ms", "", ""])
    rows.append(["cache hit, in memory", "200", "", f"{ver['memory_hit']:.3f} ms", "<= 1 ms", met(ver["memory_hit"] <= 1)])
    rows.append(["cache hit, verdict_cache in PostgreSQL", "200", "", f"{ver['store_hit']:.3f} ms", "<= 1 ms",
                 met(ver["store_hit"] <= 1)])
    rows.append(["parse all benchmark statements", f"{n}", "", f"{parse_s * 1e3:.0f} ms", "< 1 s", met(parse_s < 1)])
    body = table(["what", "count", "rate", "time per item", "target", "met"], rows)
    what = "the instant fake REPL (tests/fake_repl.py, no replay, no latency)" if fake else f"the REPL `{command}`"
    body += (f"\n\nREPL: {what}. Each check = the code and its `#print axioms` follow-up, two REPL round trips. "
             "Driver CPU is this process's CPU time per check: our layer's overhead, without the REPL's own work. "
             "The fresh-process row restarts the REPL (and re-sends the header) for every check.\n")
    if fake:
        body += ("\nWith a real REPL (`--repl CMD` or `FLYWHEEL_LEAN_REPL`) the same run writes the section "
                 "`lean_pool_real`: Lean's time per check, warm pool against a fresh process per check. No Lean "
                 "toolchain can be installed on the machine these numbers come from, so that section is absent.\n")
    write_section("lean_pool" if fake else "lean_pool_real", "Lean layer: pool overhead, cache hits, parsing"
                  + ("" if fake else " (real REPL)"), body)


if __name__ == "__main__":
    main()
