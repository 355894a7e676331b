"""The lexer reads text as Lean's scanner does (tests/test_lexer_lean2021.py checks it on a real Lean), and
the guard inherits it: every class of issue 19's lexical attacks is caught, from a proof (here, and through
`flywheel lean check` and a round in tests/test_guard_cli.py and tests/test_lexer_round.py), and the honest
forms it used to refuse pass. Each attack hides `apply?` (a search tactic the guard refuses, which some REPLs
let close goals it left open) where the old lexer saw a comment or a literal and Lean sees code, or uses a
spelling whose reading the imports' tokens or the Lean version decide."""

import pytest

from flywheel.lean.text.lexer import Kind, mask, tokenize
from flywheel.lean.guard.soundness import Policy, scan_proof

P = Policy()

# (proof, what the refusal says): each passed the old lexer, and the fake REPL, reading as Lean does, proves it
ATTACKS = [
    ("by\n  /-/- -/ apply?\n  -- -/", "proof search tactic"),  # `/-/-` opens ONE comment
    ("by\n  positivity /-- -- /-\n  -/ <;> apply? -- -/", "proof search tactic"),  # the doc's leading whitespace
    ("by\n  have := '''\"'; apply? --\"", "a quote after ''"),  # Mathlib's `''` token, then the char '"'
    ("by\n  exact (mul_pos hint hint : 0 < x * x) <--apply?", "'--' glued to the symbol '<'"),  # `<-` is a token
    ("by\n  have := x ⁻¹'a'\n  positivity", "a char literal glued to the symbol '¹'"),  # Mathlib's `⁻¹'`
    ("by\n  positivity /-! -- /-\n  -/ <;> apply? -/", "Lean versions end in different places"),  # `/-!`
    ("by\n  positivity /- --/ <;> apply? -/", "Lean versions end in different places"),  # 2021 skipped a char
    ("by\n  positivity -- done\r  <;> apply?", "carriage return not followed by a line feed"),
]
# Honest forms: every one was refused by the old guard, or is read differently by the old fake REPL
HONEST = [
    "by\n  /-/- a note on the proof -/\n  positivity",
    "by\n  aesop (add unsafe 50% apply mul_pos)",
    "by\n  aesop (add safe apply mul_pos, unsafe 10% apply mul_pos)",
    "by\n  let native := x\n  positivity",
    'by\n  have s : String := r"C:\\"\n  positivity',
    'by\n  have s : String := r#"say "hi" -- not a comment"#\n  positivity',
    "by\n  have h' : 0 < x := hint\n  have : ('a' : Char) = 'a' := rfl\n  positivity",
    "by\n  /-- no doc comment belongs here, but Lean reads it as one -/\n  positivity",
    "by\n  positivity -- a remark that ends in a quote'",
    "by\r\n  positivity -- CRLF line ends\r\n",
]


@pytest.mark.parametrize("proof, reason", ATTACKS)
def test_every_lexical_attack_is_refused(proof, reason):
    got = scan_proof(proof, P)
    assert got is not None and reason in got, got


@pytest.mark.parametrize("proof", HONEST)
def test_honest_forms_pass(proof):
    assert scan_proof(proof, P) is None


@pytest.mark.parametrize("text, comments", [
    ("/-/- -/ x", ["/-/- -/"]),
    ("/-/-/ x", ["/-/-/"]),
    ("/--/ x -/ y", ["/--/ x -/"]),
    ("/-- -- /-\n -/ x -/", ["/-- -- /-\n -/"]),
    ("/-- -- -/\n x -/ y", ["/-- -- -/\n x -/"]),
    ("/-- /- a -/ b -/ c", ["/-- /- a -/ b -/"]),
    ("/- /- -/ -/ x", ["/- /- -/ -/"]),
    ("/-! x -/ y", ["/-! x -/"]),
    ("x -- a\r\ny", ["-- a\r"]),
])
def test_comments_end_where_lean_ends_them(text, comments):
    lexed = tokenize(text)
    assert lexed.refused is None and lexed.unterminated is None
    assert [t.text for t in lexed.tokens if t.kind is Kind.COMMENT] == comments


@pytest.mark.parametrize("text, kinds", [
    ("h' h'' x₁'", [Kind.NAME, Kind.NAME, Kind.NAME]),
    ("'a' '\\'' '\\x41' '\"'", [Kind.CHAR] * 4),
    ("f '' s", [Kind.NAME, Kind.SYMBOL, Kind.NAME]),
    ('r"a\\" r#"b"c"# d', [Kind.STRING, Kind.STRING, Kind.NAME]),
    ('xr"a"', [Kind.NAME, Kind.STRING]),  # `r` only opens a raw string where a token starts
    ("«a\nb».c", [Kind.NAME]),
    ("a\u00a0b", [Kind.NAME, Kind.SYMBOL, Kind.NAME]),  # a no-break space is no whitespace to Lean
])
def test_literals_and_names(text, kinds):
    assert [t.kind for t in tokenize(text).tokens] == kinds


@pytest.mark.parametrize("text", ["/-/-", "/-- -- -/\n", "/- /- -/", '"abc', 'r#"a"', "«a"])
def test_unterminated(text):
    assert tokenize(text).unterminated is not None


def test_a_refused_text_is_masked_from_the_refusal_on():
    m = mask("theorem t : 1 <--2 = 0 := rfl")
    assert m.refused and m.code.startswith("theorem t : 1") and not m.code[m.refused_at:].strip()


def test_the_refusal_names_the_place():
    assert scan_proof("by\n  simp\n  exact h+--x", P).endswith("line 3, column 10")
