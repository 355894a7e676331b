"""Issue 19's lexical attacks through a whole round: the scripted model answers every statement-side
proof of problems k ≡ 0 (mod 4) with one of them (tests/test_lexer.py); the fake REPL, reading as Lean does,
would pass each, and the guard refuses each, so none of those statements is proved."""

import re

import pytest

from orchestration.cli import main
from tests.doubles import OpenAIServer
from tests.round_model import respond as scripted
from tests.test_lexer import ATTACKS
from tests.test_round import _config, _ingest, audit_toolchain, snapshot  # noqa: F401 (a fixture)

pytestmark = pytest.mark.postgres
BODIES = [proof.removeprefix("by\n") for proof, _ in ATTACKS]


def attacking(prompt: str, i: int) -> str:
    answer = scripted(prompt, i)
    if "Translate the problem to Lean 4" in prompt or "You are grading" in prompt:
        return answer
    decl = "\n".join(prompt.rsplit(":= by\n", 1)[0].rsplit("\n", 2)[-2:])
    k = int(re.search(r"n = (\d+)", decl).group(1))
    if k % 4 or "¬" in decl or decl.rstrip().endswith("False"):
        return answer
    return BODIES[(2 * (k // 4) + i) % len(BODIES)] + "\n```"


def test_no_lexical_attack_proves_a_statement_in_a_round(store, pg_url, tmp_path, fake_repl, monkeypatch):
    server = OpenAIServer(attacking)
    try:
        _ingest(pg_url, monkeypatch)
        assert main(["--config", _config(tmp_path, server, fake_repl), "run", "--rounds", "1"]) == 0
    finally:
        server.close()
    snap = snapshot(pg_url)
    status = {}
    for _id, st, reason, _g in snap["statements"]:
        status[(st, reason)] = status.get((st, reason), 0) + 1
    # k ≡ 0 would be proved by its second sample; attacked, it stays open like k ≡ 2
    assert status == {("kept", ""): 10, ("disproved", ""): 5, ("dropped", "inconsistent_hypotheses"): 5}
    assert not [p for p in snap["proofs"] if p[1] == "statement"]
    attacked = [(proof, verdict) for _key, _sid, side, _r, verdict, proof in snap["attempts"]
                if side == "statement" and any(body.strip() in proof for body in BODIES)]
    assert {verdict for _, verdict in attacked} == {"rejected"}
    assert all(any(body.strip() in proof for proof, _ in attacked) for body in BODIES)
