"""TEST DOUBLE, part of tests/fake_repl.py: the tactic side of the fake Lean REPL.

Replay: every request of the REPL's own test suite at v4.26 (tests/data/lean/repl-v4.26-tests) is answered
as recorded when it comes again: a command by its text and options (`allTactics`, `infotree`, `rootGoals`),
a tactic by its text and the goals of the proof state it runs on. Env and proof-state numbers are this
process's own, given in the order the real REPL gave its own.

Rules, where nothing was recorded (a theorem whose proof is `by` and a block of tactics):
- each line of a `by` block is one tactic, spanning the line without its trailing comment; a line ending
  in `by` opens a block of the lines indented deeper under it (the tactic spans them), and the text after
  an inline `by` is one tactic more;
- the goal of a block is the theorem's binders as hypotheses (`[Foo α]` as `inst✝ : Foo α`), then each
  `have NAME : P` run before in the block or an enclosing one, then `⊢` and the conclusion, or P inside
  `have NAME : P := by`; a `sorry` has the goal of the block it stands in (`⊢ P` for `have h : P := sorry`);
- `-- fake:fail` (or `-- fake:fail=TEXT`) on a line makes its innermost tactic fail with an error at its span
  (listed, then nothing more of its block runs; an enclosing block goes on, as Lean's recovery does);
- tactic mode: `sorry` closes the first goal with a sorry, `have NAME : P := ...` adds `NAME : P` to it (a
  sorry in it is a sorry of goal `⊢ P`), a tactic with `fake:fail` or an `undefined_` name fails as
  `invalid_tactic` shows, any other tactic closes the first goal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_OPTIONS = ("allTactics", "infotree", "rootGoals")
_HAVE = re.compile(r"\s*(?:·\s*)?have\s+([^\s:]+)\s*:\s*(.+?)\s*:=(?!.*:=)")
_SORRY = re.compile(r"(?<![\w.'])sorry(?![\w'])")
_FAIL = re.compile(r"--\s*fake:fail(?:=([^\n]*))?")
_OPEN = {"(": ")", "[": "]", "{": "}", "⟨": "⟩", "⦃": "⦄"}


def command_key(req: dict, history: tuple[str, ...]) -> str:
    """A command by its text, its options and the commands that made the env it runs in (`set_option`s there
    change the answer)."""
    return json.dumps([list(history), req.get("cmd")] + [req.get(k) for k in _OPTIONS], ensure_ascii=False)


def step_key(goals: list[str], tactic: str) -> str:
    return json.dumps([goals, tactic], ensure_ascii=False)


def _blocks(text: str) -> list[str]:
    return [b for b in re.split(r"\n\s*\n(?=\s*\{)", text.strip()) if b.strip()]


def load_transcripts(root: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """(answers by command, answers by (goals, tactic)) from every `.in` with its `.expected.out`."""
    commands: dict[str, dict] = {}
    steps: dict[str, dict] = {}
    for path in sorted(root.rglob("*.in")):
        out = path.with_name(path.stem + ".expected.out")
        if not out.is_file():
            continue
        try:  # raw line breaks inside strings, as some of these tests send on purpose
            requests = [json.loads(b, strict=False) for b in _blocks(path.read_text(encoding="utf-8"))]
            answers = [json.loads(b, strict=False) for b in _blocks(out.read_text(encoding="utf-8"))]
        except json.JSONDecodeError:
            continue  # a test of malformed input
        if len(requests) != len(answers):
            continue
        states: dict[int, list[str]] = {}
        histories: dict[int, tuple[str, ...]] = {}
        for req, ans in zip(requests, answers):
            if "cmd" in req and isinstance(ans.get("env"), int):
                histories[ans["env"]] = histories.get(req.get("env"), ()) + (req["cmd"],)
            if "cmd" in req and not req["cmd"].lstrip().startswith("import"):
                commands.setdefault(command_key(req, histories.get(req.get("env"), ())), ans)
            elif "tactic" in req and req.get("proofState") in states:
                steps.setdefault(step_key(states[req["proofState"]], req["tactic"]), ans)
            states.update(states_of(ans))
    return commands, steps


def states_of(answer: dict) -> dict[int, list[str]]:
    """The proof states an answer made, with their goals."""
    made = {s["proofState"]: [s["goal"]] for s in answer.get("sorries", []) if "proofState" in s}
    for t in answer.get("tactics", []):
        if "proofState" in t:
            made[t["proofState"]] = [g for g in t["goals"].split("\n\n") if g and g != "no goals"]
    if isinstance(answer.get("proofState"), int):
        made[answer["proofState"]] = list(answer.get("goals", []))
    return made


def renumber(answer: dict, fresh) -> dict:
    """The answer with its proof states numbered by fresh(goals), in the order the real REPL numbered them."""
    made = states_of(answer)
    new = {old: fresh(made[old]) for old in sorted(made)}
    answer = json.loads(json.dumps(answer))
    for item in answer.get("sorries", []) + answer.get("tactics", []):
        if "proofState" in item:
            item["proofState"] = new[item["proofState"]]
    if isinstance(answer.get("proofState"), int):
        answer["proofState"] = new[answer["proofState"]]
    return answer


# the rule-based model of a proof
def _pos(text: str, at: int) -> dict:
    return {"line": text.count("\n", 0, at) + 1, "column": at - (text.rfind("\n", 0, at) + 1)}


def _code_end(line: str) -> int:
    """Where a line's code ends: before its trailing `--` comment and spaces."""
    at = line.find("--")
    return len((line if at < 0 else line[:at]).rstrip())


def _top_level(text: str, what: str, start: int = 0) -> int:
    depth = 0
    for i in range(start, len(text)):
        ch = text[i]
        if ch in _OPEN:
            depth += 1
        elif ch in _OPEN.values():
            depth -= 1
        elif depth == 0 and text.startswith(what, i) and not (what == ":" and text.startswith(":=", i)):
            return i
    return -1


def _hypotheses(binders: str) -> list[str]:
    hyps, i = [], 0
    while i < len(binders):
        ch = binders[i]
        if ch not in _OPEN:
            i += 1
            continue
        depth, j = 0, i
        while j < len(binders):
            depth += binders[j] in _OPEN
            depth -= binders[j] in _OPEN.values()
            if depth == 0:
                break
            j += 1
        inner = " ".join(binders[i + 1 : j].split())
        colon = _top_level(inner, ":")
        if colon < 0:
            hyps.append(f"inst✝ : {inner}" if ch == "[" else inner)
        else:
            hyps.append(f"{inner[:colon].strip()} : {inner[colon + 1:].strip()}")
        i = j + 1
    return hyps


@dataclass
class _Block:
    column: int
    hyps: list[str]
    target: str
    opener: dict | None = None  # the tactic whose `by` opened it
    failed: bool = False
    last_end: int = 0  # where its last tactic ends

    def goal(self) -> str:
        return "\n".join(self.hyps + [f"⊢ {self.target}"])


@dataclass
class Model:
    tactics: list[dict] = field(default_factory=list)  # with "goals" as a list, before renumbering
    sorries: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)


def _have(text: str) -> tuple[str, str] | None:
    m = _HAVE.match(text)
    return (m.group(1), " ".join(m.group(2).split())) if m else None


def model(cmd: str) -> Model | None:
    """The tactics, sorries and failures of the theorem in cmd whose proof is a `by` block, by the rules above."""
    m = re.search(r"(?:theorem|lemma|example)\b\s*(?:[^\s(\[{:]+)?", cmd)
    if not m:
        return None
    colon = _top_level(cmd, ":", m.end())
    assign = _top_level(cmd, ":=", colon + 1) if colon >= 0 else -1
    by = re.match(r"\s*\(?\s*by\b", cmd[assign + 2 :]) if assign >= 0 else None
    if by is None:
        return None
    out = Model()
    main = _Block(-1, _hypotheses(cmd[m.end() : colon]), " ".join(cmd[colon + 1 : assign].split()))
    _run(cmd, assign + 2 + by.end(), main, out)
    return out


def _lines(cmd: str, start: int) -> list[tuple[int, int, int]]:
    """(start, code end, column) of each line of code from start on; the first may begin mid-line."""
    out, at = [], start
    while at < len(cmd):
        nl = cmd.find("\n", at)
        nl = len(cmd) if nl < 0 else nl
        line = cmd[at:nl]
        end = _code_end(line)
        lead = len(line) - len(line.lstrip())
        if end > lead:
            out.append((at + lead, at + end, at + lead - (cmd.rfind("\n", 0, at + lead) + 1)))
        at = nl + 1
    return out


def _run(cmd: str, start: int, main: _Block, out: Model) -> None:
    stack = [main]
    for begin, end, col in _lines(cmd, start):
        while len(stack) > 1 and col < stack[-1].column:
            _close(stack)
        block = stack[-1]
        if block.column < 0:
            block.column = col
        if col < block.column:
            break  # the verifier's closing parenthesis, or the next command
        block.last_end = end  # the syntax spans it, run or not
        if col > block.column or block.failed:  # a continuation of the tactic before, or a block given up
            if out.tactics and not block.failed:
                out.tactics[-1]["end"] = end
            continue
        _line(cmd, begin, end, stack, out)
    while len(stack) > 1:
        _close(stack)


def _line(cmd: str, begin: int, end: int, stack: list[_Block], out: Model) -> None:
    """The tactic on one line of the block on top of the stack (and the one after an inline `by`)."""
    block = stack[-1]
    text = cmd[begin:end]
    tactic = {"begin": begin, "end": end, "goals": [block.goal()], "tactic": text}
    out.tactics.append(tactic)
    have = _have(text)
    own = _Block(0, list(block.hyps), have[1] if have else block.target)  # the goal of what follows its `:=`
    eol = cmd.find("\n", end)
    failing = _FAIL.search(cmd, end, len(cmd) if eol < 0 else eol)
    inline = re.search(r"\bby\s+(\S)", text)
    if inline is not None:  # `have h : P := by tac`: tac is a tactic of its own, on P
        sub = {"begin": begin + inline.start(1), "end": end, "goals": [own.goal()], "tactic": text[inline.start(1):]}
        out.tactics.append(sub)
        _sorries(cmd, sub, own, out)
        if failing:  # Lean gives the `by` term up and goes on with the block
            _fail(cmd, sub, failing, out)
    else:
        _sorries(cmd, tactic, own if have else block, out)
        if failing:
            _fail(cmd, tactic, failing, out)
            block.failed = True
    if text.endswith("by") and inline is None:
        stack.append(_Block(-1, list(block.hyps), own.target, tactic))
    if have is not None:
        block.hyps.append(f"{have[0]} : {have[1]}")


def _close(stack: list[_Block]) -> None:
    """The block on top ends: the tactic that opened it spans it."""
    block = stack.pop()
    if block.opener is not None and block.last_end > block.opener["end"]:
        block.opener["end"] = block.last_end
        stack[-1].last_end = max(stack[-1].last_end, block.last_end)


def _sorries(cmd: str, tactic: dict, block: _Block, out: Model) -> None:
    for s in _SORRY.finditer(cmd, tactic["begin"], tactic["end"]):
        out.sorries.append({"begin": s.start(), "end": s.end(), "goal": block.goal()})


def _fail(cmd: str, tactic: dict, marker: re.Match, out: Model) -> None:
    out.errors.append({"severity": "error", "pos": _pos(cmd, tactic["begin"]), "endPos": _pos(cmd, tactic["end"]),
                       "data": (marker.group(1) or "").strip() or "linarith failed"})


def rendered(cmd: str, m: Model, fresh) -> tuple[list[dict], list[dict]]:
    """(sorries, tactics) as the REPL answers them: sorries numbered first, then tactics, each a proof state."""
    sorries = [{"proofState": fresh([s["goal"]]), "pos": _pos(cmd, s["begin"]), "goal": s["goal"],
                "endPos": _pos(cmd, s["end"])} for s in m.sorries]
    tactics = [{"usedConstants": [], "tactic": cmd[t["begin"]:t["end"]], "proofState": fresh(t["goals"]),
                "pos": _pos(cmd, t["begin"]), "goals": "\n\n".join(t["goals"]) or "no goals",
                "endPos": _pos(cmd, t["end"])} for t in sorted(m.tactics, key=lambda t: t["begin"])]
    return sorries, tactics


def step(goals: list[str], tactic: str, fresh) -> dict:
    """Tactic mode by the rules above, on a proof state with these goals."""
    if _FAIL.search(tactic) or re.search(r"\bundefined_\w+", tactic):
        return {"proofStatus": "Incomplete: contains sorry", "proofState": fresh([]),
                "messages": [{"severity": "error", "pos": {"line": 0, "column": 0}, "endPos": {"line": 0, "column": 0},
                              "data": (_FAIL.search(tactic) and _FAIL.search(tactic).group(1)) or "tactic failed"}],
                "goals": []}
    if not goals:
        return {"message": "Lean error:\nno goals to be proved"}
    first, rest = goals[0], goals[1:]
    hyps, _, target = first.rpartition("⊢ ")
    answer: dict = {}
    have = _have(tactic)
    if have is not None:
        if _SORRY.search(tactic):
            answer["sorries"] = [{"proofState": fresh([f"{hyps}⊢ {have[1]}"]), "goal": f"{hyps}⊢ {have[1]}"}]
        left = [f"{hyps}{have[0]} : {have[1]}\n⊢ {target}"] + rest
    else:
        if _SORRY.search(tactic):
            answer["sorries"] = [{"proofState": fresh([first]), "goal": first}]
        left = rest
    status = ("Completed" if not left and "sorries" not in answer
              else "Incomplete: contains sorry" if not left else "Incomplete: open goals remain")
    return answer | {"proofStatus": status, "proofState": fresh(left), "goals": left}
