"""What each training process runs under `accelerate launch` (python -m prover_loop.train.worker ...):
the train section comes as the JSON file the driver wrote, the result goes to out/result.json (written by
the main process). SFT reads its export folder; GRPO reads the prompts the driver chose and is scored by
the driver's reward service (prover_loop/train/reward_service.py), which holds the store and the Lean pool."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NamedTuple, Sequence


class Asked(NamedTuple):
    """A GRPO prompt as a training process needs it: its key (statement id and side) and what is asked."""

    key: str
    prompt: str | list


def read_prompts(path: Path) -> list[Asked]:
    from flywheel.errors import InputError

    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
        return [Asked(r["key"], r["prompt"]) for r in rows]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path}: not the prompts file the driver writes ({type(e).__name__}: {e})") from e


def write_prompts(prompts: Sequence, path: Path) -> Path:
    """The prompts of a GRPO training, for its processes: [{"key", "prompt"}] in the curriculum's order."""
    Path(path).write_text(json.dumps([{"key": p.key, "prompt": p.prompt} for p in prompts]) + "\n", encoding="utf-8")
    return Path(path)


def main(argv: Sequence[str] | None = None) -> int:
    from flywheel.config import TrainConfig

    p = argparse.ArgumentParser(prog="python -m prover_loop.train.worker")
    p.add_argument("--method", choices=["sft", "grpo"], default="sft")
    p.add_argument("--data", help="sft: an export folder (manifest.json, train.jsonl)")
    p.add_argument("--prompts", help="grpo: the prompts file the driver wrote")
    p.add_argument("--reward-url", help="grpo: the driver's reward service (its token in FLYWHEEL_REWARD_TOKEN)")
    p.add_argument("--config", required=True, help="the train section as JSON")
    p.add_argument("--out", required=True)
    p.add_argument("--base", required=True, help="the model to fine-tune")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)
    cfg = TrainConfig(**json.loads(Path(args.config).read_text(encoding="utf-8")))  # the driver's own asdict
    if args.method == "grpo":
        from prover_loop.train.grpo import train_grpo
        from prover_loop.train.reward_service import RemoteReward

        if not (args.prompts and args.reward_url):
            p.error("--method grpo needs --prompts and --reward-url")
        train_grpo(read_prompts(Path(args.prompts)), RemoteReward(args.reward_url), cfg, Path(args.out), args.base,
                   resume=args.resume)
        return 0
    from prover_loop.train.sft import train_sft

    if not args.data:
        p.error("--method sft needs --data")
    train_sft(Path(args.data), cfg, Path(args.out), args.base, resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
