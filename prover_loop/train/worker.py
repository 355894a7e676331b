"""What each training process runs under `accelerate launch` (python -m prover_loop.train.worker ...):
the train section comes as the JSON file the driver wrote, the result goes to out/result.json."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from flywheel.config import TrainConfig
    from prover_loop.train.sft import train_sft

    p = argparse.ArgumentParser(prog="python -m prover_loop.train.worker")
    p.add_argument("--data", required=True, help="an export folder (manifest.json, train.jsonl)")
    p.add_argument("--config", required=True, help="the train section as JSON")
    p.add_argument("--out", required=True)
    p.add_argument("--base", required=True, help="the model to fine-tune")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)
    cfg = TrainConfig(**json.loads(Path(args.config).read_text(encoding="utf-8")))  # the driver's own asdict
    train_sft(Path(args.data), cfg, Path(args.out), args.base, resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
