"""`flywheel run`: whole rounds, resumable."""

from __future__ import annotations

import argparse
import datetime
import logging
from pathlib import Path

from flywheel.config import Config
from flywheel.errors import ConfigError

OWNER_HINT = "`flywheel status` shows how far it is; run --resume once it has ended"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run whole rounds: autoformalize, filter, hypotheses, prove, audit, export, train, evaluate")
    p.add_argument("--rounds", type=int, help="how many rounds (run.rounds, default 1)")
    p.add_argument("--workers", type=int, help="Lean workers; 1 runs serially in-process, more on Ray (default: run.workers)")
    p.add_argument("--ray-address", help="join this Ray cluster instead of starting a local one (default: run.ray_address, else local)")
    p.add_argument("--resume", action="store_true",
                   help="finish the round (and the run) that was interrupted; --rounds is then ignored")
    p.add_argument("--model", help="model path or hub name (default: generator.model)")
    p.add_argument("--out", help="where datasets and logs go (run.log_dir; default ./runs)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="a pilot: each round formalizes at most N new problems (default: every pending problem); "
                        "--resume keeps the limit the round began with")
    p.add_argument("--source", metavar="S",
                   help="formalize only problems ingested with --source S (default: every source); "
                        "--resume keeps the source the round began with")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace, cfg: Config) -> int:
    from db.owner import own
    from db.store import Store
    from orchestration.engines import open_engines
    from orchestration.logs import run_log
    from orchestration.outputs import check_out_dir
    from orchestration.preflight import preflight
    from orchestration.round import StopOnSignal, begin_round, plan, recorded_pilot, run_round

    rounds = args.rounds if args.rounds is not None else cfg.run.rounds
    workers = args.workers if args.workers is not None else cfg.run.workers
    address = args.ray_address or cfg.run.ray_address
    if rounds < 1:
        raise ConfigError(f"--rounds must be 1 or more, got {rounds}")
    if workers < 1:
        raise ConfigError(f"--workers must be 1 or more, got {workers}")
    if args.model:
        cfg.generator.model = args.model
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be 1 or more, got {args.limit}")
    out = Path(args.out or cfg.run.log_dir or "runs")
    check_out_dir(out, "--out" if args.out else "run.log_dir")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    with Store.open(cfg.db) as store, own(store, "the rounds", OWNER_HINT), \
            run_log(out / "logs" / f"run-{stamp}.jsonl") as log_path:
        numbers = plan(store, rounds, args.resume)
        if not numbers:
            print(f"store: {store.describe()}\nnothing to resume: every round has finished")
            return 0
        recorded = (recorded_pilot(store, numbers[0]) or recorded_pilot(store, numbers[0] - 1)) if args.resume else {}
        pilot = _pilot(args, recorded)
        _check_source(store, pilot.get("source"))
        preflight(cfg)  # Lean, then the model: a run that cannot start records no round
        begin_round(store, cfg, numbers[0], run_until=numbers[-1], pilot=pilot)
        print(f"store: {store.describe()}\nlog: {log_path}\nrounds: {', '.join(map(str, numbers))}", flush=True)
        if pilot:
            print(f"pilot: at most {pilot.get('limit', 'every')} new problems a round, "
                  f"of source {pilot.get('source', 'any')}", flush=True)
        with StopOnSignal() as stop, open_engines(cfg, store, workers, address) as engines:
            for number in numbers:
                print(f"== round {number}", flush=True)
                run_round(store, cfg, number, engines, stop.event, out, run_until=numbers[-1], pilot=pilot)
                if stop.event.is_set():
                    logging.getLogger(__name__).warning("stopped in round %d; `flywheel run --resume` continues", number)
                    return 130
    return 0


def _pilot(args: argparse.Namespace, recorded: dict) -> dict:
    """--limit/--source as given, else as the resumed round recorded them ({} for whole rounds)."""
    pilot = dict(recorded)
    if args.limit is not None:
        pilot["limit"] = args.limit
    if args.source is not None:
        pilot["source"] = args.source
    return pilot


def _check_source(store, source: str | None) -> None:
    from sqlalchemy import text

    if source is None:
        return
    with store.read_only() as conn:
        known = list(conn.execute(text("SELECT DISTINCT source FROM problems ORDER BY 1")).scalars())
    if source not in known:
        raise ConfigError(f"--source {source}: no problems were ingested with that source "
                          f"(known: {', '.join(known) or 'none yet; `flywheel ingest FILE --source S` stores some'})")
