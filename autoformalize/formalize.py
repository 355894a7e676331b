"""The autoformalization stage: problems and a Generator in, candidate or dropped Statements out."""

from __future__ import annotations

from typing import Sequence

from autoformalize.extract import Extracted, Failed, extract_statement, theorem_name
from autoformalize.prompts import STOP, load_examples, load_template, render_prompt
from flywheel.config import AutoformalizeConfig
from flywheel.counts import StageCounts
from flywheel.hashing import sha256_text
from flywheel.records import DropReason, Problem, Statement, StatementStatus
from flywheel.text import refused_character


def build_requests(problems: Sequence[Problem], cfg: AutoformalizeConfig) -> list:
    from flywheel.llm.base import GenerationRequest

    template = load_template(cfg.template)
    examples = load_examples(cfg.few_shot_file, cfg.few_shot)
    s = cfg.sampling
    return [
        GenerationRequest(
            prompt=render_prompt(template, p.informal, examples),
            n=cfg.samples,
            temperature=s.temperature,
            top_p=s.top_p,
            max_tokens=s.max_tokens,
            stop=list(dict.fromkeys(STOP + list(s.stop))),
            seed=s.seed,
            key=p.id,
        )
        for p in problems
    ]


def to_statement(problem: Problem, round_: int, sample: int, text: str, header: str, model: str | None) -> Statement:
    from flywheel.lean.text.statements import statement_sha256, with_preamble

    name = theorem_name(problem.id, round_, sample)
    result = extract_statement(text, name)
    if isinstance(result, Extracted) and (bad := _refused(result)):
        # No Lean reads it (the guard refuses it too); the text is stored escaped, as the model wrote it.
        result = Failed(DropReason.UNPARSABLE, bad)
    if isinstance(result, Extracted):
        norm = statement_sha256(with_preamble(result.preamble, result.text), header)
        return Statement(
            id=sha256_text(problem.id, norm), problem_id=problem.id, round=round_, header=header,
            text=result.text, name=name, normalized_sha256=norm, origin_model=model, sample_index=sample,
            preamble=result.preamble,
        )
    # Failures are kept too, with the model's text, so a user can query why a sample was dropped.
    raw_sha = sha256_text("raw", text)
    return Statement(
        id=sha256_text(problem.id, str(round_), str(sample), raw_sha), problem_id=problem.id, round=round_,
        header=header, text=text, name=name, normalized_sha256=raw_sha, origin_model=model,
        sample_index=sample, status=StatementStatus.DROPPED, drop_reason=result.reason, drop_detail=result.detail,
    )


def _refused(result: Extracted) -> str | None:
    for part, text in (("statement", result.text), ("preamble", result.preamble)):
        if bad := refused_character(text):
            return f"the {part} holds {bad}, which Lean source may not"
    return None


def formalize(
    problems: Sequence[Problem], generator, cfg: AutoformalizeConfig, header: str, round_: int
) -> tuple[list[Statement], StageCounts]:
    """n samples a problem in one generate call; returns every sample's Statement and the counts."""
    counts = StageCounts("autoformalize")
    outputs = generator.generate(build_requests(problems, cfg))
    statements: list[Statement] = []
    seen: set[str] = set()
    model = getattr(generator, "model", None)
    for problem, completions in zip(problems, outputs, strict=True):
        for sample, completion in enumerate(completions):
            st = to_statement(problem, round_, sample, completion.text, header, model)
            counts.seen += 1
            if st.drop_reason is not None:
                counts.drop(st.drop_reason)
            elif st.id in seen:  # the same statement sampled twice for one problem: stored once
                counts.drop("duplicate")
                continue
            else:
                counts.kept += 1
            seen.add(st.id)
            statements.append(st)
    counts.outcomes["problems"] = len(problems)
    return statements, counts.stop()
