"""The generator's busy fraction when strategies hand it one batch at a time (LLM.generate: each batch waits for
its slowest completion, and the revisions asked meanwhile queue behind it) against the asynchronous path
(each request to the engine as it is proposed: vLLM's AsyncLLM, continuous batching), in one run, on the same
simulated engine (tests/sim_engine.py: `slots` sequences decode together, a token each per step; completion
lengths log-normal, as proofs' are) and the same workload: the repair strategy on both sides of each statement
(samples_per_side first answers, each failed one revised up to repair_turns times), Lean a sleeping double.

busy = decoding slots filled / slots over the run's wall time; "with requests in flight" counts only the time
when the sequences asked for and not answered (decoding, waiting in the engine, or held back by the scheduler
for the next batch) were at least the engine's slots, i.e. when a full engine was possible. Target: >= 0.95."""

from __future__ import annotations

import argparse
import random
import threading
import time

from bench.report import table, write_section

TARGET = 0.95
FAIL = "  omega\n```"


def _check(latency: tuple[float, float]):
    from flywheel.lean.guard.verdicts import Verdict
    from flywheel.records import VerdictStatus

    rng, lock = random.Random(0), threading.Lock()

    def check(header, goal, proof):
        with lock:
            wait = rng.uniform(*latency)
        time.sleep(wait)
        error = {"severity": "error", "pos": {"line": 5, "column": 2}, "data": "omega could not prove the goal"}
        return Verdict(VerdictStatus.FAILED, "omega could not prove the goal", [error], time_s=wait)

    return check


def run_workload(engine, statements: int, samples: int, turns: int, workers: int,
                 latency: tuple[float, float] = (0.02, 0.08), sample_s: float = 0.005) -> dict:
    """Prove `statements` statements (never proved: every chain runs to its end) over `engine`; what the engine
    measured, the attempts stored by statement, and the busy fraction while a full engine was possible."""
    from flywheel.config import ProverConfig
    from flywheel.records import Side
    from prover_loop.prove import result_of, units_of
    from prover_loop.strategies.scheduler import Lean, Scheduler
    from tests.seed import statement

    cfg = ProverConfig(samples_per_side=samples, strategy=["repair"], repair_turns=turns)
    sts = [statement(i) for i in range(statements)]
    units = units_of(sts, {}, [Side.STATEMENT, Side.NEGATION], cfg, 0, samples, True)
    stored: dict[str, list] = {}
    scheduler = Scheduler(engine, Lean(_check(latency)), workers, 1,
                          lambda u: stored.setdefault(u.key, [a.id for a in result_of(u, 1).attempts]))
    samples_seen: list[tuple[int, int]] = []  # (decoding, asked for and not answered), every sample_s
    done = threading.Event()

    def sample():
        while not done.wait(sample_s):
            running, waiting = engine.load()
            held = sum(g.request.n for _, _, g in list(scheduler.gens))
            samples_seen.append((running, running + waiting + held))

    sampler = threading.Thread(target=sample, daemon=True)
    engine.start_clock()
    sampler.start()
    scheduler.run(iter(units))
    done.set()
    sampler.join()
    measured = engine.measured()
    full = [r for r, wanted in samples_seen if wanted >= engine.slots]
    measured |= {"stored": stored, "busy_in_flight": sum(full) / (engine.slots * len(full)) if full else None,
                 "in_flight_share": len(full) / len(samples_seen) if samples_seen else 0.0}
    return measured


def engines(slots: int, step_s: float, median: float, sigma: float):
    from tests.sim_engine import SimulatedEngine, StreamingSimulatedEngine, lognormal_length

    length = lognormal_length(median, sigma)
    text = lambda req, k: FAIL  # noqa: E731
    return {"batched (LLM.generate per batch)": SimulatedEngine(text, slots, step_s, length),
            "async (a request as proposed)": StreamingSimulatedEngine(text, slots, step_s, length)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=128)
    parser.add_argument("--samples", type=int, default=4, help="first answers per side")
    parser.add_argument("--turns", type=int, default=3, help="revisions of each failed answer")
    parser.add_argument("--slots", type=int, default=64, help="sequences the engine decodes together")
    parser.add_argument("--step-ms", type=float, default=4.0, help="one decoding step")
    parser.add_argument("--median", type=float, default=64, help="median completion tokens")
    parser.add_argument("--sigma", type=float, default=1.0, help="log-normal spread of completion lengths")
    parser.add_argument("--max-tokens", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=32, help="Lean checks at once")
    args = parser.parse_args(argv)

    rows, stored = [], []
    for name, engine in engines(args.slots, args.step_ms / 1000, args.median, args.sigma).items():
        with engine:
            m = run_workload(engine, args.statements, args.samples, args.turns, args.workers)
        stored.append(m["stored"])
        met = m["busy_in_flight"] is not None and m["busy_in_flight"] >= TARGET
        rows.append([name, m["requests"], f"{m['tokens']:,}", f"{m['wall_s']:.1f} s",
                     f"{m['tokens'] / m['wall_s']:,.0f}",
                     f"{m['busy']:.3f}", f"{m['in_flight_share']:.2f}",
                     "n/a" if m["busy_in_flight"] is None else f"{m['busy_in_flight']:.3f}", "yes" if met else "NO",
                     f"{m['p50_latency_s']:.2f} / {m['p99_latency_s']:.2f} s"])
    same = stored[0] == stored[1]
    body = table(["path", "requests", "tokens", "wall", "tokens/s", "busy (whole run)", "share of time >= slots asked",
                  "busy with requests in flight", f">= {TARGET}", "request latency p50 / p99"], rows)
    body += (f"\n\nSimulated engine: {args.slots} slots, a decoding step {args.step_ms:g} ms, completion lengths "
             f"log-normal (median {args.median:g} tokens, sigma {args.sigma:g}, cut at {args.max_tokens}). Workload: "
             f"{args.statements} statements, both sides, repair with {args.samples} first answers and "
             f"{args.turns} revisions each (never proved, every chain to its end), {args.workers} Lean checks at once "
             f"(a double sleeping 20-80 ms). Latency: submit to answer in the engine (a batch's requests are submitted "
             f"together; the async path's is longer because its requests wait in the engine's queue, not in the "
             f"scheduler's). Both paths stored the same attempts: {'yes' if same else 'NO'}.")
    write_section("async_generation", "Generation: asynchronous engine against a batch a call", body)


if __name__ == "__main__":
    main()
