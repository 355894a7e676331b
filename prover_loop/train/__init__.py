"""Training the next prover on the verified pairs (SFT with TRL's SFTTrainer, full or LoRA).

Entry points: `train_sft(data_dir, cfg.train, out_dir, base_model, resume)` trains on an export folder in
this process (or in each process a launcher started) and returns a `TrainResult`; the round's train stage,
`orchestration.train_stage.run_train(store, cfg, round_, ...)`, exports the pairs of every round so far,
launches it (in-process, `accelerate launch`, or Ray Train) and records the checkpoint in `checkpoints`."""

from prover_loop.train.sft import TrainResult, train_sft

__all__ = ["TrainResult", "train_sft"]
