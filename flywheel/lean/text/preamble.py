"""A statement's preamble as checked commands: cut into commands on Lean's tokens, each of an allowed kind,
and each re-rendered from its tokens (comments out), so that what Lean reads is the commands we checked.

Lean ends a command at the next command keyword wherever it stands (after code on the same line, after a
lone carriage return, at any column), so the cut is made at every such token, never at line starts; a
`def` body continued at column 0 stays its def's. Anything but def/abbrev (noncomputable or not), open,
variable, universe, an anonymous section and its end, and an allowed set_option is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from flywheel.lean.text.lexer import Kind, Token
from flywheel.lean.guard.soundness import (COMMAND_KEYWORDS, _NOT_A_NAMESPACE, Policy, _aesop_phase, _balanced, _banned_name,
                                     _Code, _escaped, _lex, _option, _scan)

ALLOWED = "only def, abbrev, open, variable, universe, section, end and set_option"
# Starts a command wherever it stands: Lean's command keywords (keywords cannot be identifiers).
_STARTS = COMMAND_KEYWORDS | {"open", "set_option"}
_BINDER_CLOSE = {"(": ")", "{": "}", "⦃": "⦄"}
_SCOPING = frozenset({"open", "variable", "universe", "set_option"})


@dataclass(slots=True, frozen=True)
class Preamble:
    reason: str | None  # why the preamble may not be used, or None
    text: str  # the commands as we send them ("" when refused)
    variables: tuple[str, ...] = ()  # the binders of the `variable`s in scope at its end, rendered
    # its open/variable/universe/set_option commands in scope at its end, rendered: they do not travel through
    # an import, so a module importing the preamble's restates them
    scoping: tuple[str, ...] = ()


def _starts_command(code: _Code, i: int) -> bool:
    toks = code.tokens
    tok = toks[i]
    if tok.kind is Kind.NAME:
        before = toks[i - 1].text if i else ""
        # `open scoped …` and `noncomputable def …` are one command each
        return tok.text in _STARTS and not (before == "open" and tok.text == "scoped") and before != "noncomputable" \
            and not (tok.text == "unsafe" and _aesop_phase(code, i))
    nxt = toks[i + 1] if i + 1 < code.top else None
    adjacent = nxt is not None and nxt.start == tok.end
    # `#exit`, `#eval`, `#guard_msgs` (a `#[…]` array is a term); `@[attr]` before a declaration
    return adjacent and ((tok.text == "#" and nxt.kind is Kind.NAME) or (tok.text == "@" and nxt.text == "["))


def _render(text: str, tokens: list[Token]) -> str:
    """The tokens as written, with the spaces between them; a comment blanked (its line breaks kept, so every
    column stays where it was), every line break a newline (a lone CR ends a line for Lean)."""
    out = [tokens[0].text]
    for prev, t in zip(tokens, tokens[1:]):
        gap = text[prev.end : t.start].replace("\r\n", "\n").replace("\r", "\n")
        out.append("".join(ch if ch in " \t\n" else " " for ch in gap))
        out.append(t.text)
    return "".join(out)


def _commands(code: _Code) -> list[_Code]:
    cuts = [i for i in range(code.top) if i == 0 or _starts_command(code, i)]
    out = []
    for a, b in zip(cuts, cuts[1:] + [code.top]):
        top = code.tokens[a:b]
        lo, hi = top[0].start, top[-1].end
        nested = [t for t in code.tokens[code.top :] if lo <= t.start < hi]
        out.append(_Code(code.text, top + nested, len(top)))
    return out


def _variable(cmd: _Code) -> tuple[str | None, list[str]]:
    """The binders of `variable …`: each `(names : type)`, `{…}` or `⦃…⦄`. Instance binders are refused: one
    whose class is a Prop (`[Fact False]`) would bind the theorem to a false assumption."""
    toks, i, binders = cmd.tokens, 1, []
    while i < cmd.top:
        opener = toks[i].text
        if opener == "[":
            return "banned: an instance binder in variable in the preamble (it could make the theorem vacuous)", []
        if opener not in _BINDER_CLOSE:
            return f"banned: variable binder starting with {opener!r} in the preamble", []
        depth, j = 0, i
        while j < cmd.top:
            t = toks[j].text
            depth += t in ("(", "{", "⦃", "[", "⟨")
            depth -= t in (")", "}", "⦄", "]", "⟩")
            if depth == 0:
                break
            j += 1
        if j >= cmd.top or toks[j].text != _BINDER_CLOSE[opener]:
            return "banned: unbalanced variable binder in the preamble", []
        k = i + 1
        while k < j and toks[k].kind is Kind.NAME:
            k += 1
        if k == i + 1 or k >= j or toks[k].text != ":" or (k + 1 < j and toks[k + 1].text == "="
                                                           and toks[k + 1].start == toks[k].end):
            return "banned: a variable binder must be names, ':' and a type", []
        binders.append(_render(cmd.text, toks[i : j + 1]))
        i = j + 1
    if not binders:
        return "banned: variable without binders in the preamble", []
    return None, binders


def _declared(cmd: _Code, at: int, theorem: str | None) -> str | None:
    """The def/abbrev's name: a name token, and not the theorem's (whose `#print axioms` it would answer)."""
    if at >= cmd.top or cmd.tokens[at].kind is not Kind.NAME or cmd.tokens[at].text in _NOT_A_NAMESPACE:
        return "banned: a definition without a name in the preamble"
    name = cmd.tokens[at].name
    if theorem is not None and name.removeprefix("_root_.") == theorem.removeprefix("_root_."):
        return f"banned: the preamble declares {name}, the theorem's own name"
    return None


def _one(cmd: _Code, policy: Policy, theorem: str | None, sections: list[list[str]]) -> tuple[str | None, str]:
    """(why this command is refused, or None; the command as we send it)."""
    toks, head = cmd.tokens, cmd.tokens[0].text
    words = [t.text for t in toks[: cmd.top]]
    rendered = _render(cmd.text, toks[: cmd.top])
    if head in ("#", "@"):
        what = "#" + words[1] if head == "#" else "an attribute"
        return f"banned: {what} in the preamble ({ALLOWED})", ""
    if head == "noncomputable":
        nxt = words[1] if cmd.top > 1 else ""
        if nxt not in ("def", "abbrev", "section"):
            return f"banned: noncomputable {nxt} in the preamble", ""
        words, at = words[1:], 2
        head = nxt
    else:
        at = 1
    if head in ("def", "abbrev"):
        reason = _declared(cmd, at, theorem)
        body = _Code(cmd.text, toks[at + 1 :], cmd.top - at - 1)
        return reason or _balanced(cmd) or _scan(body, policy, what="in the preamble", in_only=True), rendered
    if head == "open":
        names = toks[1 : cmd.top]
        scoped = ["scoped"] if names and names[0].text == "scoped" else []
        names = names[len(scoped):]
        if not names or any(t.kind is not Kind.NAME or t.text in _NOT_A_NAMESPACE for t in names):
            return "banned: open of something other than namespaces in the preamble", ""
        for k in range(cmd.top - len(names), cmd.top):
            if reason := _banned_name(cmd, k, policy):
                return f"{reason} (opened in the preamble)", ""
        return None, " ".join(["open", *scoped] + [_escaped(t) for t in names])
    if head == "variable":
        reason, binders = _variable(cmd)
        if reason is None:
            sections[-1].extend(binders)
            body = _Code(cmd.text, toks[1:], cmd.top - 1)
            reason = _balanced(cmd) or _scan(body, policy, what="in the preamble", in_only=True)
        return reason, rendered
    if head == "universe":
        if cmd.top < 2 or any(t.kind is not Kind.NAME or "." in t.text for t in toks[1 : cmd.top]):
            return "banned: universe of something other than universe names in the preamble", ""
        return None, rendered
    if head in ("section", "end"):
        if len(words) > 1:
            return f"banned: a named {head} in the preamble", ""
        if head == "section":
            sections.append([])
        elif len(sections) == 1:
            return "banned: end without a section in the preamble", ""
        else:
            sections.pop()
        return None, rendered
    if head == "set_option":
        reason, after, line = _option(cmd, 0, policy)
        if reason is None and after < cmd.top:
            reason = f"banned: set_option … {toks[after].text} in the preamble"
        return reason, line
    return f"banned: {head} in the preamble ({ALLOWED})", ""


def preamble_commands(preamble: str, policy: Policy, theorem: str | None = None) -> Preamble:
    """The preamble checked command by command and rendered as we send it. theorem: the name the checked
    theorem will have, which no preamble command may declare."""
    if not preamble.strip():
        return Preamble(None, "")
    code = _lex(preamble)
    if isinstance(code, str):
        return Preamble(code, "")
    sections: list[list[str]] = [[]]
    scopes: list[list[str]] = [[]]
    lines = []
    for cmd in _commands(code):
        reason, line = _one(cmd, policy, theorem, sections)
        if reason:
            return Preamble(reason, "")
        lines.append(line)
        words = [t.text for t in cmd.tokens[:2]]
        head = words[1] if words[0] == "noncomputable" else words[0]
        if head == "section":
            scopes.append([])
        elif head == "end":
            scopes.pop()
        elif head in _SCOPING:
            scopes[-1].append(line)
    return Preamble(None, "\n\n".join(lines), tuple(b for scope in sections for b in scope),
                    tuple(c for scope in scopes for c in scope))


def variable_binders(preamble: str) -> tuple[str, ...]:
    """The binders the preamble's `variable`s put in scope of the theorem (none when it is refused): they
    are hypotheses of the theorem too, and the hypothesis-rejection check must see them."""
    return preamble_commands(preamble, Policy()).variables
