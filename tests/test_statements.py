"""Statement surgery over every benchmark statement, and the shapes that trip parsers."""

import json

import pytest

from flywheel.errors import UnparsableStatement
from flywheel.lean.text.statements import (
    Binder, false_goal, find_declarations, negate, normalize_statement, parse_theorem, render, split_preamble,
    statement_sha256, with_name, with_preamble,
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


def test_let_in_a_binder_type_keeps_its_own_assignment():
    thm = parse_theorem("theorem t (h : let m := 3; m = 3) (n : ℕ := let k := 2; k) : n = 2 := by simp")
    assert thm.binders[0].type == "let m := 3; m = 3" and thm.binders[0].default is None
    assert thm.binders[1].type == "ℕ" and thm.binders[1].default == "let k := 2; k"
    assert thm.conclusion == "n = 2" and thm.proof == "by simp"
    assert parse_theorem(render(thm)).binders == thm.binders


def test_bare_binders():
    thm = parse_theorem("theorem t x y : x + y = y + x := by ring")
    assert thm.binders == (Binder("(", ("x", "y"), None),) and thm.conclusion == "x + y = y + x"
    mixed = parse_theorem("theorem t x (h : x > 0) {y} z : x > 0 := h")
    assert [(b.bracket, b.names, b.type) for b in mixed.binders] == [
        ("(", ("x",), None), ("(", ("h",), "x > 0"), ("{", ("y",), None), ("(", ("z",), None)]
    assert parse_theorem(render(mixed)).binders == mixed.binders
    assert negate(mixed, "forall").conclusion == "¬ (∀ x (h : x > 0) {y} z, x > 0)"
    assert normalize_statement("theorem t x y : x + y = y + x") == normalize_statement("theorem u (x y) : x+y = y+x")


PUTNAM = ("open Real\n\nabbrev putnam_2008_b1_solution : ℕ := 2\n-- the answer above\n\n/-- At most two points. -/\n"
          "theorem putnam_2008_b1 (n : ℕ) (h : n ≤ putnam_2008_b1_solution) : n ≤ 2 := by\n  sorry\n")


def test_a_preamble_splits_off_before_the_declaration():
    preamble, declaration = split_preamble(PUTNAM)
    assert preamble == "open Real\n\nabbrev putnam_2008_b1_solution : ℕ := 2\n-- the answer above"
    assert declaration.startswith("/-- At most two points. -/\ntheorem putnam_2008_b1")
    assert parse_theorem(declaration).name == "putnam_2008_b1"
    assert split_preamble(with_preamble(preamble, declaration)) == (preamble, declaration)
    assert split_preamble("@[simp] theorem t : True := trivial") == ("", "@[simp] theorem t : True := trivial")
    assert split_preamble("def f := \"a\"\n@[simp]\ntheorem t : f = \"a\" := rfl") == ('def f := "a"', "@[simp]\ntheorem t : f = \"a\" := rfl")
    assert with_preamble("", "theorem t : True") == "theorem t : True"
    with pytest.raises(UnparsableStatement, match="unexpected text before the declaration"):
        split_preamble("x = 3\ntheorem t : True := trivial")


def test_the_preamble_is_part_of_the_normal_form():
    preamble, declaration = split_preamble(PUTNAM)
    assert statement_sha256(PUTNAM) != statement_sha256(declaration)
    assert statement_sha256(PUTNAM) != statement_sha256(PUTNAM.replace(":= 2", ":= 3"))
    respaced = PUTNAM.replace("open Real\n\n", "open   Real -- why\n").replace(": ℕ := 2", ":ℕ:=2")
    assert statement_sha256(respaced) == statement_sha256(PUTNAM)
    assert normalize_statement(declaration) == normalize_statement(with_preamble("", declaration))


def test_a_span_ends_before_the_doc_comment_of_the_next_declaration():
    text = "theorem a : True := by\n  trivial -- done\n\n/-- The next one. -/\ntheorem b : True := trivial\n"
    (s, e), _ = find_declarations(text)
    assert text[s:e] == "theorem a : True := by\n  trivial -- done"
