"""The lemma pool (Seed-Prover's, Goedel-Prover's): proved lemmas by normalised statement, looked up before a
subgoal is proved, and by a renaming-invariant key, whose nearest proved lemmas a lemma's prompt shows; and
subgoal lemmas as derived statements, their attempts stored as that statement's."""

from __future__ import annotations

from dataclasses import dataclass, field

from flywheel.errors import UnparsableStatement
from flywheel.hashing import sha256_text
from flywheel.records import Proof, ProvedLemma, Side, Statement, StatementStatus


def lemma_sha256(header: str, preamble: str, statement: str) -> str:
    """The pool's key: flywheel.lean.text.statements.statement_sha256 of the lemma with its preamble and header
    (the theorem's name, spacing and comments do not count; binder names do, as its proof uses them)."""
    from flywheel.lean.text.statements import statement_sha256, with_preamble

    return statement_sha256(with_preamble(preamble, statement), header)


def lemma_name(header: str, preamble: str, statement: str) -> str:
    """A subgoal lemma's theorem name, from its key alone: the same lemma met by two units (or two sketches) is
    the same text, so its prompts and checks are the same whichever asked (and shared within a pass)."""
    return "lemma_" + lemma_sha256(header, preamble, statement)[:12]


def near_key(header: str, preamble: str, statement: str) -> str | None:
    """The key of a lemma up to the names of its binders: its binders as a goal's hypotheses and its conclusion
    as the target, keyed by flywheel.lean.tactics.goals.goal_key(rename=True). None when it cannot be read."""
    from flywheel.lean.tactics.goals import goal_key
    from flywheel.lean.text import statements as surgery

    try:
        thm = surgery.parse_theorem(statement)
        hyps = [f"{' '.join(b.names) if b.names else 'inst✝'} : {' '.join(b.type.split())}"
                for b in thm.binders if b.type is not None]
        goal = "\n".join(hyps + ["⊢ " + " ".join(thm.conclusion.split())])
        return sha256_text("near", header, preamble, goal_key([goal], rename=True))
    except UnparsableStatement:
        return None


@dataclass(slots=True)
class Pool:
    """Proofs of the lemmas stored before the pass began (a snapshot, so that what a pass does never depends
    on the order its units finish in), by exact key and by near key; and what the pass made of it."""

    proofs: dict[str, str] = field(default_factory=dict)  # lemma_sha256 -> proof body
    near: dict[str, list[ProvedLemma]] = field(default_factory=dict)  # near_key -> proved lemmas, in stored order
    hits: int = 0  # subgoals answered by a stored proof
    near_prompts: int = 0  # subgoals whose prompts show near matches
    shared: int = 0  # lemma requests and checks answered by another's within the pass (the scheduler's count)

    @classmethod
    def of(cls, stored: list[ProvedLemma]) -> "Pool":
        pool = cls()
        for s in stored:
            pool.proofs.setdefault(s.sha, s.proof)
            key = near_key(s.header, s.preamble, s.statement)
            if key is not None:
                pool.near.setdefault(key, []).append(s)
        return pool

    def lookup(self, header: str, preamble: str, statement: str) -> str | None:
        proof = self.proofs.get(lemma_sha256(header, preamble, statement))
        self.hits += proof is not None
        return proof

    def examples(self, header: str, preamble: str, statement: str, most: int) -> tuple[str, ...]:
        """Up to `most` proved lemmas equal to this one up to binder names, each as its code with its proof,
        for the lemma's prompt to show (the model adapts them; its answer still goes through Lean)."""
        from flywheel.lean.text import statements as surgery

        key = near_key(header, preamble, statement) if most else None
        found = self.near.get(key, [])[:most] if key is not None else []
        self.near_prompts += bool(found)
        return tuple(surgery.render(surgery.parse_theorem(s.statement), s.proof.strip("\n")) for s in found)

    def counts(self) -> dict[str, int]:
        """What the pass made of the pool, for the stage's counts table."""
        return {"lemma pool hits": self.hits, "lemma near-match prompts": self.near_prompts,
                "lemma requests shared in pass": self.shared}


def derived(source: Statement, lemma: str) -> Statement:
    """A subgoal lemma of `source` as a statement of its own: same header and preamble, no problem (its
    informal text is not the lemma's), `derived_from` the source. Its id depends on the source, so a lemma met
    under two statements keeps both lineages."""
    from flywheel.lean.text import statements as surgery

    norm = lemma_sha256(source.header, source.preamble, lemma)
    return Statement(id=sha256_text("derived", source.id, norm), problem_id=None, round=source.round,
                     header=source.header, text=lemma, name=surgery.parse_theorem(lemma).name,
                     normalized_sha256=norm, status=StatementStatus.KEPT, preamble=source.preamble)


@dataclass(slots=True)
class Found:
    """A lemma the unit proved (or whose negation it proved), as the store keeps it."""

    statement: Statement  # the derived statement
    source: Statement
    source_side: Side
    side: Side  # of the lemma: statement, or negation (the subgoal is false)
    attempt_id: str  # the proving attempt's key
    proof: str
    record: Proof  # the derived statement's proof, as the proofs table keeps it (audited, exported)
