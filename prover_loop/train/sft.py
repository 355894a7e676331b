"""Supervised fine-tuning of the next prover with TRL's SFTTrainer: loss on the completion only, full
fine-tuning or LoRA (PEFT), a resumable checkpoint every `save_steps`, generation-ready weights at the end.

The same function runs in one process, in each process `accelerate launch` starts (DDP, FSDP, DeepSpeed) and
in each Ray Train worker; the launchers (launch.py) only set up the processes around it."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from flywheel.config import TrainConfig
from flywheel.errors import ConfigError, OutputError
from prover_loop.train.data import load_pairs, manifest_sha256, to_dataset
from prover_loop.train.memory import model_init_kwargs, release_memory, training_plan

log = logging.getLogger(__name__)
RESULT = "result.json"  # written by the main process; launchers read it back


@dataclass(slots=True)
class TrainResult:
    """A finished training: where the generation-ready model is, and what made it."""

    path: str  # a model folder every back end loads (LoRA: merged), or the adapter when serve == "adapter"
    base_model: str
    method: str  # sft | sft-lora
    serve: str  # full | merged | adapter
    adapter: str | None  # LoRA: the adapter folder
    data_manifest_sha256: str
    config: dict
    metrics: dict = field(default_factory=dict)  # loss per step, tokens, tokens/s, wall time, steps

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def read(cls, out_dir: Path) -> "TrainResult":
        return cls(**json.loads((Path(out_dir) / RESULT).read_text(encoding="utf-8")))


def on_cpu(cfg: TrainConfig) -> bool:
    import torch

    if cfg.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"train.device must be auto, cpu or cuda, got {cfg.device!r}")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device is cuda but torch sees no CUDA device")
    return cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available())


def sft_args(cfg: TrainConfig, output_dir: Path, cpu: bool, **extra):
    """TRL's SFTConfig for `cfg`: every hyperparameter from the config, nothing from TRL's defaults that
    would change the run behind the user's back (TRL turns gradient checkpointing on, bf16 on)."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(output_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        learning_rate=cfg.lr, lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup,
        weight_decay=cfg.weight_decay, per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accumulation, max_length=cfg.max_length, packing=cfg.packing,
        bf16=cfg.bf16, gradient_checkpointing=cfg.gradient_checkpointing, seed=cfg.seed, data_seed=cfg.seed,
        completion_only_loss=True, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit, logging_steps=cfg.logging_steps, use_cpu=cpu, report_to="none",
        include_num_input_tokens_seen="non_padding", disable_tqdm=True,
        model_init_kwargs=model_init_kwargs(cfg, cpu), **extra)


def load_tokenizer(base_model: str):
    from transformers import AutoTokenizer

    from flywheel.errors import GenerationError

    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
    except (OSError, ValueError) as e:
        raise GenerationError(f"cannot load the tokenizer of {base_model!r}: {e}") from e
    if tokenizer.eos_token_id is None:
        raise ConfigError(f"{base_model}: its tokenizer has no end-of-sequence token to end completions with")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    targets = cfg.lora_target_modules
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, task_type="CAUSAL_LM",
                      target_modules=targets[0] if targets == ["all-linear"] else list(targets))


def _meter():
    from transformers import TrainerCallback

    class Meter(TrainerCallback):
        """Wall time and tokens of this process's run (a resumed run counts from where it resumed)."""

        def on_train_begin(self, args, state, control, **kw):
            self.start, self.tokens0, self.step0 = time.perf_counter(), state.num_input_tokens_seen, state.global_step

        def on_train_end(self, args, state, control, **kw):
            self.wall = time.perf_counter() - self.start

    return Meter()


def _step(save: Path) -> int:
    return int(save.name.removeprefix("checkpoint-"))


def _saves(trainer_dir: Path) -> list[Path]:
    """The trainer's checkpoint-N folders, oldest first."""
    if not trainer_dir.is_dir():
        return []
    return sorted((p for p in trainer_dir.glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()), key=_step)


def whole_save(save: Path) -> bool:
    """The trainer writes trainer_state.json last: a save without it, or with it cut short, was killed or ran
    out of disk in the middle (its weights may be there, its optimizer or step count not)."""
    try:
        json.loads((save / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def last_save(trainer_dir: Path, resume: bool) -> str | None:
    """The trainer's last whole save to resume from; the saves cut short after it are removed, never resumed
    from. Without `resume`, a folder holding saves is refused."""
    saves = _saves(trainer_dir)
    if saves and not resume:
        raise ConfigError(f"{trainer_dir} holds checkpoints of an earlier training: --resume continues it, "
                          "or remove the folder to start again")
    for save in reversed(saves):
        if whole_save(save):
            return str(save)
        log.warning("%s: a save cut short (no whole trainer_state.json): removed, not resumed from", save)
        shutil.rmtree(save, ignore_errors=True)  # or the trainer, saving that step again, would keep its stale files
    return None


def train_from(trainer, last: str | None) -> None:
    """trainer.train from the save `last`. A save the disk refuses (full, a size limit) is an OutputError
    naming it; the saves before it are whole, and --resume goes on from the last of them."""
    try:
        trainer.train(resume_from_checkpoint=last)
    except (OSError, RuntimeError) as e:  # torch.save says a failed write as a RuntimeError
        cut = next((p for p in reversed(_saves(Path(trainer.args.output_dir))) if not whole_save(p)), None)
        if cut is None:
            raise
        raise OutputError(f"train: the save {cut} was cut short ({str(e).strip().splitlines()[0]}; is the disk "
                          "full?); --resume goes on from the last whole save") from e


def save_final(trainer, final: Path) -> None:
    """The trained model into final; a write the disk refuses is an OutputError naming the folder."""
    try:
        trainer.save_model(str(final))
    except OSError as e:
        raise OutputError(f"train: cannot write {final}: {e.strerror or e}; --resume goes on from the last save") from e


def train_sft(data_dir: Path, cfg: TrainConfig, out_dir: Path, base_model: str, resume: bool = False,
              callbacks: Sequence = ()) -> TrainResult | None:
    """Fine-tune `base_model` on the export in `data_dir`; resumable checkpoints go to out_dir/trainer, the
    final model to out_dir/model (LoRA: the adapter to out_dir/adapter, merged into out_dir/model unless
    train.lora_serve is `adapter`). `resume` continues from the last saved step; without it a folder that
    already holds checkpoints is refused. Returns the result on the main process (None on the others)."""
    from trl import SFTTrainer

    out_dir = Path(out_dir)
    trainer_dir = out_dir / "trainer"
    last = last_save(trainer_dir, resume)
    if cfg.lora_serve not in ("merge", "adapter"):
        raise ConfigError(f"train.lora_serve must be merge or adapter, got {cfg.lora_serve!r}")
    rows = load_pairs(data_dir)
    if not rows:
        raise ConfigError(f"{data_dir}: the export holds no verified pairs to train on")
    cfg = training_plan(cfg, base_model, "sft").apply(cfg)
    meter = _meter()
    tokenizer = load_tokenizer(base_model)
    try:
        return _fit(SFTTrainer(model=base_model, args=sft_args(cfg, trainer_dir, on_cpu(cfg)),
                         train_dataset=to_dataset(rows, tokenizer), processing_class=tokenizer,
                         peft_config=lora_config(cfg) if cfg.lora else None, callbacks=[meter, *callbacks]),
                    cfg, data_dir, out_dir, base_model, last, meter)
    finally:
        release_memory()  # the trainer and model are unreachable once _fit returns: their GPU memory goes back


def _fit(trainer, cfg: TrainConfig, data_dir: Path, out_dir: Path, base_model: str, last: str | None,
         meter) -> TrainResult | None:
    train_from(trainer, last)
    final = out_dir / ("adapter" if cfg.lora else "model")
    save_final(trainer, final)
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_world_process_zero():
        return None
    result = _result(cfg, out_dir, base_model, data_dir, trainer.state, meter)
    if cfg.lora and cfg.lora_serve == "merge":
        merge_adapter(final, out_dir / "model")
    (out_dir / RESULT).write_text(result.to_json() + "\n", encoding="utf-8")
    return result


def _result(cfg: TrainConfig, out_dir: Path, base_model: str, data_dir: Path, state, meter) -> TrainResult:
    tokens = int(state.num_input_tokens_seen) - int(meter.tokens0)
    metrics = {
        "steps": state.global_step, "resumed_from_step": meter.step0 or None, "epochs": state.epoch,
        "loss": [{"step": h["step"], "loss": h["loss"]} for h in state.log_history if "loss" in h],
        "tokens": int(state.num_input_tokens_seen), "tokens_this_run": tokens,
        "wall_time_s": round(meter.wall, 3), "tokens_per_s": round(tokens / meter.wall, 2) if meter.wall else None,
    }
    serve, path, adapter = served(cfg, out_dir)
    return TrainResult(path=path, base_model=base_model, method="sft-lora" if cfg.lora else "sft", serve=serve,
                       adapter=adapter, data_manifest_sha256=manifest_sha256(data_dir), config=dataclasses.asdict(cfg),
                       metrics=metrics)


def served(cfg: TrainConfig, out_dir: Path) -> tuple[str, str, str | None]:
    """How a finished training in out_dir is served: (serve, the path generation loads, the LoRA adapter)."""
    if cfg.lora:
        serve, path = ("merged", out_dir / "model") if cfg.lora_serve == "merge" else ("adapter", out_dir / "adapter")
    else:
        serve, path = "full", out_dir / "model"
    return serve, str(path.resolve()), str((out_dir / "adapter").resolve()) if cfg.lora else None


def merge_adapter(adapter_dir: Path, out: Path) -> None:
    """Base + LoRA adapter merged into one plain model folder that any back end loads (hf, vLLM, a server).
    Done from the saved adapter, on one process, so it is the same after DDP, FSDP or ZeRO-3."""
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    model = AutoPeftModelForCausalLM.from_pretrained(str(adapter_dir), dtype="auto")
    model.merge_and_unload().save_pretrained(str(out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(str(out))
