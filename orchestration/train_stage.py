"""The train stage: the verified pairs of every round so far exported, the next prover trained on them
(in this process, under `accelerate launch` on one node, or on Ray Train across nodes), its checkpoint recorded."""

from __future__ import annotations

import dataclasses
import json
import logging
import shlex
import subprocess
import sys
from pathlib import Path

from db import checkpoints as dbcheckpoints
from db.store import Store
from flywheel.config import Config, TrainConfig
from flywheel.errors import ConfigError, FlywheelError
from prover_loop.train.sft import TrainResult

log = logging.getLogger(__name__)


def base_model(cfg: Config) -> str:
    """What a round's training starts from: train.base_model, else the configured prover (not an earlier
    checkpoint: every round trains afresh on the pairs of all rounds, as DeepSeek-Prover did)."""
    model = cfg.train.base_model or cfg.prover.model or cfg.generator.model
    if not model:
        raise ConfigError("train: no model to fine-tune: set train.base_model (or generator.model)")
    return model


def export_pairs(store: Store, cfg: Config, round_: int, data_dir: Path, resume: bool) -> Path:
    """The pairs of rounds 1..round_, benchmark statements left out, in the style the prover is asked in.
    A resumed training keeps the export it started on, so its data cannot change under it."""
    from db.export import export_dataset

    if resume and (data_dir / "manifest.json").is_file():
        return data_dir
    style = "messages" if cfg.prover.prompt_style == "chat" else "prompt-completion"
    export_dataset(store, data_dir, "jsonl", style, rounds=list(range(1, round_ + 1)), sides=cfg.train.sides,
                   exclude_benchmarks=cfg.train.exclude_benchmarks, include_unaudited=cfg.train.include_unaudited,
                   require_checks=cfg.export.require_checks)
    return data_dir


def default_trainer():
    """The in-process trainer (prover_loop.train.train_sft); tests of the round driver put a double here."""
    from prover_loop.train.sft import train_sft

    return train_sft


def run_train(store: Store, cfg: Config, round_: int, out_dir: Path | None = None, resume: bool = False,
              accelerate_config: str | None = None, ray_address: str | None = None) -> tuple[TrainResult, int]:
    """Train round `round_`'s checkpoint into out_dir (default train.out_dir/round-N) and record it; returns the
    result and the id of its `checkpoints` row. `resume` continues a killed training from its last save."""
    out = Path(out_dir or Path(cfg.train.out_dir) / f"round-{round_}")
    out.mkdir(parents=True, exist_ok=True)
    data = export_pairs(store, cfg, round_, out / "data", resume)
    base = base_model(cfg)
    accelerate_config = accelerate_config or cfg.train.accelerate_config
    if ray_address:
        result = train_on_ray(ray_address, data, cfg.train, out, base, resume)
    elif accelerate_config or in_child(cfg.train):
        result = train_in_processes(accelerate_config, data, cfg.train, out, base, resume)
    else:
        result = default_trainer()(data, cfg.train, out, base, resume)
    with store.session() as s:
        ident = dbcheckpoints.save_checkpoint(s, round_, result.path, result.base_model, result.data_manifest_sha256,
                                              result.metrics, result.method, result.serve, result.adapter, result.config)
    return result, ident


def worker_command(config_file: str | None, config_json: Path, out: Path, base: str, resume: bool,
                   *work: str) -> list[str]:
    """The training processes' command: `accelerate launch --config_file F -m prover_loop.train.worker ... WORK`
    (the processes, and DDP, FSDP or DeepSpeed ZeRO, are what the user's accelerate config file says), or
    without F the worker alone, one child process. WORK is what they train on (`--data D` for SFT; `--method
    grpo --prompts P --reward-url U` for GRPO)."""
    worker = ["-m", "prover_loop.train.worker", *work, "--config", str(config_json), "--out", str(out), "--base", base]
    if config_file is None:
        cmd = [sys.executable, *worker]
    elif not Path(config_file).is_file():
        raise ConfigError(f"--accelerate-config {config_file}: no such file (write one with `accelerate config`)")
    else:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config_file), *worker]
    return cmd + (["--resume"] if resume else [])


def in_child(cfg: TrainConfig) -> bool:
    """Whether a one-process training runs in a child process (train.process; auto: on a GPU). Its exit gives
    back the GPU for certain: no cached allocator block, CUDA context or stray reference of the trainer's
    outlives it, so the next generator gets the whole GPU."""
    if cfg.process == "auto":
        from prover_loop.train.sft import on_cpu

        return not on_cpu(cfg)
    return cfg.process == "child"


def write_config(cfg: TrainConfig, out: Path) -> Path:
    """The train section as the processes `accelerate launch` starts read it back."""
    path = out / "train_config.json"
    path.write_text(json.dumps(dataclasses.asdict(cfg), sort_keys=True) + "\n", encoding="utf-8")
    return path


def launch(cmd: list[str], out: Path, env: dict[str, str] | None = None) -> TrainResult:
    """Runs the training processes' command to its end; the result their main process wrote to out."""
    import os

    log.info("training: %s", shlex.join(cmd))
    done = subprocess.run(cmd, env=None if env is None else os.environ | env)
    if done.returncode != 0:
        raise FlywheelError(f"the training process{'es' if 'accelerate.commands.launch' in cmd else ''} ended with "
                            f"exit status {done.returncode}; `flywheel train --resume` continues from the last "
                            "saved step")
    return TrainResult.read(out)


def train_in_processes(config_file: str | None, data: Path, cfg: TrainConfig, out: Path, base: str,
                       resume: bool) -> TrainResult:
    """SFT under `accelerate launch` with config_file, or in one child process without it."""
    cmd = worker_command(config_file, write_config(cfg, out), out, base, resume, "--data", str(data))
    return launch(cmd, out)


def _ray_loop(config: dict) -> None:
    """Each Ray Train worker: torch.distributed is set up by Ray, and transformers' Trainer joins it."""
    from prover_loop.train.sft import train_sft

    train_sft(Path(config["data"]), TrainConfig(**config["train"]), Path(config["out"]), config["base"], config["resume"])


def train_on_ray(address: str, data: Path, cfg: TrainConfig, out: Path, base: str, resume: bool) -> TrainResult:
    """Ray Train's TorchTrainer with train.ray_workers workers. The data and out folders must be on storage
    every node shares: checkpoints are written there, and a resumed training reads them back."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from orchestration.ray_workers import init_ray

    if cfg.ray_workers < 1:
        raise ConfigError(f"train.ray_workers must be 1 or more, got {cfg.ray_workers}")
    init_ray(address, cfg.ray_workers)
    loop_config = {"data": str(data.resolve()), "train": dataclasses.asdict(cfg), "out": str(out.resolve()),
                   "base": base, "resume": resume}
    trainer = TorchTrainer(_ray_loop, train_loop_config=loop_config,
                           scaling_config=ScalingConfig(num_workers=cfg.ray_workers, use_gpu=cfg.ray_use_gpu),
                           run_config=RunConfig(name=f"flywheel-train-{out.name}", storage_path=str((out / "ray").resolve())))
    trainer.fit()
    return TrainResult.read(out)
