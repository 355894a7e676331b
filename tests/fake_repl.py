#!/usr/bin/env python3
"""TEST DOUBLE of the Lean REPL (leanprover-community/repl): speaks its protocol on stdin/stdout.

Answers, in order of precedence:
- fault markers in the command (comments, so the soundness scan lets them through):
  `-- fake:hang`, `-- fake:die`, `-- fake:die-once=PATH` (dies unless PATH exists, creating it: once a test),
  `-- fake:garbage`, `-- fake:forge=ENV` (a forged answer printed first), `-- fake:grow=MB`, `-- fake:sleep=MS`,
  `-- fake:wait=PATH` (writes its pid to PATH.waiting, then answers once PATH exists: a state a test waits
  for, and the process a test may kill there),
  `-- fake:error=TEXT`, `-- fake:axioms=A,B` (what `#print axioms` will list for this declaration),
  `-- fake:info=TEXT` (an info message at the marker, as `trace "TEXT"` there prints),
  `-- fake:flood=MB` (an info message of MB megabytes of `{x} `, as a deep trace prints),
  `-- fake:late-blank` (the blank line after the answer held back until the next answer's),
  `-- fake:sorry-warning` (the warning without a `sorries` entry, as term-mode sorry in old REPLs);
- replay of real answers in tests/data/lean: kimina-match (by statement and proof) and the lean2021
  transcripts (by exact command, printed as the raw multi-line text);
- rules: `#eval Lean.versionString` → FAKE_REPL_LEAN_VERSION (default 4.26.0); `lemma` where no header
  imported Mathlib (its keyword) → a parse error; `by sorry` in a 2021 Lean (a version 4.0.0-...) → the
  parse error that Lean gave (the lean2021 transcripts); an identifier `undefined_...` → "unknown
  identifier"; scopes: `open undefined_…` → "unknown namespace", an identifier `opened_N` is unknown unless
  namespace N is open (in the command, or in the env it runs in: an env keeps the opens of the command that
  made it unless FAKE_REPL_SCOPES=reset, as the 2021 REPL), `#check X` answers for a declared X (`namespace N`
  … `def X`, seen through an open N); `sorry`/`admit` → a sorries entry and the warning; `#print axioms X` → what X used; otherwise
  no messages (proved). A command may end with `#print axioms X` lines after its declaration: one answer, one
  env, with the messages of each command at their positions in the whole text, as the real REPL answers;
- tactics (tests/fake_tactics.py, beside this file; a lone copy answers without them): the requests of the
  REPL's own test suite (tests/data/lean/repl-v4.26-tests) answered as recorded; otherwise a `by` proof's sorries carry their goals and proof states, `allTactics`
  lists its tactics (each line of a block one tactic), `-- fake:fail[=TEXT]` fails the tactic on its line,
  and tactic mode (`{"tactic", "proofState"}`) follows the simple rules documented there.
Environment: FAKE_REPL_LATENCY_MS ("200" or "50-500"), FAKE_REPL_SEED, FAKE_REPL_NO_REPLAY=1,
FAKE_REPL_SHARED (the folder holding lean/, default tests/data), FAKE_REPL_CRASH_EVERY=N (die on every Nth command),
FAKE_REPL_CARELESS_JSON=1 (decode `\\u00XY` escapes wrongly, as an older REPL's reader did),
FAKE_REPL_NO_POSITIONS=1 (messages without `pos`/`endPos`), FAKE_REPL_SYNTHETIC=1 (a statement of the synthetic
benchmark, flywheel/synthetic.py, known by its conclusion, is proved only by its reference proof or a one-word
tactic that closes its family on the real Lean, as tests/test_synthetic.py checks there; any other proof fails
with "unsolved goals").
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or imported, its sibling module
try:
    import fake_tactics
except ImportError:  # a lone copy of this file (the identity tests run one as a REPL binary): no tactic side
    fake_tactics = None

BASE_AXIOMS = ["propext", "Classical.choice", "Quot.sound"]
_MARK = re.compile(r"--\s*fake:([\w-]+)(?:=([^\n]*))?")
_NAME = re.compile(r"(?:theorem|lemma)\s+((?:«[^»]*»|[^\s«(\[{:])+)")  # `foo'`, `«my thm»`, `h.«x y»`
_UNKNOWN = re.compile(r"\bundefined_\w+")
_PRINT_AXIOMS = re.compile(r"(?m)^#print axioms[ \t]+(\S[^\n]*)$")
_OPEN = re.compile(r"(?m)^[ \t]*open[ \t]+([^\n]+)$")
_OPENED = re.compile(r"\bopened_(\w+)")
_SPACE = re.compile(r"(?m)^[ \t]*(namespace|end|def)[ \t]+([^\s:(]+)")


def _norm(text: str) -> str:
    return "".join(text.split())  # the verifier re-renders binders: spacing differs, tokens do not


def load_replay(shared: Path) -> tuple[dict, dict]:
    kimina: dict[str, dict] = {}
    exact: dict[str, str] = {}
    root = shared / "lean"
    for path in sorted((root / "kimina-match" / "input").glob("*.lean")):
        text = path.read_text(encoding="utf-8")
        out = json.loads((root / "kimina-match" / "output" / (path.stem + ".json")).read_text(encoding="utf-8"))
        result = out["results"][0]
        m = re.search(r"(?m)^theorem\s+\S+", text)
        if not m:
            continue
        body = text[m.end():]
        kimina[_norm(_strip_comments(body))] = {"error": result.get("error"), "response": result.get("response") or {}}
    for path in sorted((root / "lean2021").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            exact.setdefault(row["request"]["cmd"], row["raw_response"])
    return kimina, exact


@functools.lru_cache(maxsize=16)  # asked of one command by several rules
def _without_comments_and_strings(text: str) -> str:
    """What Lean's rules look at: the code, with string and char literals emptied and comments a space,
    read as today's Lean reads them (written from Lean.Parser.Basic, independently of flywheel's lexer):
    the character after `/-` is skipped before nesting is looked for; `/--` and `/-!` are tokens, followed
    by whitespace (comments included) before their body; `--` runs to a line feed; `r#"…"#` is raw; `'`
    opens a char literal unless a `'` follows or it ends an identifier (`h'`)."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "r" and (raw := _LEAN_RAW.match(text, i)):
            close = text.find('"' + raw.group(1), raw.end())
            i = n if close < 0 else close + 1 + len(raw.group(1))
            out.append('""')
        elif ident := _LEAN_IDENT.match(text, i):  # primes and all: `h'` is a name
            i = ident.end()
            out.append(ident.group(0))
        elif text.startswith("''", i):  # Mathlib's token (`f '' s`), never a char literal
            i += 2
            out.append("''")
        elif text.startswith("--", i):
            i = _line_end(text, i)
            out.append(" ")
        elif text.startswith("/-", i):
            i = _lean_comment_end(text, i)
            out.append(" ")
        elif ch == '"':
            m = _LEAN_STRING.match(text, i)
            i = m.end() if m else n
            out.append('""')
        elif char := _LEAN_CHAR.match(text, i):
            i = char.end()
            out.append(char.group(0))  # kept: `decide` reads `'c'.toNat` below
        else:
            out.append(ch)
            i += 1
    return "".join(out)


_LEAN_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_LEAN_RAW = re.compile(r'r(#*)"')
_LEAN_IDENT = re.compile(r"[^\W\d][\w'!?₀-₉ₐ-ₜᵢ-ᵪ]*")
_LEAN_CHAR = re.compile(r"""'(?:\\(?:[\\"'rnt]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})|[^\\'])'""", re.S)


def _line_end(text: str, i: int) -> int:
    j = text.find("\n", i)
    return len(text) if j < 0 else j


def _lean_comment_end(text: str, i: int) -> int:
    n = len(text)
    j = i + 2
    if text[j : j + 1] in ("-", "!"):  # a doc comment: the token, whitespace, then the body
        j += 1
        while True:
            while j < n and text[j] in " \t\r\n":
                j += 1
            if text.startswith("--", j):
                j = _line_end(text, j)
            elif text.startswith("/-", j) and text[j + 2 : j + 3] not in ("-", "!"):
                j = _comment_body_end(text, j + 3)
            else:
                break
    else:
        j += 1  # the character after `/-` is skipped
    return _comment_body_end(text, j)


def _comment_body_end(text: str, j: int) -> int:
    depth = 1
    while depth and j < len(text):
        if text.startswith("-/", j):
            depth, j = depth - 1, j + 2
        elif text.startswith("/-", j):
            depth, j = depth + 1, j + 2
        else:
            j += 1
    return j


def _strip_comments(text: str) -> str:
    text = re.sub(r"/-.*?-/", " ", text, flags=re.S)
    return re.sub(r"--[^\n]*", " ", text)


_SYNTHETIC: dict[str, tuple[str, tuple[str, ...]]] = {}


def _synthetic_refusal(cmd: str) -> str | None:
    """None: not a synthetic statement; "": proved; else the error. The proof must be the reference proof or
    a one-word tactic that closes the family, word for word."""
    if not _SYNTHETIC:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from flywheel.synthetic import ONE_WORD_CLOSES, generate

        for it in generate():
            conclusion = it.formal_statement.rsplit(" := ", 1)[0].rsplit(" : ", 1)[-1]
            accepted = (" ".join(it.proof.split()[1:]), *ONE_WORD_CLOSES[it.family])
            _SYNTHETIC[" ".join(conclusion.split())] = (it.family, accepted)
    decl = " ".join(cmd.split("\n#print", 1)[0].split())
    head, sep, proof = decl.partition(" := ")
    if not sep:
        return None
    for conclusion, (_family, accepted) in _SYNTHETIC.items():
        if head.endswith(": " + conclusion):
            words = proof.strip().removeprefix("(").removesuffix(")").split()
            return "" if words[:1] == ["by"] and " ".join(words[1:]) in accepted else "unsolved goals"
    return None


def _body_after_name(cmd: str) -> str | None:
    m = _NAME.search(cmd)
    if not m:
        return None
    body = _norm(_strip_comments(cmd[m.end():]))
    # The verifier sends `:= (proof\n)`; the recorded inputs say `:= proof`.
    at = body.find(":=(by")
    if at >= 0 and body.endswith(")"):
        body = body[: at + 2] + body[at + 3 : -1]
    return body


_CHAR_TO_NAT = re.compile(r"'(.)'\.toNat\s*=\s*(\d+)\s*:=\s*\(?\s*by\s+decide", re.S)
_U00 = re.compile(r"\\u00([0-9a-fA-F]{2})")


def careless_loads(raw: str) -> dict:
    """JSON as a careless reader decodes it (FAKE_REPL_CARELESS_JSON=1): `\\u00XY` escapes come out as
    another character, as in the older REPL where a statement checked was not the one sent."""
    return json.loads(_U00.sub(lambda m: "\\u%04x" % (int(m.group(1), 16) % 10), raw))


class Fake:
    def __init__(self) -> None:
        shared = Path(os.environ.get("FAKE_REPL_SHARED", Path(__file__).resolve().parent / "data"))
        replay = os.environ.get("FAKE_REPL_NO_REPLAY") != "1" and shared.is_dir()
        self.kimina, self.exact = load_replay(shared) if replay else ({}, {})
        transcripts = shared / "lean" / "repl-v4.26-tests" / "test"
        self.commands, self.steps = fake_tactics.load_transcripts(transcripts) if replay and fake_tactics else ({}, {})
        self.states: dict[int, list[str]] = {}  # proof state → its goals
        self.histories: dict[int, tuple[str, ...]] = {}  # env → the commands that made it
        self.envs: dict[int, dict[str, list[str]]] = {}
        self.next_env = 0
        self.rng = random.Random(int(os.environ.get("FAKE_REPL_SEED", "0")) + os.getpid())
        self.latency = os.environ.get("FAKE_REPL_LATENCY_MS", "")
        self.crash_every = int(os.environ.get("FAKE_REPL_CRASH_EVERY", "0"))
        self.count = 0
        self.hoard: list[bytearray] = []
        self.version = os.environ.get("FAKE_REPL_LEAN_VERSION", "4.26.0")
        self.mathlib: set[int] = set()  # the envs that descend from an `import Mathlib`
        self.scopes: dict[int, frozenset[str]] = {}  # env -> the namespaces open in it
        self.carry = os.environ.get("FAKE_REPL_SCOPES") != "reset"

    def _sleep(self) -> None:
        if not self.latency:
            return
        lo, _, hi = self.latency.partition("-")
        ms = self.rng.uniform(float(lo), float(hi or lo))
        time.sleep(ms / 1000)

    def _new_env(self, parent: int | None, decls: dict[str, list[str]]) -> int:
        env = self.next_env
        self.next_env += 1
        self.envs[env] = dict(self.envs.get(parent, {})) | decls
        if parent in self.mathlib:
            self.mathlib.add(env)
        return env

    def fresh_state(self, goals: list[str]) -> int:
        self.states[len(self.states)] = list(goals)
        return len(self.states) - 1

    def step(self, req: dict) -> dict:
        """Tactic mode: a recorded answer for these goals and this tactic, else the rules (fake_tactics)."""
        goals = self.states.get(req.get("proofState"))
        if goals is None or fake_tactics is None:
            return {"message": "Unknown proof state."}
        recorded = self.steps.get(fake_tactics.step_key(goals, req.get("tactic", "")))
        if recorded is not None:
            return fake_tactics.renumber(recorded, self.fresh_state)
        return fake_tactics.step(goals, req.get("tactic", ""), self.fresh_state)

    def answer(self, req: dict) -> str | dict:
        if "tactic" in req:
            self.count += 1
            return self.step(req)
        cmd, env = req.get("cmd", ""), req.get("env")
        self.count += 1
        marks = {k: (v or "").strip() for k, v in _MARK.findall(cmd)}
        if "hang" in marks:
            time.sleep(3600)
        if "die" in marks or (self.crash_every and self.count % self.crash_every == 0):
            os._exit(3)
        if "die-once" in marks and not os.path.exists(marks["die-once"]):
            Path(marks["die-once"]).touch()
            os._exit(3)
        if "garbage" in marks:
            return "this is not json {{{\n"
        if "forge" in marks:  # code that prints an answer of its own to stdout before Lean's
            sys.stdout.write(json.dumps({"messages": [], "env": int(marks["forge"] or 7777)}) + "\n\n")
            sys.stdout.flush()
            time.sleep(0.3)  # so that the reader sees it alone, as the whole answer
        if "grow" in marks:
            self.hoard.append(bytearray(int(marks["grow"]) * 2**20))
        if "sleep" in marks:
            time.sleep(float(marks["sleep"]) / 1000)
        if "wait" in marks:  # a gate: say so beside PATH (PATH.waiting, our pid), then hold until the test makes PATH
            gate = Path(marks["wait"])
            said = Path(f"{gate}.waiting.{os.getpid()}")
            said.write_text(str(os.getpid()))
            said.replace(f"{gate}.waiting")  # whole or not there: a test reads the pid once the file exists
            while not gate.exists():
                time.sleep(0.02)
        if cmd in self.exact:
            raw_env = json.loads(self.exact[cmd]).get("env")
            if isinstance(raw_env, int):  # the env it names exists from now on
                self.envs.setdefault(raw_env, {})
                self.next_env = max(self.next_env, raw_env + 1)
            return self.exact[cmd]
        if env is not None and env not in self.envs:
            return {"message": "Unknown environment."}
        recorded = self.commands.get(fake_tactics.command_key(req, self.histories.get(env, ()))) if self.commands else None
        if recorded is not None:
            out = fake_tactics.renumber(recorded, self.fresh_state)
            out["env"] = self._new_env(env, {})
            return out
        scoped = self._scoped(cmd, env)
        if scoped is not None:
            return scoped
        if cmd.lstrip().startswith("import"):
            new = self._new_env(None, {})
            if re.search(r"(?m)^import\s+Mathlib\b", cmd):
                self.mathlib.add(new)
            return {"env": new}
        if cmd.strip() == "#eval Lean.versionString":
            return {"messages": [{"severity": "info", "pos": {"line": 1, "column": 0}, "endPos": {"line": 1, "column": 5},
                                  "data": json.dumps(self.version)}], "env": self._new_env(env, {})}
        self._sleep()
        prints = list(_PRINT_AXIOMS.finditer(cmd))
        head = cmd[: prints[0].start()] if prints else cmd
        if head.strip():
            out = self._check(head, env, marks)
            if "info" in marks:  # what the proof itself prints (`trace`), at the marker
                at = next(m.start() for m in _MARK.finditer(cmd) if m.group(1) == "info")
                out["messages"].insert(0, {"severity": "info", "pos": _pos(cmd, at), "endPos": _pos(cmd, at + 2),
                                           "data": marks["info"]})
            if "flood" in marks:  # a message of MB megabytes, `{x} ` over and over (a deep trace, a huge term)
                at = next(m.start() for m in _MARK.finditer(cmd) if m.group(1) == "flood")
                text = "{x} " * int(float(marks["flood"]) * 2**18)
                out["messages"].insert(0, {"severity": "info", "pos": _pos(cmd, at), "endPos": _pos(cmd, at + 2),
                                           "data": text})
        else:
            out = {"messages": [], "env": self._new_env(env, {})}
        # the model only adds sorries (where Lean met some, or failed) and tactics (when asked): else it is skipped
        wanted = req.get("allTactics") or out.get("sorries") or any(m.get("severity") == "error"
                                                                    for m in out.get("messages", []))
        proof = fake_tactics.model(head) if wanted and head.strip() and fake_tactics else None
        if proof is not None:
            self._with_tactics(head, req, proof, out)
        for m in prints:  # each in the env the whole command made, at its own line
            out["messages"].append(self._print_axioms(m.group(1).strip(), out["env"], _pos(cmd, m.start())))
        return out

    def scope_of(self, cmd: str, env: int | None) -> frozenset[str]:
        """The namespaces open after cmd in env: the env's (unless FAKE_REPL_SCOPES=reset: an env keeps its
        declarations, not its opens, as the 2021 REPL) and the command's own `open` lines."""
        carried = self.scopes.get(env, frozenset()) if self.carry else frozenset()
        code = _without_comments_and_strings(cmd)
        return carried | {n.strip("«»") for m in _OPEN.finditer(code) for n in m.group(1).split() if n != "scoped"}

    def _scoped(self, cmd: str, env: int | None) -> dict | None:
        """The answer of the scope rules, or None: `open undefined_…` → unknown namespace; `#check X` → X, or X
        in an open namespace, declared (by `namespace N … def X`); `opened_N` → unknown unless N is open."""
        code = _without_comments_and_strings(cmd)
        scope = self.scope_of(cmd, env)
        for m in _OPEN.finditer(code):
            bad = next((n.strip("«»") for n in m.group(1).split() if n.strip("«»").startswith("undefined")), None)
            if bad:
                return self._error(cmd, m.start(), f"unknown namespace '{bad}'", env)
        check = re.fullmatch(r"\s*#check\s+(\S+)\s*", code)
        if check:
            name, decls = check.group(1), self.envs.get(env, {})
            if name in decls or any(f"{ns}.{name}" in decls for ns in scope):
                return {"messages": [{"severity": "info", "pos": _pos(cmd, 0), "endPos": _pos(cmd, 6),
                                      "data": f"{name} : Nat"}], "env": self._new_env(env, {})}
            return self._error(cmd, check.start(1), f"unknown identifier '{name}'", env)
        for m in _OPENED.finditer(code):
            if m.group(1) not in scope:
                return self._error(cmd, m.start(), f"unknown identifier '{m.group()}'", env)
        return None

    def declare(self, cmd: str, env: int) -> None:
        """The command's `def`s (under its `namespace`s) are declared in the env it made."""
        space: list[str] = []
        for m in _SPACE.finditer(_without_comments_and_strings(cmd)):
            if m.group(1) == "namespace":
                space.append(m.group(2))
            elif m.group(1) == "end" and space:
                space.pop()
            elif m.group(1) == "def":
                self.envs.setdefault(env, {}).setdefault(".".join(space + [m.group(2)]), [])

    def _error(self, cmd: str, at: int, text: str, env: int | None) -> dict:
        pos = _pos(cmd, at)
        return {"messages": [{"severity": "error", "pos": pos, "endPos": None, "data": text}],
                "env": self._new_env(env, {})}

    def _with_tactics(self, cmd: str, req: dict, proof, out: dict) -> None:
        """The sorries (with their goals) and the tactics (`allTactics`) of a `by` proof, by fake_tactics' rules."""
        sorries, tactics = fake_tactics.rendered(cmd, proof, self.fresh_state)
        failed = any(m.get("severity") == "error" for m in out.get("messages", []))
        if sorries and (out.get("sorries") or failed):  # Lean lists the sorries it met, errors or not
            out["sorries"] = sorries
        if req.get("allTactics") and tactics:
            out["tactics"] = tactics

    def _print_axioms(self, name: str, env: int, pos: dict) -> dict:
        axioms = self.envs.get(env, {}).get(name)
        line = pos["line"]
        if axioms is None:
            return {"severity": "error", "pos": {"line": line, "column": 14}, "endPos": None,
                    "data": f"unknown constant '{name}'"}
        data = (f"'{name}' depends on axioms: [{', '.join(axioms)}]" if axioms
                else f"'{name}' does not depend on any axioms")
        return {"severity": "info", "pos": pos, "endPos": {"line": line, "column": 13}, "data": data}

    def _check(self, cmd: str, env: int | None, marks: dict) -> dict:
        name_m = _NAME.search(cmd)
        name = name_m.group(1) if name_m else "_example"
        body = _body_after_name(cmd)
        replay = self.kimina.get(body) if body is not None else None
        if replay is not None:
            if replay["error"]:
                time.sleep(3600)  # the real run timed out
            resp = dict(replay["response"])
            resp.pop("time", None)
            msgs = list(resp.get("messages", []))
            if any(m.get("severity") == "error" for m in msgs):
                return {"messages": msgs, "env": self._new_env(env, {})}
            return {"messages": msgs, "env": self._new_env(env, {name: list(BASE_AXIOMS)})}
        code = _without_comments_and_strings(cmd)
        parse_error = None
        if env not in self.mathlib and re.match(r"\s*lemma\b", code):
            parse_error = (re.match(r"\s*", code).end(), "unexpected identifier; expected command")
        elif self.version.startswith("4.0.0-") and re.search(r"\bby\s+sorry\b", code):
            parse_error = (re.search(r"\bby\s+sorry\b", code).end() - 5, "expected '{' or tactic")
        if parse_error is not None:
            at, text = parse_error
            line, col = cmd.count("\n", 0, at) + 1, at - (cmd.rfind("\n", 0, at) + 1)
            return {"messages": [{"severity": "error", "pos": {"line": line, "column": col}, "endPos": None, "data": text}],
                    "env": self._new_env(env, {})}
        proof = fake_tactics.model(cmd) if "fail" in marks and fake_tactics else None
        if proof is not None and proof.errors:
            return {"messages": proof.errors, "env": self._new_env(env, {})}
        if "error" in marks:
            last = cmd.count("\n", 0, cmd.find("fake:error")) + 1  # the marker's own line
            return {"messages": [{"severity": "error", "pos": {"line": last, "column": 2}, "endPos": {"line": last, "column": 8},
                                  "data": marks["error"] or "unsolved goals"}], "env": self._new_env(env, {})}
        if os.environ.get("FAKE_REPL_SYNTHETIC") and (refused := _synthetic_refusal(cmd)) is not None:
            if refused:
                return {"messages": [{"severity": "error", "pos": {"line": 1, "column": 0}, "endPos": None,
                                      "data": refused}], "env": self._new_env(env, {})}
            return {"messages": [], "env": self._new_env(env, {name: []})}
        unknown = _UNKNOWN.search(code)
        if unknown:  # as Lean says of a name it does not know (markers in a statement do not survive rendering)
            line = cmd.count("\n", 0, unknown.start()) + 1
            col = unknown.start() - (cmd.rfind("\n", 0, unknown.start()) + 1)
            return {"messages": [{"severity": "error", "pos": {"line": line, "column": col},
                                  "endPos": {"line": line, "column": col + len(unknown.group())},
                                  "data": f"unknown identifier '{unknown.group()}'"}], "env": self._new_env(env, {})}
        axioms = [a for a in marks.get("axioms", "").split(",") if a] or list(BASE_AXIOMS)
        char = _CHAR_TO_NAT.search(code)
        if char and ord(char.group(1)) != int(char.group(2)):  # `decide` evaluates `'c'.toNat = n`
            return {"messages": [{"severity": "error", "pos": {"line": 1, "column": 0}, "endPos": None,
                                  "data": "decide failed: the proposition evaluates to false"}], "env": self._new_env(env, {})}
        sorry_at = re.search(r"\b(sorry|admit)\b", code)
        if sorry_at or "sorry-warning" in marks:
            line = cmd.count("\n", 0, sorry_at.start()) + 1 if sorry_at else 1
            warning = {"severity": "warning", "pos": {"line": 1, "column": 8}, "endPos": {"line": 1, "column": 8 + len(name)},
                       "data": "declaration uses 'sorry'"}
            sorries = [] if not sorry_at else [{"pos": {"line": line, "column": 2}, "endPos": {"line": line, "column": 7},
                                               "goal": "⊢ goal", "proofState": self.fresh_state(["⊢ goal"])}]
            return {"sorries": sorries, "messages": [warning], "env": self._new_env(env, {name: axioms + ["sorryAx"]})}
        if "native_decide" in code:
            axioms = axioms + ["Lean.ofReduceBool"]
        return {"messages": [], "env": self._new_env(env, {name: axioms})}


def _pos(text: str, at: int) -> dict:
    return {"line": text.count("\n", 0, at) + 1, "column": at - (text.rfind("\n", 0, at) + 1)}


def _without_positions(answer: dict) -> dict:
    for m in answer.get("messages", []):
        m.pop("pos", None)
        m.pop("endPos", None)
    return answer


def requests(stream):
    """Commands are JSON objects separated by blank lines."""
    buf: list[str] = []
    for line in stream:
        if line.strip():
            buf.append(line)
            continue
        if buf:
            yield "".join(buf)
            buf = []
    if buf:
        yield "".join(buf)


def main() -> int:
    fake = Fake()
    blank = ""
    for raw in requests(sys.stdin):
        try:
            req = careless_loads(raw) if os.environ.get("FAKE_REPL_CARELESS_JSON") == "1" else json.loads(raw)
        except json.JSONDecodeError:
            print(json.dumps({"message": "Could not parse JSON"}), flush=True)
            continue
        out = fake.answer(req)
        if isinstance(out, dict) and isinstance(out.get("env"), int) and "cmd" in req:
            fake.histories[out["env"]] = fake.histories.get(req.get("env"), ()) + (req["cmd"],)
            fake.scopes[out["env"]] = fake.scope_of(req["cmd"], req.get("env"))
            fake.declare(req["cmd"], out["env"])
        if isinstance(out, dict) and os.environ.get("FAKE_REPL_NO_POSITIONS") == "1":
            out = _without_positions(out)
        late = "fake:late-blank" in req.get("cmd", "")  # the blank line held back until the next answer
        sys.stdout.write(blank + (out if isinstance(out, str) else json.dumps(out, ensure_ascii=False))
                         + ("" if late else "\n\n"))
        blank = "\n\n" if late else ""
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
