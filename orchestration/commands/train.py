"""`flywheel train`: the next prover, fine-tuned on the verified pairs of every round so far."""

from __future__ import annotations

import argparse
import json

from flywheel.config import Config, validate
from flywheel.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune the next prover on the verified pairs of all rounds so far")
    p.add_argument("--round", type=int, help="train on rounds 1..N and record the checkpoint as round N's "
                                             "(default: the latest round)")
    p.add_argument("--method", choices=["sft", "grpo", "sft+grpo"],
                   help="sft: supervised fine-tuning (TRL's SFTTrainer); grpo: RL from the current prover with Lean's "
                        "verdicts as the reward, on the statements it proves sometimes (TRL's GRPOTrainer); sft+grpo: "
                        "both, GRPO from the SFT checkpoint (default: train.method)")
    p.add_argument("--lora", action="store_true", help="LoRA through PEFT instead of full fine-tuning (train.lora)")
    p.add_argument("--resume", action="store_true", help="continue a killed training from its last saved step")
    p.add_argument("--out", help="checkpoint folder (default: train.out_dir/round-N)")
    p.add_argument("--accelerate-config", metavar="FILE",
                   help="run under `accelerate launch` with this config file: DDP, FSDP or DeepSpeed on one node")
    p.add_argument("--ray-address", metavar="ADDR", help="train on this Ray cluster with Ray Train (train.ray_workers)")
    p.add_argument("--plan-only", action="store_true",
                   help="print the memory plan (weights, gradients, Adam, activations, ... against the GPUs) and stop")
    p.add_argument("--gpu-memory-gb", type=float, metavar="GB",
                   help="plan for GPUs of this size instead of the ones torch sees (train.gpu_memory_gb)")
    p.add_argument("--gpus", type=int, metavar="N", help="plan for N GPUs on the node (train.gpu_count)")
    p.add_argument("--grpo-vllm-mode", choices=["colocate", "server"],
                   help="GRPO's generation on GPUs: colocate (vLLM in the trainer's process) or server (a `trl "
                        "vllm-serve` on GPUs of its own, training on the others) (train.grpo_vllm_mode)")
    p.add_argument("--grpo-vllm-server-url", metavar="URL", help="the `trl vllm-serve` URL (train.grpo_vllm_server_url)")
    p.add_argument("--generation-gpus", type=int, metavar="N",
                   help="server mode: GPUs of this node the vLLM server holds (train.grpo_generation_gpus)")
    p.set_defaults(func=cmd_train)


def print_plan(cfg: Config) -> None:
    """The memory plan of the training about to run (a refusal raises, with the same numbers)."""
    from orchestration.train_stage import base_model
    from prover_loop.train.grpo import layout
    from prover_loop.train.memory import plan_for

    methods = cfg.train.method.split("+")
    for kind in methods:
        plan = plan_for(cfg.train, base_model(cfg), kind)
        print(f"{kind}: {plan.describe()}")
        if kind == "grpo":
            print(layout(cfg.train, base_model(cfg), plan.gpus))


def cmd_train(args: argparse.Namespace, cfg: Config) -> int:
    from db.store import Store
    from orchestration.commands.stages import resolve_round
    from orchestration.grpo_stage import train_by_method

    if args.lora:
        cfg.train.lora = True
    if args.method:
        cfg.train.method = args.method
    if args.accelerate_config and args.ray_address:
        raise ConfigError("--accelerate-config and --ray-address: choose one way to start the training processes")
    if args.accelerate_config:
        cfg.train.accelerate_config = args.accelerate_config
    if args.gpu_memory_gb is not None:
        cfg.train.gpu_memory_gb = args.gpu_memory_gb
    if args.gpus is not None:
        cfg.train.gpu_count = args.gpus
    for flag, field in (("grpo_vllm_mode", "grpo_vllm_mode"), ("grpo_vllm_server_url", "grpo_vllm_server_url"),
                        ("generation_gpus", "grpo_generation_gpus")):
        if getattr(args, flag) is not None:
            setattr(cfg.train, field, getattr(args, flag))
    validate(cfg)  # the rules across fields again, over what the flags set (server mode needs its URL)
    print_plan(cfg)
    if args.plan_only:
        return 0
    with Store.open(cfg.db) as store:
        round_ = resolve_round(store, args.round)
        trained = train_by_method(store, cfg, round_, args.out, args.resume, cfg.train.accelerate_config,
                                  args.ray_address)
    if not trained:
        t = cfg.train
        print(f"round {round_}: nothing trained: no statement side of rounds 1..{round_} has a pass rate in "
              f"({t.curriculum_low:g}, {t.curriculum_high:g}] for the current prover")
        return 1
    for result, ident in trained:
        print(_summary(round_, result, ident))
    result, ident = trained[-1]
    print(json.dumps({"checkpoint": ident, "data_manifest_sha256": result.data_manifest_sha256}))
    return 0


def _summary(round_: int, result, ident: int) -> str:
    m = result.metrics
    head = (f"round {round_}: checkpoint {ident} ({result.method}, {result.serve}) at {result.path}\n"
            f"base {result.base_model}; {m['steps']} steps, {m['wall_time_s']} s; ")
    if result.method.startswith("grpo"):
        c = m.get("curriculum") or {}
        return head + (f"{len(c.get('prompts', []))} prompts; mean reward {m['reward'][0]['reward']:.3f} -> "
                       f"{m['reward'][-1]['reward']:.3f}; pass rate on them {_pct(c.get('mean_rate_before'))} -> "
                       f"{_pct(c.get('mean_rate_after'))}")
    return head + (f"{m['tokens']} tokens, {m['tokens_per_s']} tokens/s; "
                   f"loss {m['loss'][0]['loss']:.4f} -> {m['loss'][-1]['loss']:.4f}")


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f}%"
