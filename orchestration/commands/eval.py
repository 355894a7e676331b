"""`flywheel eval`: pass@k of a checkpoint on miniF2F or ProofNet, stored per problem, resumable."""

from __future__ import annotations

import argparse
from pathlib import Path

from flywheel.config import Config
from flywheel.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="N independent attempts per benchmark problem, verify all, report pass@k beside the budget spent")
    p.add_argument("--benchmark", choices=["minif2f", "proofnet", "synthetic"], help="eval.benchmark (default minif2f)")
    p.add_argument("--split", choices=["valid", "test"], help="eval.split (default test)")
    p.add_argument("--n", type=int, help="proofs sampled per problem (eval.n, default 32)")
    p.add_argument("--k", help="comma-separated k of pass@k, each at most n (eval.k, default 1,8,32)")
    p.add_argument("--checkpoint", help="a checkpoint id (of `checkpoints`) or a model path; default: the model "
                                        "the next round proves with")
    p.add_argument("--limit", type=int, help="only the first M problems of the split")
    p.add_argument("--workers", type=int, help="Lean workers; 1 runs serially in-process, more on Ray")
    p.add_argument("--ray-address", help="join this Ray cluster instead of starting a local one")
    p.add_argument("--out", help="also write the results to this JSON file")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace, cfg: Config) -> int:
    from db.store import Store
    from orchestration.engines import open_engines
    from orchestration.eval_stage import model_name, resolve_checkpoint, run_eval, write_summary
    from orchestration.round import StopOnSignal

    ev = cfg.eval
    for flag, field in (("benchmark", "benchmark"), ("split", "split"), ("n", "n"), ("limit", "limit")):
        if getattr(args, flag) is not None:
            setattr(ev, field, getattr(args, flag))
    if ev.n < 1:
        raise ConfigError(f"--n must be 1 or more, got {ev.n}")
    if args.k is not None:
        from prover_loop.evaluate import parse_ks

        ev.k = parse_ks(args.k, ev.n)
    workers = args.workers if args.workers is not None else cfg.run.workers
    with Store.open(cfg.db) as store:
        wanted, checkpoint_id = resolve_checkpoint(store, cfg, args.checkpoint)
        model = model_name(wanted)
        if not model:
            raise ConfigError("no model to evaluate: pass --checkpoint, or set generator.model or prover.model")
        cfg.generator = wanted  # the engines' generator is the one evaluated
        with StopOnSignal() as stop, open_engines(cfg, store, workers, args.ray_address or cfg.run.ray_address) as engines:
            summary, counts = run_eval(store, cfg, ev, engines.generator, engines.check, engines.workers, model,
                                       checkpoint_id, stop=stop.event, sketch=engines.sketch,
                                       tactics=engines.tactics)
    b = summary["budgets"]
    print(f"store: {store.describe()}\ncheckpoint: {model}\n{counts.render()}\n"
          f"strategy {b['strategy']}: an attempt spent {b['checks_per_attempt']:.2f} Lean checks and "
          f"{b['tokens_per_attempt']:.0f} tokens on average; pass@k is at k attempts' budget")
    for source, values in summary["by_source"].items():
        print(f"  {source}: " + ", ".join(f"pass@{k} {100 * v:.1f}%" for k, v in values.items() if k != "problems")
              + f" ({values['problems']} problems)")
    if args.out:
        write_summary(summary, Path(args.out))
    if stop.event.is_set():
        print("flywheel: stopped; the same command continues the evaluation")
        return 130
    return 0
