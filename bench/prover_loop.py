"""The prove stage of a round with realistic latencies: the fake REPL answers each command in 50-500 ms
and the scripted model (an OpenAI-compatible server double) in 200 ms a request. Targets: Lean-worker
busy fraction >= 0.95 and orchestration overhead (store included) <= 2 ms per attempt; attempts/s against
the number of workers. `--workers 1` runs in-process; more run on local Ray, as `flywheel run` does.

Busy fraction = the Lean time the workers report (each check's time inside its REPL pool) divided by
workers x the stage's wall time. Overhead per attempt = the CPU time of every process the stage runs in
except Lean's (the REPLs) and the model's (the server double), divided by the attempts stored: the driver
(generation hand-off, scheduling, soundness scans, verdicts, bulk writes to PostgreSQL), and on Ray the
Lean-worker and generator actors and Ray's own processes (raylet, GCS, idle workers), read with psutil."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import threading
import time
from pathlib import Path

from bench.report import scratch_db, table, write_section

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fake_repl.py"
FAIL = "  omega -- fake:error=omega could not prove the goal\n```"
PROVE = "  subst h\n  rfl\n```"
SAMPLES = 4


def respond(prompt: str, i: int, strategy: str = "sample") -> str:
    """sample: the statement side is proved by its last sample; the negation never: 2 x SAMPLES - 1 attempts
    each. repair: no first answer proves; the revision of the statement's first sample does, the other revisions
    fail: 2 x SAMPLES + 1 attempts each, with the other revisions in flight when it settles. Every answer differs
    (as sampled proofs do), so none is answered from the verdict cache."""
    import hashlib

    declaration = prompt.rsplit("\n", 2)[-2]
    if "proof sketch" in prompt:  # decompose: two subgoals on the statement side, no sketch of the negation
        holes = "  have h1 : x = x := by sorry\n  have h2 : x + 1 = x + 1 := by sorry\n  exact h2"
        return f"  -- sketch {i}\n{holes if '¬' not in declaration else '  omega'}\n```"
    if prompt.rsplit("theorem ", 1)[-1].startswith("lemma_"):  # a subgoal lemma: its statement side proved first
        return f"  -- lemma {i}\n{PROVE if i == 0 and '¬' not in declaration else FAIL}"
    if "does not check" in prompt:  # a repair prompt
        first = "-- sample 0\n" in prompt
        text = PROVE if first and "¬" not in declaration else FAIL
        return f"  -- revision {hashlib.sha256(prompt.encode()).hexdigest()[:12]}\n{text}"
    proves = strategy == "sample" and i == SAMPLES - 1 and "¬" not in declaration
    return f"  -- sample {i}\n{PROVE if proves else FAIL}"


def _serve(urls, latency_s: float, strategy: str) -> None:
    from tests.doubles import OpenAIServer

    server = OpenAIServer(lambda prompt, i: respond(prompt, i, strategy), latency_s=latency_s)
    urls.put(server.url)
    threading.Event().wait()


@contextlib.contextmanager
def model_server(latency_s: float, strategy: str = "sample"):
    """The scripted model in its own process, so that its CPU time is not counted as ours; yields its URL and pid."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    urls = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(urls, latency_s, strategy), daemon=True)
    proc.start()
    try:
        yield urls.get(timeout=30), proc.pid
    finally:
        proc.kill()
        proc.join()


def cpu_by_process(skip_pid: int) -> dict[tuple[int, float], float]:
    """CPU seconds (user + system) of this process and all its descendants (Ray's processes and actors when
    Ray runs locally), keyed by (pid, start time); the REPLs and the model server (skip_pid) left out. A
    process that ends in between is not counted: the REPLs restart, Ray's processes and actors stay."""
    import psutil

    me = psutil.Process()
    out = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            if proc.pid == skip_pid or any(str(FAKE) in part for part in proc.cmdline()):
                continue
            times = proc.cpu_times()
            out[(proc.pid, proc.create_time())] = times.user + times.system
        except psutil.Error:  # gone meanwhile
            continue
    return out


class Timed:
    """Wraps the check function: sums the Lean time of every check that reached a worker."""

    def __init__(self, check, sketch=None):
        self._check, self._sketch = check, sketch
        self._lock = threading.Lock()
        self.lean_s = 0.0
        self.checks = 0

    def __call__(self, header: str, goal: str, proof: str):
        verdict = self._check(header, goal, proof)
        if not verdict.cached:
            with self._lock:
                self.lean_s += verdict.time_s
                self.checks += 1
        return verdict

    def sketch(self, header: str, goal: str, proof: str):
        checked = self._sketch(header, goal, proof)
        if not checked.verdict.cached:
            with self._lock:
                self.lean_s += checked.verdict.time_s
                self.checks += 1
        return checked


def run(workers: int, per_worker: int, server: tuple[str, int], latency: str, strategy: str = "sample") -> dict:
    from db.store import Store
    from flywheel.config import Config, DbConfig
    from orchestration.engines import open_engines
    from orchestration.prove_stages import run_prove
    from db import statements as dbst
    from tests.seed import statement

    os.environ.update(FAKE_REPL_NO_REPLAY="1", FAKE_REPL_LATENCY_MS=latency)
    cfg = Config()
    server_url, server_pid = server
    cfg.generator.backend, cfg.generator.model, cfg.generator.base_url = "openai", "scripted", server_url
    cfg.lean.repl = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE))}"
    cfg.lean.timeout_s = 30.0
    cfg.prover.samples_per_side, cfg.prover.passes, cfg.prover.strategy = SAMPLES, 1, [strategy]
    with scratch_db("flywheel_bench_prove") as url, Store.open(DbConfig(url=url)) as store:
        cfg.db.url = url
        with store.session() as s:
            dbst.insert_statements(s, [statement(i) for i in range(per_worker * workers)])  # open, kept
        with open_engines(cfg, store, workers, None) as engines:
            timed = Timed(engines.check, engines.sketch)
            # Start every worker's REPL before the clock, as a long round amortises start-up.
            threads = [threading.Thread(target=engines.check, args=(cfg.lean.header, "theorem w : True", f"by trivial -- {k}"))
                       for k in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            before, cpu0, wall0 = cpu_by_process(server_pid), time.process_time(), time.perf_counter()
            counts = run_prove(store, cfg, 1, engines.generator, timed, engines.workers,
                               sketch=timed.sketch if engines.sketch is not None else None)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            after = cpu_by_process(server_pid)
    total = sum(t - before.get(key, 0.0) for key, t in after.items())
    attempts = int(counts.outcomes["attempts"])
    return {"strategy": strategy, "workers": workers, "statements": per_worker * workers, "attempts": attempts, "checks": timed.checks,
            "wall": wall, "rate": attempts / wall, "busy": timed.lean_s / (workers * wall),
            "driver_ms": cpu / attempts * 1e3, "driver_check_ms": cpu / max(1, timed.checks) * 1e3, "others_ms": (total - cpu) / attempts * 1e3,
            "overhead_ms": total / attempts * 1e3, "processes": len(after),
            "proved": int(counts.outcomes["proved: statement"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts")
    ap.add_argument("--statements-per-worker", type=int, default=30)
    ap.add_argument("--latency-ms", default="50-500", help="fake REPL latency per command")
    ap.add_argument("--model-latency-s", type=float, default=0.2, help="the model server's time per request")
    ap.add_argument("--strategies", default="sample,repair,decompose", help="comma-separated prover strategies")
    args = ap.parse_args()
    rows = []
    for strategy in args.strategies.split(","):
        with model_server(args.model_latency_s, strategy) as server:
            run(1, 1, server, args.latency_ms, strategy)  # warm-up, not reported: imports and SQL compilation
            for w in (int(x) for x in args.workers.split(",")):
                if strategy == "decompose" and w > 1:
                    continue  # sketches are elaborated by the in-process verifier only
                r = run(w, args.statements_per_worker, server, args.latency_ms, strategy)
                print(r, flush=True)
                rows.append(r)

    def met(ok: bool) -> str:
        return "yes" if ok else "NO"

    body = table(
        ["strategy", "workers", "where", "statements", "attempts", "wall", "attempts/s", "Lean busy", ">= 0.95",
         "driver CPU / attempt", "driver CPU / Lean check", "Ray processes and actors CPU / attempt", "overhead / attempt", "<= 2 ms"],
        [[r["strategy"], r["workers"], "in-process" if r["workers"] == 1 else "local Ray", r["statements"], r["attempts"],
          f"{r['wall']:.1f} s", f"{r['rate']:.1f}", f"{r['busy']:.3f}", met(r["busy"] >= 0.95),
          f"{r['driver_ms']:.2f} ms", f"{r['driver_check_ms']:.2f} ms", f"{r['others_ms']:.2f} ms ({r['processes'] - 1} processes)" if r["workers"] > 1
          else "", f"{r['overhead_ms']:.2f} ms", met(r["overhead_ms"] <= 2.0)] for r in rows],
    )
    missed = sorted({r["workers"] for r in rows if r["overhead_ms"] > 2.0})
    body += (f"\n\nTargets: Lean busy >= 0.95, overhead <= 2 ms per attempt. Fake REPL latency {args.latency_ms} ms per "
             f"check (the proof and its `#print axioms`, one command), model {args.model_latency_s * 1000:.0f} ms "
             f"per request, {SAMPLES} samples per side, statement and negation in parallel; each statement is proved "
             f"by its last statement-side sample, so {2 * SAMPLES - 1} attempts are stored for each (repair: no first answer "
             f"proves, the revision of the statement's first sample does, so {2 * SAMPLES + 1} are stored and the other "
             "revisions in flight are wasted; driver CPU per Lean check counts those too). Worker REPLs are "
             "started before the clock, after an unreported warm-up run. Overhead is the CPU time per stored attempt "
             "of every process involved but Lean's and the model's: the driver (soundness scans, cache lookups, the "
             "model client, scheduling, PostgreSQL writes; the database server's own CPU not counted) and, on Ray, "
             "every process Ray started for the run (raylet, GCS, the Lean-worker and generator actors, idle workers), "
             "read with psutil before and after the stage. The model server double runs in a process of its own.\n")
    if 1 in missed:
        rows_missed = ", ".join(r["strategy"] for r in rows if r["workers"] == 1 and r["overhead_ms"] > 2.0)
        body += (f"\nIn-process the overhead target is missed ({rows_missed}): the driver's own work per attempt is "
                 "over budget.\n")
    if any(w > 1 for w in missed):
        body += (f"\nOn Ray the overhead target is missed ({', '.join(str(w) for w in missed if w > 1)} workers): most "
                 "of the cost is Ray's own processes and the actors around each REPL, not the driver, whose share "
                 "alone is in its column.\n")
    write_section("prover_loop", "Prover loop: Lean-worker utilisation and orchestration overhead", body)


if __name__ == "__main__":
    main()
