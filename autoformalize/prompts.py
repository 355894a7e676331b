"""The autoformalization prompt: DeepSeek-Prover V1's wording, few-shot from miniF2F valid only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from flywheel.errors import ConfigError
from flywheel.text import unwrap_lean_comment

# The model continues after the opening fence and stops at the closing one.
DEFAULT_TEMPLATE = (
    "Mathematical Problem in Natural Language:\n{informal}\n"
    "Translate the problem to Lean 4 (only the core declaration):\n```lean4\n"
)
STOP = ["```"]
FIELDS = ("informal",)


@dataclass(slots=True, frozen=True)
class Example:
    informal: str
    statement: str  # a theorem declaration ending in `:= by sorry`


def load_template(path: str | None) -> str:
    if path is None:
        return DEFAULT_TEMPLATE
    p = Path(path)
    try:
        template = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the autoformalization template: {e.strerror}") from e
    if "{informal}" not in template:
        raise ConfigError(f"{p}: the template must contain {{informal}}")
    try:
        template.format(informal="")
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(f"{p}: the template may use only {{informal}} (escape braces as {{{{ }}}}): {e}") from e
    return template


def load_examples(path: str | None, k: int) -> list[Example]:
    """k few-shot examples; the bundled file holds miniF2F *valid* problems only, never test."""
    if k <= 0:
        return []
    if path is None:
        text = resources.files("flywheel").joinpath("data/minif2f_valid_few_shot.jsonl").read_text("utf-8")
        source = "flywheel/data/minif2f_valid_few_shot.jsonl"
    else:
        source = path
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{path}: cannot read few-shot examples: {e.strerror}") from e
    examples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if str(row.get("split", "valid")).lower() == "test":
                raise ConfigError(f"{source}:{number}: a miniF2F test problem cannot be a few-shot example")
            informal = unwrap_lean_comment(row["informal_prefix"] if "informal_prefix" in row else row["informal"])
            statement = row["formal_statement"].rstrip()
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise ConfigError(f"{source}:{number}: not a few-shot example ({e})") from e
        if statement.endswith(":= by"):
            statement += " sorry"
        examples.append(Example(informal, statement))
        if len(examples) == k:
            break
    return examples


def render_prompt(template: str, informal: str, examples: list[Example]) -> str:
    """Few-shot examples as completed instances of the same template, then the problem."""
    shots = "".join(template.format(informal=e.informal) + e.statement + "\n```\n\n" for e in examples)
    return shots + template.format(informal=informal)
