"""The model time a decided side's requests cost, withdrawn or left to run. The prove stage (repair, 4 samples a
side, statement and negation in parallel) against the OpenAI server double answering every request after
`--generate-s` of "generation", aborting it when its client goes (as vLLM's server does), and the fake REPL at
10-50 ms a check (generation the bottleneck, as on a GPU with many Lean workers), in-process, on one Lean worker. The revision of the statement's first sample proves, so every
other revision of both sides is decided while it is still being generated. Reported: requests the server was
sent, those withdrawn and aborted, the server's generation time in all and per stored attempt, the stage's wall.
The second row takes withdraw() out (the generator keeps generating what no one will read, as before)."""

from __future__ import annotations

import argparse
import shlex
import sys
from unittest import mock

from bench.prover_loop import FAKE, SAMPLES, respond
from bench.report import scratch_db, table, write_section


def run(statements: int, generate_s: float, latency: str, withdrawing: bool) -> dict:
    import os
    import time

    from db import statements as dbst
    from db.store import Store
    from flywheel.config import Config, DbConfig
    from orchestration.engines import open_engines
    from orchestration.prove_stages import run_prove
    from tests.doubles import OpenAIServer
    from tests.seed import statement

    os.environ.update(FAKE_REPL_NO_REPLAY="1", FAKE_REPL_LATENCY_MS=latency)
    server = OpenAIServer(lambda prompt, i: respond(prompt, i, "repair"), latency_s=0.0, hang_s=generate_s,
                          default_action="generate")
    cfg = Config()
    cfg.generator.backend, cfg.generator.model, cfg.generator.base_url = "openai", "scripted", server.url
    cfg.generator.request_timeout_s = 60.0
    cfg.lean.repl = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE))}"
    cfg.prover.samples_per_side, cfg.prover.passes, cfg.prover.strategy = SAMPLES, 1, ["repair"]
    keep = mock.patch("prover_loop.strategies.scheduler.withdraw", lambda generator, future: None)
    with server, scratch_db("flywheel_bench_withdraw") as url, Store.open(DbConfig(url=url)) as store:
        cfg.db.url = url
        with store.session() as s:
            dbst.insert_statements(s, [statement(i) for i in range(statements)])
        with open_engines(cfg, store, 1, None) as engines:
            engines.check(cfg.lean.header, "theorem w : True", "by trivial")  # the REPL started before the clock
            if not withdrawing:
                keep.start()
            try:
                wall0 = time.perf_counter()
                counts = run_prove(store, cfg, 1, engines.generator, engines.check, engines.workers)
                wall = time.perf_counter() - wall0
            finally:
                if not withdrawing:
                    keep.stop()
        # the generator has been left: every request it sent is answered or aborted by now
        attempts = int(counts.outcomes["attempts"])
        return {"withdrawing": withdrawing, "statements": statements, "attempts": attempts,
                "proved": int(counts.outcomes["proved: statement"]), "requests": len(server.seen),
                "withdrawn": int(counts.outcomes["model requests withdrawn"]), "aborted": len(server.aborted),
                "generating_s": server.generating_s, "wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--statements", type=int, default=20)
    ap.add_argument("--generate-s", type=float, default=2.0, help="the server's time per request")
    ap.add_argument("--latency-ms", default="10-50", help="fake REPL latency per command (generation the bottleneck)")
    args = ap.parse_args()
    rows = []
    for withdrawing in (True, False):
        r = run(args.statements, args.generate_s, args.latency_ms, withdrawing)
        print(r, flush=True)
        rows.append(r)
    on, off = rows
    if (on["attempts"], on["proved"]) != (off["attempts"], off["proved"]):
        raise SystemExit(f"the two runs stored different outcomes: {on} against {off}")
    body = table(
        ["decided side's requests", "statements", "attempts stored", "proved", "requests sent", "withdrawn",
         "aborted by the server", "generation time", "generation / stored attempt", "stage wall"],
        [["withdrawn (shipped)" if r["withdrawing"] else "left to run (before)", r["statements"], r["attempts"],
          r["proved"], r["requests"], r["withdrawn"] if r["withdrawing"] else "-", r["aborted"], f"{r['generating_s']:.1f} s",
          f"{r['generating_s'] / r['attempts']:.2f} s", f"{r['wall']:.1f} s"] for r in rows])
    body += (f"\n\nThe server double generates each request for {args.generate_s:g} s (vLLM's server: a request whose "
             f"client goes is aborted); the fake REPL answers a check in {args.latency_ms} ms; repair, {SAMPLES} samples a "
             "side, one pass, one Lean worker, in-process. Generation time is the server's, summed over its requests, "
             f"answered or aborted: withdrawn, it is {on['generating_s'] / off['generating_s']:.2f}x of what the "
             "same stage costs when a decided side's requests run to their end; what is stored is the same. Withdrawn "
             "requests are those of sides decided while they were queued (never sent) or being generated (aborted). "
             "Where Lean is the bottleneck (50-500 ms a check on one worker, 2026-12-04) every revision is answered "
             "before the proof that decides its side is checked, and none is withdrawn.\n")
    write_section("withdraw", "Generation: a decided side's requests withdrawn", body)


if __name__ == "__main__":
    main()
