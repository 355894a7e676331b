"""Model grading of a statement's fidelity, with DeepSeek-Prover V1's chain of thought: translate back,
analyse, assess as excellent / good / above average / fair / poor."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from filters.base import Decision, Drop
from flywheel.config import GRADES, FilterConfig  # GRADES: best first
from flywheel.errors import ConfigError
from flywheel.records import DropReason, Statement

_GRADE = re.compile(r"grade\s*[:：]\s*[*_`\"']*\s*(excellent|good|above average|fair|poor)\b", re.I)

PROMPT = """You are grading an autoformalization: a Lean 4 statement written for a natural-language math problem.

Natural-language problem:
{informal}

Lean 4 statement:
```lean4
{statement}
```

Work in three steps.
1. Translate back: say in plain English exactly what the Lean statement asserts: each hypothesis, then the conclusion.
2. Analyse: compare it with the problem. Are all conditions present and none invented? Is the conclusion the problem's claim or answer, neither weaker nor trivial? Are the number types (ℕ, ℤ, ℚ, ℝ, ℂ) and domains right?
3. Assess: grade the statement as exactly one of: excellent, good, above average, fair, poor.

End your answer with one line of the form "Grade: <grade>".
"""


@dataclass(slots=True, frozen=True)
class Graded:
    grade: str | None  # None: no parsable grade after every retry
    rationale: str


def parse_grade(text: str) -> str | None:
    """The last "Grade: X" in the answer (a model may quote the scale before deciding)."""
    found = _GRADE.findall(text)
    return found[-1].lower() if found else None


def grade_statements(
    statements: Sequence[Statement], informal: Mapping[str, str], generator, cfg: FilterConfig
) -> list[Graded]:
    """One generate call per try; answers without a parsable grade are asked again, up to the retries."""
    from flywheel.lean.text.statements import with_preamble
    from flywheel.llm.base import GenerationRequest

    s = cfg.grade_sampling
    results: list[Graded | None] = [None] * len(statements)
    last_text = [""] * len(statements)
    todo = list(range(len(statements)))
    for attempt in range(cfg.grade_retries + 1):
        if not todo:
            break
        requests = [
            GenerationRequest(
                prompt=PROMPT.format(informal=informal.get(statements[i].problem_id or "", "(none)"),
                                     statement=with_preamble(statements[i].preamble, statements[i].text)),
                n=1, temperature=s.temperature if attempt == 0 else max(s.temperature, 0.7),
                top_p=s.top_p, max_tokens=s.max_tokens, stop=list(s.stop),
                seed=None if s.seed is None else s.seed + attempt, key=statements[i].id,
            )
            for i in todo
        ]
        answers = generator.generate(requests)
        still = []
        for i, completions in zip(todo, answers, strict=True):
            text = completions[0].text if completions else ""
            last_text[i] = text
            grade = parse_grade(text)
            if grade is None:
                still.append(i)
            else:
                results[i] = Graded(grade, text.strip())
        todo = still
    for i in todo:
        results[i] = Graded(None, last_text[i].strip())
    return results  # type: ignore[return-value]


def threshold_index(min_grade: str) -> int:
    try:
        return GRADES.index(min_grade.lower())
    except ValueError as e:
        raise ConfigError(f"filters.min_grade: {min_grade!r} is not one of {', '.join(GRADES)}") from e


def grade_filter(statements: Sequence[Statement], informal: Mapping[str, str], generator, cfg: FilterConfig) -> list[Decision]:
    limit = threshold_index(cfg.min_grade)
    out: list[Decision] = []
    for st, g in zip(statements, grade_statements(statements, informal, generator, cfg), strict=True):
        st.grade, st.grade_rationale = g.grade, g.rationale
        if g.grade is None:
            out.append(Drop(DropReason.NO_GRADE, f"no parsable grade after {cfg.grade_retries + 1} tries"))
        elif GRADES.index(g.grade) > limit:
            out.append(Drop(DropReason.LOW_GRADE, f"graded {g.grade}, below {cfg.min_grade}"))
        else:
            out.append(None)
    return out
