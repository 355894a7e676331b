"""Benchmark evaluation: n independent attempts at each shipped benchmark statement (the statement side only,
never its negation), every one run to its end, and pass@k by the unbiased estimator 1 - C(n-c, k) / C(n, k).

The unit pass@k counts is one independent attempt at the stated budget (prover.budget_checks, budget_tokens),
whatever the strategy: sample, one sample (one check); repair, one chain (a first answer and its revisions);
decompose, one sketch with its lemmas; rmaxts, one tree (prover.rmaxts.rollouts rollouts); a list of them,
one run of the list. So k attempts spend k times an attempt's budget, as DeepSeek-Prover-V1.5 reports
`k × budget`, and every attempt's spending (Lean checks, generated tokens, a lemma's and a sketch's included)
is stored with it: budget_curve puts pass@k beside the checks and tokens k attempts spend."""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

from flywheel.config import ProverConfig
from flywheel.errors import ConfigError
from flywheel.hashing import sha256_text
from flywheel.records import ProofAttempt, Side, Statement, StatementStatus, VerdictStatus
from prover_loop.prove import Result, prove_pass

SPLITS = ("valid", "test")
# miniF2F's names start with their competition; ProofNet's (exercise_1_13a) name no textbook here.
_MINIF2F_SOURCE = re.compile(r"^(mathd_algebra|mathd_numbertheory|amc|aime|imo|algebra|numbertheory|induction)")


@dataclass(slots=True)
class ProblemResult:
    name: str
    source: str | None
    n: int
    correct: int
    attempts: list[ProofAttempt]
    of_attempt: list[int]  # the independent attempt (0..n-1) each of `attempts` belongs to
    spent: list[dict]  # per independent attempt: {"checks", "tokens", "proved"}


def pass_at_k(n: int, c: int, k: int) -> float:
    """The chance that at least one of k samples drawn from n (c of them correct) is correct."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    out = 1.0
    for i in range(n - c + 1, n + 1):  # C(n-c, k) / C(n, k) as a product, without huge integers
        out *= 1.0 - k / i
    return 1.0 - out


def mean_pass_at_k(counts: Sequence[tuple[int, int]], ks: Sequence[int]) -> dict[str, float]:
    """Mean pass@k over problems given as (n, correct); k larger than a problem's n is left out."""
    out = {}
    for k in ks:
        values = [pass_at_k(n, c, k) for n, c in counts if k <= n]
        if values:
            out[str(k)] = sum(values) / len(values)
    return out


def by_source(rows: Sequence[tuple[str | None, int, int]], ks: Sequence[int]) -> dict[str, dict[str, float]]:
    """pass@k per source from (source, n, correct) rows; problems without a source are left out."""
    groups: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for source, n, c in rows:
        if source:
            groups[source].append((n, c))
    return {s: mean_pass_at_k(groups[s], ks) | {"problems": len(groups[s])} for s in sorted(groups)}


def source_of(benchmark: str, name: str) -> str | None:
    if benchmark != "minif2f":
        return None
    m = _MINIF2F_SOURCE.match(name)
    return m.group(1) if m else None


def parse_ks(text: str, n: int) -> list[int]:
    """`1,8,32` checked against n at the boundary (pass@k needs k <= n)."""
    try:
        ks = sorted({int(x) for x in str(text).split(",") if x.strip()})
    except ValueError as e:
        raise ConfigError(f"--k: expected comma-separated integers, got {text!r}") from e
    if not ks or ks[0] < 1 or ks[-1] > n:
        raise ConfigError(f"--k: each k must be between 1 and n={n}, got {text!r}")
    return ks


def benchmark_statements(benchmark: str, split: str, limit: int | None = None) -> list[Statement]:
    """The shipped statements of one split as Statement records (header included), in file order."""
    from flywheel.benchmarks import load_benchmark
    from flywheel.lean.text import statements as surgery

    if split not in SPLITS:
        raise ConfigError(f"--split: expected one of {', '.join(SPLITS)}, got {split!r}")
    out = []
    for item in load_benchmark(benchmark):
        if item.split != split:
            continue
        text = surgery.render(surgery.parse_theorem(item.statement), "by sorry")
        out.append(Statement(id=sha256_text("benchmark", benchmark, item.name), problem_id=None, round=0,
                             header=item.header, text=text, name=item.name,
                             normalized_sha256=sha256_text(item.normalized), status=StatementStatus.KEPT))
        if limit is not None and len(out) >= limit:
            break
    return out


def informal_of(benchmark: str) -> dict[str, str]:
    """Statement id -> the informal text shipped with it, for the prompt (as DeepSeek-Prover evaluates)."""
    from flywheel.benchmarks import load_benchmark

    return {sha256_text("benchmark", benchmark, it.name): it.informal.strip().removeprefix("/--").removesuffix("-/").strip()
            for it in load_benchmark(benchmark) if it.informal.strip()}


def attempt_keys(strategy: Sequence[str], n: int) -> list[tuple[int, int]]:
    """The n independent attempts of a problem as (lane, Strategy.attempt_of) (prove.Result.of_attempt): sample
    answers n samples in one request, each its own attempt; any other strategy runs n times, a lane each, with
    one first answer (samples) and one sketch a lane, so that every attempt has the whole budget."""
    return [(0, t) for t in range(n)] if list(strategy) == ["sample"] else [(t, 0) for t in range(n)]


def evaluate(statements: Sequence[Statement], benchmark: str, n: int, cfg: ProverConfig, generator, check: Callable,
             workers: int, on_results: Callable[[list[ProblemResult]], None], round_: int = 0,
             stop: threading.Event | None = None, sketch: Callable | None = None,
             tactics: Callable | None = None) -> None:
    """n independent attempts at each statement (as prover.strategy makes them), each run to its end, every
    proof verified; each problem's result goes to on_results."""
    import dataclasses

    informal = informal_of(benchmark)
    keys = attempt_keys(cfg.strategy, n)
    lanes = len({lane for lane, _ in keys})
    if lanes > 1:
        cfg = dataclasses.replace(cfg, sketches=1)

    def store(results: list[Result]) -> None:
        on_results([_problem(r, benchmark, keys) for r in results if r.statement is not None])

    prove_pass(statements, informal, [Side.STATEMENT], cfg, 0, round_, generator, check, workers, store,
               samples=n if lanes == 1 else 1, stop=stop, early_stop=False, sketch=sketch, tactics=tactics,
               attempts=lanes)


def _problem(result: Result, benchmark: str, keys: list[tuple[int, int]]) -> ProblemResult:
    # an attempt is correct when one of its proofs of the problem is proved (a sample, a revision, an assembled
    # sketch, a rollout); the attempts of a sketch's lemmas are their own statements', not the problem's
    index = {key: t for t, key in enumerate(keys)}
    own = [(a, index[key]) for a, key in zip(result.attempts, result.of_attempt, strict=True)
           if a.statement_id == result.statement.id]
    proved = {t for a, t in own if a.verdict is VerdictStatus.PROVED}
    spent = [{"checks": c, "tokens": tok, "proved": t in proved}
             for t, (c, tok) in enumerate(result.spent.get(key, [0, 0]) for key in keys)]
    name = result.statement.name
    return ProblemResult(name, source_of(benchmark, name), len(keys), len(proved), [a for a, _ in own],
                         [t for _, t in own], spent)


def budget_curve(spent: Sequence[Sequence[dict]], pass_at: dict[str, float]) -> dict:
    """pass@k beside what k attempts spend: k times the mean Lean checks and tokens of one attempt, over every
    attempt of every problem (`spent`: each problem's ProblemResult.spent)."""
    every = [a for problem in spent for a in problem]
    checks = sum(a["checks"] for a in every) / len(every) if every else 0.0
    tokens = sum(a["tokens"] for a in every) / len(every) if every else 0.0
    return {"checks_per_attempt": checks, "tokens_per_attempt": tokens,
            "curve": [{"k": int(k), "pass": v, "checks": int(k) * checks, "tokens": int(k) * tokens}
                      for k, v in sorted(pass_at.items(), key=lambda kv: int(kv[0]))]}
