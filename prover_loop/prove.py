"""One proving pass over statements: sample k proofs for each side, verify in canonical order, stop at the
first verified side. Plain logic: a Generator and a check function in, attempts and proofs out."""

from __future__ import annotations

import functools
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from flywheel.config import ProverConfig
from flywheel.hashing import sha256_json, sha256_text
from flywheel.records import Proof, ProofAttempt, Side, Statement, VerdictStatus
from prover_loop.extract import NoProof, extract_proof
from prover_loop.goals import goal_text
from prover_loop.schedule import END, Group, verify_groups

NO_PROOF = NoProof.NONE.value


@dataclass(slots=True)
class Candidate:
    statement: Statement
    side: Side
    goal: str  # the declaration proved for this side, proof `by sorry`
    pass_: int
    sample: int
    proof: str | None
    model: str | None
    sampling: dict
    no_proof: str = NO_PROOF  # why proof is None


@dataclass(slots=True)
class Result:
    """What a pass stores for one statement: the attempts of the canonical prefix, and the proof if any."""

    statement: Statement
    side: Side | None  # the side proved, if one was
    attempts: list[ProofAttempt]
    proof: Proof | None


def _requests(statements: Sequence[Statement], informal: Mapping[str, str], sides: Sequence[Side],
              cfg: ProverConfig, pass_: int, samples: int) -> list[tuple[Statement, Side, str, object]]:
    from flywheel.llm.base import GenerationRequest
    from flywheel.prompting import chat_question, proof_prompt

    s = cfg.sampling
    chat = cfg.prompt_style == "chat"
    # A completion continues the code block: its closing fence ends it. A chat answer (a reasoning
    # prover's) may hold drafts in fences before its final block, so it runs to its end.
    stop = list(s.stop) if chat else list(dict.fromkeys(["```"] + list(s.stop)))
    out = []
    for st in statements:
        for side in sides:
            goal = goal_text(st, side, cfg.negation_form)
            declaration = goal.removesuffix("by sorry").rstrip().removesuffix(":=").rstrip()
            ask = chat_question if chat else proof_prompt
            prompt = ask(st.header, declaration, informal.get(st.problem_id or ""), st.preamble)
            seed = None if s.seed is None else s.seed + 1000 * pass_
            req = GenerationRequest(prompt=prompt, n=samples, temperature=s.temperature, top_p=s.top_p,
                                    max_tokens=s.max_tokens, stop=stop, seed=seed, key=f"{st.id}:{side.value}:{pass_}")
            out.append((st, side, goal, req))
    return out


def generate_groups(statements: Sequence[Statement], informal: Mapping[str, str], sides: Sequence[Side],
                    cfg: ProverConfig, pass_: int, generator, samples: int) -> list[Group]:
    """One generate call for every (statement, side); candidates interleaved S0, N0, S1, N1, ..."""
    reqs = _requests(statements, informal, sides, cfg, pass_, samples)
    outputs = generator.generate([r for *_, r in reqs])
    by_statement: dict[str, list[list[Candidate]]] = {st.id: [] for st in statements}
    model = getattr(generator, "model", None)
    for (st, side, goal, req), completions in zip(reqs, outputs, strict=True):
        sampling = {"temperature": req.temperature, "top_p": req.top_p, "max_tokens": req.max_tokens,
                    "n": req.n, "seed": req.seed, "pass": pass_}
        name = _goal(goal).name
        by_statement[st.id].append([_candidate(st, side, goal, pass_, k, extract_proof(c.text, name=name), model,
                                               dict(sampling, sample=k)) for k, c in enumerate(completions)])
    groups = []
    for st in statements:
        lanes = by_statement[st.id]
        order = [lane[k] for k in range(max((len(x) for x in lanes), default=0)) for lane in lanes if k < len(lane)]
        groups.append(Group(st.id, order))
    return groups


def _candidate(st: Statement, side: Side, goal: str, pass_: int, k: int, proof: str | NoProof, model: str | None,
               sampling: dict) -> Candidate:
    if isinstance(proof, NoProof):
        return Candidate(st, side, goal, pass_, k, None, model, sampling, proof.value)
    return Candidate(st, side, goal, pass_, k, proof, model, sampling)


@functools.lru_cache(maxsize=4096)
def _goal(goal: str):
    """A side's goal, parsed once for all its attempts (Theorem is immutable)."""
    from flywheel.lean import statements as surgery

    return surgery.parse_theorem(goal)


def render_code(header: str, goal: str, proof: str, preamble: str = "") -> str:
    """Exactly the code the verifier sends to Lean for this proof (header, preamble, theorem, proof)."""
    from flywheel.lean import statements as surgery
    from flywheel.lean.soundness import Policy
    from flywheel.lean.verifier import checked_code

    return checked_code(header, surgery.with_preamble(preamble, goal), proof, Policy())


def attempt_of(c: Candidate, verdict, round_: int, header: str) -> ProofAttempt:
    proof = c.proof if c.proof is not None else ""
    key = sha256_text(c.statement.id, c.side.value, str(round_), c.model or "", sha256_json(c.sampling), proof)
    if verdict is None:  # nothing to send to Lean
        return ProofAttempt(key, c.statement.id, c.side, round_, c.model, c.sampling, proof,
                            code_sha256=sha256_text("", ""), verdict=VerdictStatus.REJECTED, reason=c.no_proof)
    code = render_code(header, c.goal, proof, c.statement.preamble)
    return ProofAttempt(key, c.statement.id, c.side, round_, c.model, c.sampling, proof,
                        code_sha256=sha256_text(header, code), verdict=verdict.status, reason=verdict.reason,
                        messages=list(verdict.messages), time_s=verdict.time_s, cached=verdict.cached)


def result_of(group: Group, round_: int) -> Result:
    attempts, proof, side = [], None, None
    for c, verdict in group.outcome():
        a = attempt_of(c, verdict, round_, c.statement.header)
        attempts.append(a)
        if a.verdict is VerdictStatus.PROVED:
            from flywheel.lean import statements as surgery

            side = c.side
            theorem = surgery.render(_goal(c.goal), "").removesuffix(":=").rstrip()
            proof = Proof(c.statement.id, c.side, a.id, round_, theorem, c.proof or "",
                          render_code(c.statement.header, c.goal, c.proof or "", c.statement.preamble))
    return Result(group.candidates[0].statement if group.candidates else None, side, attempts, proof)


def prove_pass(statements: Sequence[Statement], informal: Mapping[str, str], sides: Sequence[Side],
               cfg: ProverConfig, pass_: int, round_: int, generator, check: Callable, workers: int,
               on_results: Callable[[list[Result]], None], samples: int | None = None, chunk: int = 16,
               stop: threading.Event | None = None, early_stop: bool = True) -> None:
    """Generation of chunk k+1 overlaps verification of chunk k through a bounded queue. Without early_stop
    every candidate is verified (evaluation: pass@k needs the count of correct samples)."""
    samples = cfg.samples_per_side if samples is None else samples
    handoff: queue.Queue = queue.Queue(maxsize=max(2 * chunk, 8))
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for i in range(0, len(statements), chunk):
                if stop is not None and stop.is_set():
                    break
                for g in generate_groups(statements[i:i + chunk], informal, sides, cfg, pass_, generator, samples):
                    handoff.put(g)
        except BaseException as e:  # surfaced in the caller's thread below
            errors.append(e)
        finally:
            handoff.put(END)

    def verify(c: Candidate):
        from flywheel.lean.statements import with_preamble

        if c.proof is None:
            return None
        # the statement's preamble serves its negation and False goals too
        return check(c.statement.header, with_preamble(c.statement.preamble, c.goal), c.proof)

    producer = threading.Thread(target=produce, name="generate", daemon=True)
    producer.start()
    with _Writer(on_results, stop) as writer:
        # Results are stored by the writer thread, so a Lean worker never waits on the database.
        proved = (lambda v: v is not None and v.status is VerdictStatus.PROVED) if early_stop else (lambda v: False)
        verify_groups(handoff, verify, proved, workers,
                      lambda g: writer.put(result_of(g, round_)), writer)
    producer.join()
    if errors:
        raise errors[0]


class _Writer:
    """Hands results to `on_results` from its own thread, in order, as batches: whatever has arrived while
    the last batch was stored, after waiting up to `linger_s` for more (one transaction for several units
    when checks finish close together). It doubles as verify_groups' stop: set when the caller's stop is, or
    once storing failed (no new check starts, and the error is raised when the pass ends). Leaving waits for
    every queued result."""

    def __init__(self, on_results: Callable[[list[Result]], None], stop: threading.Event | None,
                 linger_s: float = 0.2, most: int = 256):
        self._on_results = on_results
        self._stop = stop
        self._linger_s, self._most = linger_s, most
        self._queue: queue.Queue = queue.Queue(maxsize=4 * most)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="store-results", daemon=True)

    def is_set(self) -> bool:
        return self._error is not None or (self._stop is not None and self._stop.is_set())

    def put(self, result: Result) -> None:
        self._queue.put(result)

    def _batch(self, first) -> tuple[list[Result], bool]:
        """`first` and what follows it within the linger time; True when END was met."""
        batch, deadline = [first], time.monotonic() + self._linger_s
        while len(batch) < self._most:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is END:
                return batch, True
            batch.append(item)
        return batch, False

    def _run(self) -> None:
        ended = False
        while not ended:
            first = self._queue.get()
            if first is END:
                break
            batch, ended = self._batch(first)
            if self._error is None:
                try:
                    self._on_results(batch)
                except BaseException as e:  # raised in the caller's thread on the way out
                    self._error = e

    def __enter__(self) -> "_Writer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._queue.put(END)
        self._thread.join()
        if self._error is not None and exc[0] is None:
            raise self._error
