"""Statement surgery over every benchmark statement, and the shapes that trip parsers."""

import json

import pytest

from flywheel.errors import UnparsableStatement
from flywheel.lean.statements import (
    false_goal, find_declarations, negate, normalize_statement, parse_theorem, render, statement_sha256, with_name,
)


def _benchmark(shared_data):
    rows = []
    for rel in ("minif2f/minif2f.jsonl", "proofnet/proofnet.jsonl"):
        rows += [json.loads(line) for line in (shared_data / rel).read_text().splitlines()]
    return rows


def test_all_859_benchmark_statements_parse_and_round_trip(shared_data):
    rows = _benchmark(shared_data)
    assert len(rows) == 859
    for row in rows:
        text = row["formal_statement"]
        thm = parse_theorem(text)
        again = parse_theorem(render(thm, "by\n  simp"))
        assert (again.keyword, again.name, again.binders, again.conclusion) == (thm.keyword, thm.name, thm.binders, thm.conclusion), row["name"]
        assert normalize_statement(render(thm)) == normalize_statement(text), row["name"]
        for goal in (negate(thm, "hyps"), negate(thm, "forall"), false_goal(thm)):
            reparsed = parse_theorem(render(goal))
            assert reparsed.conclusion == goal.conclusion and reparsed.binders == goal.binders


def test_binders_of_every_kind():
    text = ("theorem foo.bar {α : Type*} [inst : Group α] [Fintype α] ⦃x y : α⦄ {{z : α}} (n : ℕ := 3)\n"
            "    (f : ℕ → (ℕ × ℕ)) (h₀ : ∀ x ∈ Finset.range n, f x = (x, x)) (hx) :\n  x * y = z := by\n  simp")
    thm = parse_theorem(text)
    assert thm.name == "foo.bar"
    assert [b.bracket for b in thm.binders] == ["{", "[", "[", "⦃", "{{", "(", "(", "(", "("]
    assert thm.binders[1].names == ("inst",) and thm.binders[2].names == () and thm.binders[2].type == "Fintype α"
    assert thm.binders[3].names == ("x", "y") and thm.binders[5].default == "3"
    assert thm.binders[6].type == "ℕ → (ℕ × ℕ)" and thm.binders[8].names == ("hx",) and thm.binders[8].type is None
    assert thm.conclusion == "x * y = z" and thm.proof == "by\n  simp"
    forall = negate(thm, "forall")
    assert forall.binders == ()
    assert forall.conclusion.startswith("¬ (∀ {α : Type*} [inst : Group α] [Fintype α] ⦃x y : α⦄ {{z : α}} (n : ℕ)")
    assert "hx," in forall.conclusion
    assert negate(thm).conclusion == "¬ (x * y = z)" and negate(thm).binders == thm.binders
    assert false_goal(thm).conclusion == "False"


def test_comments_strings_and_prefix():
    text = '/-- A doc comment with a : colon -/\n@[simp] theorem t (s : String := "a:b") -- trailing : note\n  : s.length ≥ 0 := by simp'
    thm = parse_theorem(text)
    assert thm.prefix.startswith("/-- A doc") and thm.binders[0].default == '"a:b"'
    assert thm.conclusion == "s.length ≥ 0"
    assert with_name(thm, "ours").prefix == "" and render(with_name(thm, "ours")).startswith("theorem ours")
    example = with_name(parse_theorem("example : 1 = 1 := rfl"), "named")
    assert example.keyword == "theorem" and example.name == "named"


@pytest.mark.parametrize(
    "text, why",
    [
        ("theorem t (x : ℕ) x = x", "expected ':'"),
        ("theorem t (x : ℕ : x = x := rfl", "unbalanced"),
        ("theorem t (x : ℕ)) : x = x := rfl", "expected ':'"),
        ("theorem a : True := trivial\ntheorem b : True := trivial", "second declaration"),
        ("x = x", "no theorem"),
        ("theorem t : /- open comment", "unterminated"),
        ("theorem t :  := rfl", "empty conclusion"),
    ],
)
def test_unparsable_says_why(text, why):
    with pytest.raises(UnparsableStatement, match=why):
        parse_theorem(text)


def test_normal_form_ignores_name_comments_spacing_and_proof():
    a = "theorem one (a b : ℕ) (h : a+b = 2) : b+a = 2 := by omega"
    b = "lemma   two (a b : ℕ)\n  -- the hypothesis\n  (h : a + b = 2) :\n b + a = 2 := by\n  sorry"
    assert normalize_statement(a) == normalize_statement(b)
    assert statement_sha256(a) == statement_sha256(b)
    assert statement_sha256(a, "import Mathlib") != statement_sha256(a, "import Mathlib\nopen Real")
    assert normalize_statement(a) != normalize_statement(a.replace("b+a = 2", "b+a = 3"))


def test_find_declarations_spans():
    text = "-- intro\ntheorem a : True := trivial\n\n@[simp] lemma b : True := by\n  trivial\n#eval 1\n"
    spans = find_declarations(text)
    assert [text[s:e].split()[0] for s, e in spans] == ["theorem", "lemma"]
    assert text[spans[1][0]:spans[1][1]].endswith("trivial")
