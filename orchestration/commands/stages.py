"""`flywheel autoformalize` and `flywheel filter`: the first half of a round, stage by stage."""

from __future__ import annotations

import argparse
import contextlib

from flywheel.config import Config
from flywheel.errors import ConfigError
from flywheel.roles import role_config


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--round", type=int, help="round number (default: the latest round, else 1)")
    p.add_argument("--model", help="model path or hub name (default: generator.model)")
    p.add_argument("--backend", choices=["vllm", "openai", "hf"], help="the generation back end (default: generator.backend)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("autoformalize", help="formalize pending problems into Lean 4 statements")
    _add_model_flags(p)
    p.add_argument("--samples", type=int, help="statements sampled per problem (default: autoformalize.samples)")
    p.add_argument("--limit", type=int, help="at most this many problems (default: every pending one)")
    p.add_argument("--source", help="only problems of this source (default: every source)")
    p.set_defaults(func=cmd_autoformalize)
    f = sub.add_parser("filter", help="compile, dedup, decontaminate and grade the round's candidates")
    _add_model_flags(f)
    f.add_argument("--no-compile", action="store_true", help="skip the Lean compile check")
    f.add_argument("--no-grade", action="store_true", help="skip model grading")
    f.set_defaults(func=cmd_filter)


def apply_model_flags(args: argparse.Namespace, cfg: Config) -> None:
    if args.model:
        cfg.generator.model = args.model
    if args.backend:
        cfg.generator.backend = args.backend


def resolve_round(store, requested: int | None) -> int:
    from db import rounds

    if requested is not None:
        if requested < 1:
            raise ConfigError(f"--round must be 1 or more, got {requested}")
        return requested
    with store.session() as s:
        return rounds.latest_round(s) or 1


def open_generator(cfg, stack: contextlib.ExitStack, section: str = "generator"):
    from flywheel.llm.base import make_generator
    from orchestration.preflight import check_model

    if not cfg.model:
        raise ConfigError("no model: pass --model PATH or set generator.model in the config")
    check_model(cfg, section)  # a missing path or an unreachable hub is said now, not after a minute of retries
    return stack.enter_context(make_generator(cfg))


def cmd_autoformalize(args: argparse.Namespace, cfg: Config) -> int:
    from db.store import Store
    from orchestration.statement_stages import run_autoformalize

    apply_model_flags(args, cfg)
    if args.samples is not None:
        if args.samples < 1:
            raise ConfigError(f"--samples must be 1 or more, got {args.samples}")
        cfg.autoformalize.samples = args.samples
    with Store.open(cfg.db) as store, contextlib.ExitStack() as stack:
        round_ = resolve_round(store, args.round)
        generator = open_generator(role_config(cfg, "formalizer"), stack, "formalizer" if cfg.formalizer else "generator")
        counts = run_autoformalize(store, cfg, generator, round_, args.limit, source=args.source)
    print(f"round {round_}\n{counts.render()}")
    return 0


def cmd_filter(args: argparse.Namespace, cfg: Config) -> int:
    from db.store import Store
    from orchestration.statement_stages import run_filter

    apply_model_flags(args, cfg)
    if args.no_compile:
        cfg.filters.compile = False
    if args.no_grade:
        cfg.filters.grade = False
    with Store.open(cfg.db) as store, contextlib.ExitStack() as stack:
        round_ = resolve_round(store, args.round)
        if cfg.filters.compile:
            from orchestration.preflight import check_lean

            check_lean(cfg.lean)  # before a model is loaded for grading
        generator = (open_generator(cfg.grader or cfg.generator, stack, "grader" if cfg.grader else "generator")
                     if cfg.filters.grade else None)
        compile_check = None
        if cfg.filters.compile:
            from orchestration.engines import open_verifier

            compile_check = stack.enter_context(open_verifier(cfg.lean, store)).compile_check
        counts = run_filter(store, cfg, round_, generator, compile_check)
    print(f"round {round_}\n{counts.render()}")
    return 0
