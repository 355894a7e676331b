"""TEST DOUBLE of prover_loop.train.train_sft (same signature): writes a model folder and the result a real
training returns (losses falling, one per step), resuming from a `trainer/checkpoint-*` folder it finds, as
the real one does. Never a default."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

CALLS: list[dict] = []


@dataclass(slots=True)
class FakeResult:
    """What prover_loop.train.sft.TrainResult holds."""

    path: str
    base_model: str
    data_manifest_sha256: str | None
    metrics: dict = field(default_factory=dict)
    method: str = "sft"
    serve: str = "full"
    adapter: str | None = None
    config: dict = field(default_factory=dict)


def fake_train_sft(data_dir: Path, cfg, out_dir: Path, base_model: str, resume: bool = False) -> FakeResult:
    rows = (Path(data_dir) / "train.jsonl").read_text(encoding="utf-8").count("\n")
    out_dir = Path(out_dir)
    saved = sorted(p.name for p in (out_dir / "trainer").glob("checkpoint-*")) if resume else []
    model = out_dir / "model"
    model.mkdir(parents=True, exist_ok=True)
    (model / "config.json").write_text(json.dumps({"base_model": base_model, "rows": rows}))
    CALLS.append({"out_dir": str(out_dir), "base_model": base_model, "rows": rows, "resumed_from": saved})
    losses = [{"step": s, "loss": round(2.0 / (s + 1), 4)} for s in range(1, 6)]
    return FakeResult(str(model), base_model, None, {"loss": losses, "steps": 5, "train_rows": rows})


PROVED, FAILED = "  norm_num\n```", "  omega -- fake:error=no\n```"


def fake_train_grpo(prompts, reward, cfg, out_dir: Path, base_model: str, resume: bool = False) -> FakeResult:
    """TEST DOUBLE of prover_loop.train.train_grpo: two steps, each one group of the first prompt (half of its
    completions proved, half failed) scored by the real reward, as GRPOTrainer calls it."""
    out_dir = Path(out_dir)
    model = out_dir / "model"
    model.mkdir(parents=True, exist_ok=True)
    (model / "config.json").write_text(json.dumps({"base_model": base_model, "prompts": len(prompts)}))
    curve = []
    for step in range(2):
        p, g = prompts[0], cfg.grpo_group_size
        rewards = reward(prompts=[p.prompt] * g, completions=[(PROVED, FAILED)[k % 2] for k in range(g)],
                         key=[p.key] * g)
        curve.append({"step": step + 1, "reward": sum(rewards) / g})
    CALLS.append({"out_dir": str(out_dir), "base_model": base_model, "prompts": [p.key for p in prompts]})
    return FakeResult(str(model), base_model, None, {"reward": curve, "steps": 2}, method="grpo")
