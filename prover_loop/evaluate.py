"""Benchmark evaluation: n proofs sampled for each shipped benchmark statement (the statement side only,
never its negation), every one verified, and pass@k by the unbiased estimator 1 - C(n-c, k) / C(n, k)."""

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
    from flywheel.lean import statements as surgery

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


def evaluate(statements: Sequence[Statement], benchmark: str, n: int, cfg: ProverConfig, generator, check: Callable,
             workers: int, on_results: Callable[[list[ProblemResult]], None], round_: int = 0,
             stop: threading.Event | None = None, sketch: Callable | None = None,
             tactics: Callable | None = None) -> None:
    """Sample n proofs of each statement (each revised as prover.strategy says), verify all of them, hand each
    problem's result to on_results."""
    informal = informal_of(benchmark)

    def store(results: list[Result]) -> None:
        on_results([_problem(r, benchmark, n) for r in results if r.statement is not None])

    prove_pass(statements, informal, [Side.STATEMENT], cfg, 0, round_, generator, check, workers, store,
               samples=n, stop=stop, early_stop=False, sketch=sketch, tactics=tactics)


def _problem(result: Result, benchmark: str, n: int) -> ProblemResult:
    # a sample is correct when it or one of its revisions (repair), or its assembled sketch (decompose), is proved;
    # the attempts of a sketch's lemmas are their own statements', not the problem's
    own = [a for a in result.attempts if a.statement_id == result.statement.id]
    correct = len({a.sampling.get("sample", i) for i, a in enumerate(own) if a.verdict is VerdictStatus.PROVED})
    name = result.statement.name
    return ProblemResult(name, source_of(benchmark, name), n, correct, own)
