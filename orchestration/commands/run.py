"""`flywheel run`: whole rounds, resumable."""

from __future__ import annotations

import argparse
import datetime
import logging
from pathlib import Path

from flywheel.config import Config
from flywheel.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run whole rounds: autoformalize, filter, hypotheses, prove, export")
    p.add_argument("--rounds", type=int, help="how many rounds (run.rounds, default 1)")
    p.add_argument("--workers", type=int, help="Lean workers; 1 runs serially in-process, more on Ray")
    p.add_argument("--ray-address", help="join this Ray cluster instead of starting a local one")
    p.add_argument("--resume", action="store_true",
                   help="finish the round (and the run) that was interrupted; --rounds is then ignored")
    p.add_argument("--model", help="model path or hub name (overrides generator.model)")
    p.add_argument("--out", help="where datasets and logs go (run.log_dir; default ./runs)")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace, cfg: Config) -> int:
    from db.store import Store
    from orchestration.engines import open_engines
    from orchestration.logs import run_log
    from orchestration.round import StopOnSignal, begin_round, plan, run_round

    rounds = args.rounds if args.rounds is not None else cfg.run.rounds
    workers = args.workers if args.workers is not None else cfg.run.workers
    address = args.ray_address or cfg.run.ray_address
    if rounds < 1:
        raise ConfigError(f"--rounds must be 1 or more, got {rounds}")
    if args.model:
        cfg.generator.model = args.model
    out = Path(args.out or cfg.run.log_dir or "runs")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    with Store.open(cfg.db) as store, run_log(out / "logs" / f"run-{stamp}.jsonl") as log_path:
        numbers = plan(store, rounds, args.resume)
        if not numbers:
            print(f"store: {store.describe()}\nnothing to resume: every round has finished")
            return 0
        begin_round(store, cfg, numbers[0], run_until=numbers[-1])
        print(f"store: {store.describe()}\nlog: {log_path}\nrounds: {', '.join(map(str, numbers))}", flush=True)
        with StopOnSignal() as stop, open_engines(cfg, store, workers, address) as engines:
            for number in numbers:
                print(f"== round {number}", flush=True)
                run_round(store, cfg, number, engines, stop.event, out, run_until=numbers[-1])
                if stop.event.is_set():
                    logging.getLogger(__name__).warning("stopped in round %d; `flywheel run --resume` continues", number)
                    return 130
    return 0
