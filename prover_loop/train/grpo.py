"""Reinforcement learning from Lean's verdicts (DeepSeek-Prover-V1.5's RLPAF): TRL's GRPOTrainer on the prover,
G completions a prompt, each one's advantage its reward less the group's mean over the group's std, no value
model; the reward is prover_loop/train/reward.py's LeanReward. Generation by vLLM (colocated or a server) on a
GPU, by transformers on a CPU; a resumable checkpoint every `save_steps`; generation-ready weights at the end."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Sequence

from flywheel.config import TrainConfig
from flywheel.errors import ConfigError
from flywheel.hashing import sha256_json
from prover_loop.train.memory import model_init_kwargs, release_memory, training_plan
from prover_loop.train.reward import Prompt
from prover_loop.train.sft import (RESULT, TrainResult, last_save, load_tokenizer, lora_config, merge_adapter, on_cpu,
                                   save_final, served, train_from)


def grpo_args(cfg: TrainConfig, output_dir: Path, cpu: bool, **extra):
    """TRL's GRPOConfig for `cfg`: every hyperparameter from the config (TRL's bf16 and gradient checkpointing
    defaults would change the run behind the user's back); rewards scaled by the group's std, as GRPO is."""
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(output_dir), max_steps=cfg.grpo_steps, learning_rate=cfg.grpo_lr,
        lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup, weight_decay=cfg.weight_decay,
        per_device_train_batch_size=cfg.grpo_group_size * cfg.grpo_prompts_per_step,
        gradient_accumulation_steps=cfg.grad_accumulation, num_generations=cfg.grpo_group_size,
        max_completion_length=cfg.grpo_max_completion_length, temperature=cfg.grpo_temperature, top_p=1.0,
        beta=cfg.grpo_beta, epsilon=cfg.grpo_epsilon, loss_type=cfg.grpo_loss_type, scale_rewards="group",
        bf16=cfg.bf16, gradient_checkpointing=cfg.gradient_checkpointing, seed=cfg.seed, data_seed=cfg.seed,
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.logging_steps, use_cpu=cpu, report_to="none", disable_tqdm=True, log_completions=False,
        model_init_kwargs=model_init_kwargs(cfg, cpu), **generation_args(cfg, cpu), **extra)


def generation_args(cfg: TrainConfig, cpu: bool) -> dict:
    """GRPOConfig's generation fields (TRL >= 0.18): transformers on a CPU; on GPUs vLLM, colocated in the
    trainer's process with its share of the GPU, or a `trl vllm-serve` server on GPUs of its own."""
    if cpu:
        return {}
    if cfg.grpo_vllm_mode == "server":
        return dict(use_vllm=True, vllm_mode="server", vllm_server_base_url=cfg.grpo_vllm_server_url,
                    vllm_server_timeout=cfg.grpo_vllm_server_timeout_s)
    return dict(use_vllm=True, vllm_mode="colocate", vllm_gpu_memory_utilization=cfg.grpo_vllm_gpu_memory_utilization)


def reward_workers(cfg: TrainConfig) -> int:
    """Lean checks of one step at once: train.grpo_reward_workers, else every rollout of the step."""
    return cfg.grpo_reward_workers or cfg.grpo_group_size * cfg.grpo_prompts_per_step


def layout(cfg: TrainConfig, base_model: str, gpus) -> str:
    """Where GRPO's generation, training and reward run, with the commands that start a server-mode run."""
    reward = (f"Lean reward: {reward_workers(cfg)} checks at once (a step's rollouts checked together, on REPLs "
              f"beside lean.workers)")
    if gpus is None:
        return f"GRPO layout: generation by transformers in the trainer's process (no GPU); {reward}"
    if cfg.grpo_vllm_mode == "colocate":
        return (f"GRPO layout: generation by vLLM colocated in the trainer's process "
                f"({cfg.grpo_vllm_gpu_memory_utilization:g} of the GPU); training in this process; {reward}")
    from urllib.parse import urlparse

    gen = cfg.grpo_generation_gpus
    port = urlparse(cfg.grpo_vllm_server_url or "").port or 8000
    serve = (f"CUDA_VISIBLE_DEVICES={','.join(map(str, range(gen)))} trl vllm-serve --model {base_model} "
             f"--tensor-parallel-size {gen} --port {port}" if gen else "trl vllm-serve on another node")
    visible = ",".join(map(str, range(gen, gpus.count + gen)))
    launch = f" --accelerate-config {cfg.accelerate_config or 'FILE'}" if gpus.count > 1 else ""
    return (f"GRPO layout: generation by `trl vllm-serve` at {cfg.grpo_vllm_server_url} on {gen or 'no'} GPU(s) of "
            f"this node ({serve}); training on {gpus.count} GPU(s) beside it (CUDA_VISIBLE_DEVICES={visible} "
            f"flywheel train --method grpo{launch}: one process a GPU, each scored by this driver's reward "
            f"service); {reward}")


def train_grpo(prompts: Sequence[Prompt], reward, cfg: TrainConfig, out_dir: Path, base_model: str,
               resume: bool = False, callbacks: Sequence = ()) -> TrainResult | None:
    """GRPO of `base_model` on `prompts` (Prompts, or anything with a prompt's key and text) with `reward` (a
    LeanReward in this process, a RemoteReward in each process `accelerate launch` starts); resumable
    checkpoints go to out_dir/trainer, the final model to out_dir/model (LoRA: merged unless train.lora_serve
    is `adapter`). `resume` continues from the last save; without it a folder that already holds saves is
    refused. Returns the result on the main process (None on the others)."""
    from datasets import Dataset
    from trl import GRPOTrainer

    if not prompts:
        raise ConfigError("GRPO: no prompts to train on")
    out_dir = Path(out_dir)
    trainer_dir = out_dir / "trainer"
    last = last_save(trainer_dir, resume)
    cfg = training_plan(cfg, base_model, "grpo").apply(cfg)
    tokenizer = load_tokenizer(base_model)
    dataset = Dataset.from_list([{"prompt": p.prompt, "key": p.key} for p in prompts])
    try:
        return _fit(GRPOTrainer(model=base_model, reward_funcs=reward, args=grpo_args(cfg, trainer_dir, on_cpu(cfg)),
                                train_dataset=dataset, processing_class=tokenizer,
                                peft_config=lora_config(cfg) if cfg.lora else None, callbacks=list(callbacks)),
                    cfg, out_dir, base_model, prompts, reward, tokenizer, last)
    finally:
        release_memory()  # the trainer, its model and reference are unreachable once _fit returns


def _fit(trainer, cfg: TrainConfig, out_dir: Path, base_model: str, prompts: Sequence[Prompt], reward,
         tokenizer, last: str | None) -> TrainResult | None:
    start = time.perf_counter()
    train_from(trainer, last)
    wall = time.perf_counter() - start
    final = out_dir / ("adapter" if cfg.lora else "model")
    save_final(trainer, final)
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_world_process_zero():
        return None
    tokenizer.save_pretrained(str(final))
    if cfg.lora and cfg.lora_serve == "merge":
        merge_adapter(final, out_dir / "model")
    result = _result(cfg, out_dir, base_model, prompts, trainer.state, reward, wall, last)
    (out_dir / RESULT).write_text(result.to_json() + "\n", encoding="utf-8")
    return result


def _result(cfg: TrainConfig, out_dir: Path, base_model: str, prompts: Sequence[Prompt], state, reward,
            wall: float, resumed_from: str | None) -> TrainResult:
    curve = [{"step": h["step"], "reward": h["reward"]} for h in state.log_history if "reward" in h]
    first = int(Path(resumed_from).name.split("-")[-1]) if resumed_from else None
    metrics = {
        "steps": state.global_step, "resumed_from_step": first, "reward": curve, "wall_time_s": round(wall, 3),
        "steps_per_s": round((state.global_step - (first or 0)) / wall, 4) if wall else None,
    } | reward_metrics(getattr(reward, "curve", None))
    serve, path, adapter = served(cfg, out_dir)
    return TrainResult(path=path, base_model=base_model, method="grpo-lora" if cfg.lora else "grpo", serve=serve,
                       adapter=adapter, data_manifest_sha256=prompts_sha256(prompts), config=dataclasses.asdict(cfg),
                       metrics=metrics)


def reward_metrics(curve: Sequence[dict] | None) -> dict:
    """What the reward's own record of its calls adds to the metrics: rollouts checked, and the trainer's wait
    on Lean (all of it, and the part the slowest check of each call is). Under `accelerate launch` the driver's
    RewardServer holds the record and adds it once the processes end (None: not here)."""
    if curve is None:
        return {}
    return {"rollouts_this_run": sum(c["rollouts"] for c in curve),
            "reward_wait_s": round(sum(c["wait_s"] for c in curve), 4),
            "slowest_checks_s": round(sum(c["slowest_check_s"] for c in curve), 4)}


def prompts_sha256(prompts: Sequence[Prompt]) -> str:
    """What names the data of a GRPO checkpoint: its curriculum, the statement sides it trained on."""
    return sha256_json(sorted(p.key for p in prompts))
