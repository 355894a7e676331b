"""Where the prover loop's driver spends its CPU per attempt: the in-process `sample` and `repair` rows of
bench.prover_loop (fake REPL 50-500 ms a check, the scripted model in its own process) run under yappi's CPU
clock, every thread
of the driver counted, the own time of each function summed by the part of the system it belongs to, after
the same unprofiled warm-up run as bench.prover_loop's (first imports, SQL compilation). yappi
adds its own cost, so the profiled total is above bench.prover_loop's unprofiled driver CPU; the shares are
what to read. Run as `python -m bench.driver_profile` (needs `pip install yappi`)."""

from __future__ import annotations

import argparse
import sys

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


def profile(statements: int, strategy: str = "sample") -> tuple[dict, dict[str, float]]:
    import yappi

    import bench.prover_loop as loop
    import orchestration.prove_stages as stages

    run_prove = stages.run_prove

    def profiled(*a, **k):
        yappi.set_clock_type("cpu")
        yappi.start()
        try:
            return run_prove(*a, **k)
        finally:
            yappi.stop()

    try:
        with loop.model_server(0.2, strategy) as server:
            # warm-up, not profiled: imports and SQL compilation, as bench.prover_loop
            loop.run(1, 1, server, "50-500", strategy)
            stages.run_prove = profiled
            result = loop.run(1, statements, server, "50-500", strategy)
    finally:
        stages.run_prove = run_prove
    parts = dict.fromkeys([*PARTS, "everything else"], 0.0)
    for stat in yappi.get_func_stats():
        where = _where(stat.module)
        part = next((p for p, prefixes in PARTS.items() if where.startswith(prefixes)), "everything else")
        parts[part] += stat.tsub
    return result, parts


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
    order = sorted(runs[0][2], key=lambda p: -runs[0][2][p])
    rows = []
    for part in [*order, None]:
        row = [part or "total (profiled)"]
        for _, result, parts in runs:
            total = sum(parts.values())
            spent = total if part is None else parts[part]
            row += [f"{spent * 1e3 / result['attempts']:.2f} ms", f"{spent / total:.0%}"]
        rows.append(row)
    heads = [h for strategy, *_ in runs for h in (f"{strategy}: CPU per attempt", "share")]
    said = "; ".join(f"`{strategy}`: {r['attempts']} attempts ({r['checks']} Lean checks), the process's CPU "
                     f"{r['driver_ms']:.2f} ms an attempt" for strategy, r, _ in runs)
    body = (table(["part", *heads], rows) +
            f"\n\nThe in-process rows of bench.prover_loop, profiled after an unprofiled warm-up run; {said}, yappi's "
            "overhead included (bench.prover_loop measures the unprofiled cost, against which the 2 ms target is "
            "read).\n")
    write_section("driver_profile", "Prover loop: where the driver's CPU goes (profiled)", body)


if __name__ == "__main__":
    main()
