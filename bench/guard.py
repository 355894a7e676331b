"""The soundness guard's cost: proofs, statements and headers scanned on tokens.

Target: <= 0.3 ms per proof on the benchmark statements with real proofs. The 859 benchmark statements
(miniF2F and ProofNet, shipped in flywheel/data) are scanned as the verifier scans them; the proofs are
real ones: the miniF2F-valid few-shot proofs (flywheel/data) and Goedel-Prover's proofs of the
kimina-match set (tests/data/lean/kimina-match). Caches are cleared so each scan lexes from scratch."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from bench.report import table, write_section

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "flywheel" / "data"
KIMINA = ROOT / "tests" / "data" / "lean" / "kimina-match" / "input"


def benchmark_rows() -> list[dict]:
    rows = []
    for name in ("minif2f.jsonl", "proofnet.jsonl"):
        rows += [json.loads(x) for x in (DATA / name).read_text(encoding="utf-8").splitlines()]
    return rows


def real_proofs() -> list[str]:
    """Proof bodies: the text after the theorem's top-level `:=`."""
    from flywheel.lean.text.statements import parse_theorem

    proofs = []
    for line in (DATA / "minif2f_valid_few_shot.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        proofs.append(row["formal_proof"])
    for path in sorted(KIMINA.glob("*.lean")):
        text = path.read_text(encoding="utf-8")
        m = re.search(r"(?m)^theorem\s", text)
        if m:
            proof = parse_theorem(text[m.start():]).proof
            if proof:
                proofs.append(proof)
    return proofs


def timed(fn, items, repeat: int) -> tuple[float, int]:
    """(ms per item, items refused) with the lexer's caches cleared before each pass."""
    from flywheel.lean.text.lexer import mask
    from flywheel.lean.text.statements import parse_theorem

    best, refused = float("inf"), 0
    for _ in range(repeat):
        mask.cache_clear()
        parse_theorem.cache_clear()
        start = time.perf_counter()
        refused = sum(1 for x in items if fn(x) is not None)
        best = min(best, (time.perf_counter() - start) / len(items) * 1e3)
    return best, refused


def main() -> None:
    from flywheel.lean.guard.soundness import Policy, scan_header, scan_preamble, scan_proof, scan_statement, split_header

    policy = Policy()
    rows = benchmark_rows()
    proofs = real_proofs()
    statements = [r["formal_statement"] for r in rows]
    headers = sorted({r["header"] for r in rows})
    proof_ms, proof_bad = timed(lambda p: scan_proof(p, policy), proofs, 5)
    stmt_ms, stmt_bad = timed(lambda s: scan_statement(s, policy), statements, 3)
    def header(h: str) -> str | None:
        top, rest = split_header(h)  # ProofNet's definitions go into the preamble, as the verifier does
        return scan_header(top, policy) or scan_preamble(rest, policy)

    head_ms, head_bad = timed(header, headers, 20)
    body = table(["what", "items", "refused", "ms per item", "target", "met"], [
        ["proof bodies (few-shot + Goedel-Prover)", len(proofs), proof_bad, proof_ms, "<= 0.3 ms",
         "yes" if proof_ms <= 0.3 else "NO"],
        ["benchmark statements (miniF2F + ProofNet)", len(statements), stmt_bad, stmt_ms, "", ""],
        ["distinct benchmark headers", len(headers), head_bad, head_ms, "", ""],
    ])
    body += ("\n\nEach scan lexes from scratch (caches cleared), best of several passes. A header's definitions "
             "(ProofNet's) are split off and scanned as the statement's preamble, as the verifier does. A proof is "
             "scanned once per check, a statement and header once per statement (the verifier caches them).\n")
    write_section("guard", "Soundness guard: cost per proof", body)


if __name__ == "__main__":
    main()
