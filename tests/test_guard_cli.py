"""The guard from the command line: every cheat class comes back `rejected` from `flywheel lean check`
with the fake REPL, every honest form `proved`; what Lean reads is what was stored."""

import json

import pytest

from orchestration.cli import main
from tests.conftest import HEADER
from tests.test_soundness import CHEATS, HONEST

STATEMENT = "theorem t (x : ℕ) (hint : 0 < x) : 0 < x * x := by sorry"


def _check(tmp_path, rows, *extra):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = main(["lean", "check", str(src), "--out", str(out), "--workers", "2", "--timeout", "10", "--no-store", *extra])
    return code, {x["id"]: x for x in map(json.loads, out.read_text().splitlines())}


def test_every_cheat_is_rejected_and_every_honest_proof_proved(tmp_path, fake_repl, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    rows = [{"id": f"cheat{i}", "header": HEADER, "statement": STATEMENT, "proof": p} for i, (p, _) in enumerate(CHEATS)]
    rows += [{"id": f"honest{i}", "header": HEADER, "statement": STATEMENT, "proof": p} for i, p in enumerate(HONEST)]
    code, got = _check(tmp_path, rows)
    assert code == 0
    for i, (proof, reason) in enumerate(CHEATS):
        answer = got[f"cheat{i}"]
        assert answer["verdict"] == "rejected" and reason in answer["reason"], (proof, answer)
    for i, proof in enumerate(HONEST):
        assert got[f"honest{i}"]["verdict"] == "proved", (proof, got[f"honest{i}"])


@pytest.mark.parametrize("header, reason", [
    (HEADER.replace("Rat\n", "Rat set_option debug.skipKernelTC true\n"), "set_option"),
    ("import Mathlib\nopen Real\nset_option «debug».skipKernelTC true\n", "debug.skipKernelTC"),
    ("import Mathlib\nset_option synthInstance.maxHeartbeats 0\nset_option debug.skipKernelTC true\n", "debug"),
    ("import Mathlib\nopen Real in\n", "in"),
    ("import Mathlib\n#eval IO.println \"{}\"\n", "#"),
])
def test_headers_run_one_command_a_line(tmp_path, fake_repl, monkeypatch, header, reason):
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    _, got = _check(tmp_path, [{"id": "h", "header": header, "statement": STATEMENT, "proof": "by positivity"}])
    assert got["h"]["verdict"] == "rejected" and reason in got["h"]["reason"]


def test_control_characters_never_reach_lean(tmp_path, fake_repl, monkeypatch):
    """A REPL whose JSON reader decodes `\\u000b` as another character proved a false statement; raw
    control characters (and lone surrogates, which used to crash the whole run) are refused first."""
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    monkeypatch.setenv("FAKE_REPL_CARELESS_JSON", "1")
    false = "theorem vt : '\x0b'.toNat = 1 := by sorry"
    rows = [
        {"id": "false", "header": HEADER, "statement": false, "proof": "by decide"},
        {"id": "true", "header": HEADER, "statement": "theorem vt : 'a'.toNat = 97 := by sorry", "proof": "by decide"},
        {"id": "wrong", "header": HEADER, "statement": "theorem vt : 'a'.toNat = 1 := by sorry", "proof": "by decide"},
        {"id": "proof", "header": HEADER, "statement": STATEMENT, "proof": "by\x1b positivity"},
        {"id": "header", "header": HEADER + "\x0c", "statement": STATEMENT, "proof": "by positivity"},
        {"id": "surrogate", "header": HEADER, "statement": STATEMENT, "proof": "by positivity -- \ud800"},
    ]
    code, got = _check(tmp_path, rows)
    assert code == 0
    assert got["false"]["verdict"] == "rejected" and "U+000B" in got["false"]["reason"]
    assert got["proof"]["verdict"] == "rejected" and "U+001B" in got["proof"]["reason"]
    assert got["header"]["verdict"] == "rejected" and "U+000C" in got["header"]["reason"]
    assert got["surrogate"]["verdict"] == "rejected" and "U+D800" in got["surrogate"]["reason"]
    assert (got["true"]["verdict"], got["wrong"]["verdict"]) == ("proved", "failed")  # the double decides


def test_the_careless_reader_is_reproduced_without_the_guard(fake_repl, monkeypatch):
    """What the guard prevents: the same false statement sent straight to that REPL comes back proved."""
    import shlex

    from flywheel.lean.repl.client import LeanRepl

    monkeypatch.setenv("FAKE_REPL_CARELESS_JSON", "1")
    with LeanRepl(shlex.split(fake_repl), HEADER, timeout_s=10) as repl:
        answer = repl.run("theorem vt : '\x0b'.toNat = 1 := (by decide\n)")
    assert not any(m["severity"] == "error" for m in answer.get("messages", []))


def test_benchmark_headers_with_definitions_check_as_header_and_preamble(tmp_path, fake_repl, monkeypatch, shared_data):
    """ProofNet's headers go on with `def`s: those are checked as the statement's preamble, and every
    one of the 26 benchmark headers is accepted."""
    from flywheel.lean.guard.soundness import Policy
    from flywheel.lean.guard.verifier import checked_code

    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    rows = [json.loads(x) for name in ("minif2f/minif2f.jsonl", "proofnet/proofnet.jsonl")
            for x in (shared_data / name).read_text().splitlines()]
    first = {}
    for r in rows:
        first.setdefault(r["header"], r)
    assert len(first) == 26
    checks = [{"id": r["name"], "header": h, "statement": r["formal_statement"] + " sorry", "proof": "by\n  simp"}
              for h, r in first.items()]
    _, got = _check(tmp_path, checks)
    assert {x["verdict"] for x in got.values()} == {"proved"}, [x for x in got.values() if x["verdict"] != "proved"]
    with_def = next(r for h, r in first.items() if "def rational" in h)
    code = checked_code(with_def["header"], with_def["formal_statement"] + " sorry", "by simp", Policy())
    assert code.startswith("import Mathlib\n\nopen «Filter» «Set» «TopologicalSpace»\nopen scoped «Topology»\n\n")
    assert "def rational (x : ℝ) := x ∈ range ((↑) : ℚ → ℝ)\n\ntheorem" in code


def test_theorem_names_with_primes_and_guillemets_are_proved(tmp_path, fake_repl, monkeypatch):
    """`#print axioms` answers `'foo'' depends on axioms: …`; the name is read as Lean prints it."""
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    names = ["foo'", "«my thm»", "h.«x y»", "a'.b''"]
    rows = [{"id": n, "header": HEADER, "statement": f"theorem {n} (x : ℕ) : x + 0 = x := by sorry", "proof": "by simp"}
            for n in names]
    _, got = _check(tmp_path, rows)
    assert [got[n]["verdict"] for n in names] == ["proved"] * 4


def test_lexical_attacks_are_rejected_and_honest_forms_proved(tmp_path, fake_repl, monkeypatch):
    """Issue 19's lexical classes from the command line: the fake REPL reads comments, chars and raw strings
    as Lean does, so each attack, had the guard read it the old way, would come back proved."""
    from tests.test_lexer import ATTACKS, HONEST as LEXER_HONEST

    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    rows = [{"id": f"attack{i}", "header": HEADER, "statement": STATEMENT, "proof": p} for i, (p, _) in enumerate(ATTACKS)]
    rows += [{"id": f"honest{i}", "header": HEADER, "statement": STATEMENT, "proof": p} for i, p in enumerate(LEXER_HONEST)]
    documented = "/-- the square, documented -/\ndef sq (x : ℕ) : ℕ := x * x\n\n" + STATEMENT
    rows.append({"id": "doc", "header": HEADER, "statement": documented, "proof": "by positivity"})
    code, got = _check(tmp_path, rows)
    assert code == 0
    for i, (proof, reason) in enumerate(ATTACKS):
        answer = got[f"attack{i}"]
        assert answer["verdict"] == "rejected" and reason in answer["reason"], (proof, answer)
    for i, proof in enumerate(LEXER_HONEST):
        assert got[f"honest{i}"]["verdict"] == "proved", (proof, got[f"honest{i}"])
    assert got["doc"]["verdict"] == "proved", got["doc"]
