"""Training by method (train.method: sft | grpo | sft+grpo), and GRPO's part: the curriculum chosen from the
store's pass rates (topped up by a sampling pass), the trainer run with Lean's verdicts as the reward, the
pass rate after measured by a sampling pass of the new model, the checkpoint recorded with its rollouts."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

from db import checkpoints as dbcheckpoints
from db import curriculum as dbcurriculum
from db.store import Store
from flywheel.config import Config, GeneratorConfig
from flywheel.errors import ConfigError
from flywheel.records import Side
from prover_loop.train.reward import Prompt

log = logging.getLogger(__name__)
CURRICULUM = "curriculum.json"  # the chosen prompts of a training, kept so that a resumed one trains on the same


def default_grpo_trainer():
    """The in-process GRPO trainer (prover_loop.train.grpo.train_grpo); tests of the round driver put a double here."""
    from prover_loop.train.grpo import train_grpo

    return train_grpo


def train_by_method(store: Store, cfg: Config, round_: int, out_dir: Path | None = None, resume: bool = False,
                    accelerate_config: str | None = None, ray_address: str | None = None, engines=None) -> list[tuple]:
    """Round `round_`'s checkpoints by train.method, each (result, checkpoints id), the one the next round proves
    with last; sft+grpo trains GRPO from the SFT checkpoint it just recorded. An empty curriculum trains no GRPO."""
    from db.owner import own

    method = cfg.train.method
    if method == "grpo" and ray_address:
        raise ConfigError("--method grpo: --ray-address launches SFT only; GRPO's processes start under "
                          "--accelerate-config (its reward served to them by this process, which holds the store and "
                          "the Lean pool)")
    out = Path(out_dir or Path(cfg.train.out_dir) / f"round-{round_}")
    with own(store, f"the training of round {round_}", "two would write one checkpoint folder and one row; "
             "`flywheel train --resume` continues once it has ended"):
        return _train(store, cfg, round_, out, resume, accelerate_config, ray_address, engines)


def _train(store: Store, cfg: Config, round_: int, out: Path, resume: bool, accelerate_config: str | None,
           ray_address: str | None, engines) -> list[tuple]:
    from orchestration.train_stage import run_train

    method = cfg.train.method
    trained = []
    if method in ("sft", "sft+grpo"):
        trained.append(run_train(store, cfg, round_, out, resume, accelerate_config, ray_address))
    if method in ("grpo", "sft+grpo"):
        start = start_model(store, cfg, round_, cfg.train.base_model if method == "grpo" else None)
        grpo = run_grpo(store, cfg, round_, out / "grpo", start, resume, engines,
                        accelerate_config or cfg.train.accelerate_config)
        if grpo is not None:
            trained.append(grpo)
    return trained


def start_model(store: Store, cfg: Config, round_: int, pinned: str | None = None) -> GeneratorConfig:
    """The prover GRPO starts from: `pinned`, else the newest checkpoint of rounds 1..round_, else the prover."""
    from flywheel.roles import role_config, round_roles

    if pinned:
        return dataclasses.replace(role_config(cfg, "prover"), model=pinned, lora_adapter=None)
    with store.session() as s:
        checkpoint = dbcheckpoints.checkpoint_before(s, round_ + 1)
    return round_roles(cfg, checkpoint)["prover"]


@contextlib.contextmanager
def _lean(store: Store, cfg: Config, engines):
    """(check, workers): the engines' when the round has them, else a verifier and the store's cache on a pool
    of lean.workers REPLs, or of as many as a GRPO step checks at once (train.grpo_reward_workers) if more."""
    if engines is not None and engines.on_ray:
        yield engines.check, engines.workers
        return
    from orchestration.engines import open_verifier
    from prover_loop.train.grpo import reward_workers

    workers = max(cfg.lean.workers, reward_workers(cfg.train))
    with open_verifier(dataclasses.replace(cfg.lean, workers=workers), store) as verifier:
        yield verifier.check, workers


@contextlib.contextmanager
def _generator(wanted: GeneratorConfig, engines):
    if engines is not None:
        from orchestration.engines import open_prover

        with open_prover(engines, wanted) as generator:
            yield generator
        return
    from flywheel.llm.base import make_generator

    with make_generator(wanted) as generator:
        yield generator


def run_grpo(store: Store, cfg: Config, round_: int, out: Path, start: GeneratorConfig, resume: bool,
             engines=None, accelerate_config: str | None = None) -> tuple | None:
    """GRPO of `start` into `out` on the curriculum; returns (result, checkpoints id), or None when no statement
    side's pass rate is in the band. `resume` continues a killed training on the curriculum it chose. With
    `accelerate_config` the trainer's processes are started by `accelerate launch`, scored by this process."""
    from orchestration.train_stage import in_child
    from prover_loop.train.curriculum import record
    from prover_loop.train.grpo import reward_workers
    from prover_loop.train.reward import LeanReward
    from prover_loop.train.sft import served

    if start.lora_adapter:
        raise ConfigError("GRPO starts from a full model: train the prover with train.lora_serve: merge")
    out.mkdir(parents=True, exist_ok=True)
    t = cfg.train
    model = served(t, out)[1]  # what the rollouts' policy becomes: the attempts name it
    with _lean(store, cfg, engines) as (check, workers):
        prompts = curriculum(store, cfg, round_, out, start, check, workers, engines, resume)
        if not prompts:
            log.info("GRPO: no statement side of rounds 1..%d has a pass rate in (%g, %g] for %s", round_,
                     t.curriculum_low, t.curriculum_high, start.model)
            return None
        if engines is not None:
            from orchestration.engines import release_generation

            release_generation(engines)  # the trainer takes the GPU
        sampling = {"temperature": t.grpo_temperature, "max_tokens": t.grpo_max_completion_length}
        # a step's rollouts checked at once, so the trainer waits for its slowest check, not for the group queued
        with LeanReward(prompts, check, max(workers, reward_workers(t)), round_, model, _storer(store, round_, "rl"),
                        str(out.resolve()), t.grpo_format_reward, sampling) as reward:
            if accelerate_config or in_child(t):
                result = train_grpo_in_processes(accelerate_config, prompts, reward, t, out, start.model, resume)
            else:
                result = default_grpo_trainer()(prompts, reward, t, out, start.model, resume)
        from flywheel.roles import serving

        after_model = serving(start, result.path, result.serve, result.base_model)
        after = measure(store, cfg, round_, after_model, prompts, check, workers, engines)
    metrics = dict(result.metrics) | {"curriculum": record(prompts, t.curriculum_low, t.curriculum_high, after)}
    result.metrics = metrics
    with store.session() as s:
        ident = dbcheckpoints.save_checkpoint(s, round_, result.path, result.base_model, result.data_manifest_sha256,
                                              metrics, result.method, result.serve, result.adapter, result.config)
        dbcurriculum.attach_to_checkpoint(s, ident, str(out.resolve()), result.path, round_)
    return result, ident


def train_grpo_in_processes(config_file: str | None, prompts: Sequence[Prompt], reward, cfg, out: Path, base: str,
                            resume: bool):
    """GRPO in the processes `accelerate launch` starts from `config_file` (DDP, FSDP or ZeRO-3 on one node;
    generation colocated in each, or a `trl vllm-serve` server), or without it in one child process: each scores
    its completions through this process's reward service, so one Lean pool checks and one writer stores every
    process's rollouts. The reward's record of its calls joins the metrics the main process wrote."""
    from orchestration.train_stage import launch, worker_command, write_config
    from prover_loop.train.grpo import reward_metrics
    from prover_loop.train.reward_service import RewardServer
    from prover_loop.train.sft import RESULT
    from prover_loop.train.worker import write_prompts

    asked = write_prompts(prompts, out / "grpo_prompts.json")
    with RewardServer(reward) as server:
        cmd = worker_command(config_file, write_config(cfg, out), out, base, resume, "--method", "grpo",
                                 "--prompts", str(asked), "--reward-url", server.url)
        result = launch(cmd, out, server.env())
    result.metrics |= reward_metrics(reward.curve)
    (out / RESULT).write_text(result.to_json() + "\n", encoding="utf-8")
    return result


def curriculum(store: Store, cfg: Config, round_: int, out: Path, start: GeneratorConfig, check, workers: int,
               engines, resume: bool) -> list[Prompt]:
    """The statement sides in the band for `start`, from the store, topped up by a sampling pass where fewer than
    train.curriculum_min_attempts are stored; written to out/curriculum.json (a resumed training reads it back)."""
    from prover_loop.train.curriculum import in_band, needs_sampling

    t = cfg.train
    path = out / CURRICULUM
    name = start.lora_adapter or start.model
    prompts = _prompts(store, cfg, round_, name)
    if resume and path.is_file():
        by_key = {p.key: p for p in prompts}
        rows = json.loads(path.read_text(encoding="utf-8"))["prompts"]
        return [dataclasses.replace(by_key[k], attempts=r["attempts"], proved=r["proved"])
                for r in rows if (k := f"{r['statement_id']}:{r['side']}") in by_key]
    need = needs_sampling(prompts, t.curriculum_min_attempts)
    if need:
        with _generator(start, engines) as generator:
            sampling_pass(store, cfg, round_, generator, check, workers, need)
        prompts = _prompts(store, cfg, round_, name)
    chosen = in_band(prompts, t.curriculum_low, t.curriculum_high, t.curriculum_max_prompts)
    from prover_loop.train.curriculum import record

    path.write_text(json.dumps(record(chosen, t.curriculum_low, t.curriculum_high)) + "\n", encoding="utf-8")
    return chosen


def _prompts(store: Store, cfg: Config, round_: int, model: str) -> list[Prompt]:
    """Every trainable statement side (benchmark statements left out) with `model`'s stored counts."""
    from flywheel.benchmarks import normalized_forms
    from flywheel.lean.text.statements import normalize_statement
    from prover_loop.train.reward import make_prompt

    sides = [Side(s) for s in cfg.train.sides if s != Side.FALSE_HYPS.value]
    banned = normalized_forms(cfg.train.exclude_benchmarks) if cfg.train.exclude_benchmarks else set()
    with store.session() as s:
        pairs = [(st, side) for st, side in dbcurriculum.trainable(s, round_, sides)
                 if normalize_statement(st.text) not in banned]
        counts = dbcurriculum.pass_counts(s, model, sorted({st.id for st, _ in pairs}))
    informal = _informal(store, [st for st, _ in pairs])
    return [make_prompt(st, side, informal.get(st.problem_id or ""), cfg.prover, *counts.get((st.id, side), (0, 0)))
            for st, side in pairs]


def _informal(store: Store, statements) -> dict[str, str]:
    from db import statements as dbst

    with store.session() as s:
        found = dbst.problems_by_id(s, sorted({x.problem_id for x in statements if x.problem_id}))
    return {pid: p.informal for pid, p in found.items()}


def _storer(store: Store, round_: int, source: str) -> Callable[[list], None]:
    """Stores prove.Results as attempts of `source` (and their proofs, as any prove stage's)."""
    from db import proofs as dbproofs

    def store_results(results: list) -> None:
        for r in results:
            r.attempts = [dataclasses.replace(a, source=source) for a in r.attempts]
        with store.session() as s:
            dbproofs.save_results(s, results, round_)

    return store_results


def sampling_pass(store: Store, cfg: Config, round_: int, generator, check, workers: int,
                  need: Sequence[tuple[Prompt, int]]) -> None:
    """`n` more samples of each prompt, every one verified (no early stop) and stored as source `sample`."""
    from prover_loop.prove import prove_pass

    groups: dict[tuple[int, Side], list] = defaultdict(list)
    for p, n in need:
        groups[n, p.side].append(p.statement)
    on_results = _storer(store, round_, "sample")
    for (n, side), statements in groups.items():
        informal = _informal(store, statements)
        prove_pass(statements, informal, [side], cfg.prover, -1, round_, generator, check, workers, on_results,
                   samples=n, early_stop=False)


def measure(store: Store, cfg: Config, round_: int, wanted: GeneratorConfig, prompts: Sequence[Prompt], check,
            workers: int, engines) -> dict[str, float | None]:
    """The trained model's pass rate on the training prompts: train.curriculum_min_attempts samples each."""
    name = wanted.lora_adapter or wanted.model
    with store.session() as s:
        have = dbcurriculum.pass_counts(s, name, sorted({p.statement.id for p in prompts}))
    need = [(p, cfg.train.curriculum_min_attempts - have.get((p.statement.id, p.side), (0, 0))[0]) for p in prompts]
    need = [(p, n) for p, n in need if n > 0]
    if need:
        with _generator(wanted, engines) as generator:
            sampling_pass(store, cfg, round_, generator, check, workers, need)
    with store.session() as s:
        counts = dbcurriculum.pass_counts(s, name, sorted({p.statement.id for p in prompts}))
    return {p.key: (c[1] / c[0] if (c := counts.get((p.statement.id, p.side))) and c[0] else None) for p in prompts}
