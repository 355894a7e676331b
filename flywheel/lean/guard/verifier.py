"""The verifier: the only way a proof becomes `proved`.

The code sent to Lean is built here: the header (its imports loaded once per process, the rest an env built
once per process on them: flywheel.lean.repl.pool), the canonical
statement rendered by us, and the model's proof body. The body is scanned before Lean sees it; a proof
goes to Lean with `#print axioms` after it in the same command (one round trip), and only the message at
that command's own position counts as its answer; the answer is classified; verdicts are cached.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from flywheel.config import LeanConfig
from flywheel.errors import LeanError, UnparsableStatement
from flywheel.hashing import sha256_text
from flywheel.lean.guard import soundness
from flywheel.lean.text import statements as surgery
from flywheel.lean.guard.cache import HeadCache, VerdictCache
from flywheel.lean.repl.identity import toolchain_id
from flywheel.lean.repl.pool import ReplPool
from flywheel.lean.text.preamble import preamble_commands
from flywheel.lean.repl.protocol import Answer
from flywheel.lean.repl.client import Fault, HeaderError, LeanRepl
from flywheel.lean.tactics.records import Checked, checked_from, scan_sketch
from flywheel.lean.toolchain.paths import repl_command, repl_cwd
from flywheel.lean.guard.verdicts import Verdict, axioms_missing, classify, map_positions, with_axioms
from flywheel.records import VerdictStatus


@dataclasses.dataclass(slots=True, frozen=True)
class Prepared:
    header: str
    name: str
    code: str
    key: str
    proof_line: int  # where the proof body starts in the code (1-based line, 0-based column)
    proof_col: int


@functools.lru_cache(maxsize=8192)  # the same for every proof of a statement: built once (Policy is frozen)
def build_head(header: str, statement: str, policy: soundness.Policy) -> tuple[str, str, str, int, int] | Verdict:
    """Everything of the code that comes before the proof: (the header as sent, the theorem's name, the
    preamble and theorem up to `:= `, the line and column where the proof starts), or why nothing is sent.
    The statement may open with its preamble."""
    try:
        preamble, statement = surgery.split_preamble(statement)
    except UnparsableStatement as e:
        return Verdict(VerdictStatus.REJECTED, f"statement does not parse: {e}")
    header, preamble = soundness.with_header_definitions(header, preamble)
    header = soundness.limit_heartbeats(header, policy)
    reasons = (soundness.scan_header(header, policy), soundness.scan_statement(statement, policy))
    if reason := next((r for r in reasons if r), None):
        return Verdict(VerdictStatus.REJECTED, reason)
    try:
        thm = surgery.parse_theorem(statement)
    except UnparsableStatement as e:
        return Verdict(VerdictStatus.REJECTED, f"statement does not parse: {e}")
    if thm.keyword not in ("theorem", "lemma") or not thm.name:
        thm = surgery.with_name(thm, "flywheel_" + sha256_text(statement)[:16])
    thm = dataclasses.replace(thm, prefix="")
    # Lean reads the preamble as we render it, command by command, never as it was written.
    checked = preamble_commands(preamble, policy, thm.name)
    if checked.reason:
        return Verdict(VerdictStatus.REJECTED, checked.reason)
    # The preamble goes into the checked code, not the header: the REPL imports a header once per process.
    head = surgery.with_preamble(checked.text, surgery.render(thm, None)) + " "
    return header, thm.name, head, head.count("\n") + 1, len(head) - (head.rfind("\n") + 1)


def checked_code(header: str, statement: str, proof: str, policy: soundness.Policy) -> str:
    """The whole text Lean checks for this proof, header included (what `proofs.code` stores)."""
    head = build_head(header, statement, policy)
    if isinstance(head, Verdict):  # refused before Lean: nothing was checked; keep the pieces as given
        return header + statement + " " + proof
    return head[0] + head[2] + soundness.wrap_proof(proof)


class Verifier:
    def __init__(self, cfg: LeanConfig, cache: VerdictCache | None = None,
                 backend: Callable[[Prepared, bool], Verdict] | None = None, toolchain: str | None = None,
                 tactics_backend: Callable[[Prepared, bool, bool], Checked] | None = None,
                 heads: HeadCache | None = None):
        """cache=None checks every time; pass MemoryCache() or the store's cache to skip repeats. heads keeps
        statement heads across runs (HeadCache); closed with the verifier.
        backend runs prepared code in Lean; the default is this process's own REPL pool (Ray passes
        one that sends it to a worker, so that scans and the cache stay in the driver, and sets
        `toolchain` to the one its workers report)."""
        self.cfg = cfg
        self.policy = soundness.Policy.from_config(cfg)
        self.policy_id = self.policy.fingerprint()  # a stricter guard never reuses a laxer verdict
        self.cache = cache
        self.heads = heads
        self._toolchain = toolchain
        self._backend = backend or self.run_in_pool
        # where tactic-level checks run: this process's pool, or (Ray) the worker that has the REPL
        self._tactics_backend = tactics_backend or (self.run_tactics_in_pool if backend is None else None)
        self._argv, self._cwd = (repl_command(cfg), repl_cwd(cfg)) if backend is None else ([], None)
        # `workers` processes in all, whatever the number of headers: keyed by imports, headers are envs in them
        self._pool = ReplPool(self._repl, cfg.workers, cfg.max_checks_per_process, cfg.rss_limit_mb)
        self.lookups = 0
        self.hits = 0

    def _repl(self, imports: str) -> LeanRepl:
        return LeanRepl(self._argv, imports, timeout_s=self.cfg.timeout_s, memory_limit_mb=self.cfg.memory_limit_mb,
                        cwd=self._cwd, max_answer_mb=self.cfg.max_answer_mb)

    @property
    def toolchain(self) -> str:
        """What verdicts are cached for: the id of the REPL that runs them (identity.py), asked when first needed."""
        if self._toolchain is None:
            if not self._argv:
                raise LeanError("the toolchain of this verifier's Lean backend is not known yet")
            self._toolchain = toolchain_id(self.cfg)
        return self._toolchain

    @toolchain.setter
    def toolchain(self, value: str) -> None:
        self._toolchain = value

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._pool.close()
        finally:
            if self.heads is not None:
                self.heads.close()
            if self.cache is not None:
                self.cache.close()

    def stats(self) -> dict:
        return self._pool.stats.as_dict() | {"cache_lookups": self.lookups, "cache_hits": self.hits}

    # building the code
    def prepare(self, header: str, statement: str, proof: str) -> Prepared | Verdict:
        """The exact code for Lean, or a `rejected` verdict saying why nothing is sent."""
        head = self._head(header, statement)
        if isinstance(head, Verdict):
            return dataclasses.replace(head)
        header, name, text, line, col = head
        code = text + soundness.wrap_proof(proof)
        key = sha256_text(self.toolchain, self.policy_id, header, code)
        return Prepared(header, name, code, key, line, col + 1)  # + 1: the parenthesis before the proof

    def _head(self, header: str, statement: str) -> tuple[str, str, str, int, int] | Verdict:
        """build_head, through the heads kept across runs when there are some."""
        if self.heads is None:
            return build_head(header, statement, self.policy)
        key = sha256_text(self.policy_id, header, statement)
        kept = self.heads.get(key)
        if isinstance(kept, list) and [type(x) for x in kept] == [str, str, str, int, int]:
            return tuple(kept)
        if isinstance(kept, dict) and kept.get("status") == VerdictStatus.REJECTED.value:
            return Verdict(VerdictStatus.REJECTED, str(kept.get("reason")))
        head = build_head(header, statement, self.policy)
        self.heads.put(key, {"status": head.status.value, "reason": head.reason} if isinstance(head, Verdict)
                       else list(head))
        return head

    # checking
    def check(self, header: str, statement: str, proof: str) -> Verdict:
        reason = soundness.scan_proof(proof, self.policy)
        if reason:
            return Verdict(VerdictStatus.REJECTED, reason)
        prepared = self.prepare(header, statement, proof)
        if isinstance(prepared, Verdict):
            return prepared
        return self._run(prepared, expect_sorry=False)

    def compile_check(self, header: str, statement: str) -> Verdict:
        """The statement with the term `sorry` as its proof (every Lean 4 parses it; not all take the tactic
        `by sorry`): `incomplete` means it elaborates."""
        prepared = self.prepare(header, statement, "sorry")
        if isinstance(prepared, Verdict):
            return prepared
        return self._run(prepared, expect_sorry=True)

    def _run(self, p: Prepared, expect_sorry: bool) -> Verdict:
        if self.cache is not None:
            self.lookups += 1
            hit = self.cache.get(p.key)
            if hit is not None:
                self.hits += 1
                return dataclasses.replace(hit, cached=True, time_s=0.0)
        verdict = self._backend(p, expect_sorry)
        if self.cache is not None:
            self.cache.put(p.key, self.toolchain, verdict)
        return verdict

    def run_in_pool(self, p: Prepared, expect_sorry: bool) -> Verdict:
        """Lean's part: the code with `#print axioms` after it on a pooled REPL, the verdict. Where the answer
        holds no message at that command's position (a REPL that gives none), `#print axioms` is asked again
        alone in the env the check produced: never is `proved` inferred without a matched answer."""
        return self._in_pool(p, expect_sorry)[0]

    def _in_pool(self, p: Prepared, expect_sorry: bool, options: dict | None = None) -> tuple[Verdict, Answer | None]:
        start = time.perf_counter()
        code, at = (p.code, None) if expect_sorry else with_axioms(p.code, p.name)

        def follow_up(answer) -> str | None:
            return f"#print axioms {p.name}" if at is not None and axioms_missing(answer, at) else None

        try:
            outcome = self._pool.check(p.header, code, follow_up, options)
        except HeaderError as e:  # the header's own error, the same for every proof under it
            return Verdict(VerdictStatus.FAILED, str(e), time_s=time.perf_counter() - start), None
        elapsed = time.perf_counter() - start
        if outcome.failure is not None:  # an answer too large is the code's doing, as an error would be
            status = {Fault.TIMEOUT: VerdictStatus.TIMEOUT, Fault.OVERSIZE: VerdictStatus.FAILED}.get(
                outcome.failure.fault, VerdictStatus.CRASHED)
            return Verdict(status, str(outcome.failure), time_s=elapsed,
                           limited=outcome.failure.fault is Fault.OVERSIZE), None
        verdict = classify(outcome.answer, p.name, outcome.env_answer, self.policy, expect_sorry=expect_sorry,
                           axioms_at=at)
        verdict.messages = map_positions(verdict.messages, p.proof_line, p.proof_col)
        verdict.time_s = elapsed
        return verdict, outcome.answer

    # tactic-level checks (flywheel.lean.tactics.records): never cached, since the cache keeps verdicts, not tactics
    def check_tactics(self, header: str, statement: str, proof: str, goals_after: bool = False) -> Checked:
        """check(), and the tactics Lean ran on the proof with their goals before (and after, when asked:
        a larger answer), at positions in the proof body. The verdict is the same check()'s, guard and all."""
        reason = soundness.scan_proof(proof, self.policy)
        return self._tactics(header, statement, proof, reason, False, goals_after)

    def sketch(self, header: str, statement: str, sketch: str, goals_after: bool = False) -> Checked:
        """A proof with `sorry`s for its holes, elaborated for their goals (`Checked.sorries`): `incomplete`
        when it elaborates, `failed` when Lean refuses it, never `proved` (a sketch without a sorry is refused;
        every other rule of the guard holds)."""
        reason = scan_sketch(sketch, self.policy)
        return self._tactics(header, statement, sketch, reason, True, goals_after)

    def _tactics(self, header: str, statement: str, proof: str, reason: str | None, sketch: bool,
                 goals_after: bool) -> Checked:
        if reason:
            return Checked(Verdict(VerdictStatus.REJECTED, reason), proof.strip("\n"))
        prepared = self.prepare(header, statement, proof)
        if isinstance(prepared, Verdict):
            return Checked(prepared, proof.strip("\n"))
        if self._tactics_backend is None:
            raise LeanError("this verifier runs Lean elsewhere and was given no way to ask it for tactics")
        checked = self._tactics_backend(prepared, sketch, goals_after)
        if self.cache is not None and not sketch:  # the verdict is check()'s: later checks reuse it
            self.cache.put(prepared.key, self.toolchain, checked.verdict)
        return checked

    def run_tactics_in_pool(self, p: Prepared, sketch: bool, goals_after: bool = False) -> Checked:
        """run_in_pool with `allTactics` (and the infotree when goals_after); a sketch is checked as a
        compile check is (no `#print axioms`: it can never be proved)."""
        options = {"allTactics": True} | ({"infotree": "substantive"} if goals_after else {})
        verdict, answer = self._in_pool(p, sketch, options)
        return checked_from(verdict, answer, p.code, p.proof_line, p.proof_col, sketch, goals_after)

    def check_many(self, items: Sequence[tuple[str, str, str]], workers: int | None = None) -> list[Verdict]:
        """(header, statement, proof) triples checked concurrently; verdicts in input order. They are run
        grouped by header, so that a header's processes are started (and evicted) once, not once per switch."""
        workers = workers or self.cfg.workers
        order = sorted(range(len(items)), key=lambda i: items[i][0])  # stable: input order within a header
        if workers <= 1:
            done = [self.check(*items[i]) for i in order]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lean") as pool:
                done = list(pool.map(lambda i: self.check(*items[i]), order))
        placed = dict(zip(order, done))
        return [placed[i] for i in range(len(items))]
