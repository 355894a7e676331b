"""The training set of a round: an export folder (db/export.py, whose prompts are the prover's own, built by
flywheel/prompting.py) read as the prompt/completion rows TRL's SFTTrainer takes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flywheel.errors import InputError


def manifest_sha256(data_dir: Path) -> str:
    """What names the data a checkpoint was trained on: the sha256 of the export's manifest, which holds
    the sha256 of its data file, its filters and the config of every round it came from."""
    path = Path(data_dir) / "manifest.json"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise InputError(f"{path}: cannot read the export's manifest: {e.strerror}") from e


def load_pairs(data_dir: Path) -> list[dict]:
    """The export's pairs as prompt/completion rows. `messages` exports become conversational rows (the user
    turn as prompt, the assistant turn as completion), so the loss falls on the answer only either way."""
    data_dir = Path(data_dir)
    manifest = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
    name = next(iter(manifest.get("files") or {}), None)
    if name is None or manifest.get("format") != "jsonl":
        raise InputError(f"{data_dir}/manifest.json: training reads a jsonl export (`flywheel export --format jsonl`)")
    rows = []
    with (data_dir / name).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{data_dir / name}:{n}: not JSON: {e}") from e
            rows.append(_pair(record, f"{data_dir / name}:{n}"))
    return rows


def _pair(record: dict, where: str) -> dict:
    if "messages" in record:
        turns = record["messages"]
        if len(turns) < 2 or turns[-1].get("role") != "assistant":
            raise InputError(f"{where}: a messages row must end with the assistant's turn")
        return {"prompt": turns[:-1], "completion": turns[-1:]}
    if not isinstance(record.get("prompt"), str) or not isinstance(record.get("completion"), str):
        raise InputError(f"{where}: expected text fields 'prompt' and 'completion'")
    return {"prompt": record["prompt"], "completion": record["completion"]}


def tokenize_pair(tokenizer, row: dict) -> dict:
    """Prompt tokens exactly as the generator sends them (flywheel.llm.base.prompt_token_ids), then the
    completion's own tokens and the end of sequence; the loss falls on the latter only. Tokenizing the pair
    as one text instead would merge tokens across the seam (`:= by\n` and the first indent), and the model
    would be trained on a context it never sees when it proves."""
    from flywheel.llm.base import prompt_token_ids

    prompt = prompt_token_ids(tokenizer, row["prompt"])
    answer = row["completion"] if isinstance(row["completion"], str) else row["completion"][0]["content"]
    completion = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return {"input_ids": prompt + completion, "completion_mask": [0] * len(prompt) + [1] * len(completion)}


def to_dataset(rows: list[dict], tokenizer):
    """The rows tokenized, as a dataset SFTTrainer takes without tokenizing again."""
    from datasets import Dataset

    return Dataset.from_list([tokenize_pair(tokenizer, r) for r in rows])
