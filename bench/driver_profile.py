"""Where the prover loop's driver spends its CPU per attempt: the in-process `sample` and `repair` rows of
bench.prover_loop (fake REPL 50-500 ms a check, the scripted model in its own process) run under yappi's CPU
clock, every thread
of the driver counted, the own time of each function summed by the part of the system it belongs to, after
the same unprofiled warm-up run as bench.prover_loop's (first imports, SQL compilation). yappi
adds its own cost, so the profiled total is above bench.prover_loop's unprofiled driver CPU; the shares are
what to read. Run as `python -m bench.driver_profile` (needs `pip install yappi`)."""

from __future__ import annotations

import argparse
import re
import sys
import threading

from bench.report import table, write_section

# The parts of the system, by the module paths their functions live in (first match wins).
PARTS = {
    "verifier, REPL client and pool, verdicts": ("flywheel/lean/guard/verifier", "flywheel/lean/guard/verdicts",
                                                 "flywheel/lean/repl", "flywheel/lean/guard/cache"),
    "threads and futures (locks, queues, executors)": ("std:threading", "std:concurrent", "std:queue"),
    "generation hand-off (http, email, socket)": ("std:urllib", "std:http", "std:email", "std:socket",
                                                          "std:ssl", "flywheel/llm"),
    "guard (lexer, soundness scans, statement surgery)": ("flywheel/lean/text", "flywheel/lean/guard/soundness",
                                                          "flywheel/lean/guard/axioms"),
    "strategies and scheduler": ("prover_loop/",),
    "JSON encode/decode": ("std:json",),
    "store (SQLAlchemy, psycopg2, db/)": ("site:sqlalchemy", "site:psycopg2", "db/"),
    "hashing": ("flywheel/hashing", "std:hashlib"),
}


def _where(module: str) -> str:
    import sysconfig
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent) + "/"
    for prefix, tag in ((sysconfig.get_paths()["purelib"] + "/", "site:"), (sysconfig.get_paths()["stdlib"] + "/", "std:"),
                        (root, "")):
        if module.startswith(prefix):
            return tag + module[len(prefix):]
    return module


# Threads by what they do, from their names (a pool's threads are NAME_0, NAME_1, ...).
ROLES = {"MainThread": "scheduler (main thread: strategies, scheduling, stage reads)",
         "verify": "Lean checks (guard, verdict cache, REPL client)",
         "flywheel-openai": "generation requests (HTTP client, JSON)",
         "store-results": "storing results (PostgreSQL writes)"}


class ThreadClock:
    """Unprofiled CPU time by thread role over a run: each thread's CPU clock (pthread_getcpuclockid) read every
    `every_s` by a thread of its own, and once more at the end, so that a thread a pool ends is counted up to
    its last reading. `own_s`: the reading thread's own CPU, to take off the process's."""

    def __init__(self, every_s: float = 0.2):
        self._every_s = every_s
        self._start: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="thread-clock", daemon=True)
        self.own_s = 0.0

    def _read(self) -> dict[int, tuple[str, float]]:
        import time

        out = {}
        for t in threading.enumerate():
            try:
                out[t.ident] = (t.name, time.clock_gettime(time.pthread_getcpuclockid(t.ident)))
            except (OSError, TypeError):  # ended meanwhile, or not started
                continue
        return out

    def _run(self) -> None:
        import time

        while not self._done.wait(self._every_s):
            self._last.update(self._read())
        self.own_s = time.thread_time()

    def __enter__(self) -> "ThreadClock":
        self._start = {ident: cpu for ident, (_, cpu) in self._read().items()}
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self._last.update(self._read())

    def by_role(self) -> dict[str, float]:
        out = dict.fromkeys([*ROLES.values(), "other threads"], 0.0)
        for ident, (name, cpu) in self._last.items():
            if name == "thread-clock":
                continue
            role = ROLES.get(re.sub(r"_\d+$", "", name), "other threads")
            out[role] += cpu - self._start.get(ident, 0.0)
        return out


def profile(statements: int, strategy: str = "sample") -> tuple[dict, dict[str, float], dict, dict[str, float]]:
    """The profiled run (its result, CPU by part) and an unprofiled one (its result, CPU by thread role)."""
    import yappi

    import bench.prover_loop as loop
    import orchestration.prove_stages as stages

    run_prove = stages.run_prove
    clock: list[ThreadClock] = []

    def profiled(*a, **k):
        yappi.set_clock_type("cpu")
        yappi.start()
        try:
            return run_prove(*a, **k)
        finally:
            yappi.stop()

    def clocked(*a, **k):
        with ThreadClock() as c:
            clock.append(c)
            return run_prove(*a, **k)

    try:
        with loop.model_server(0.2, strategy) as server:
            # warm-up, not profiled: imports and SQL compilation, as bench.prover_loop
            loop.run(1, 1, server, "50-500", strategy)
            stages.run_prove = clocked
            plain = loop.run(1, statements, server, "50-500", strategy)
            stages.run_prove = profiled
            result = loop.run(1, statements, server, "50-500", strategy)
    finally:
        stages.run_prove = run_prove
    parts = dict.fromkeys([*PARTS, "everything else"], 0.0)
    for stat in yappi.get_func_stats():
        where = _where(stat.module)
        part = next((p for p, prefixes in PARTS.items() if where.startswith(prefixes)), "everything else")
        parts[part] += stat.tsub
    yappi.clear_stats()
    plain["driver_ms"] -= clock[0].own_s / plain["attempts"] * 1e3  # the clock's own reading
    return result, parts, plain, clock[0].by_role()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--statements", type=int, default=20)
    ap.add_argument("--strategies", default="sample,repair", help="comma-separated prover strategies, one profile each")
    args = ap.parse_args()
    try:
        import yappi  # noqa: F401
    except ImportError:
        sys.exit("bench.driver_profile needs yappi: pip install yappi")
    runs = [(strategy, *profile(args.statements, strategy)) for strategy in args.strategies.split(",")]
    write_section("driver_profile", "Prover loop: where the driver's CPU goes (profiled)", report(runs))


def report(runs: list[tuple[str, dict, dict[str, float], dict, dict[str, float]]]) -> str:
    """Two tables: the profiled CPU by part of the system, the unprofiled CPU by thread role, per strategy."""
    order = sorted(runs[0][2], key=lambda p: -runs[0][2][p])
    rows = []
    for part in [*order, None]:
        row = [part or "total (profiled)"]
        for _, result, parts, _, _ in runs:
            total = sum(parts.values())
            spent = total if part is None else parts[part]
            row += [f"{spent * 1e3 / result['attempts']:.2f} ms", f"{spent / total:.0%}"]
        rows.append(row)
    heads = [h for strategy, *_ in runs for h in (f"{strategy}: CPU per attempt", "share")]
    roles = []
    for role in [*runs[0][4], None]:
        row = [role or "the process (bench.prover_loop's driver CPU)"]
        for _, _, _, plain, threads in runs:
            spent = plain["driver_ms"] / 1e3 * plain["attempts"] if role is None else threads[role]
            row.append(f"{spent * 1e3 / plain['attempts']:.2f} ms")
        roles.append(row)
    said = "; ".join(f"`{strategy}`: {r['attempts']} attempts ({r['checks']} Lean checks), the process's CPU "
                     f"{r['driver_ms']:.2f} ms an attempt profiled" for strategy, r, *_ in runs)
    return (table(["part", *heads], rows) +
            f"\n\nThe in-process rows of bench.prover_loop, profiled after an unprofiled warm-up run; {said}, yappi's "
            "overhead included (bench.prover_loop measures the unprofiled cost, against which the 2 ms target is "
            "read). yappi inflates code of many small calls the most, so the shares lean that way; the table below "
            "is not profiled.\n\n" +
            table(["thread (unprofiled)", *(f"{strategy}: CPU per attempt" for strategy, *_ in runs)], roles) +
            "\n\nThe same rows run without a profiler: each thread's CPU clock, read every 200 ms, by what the thread "
            "does (a pool's thread that ends loses at most its last 200 ms); other threads are the REPL clients' "
            "readers, tqdm's monitor and the like.\n")


if __name__ == "__main__":
    main()
