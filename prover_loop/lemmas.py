"""The lemma pool (Seed-Prover's, Goedel-Prover's): proved lemmas by normalised statement, looked up before a
subgoal is proved; and subgoal lemmas as derived statements, their attempts stored as that statement's."""

from __future__ import annotations

from dataclasses import dataclass, field

from flywheel.hashing import sha256_text
from flywheel.records import Proof, Side, Statement, StatementStatus


def lemma_sha256(header: str, preamble: str, statement: str) -> str:
    """The pool's key: flywheel.lean.text.statements.statement_sha256 of the lemma with its preamble and header
    (the theorem's name, spacing and comments do not count; binder names do, as its proof uses them)."""
    from flywheel.lean.text.statements import statement_sha256, with_preamble

    return statement_sha256(with_preamble(preamble, statement), header)


@dataclass(slots=True)
class Pool:
    """Proofs of the lemmas stored before the pass began (a snapshot, so that what a pass does never depends
    on the order its units finish in)."""

    proofs: dict[str, str] = field(default_factory=dict)  # lemma_sha256 -> proof body
    hits: int = 0

    def lookup(self, header: str, preamble: str, statement: str) -> str | None:
        proof = self.proofs.get(lemma_sha256(header, preamble, statement))
        self.hits += proof is not None
        return proof


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
