"""The Lean REPL's JSON protocol (leanprover-community/repl): typed shapes and an incremental reader.

Commands go in as one JSON object followed by a blank line. An answer is one JSON object that may span
several lines; the blank line after it may come only before the next answer, so the reader hands an
answer over as soon as its object is complete.
"""

from __future__ import annotations

import json
import re
from typing import NotRequired, TypedDict


class Pos(TypedDict):
    line: int
    column: int


class Message(TypedDict):
    severity: str  # "error" | "warning" | "info"
    pos: Pos
    endPos: Pos | None
    data: str


class Sorry(TypedDict):
    pos: Pos
    endPos: Pos | None
    goal: str
    proofState: NotRequired[int]


class Tactic(TypedDict):
    """One tactic of a command sent with `allTactics`: `goals` are the goals before it, pretty-printed and
    joined by a blank line ("no goals" when none)."""
    pos: Pos
    endPos: Pos
    goals: str
    tactic: str
    proofState: NotRequired[int]
    usedConstants: NotRequired[list[str]]


class Command(TypedDict):
    cmd: str
    env: NotRequired[int]
    allTactics: NotRequired[bool]
    infotree: NotRequired[str]  # "full" | "tactics" | "original" | "substantive"
    rootGoals: NotRequired[bool]


class ProofStep(TypedDict):
    """Tactic mode: run a tactic on a proof state a `sorry` (or an earlier step) left."""
    tactic: str
    proofState: int


class Answer(TypedDict, total=False):
    env: int
    messages: list[Message]
    sorries: list[Sorry]
    tactics: list[Tactic]
    infotree: list[dict]
    message: str  # the REPL's own error, e.g. "Unknown environment."
    time: float


class StepAnswer(TypedDict, total=False):
    """The answer to a ProofStep; an error of the REPL's own is {"message": ...} alone."""
    proofState: int
    goals: list[str]
    proofStatus: str  # "Completed", "Incomplete: open goals remain", "Incomplete: contains sorry", ...
    messages: list[Message]
    sorries: list[Sorry]
    traces: list[str]
    message: str


class ProtocolError(Exception):
    """The REPL printed something that is not an answer."""


def encode(cmd: str, env: int | None = None, options: dict | None = None) -> bytes:
    """options: the command's own options (`allTactics`, `infotree`, `rootGoals`)."""
    request: dict = {"cmd": cmd}
    if env is not None:
        request["env"] = env
    request.update(options or {})
    return (json.dumps(request, ensure_ascii=False) + "\n\n").encode("utf-8")


def encode_step(tactic: str, proof_state: int) -> bytes:
    request: ProofStep = {"tactic": tactic, "proofState": proof_state}
    return (json.dumps(request, ensure_ascii=False) + "\n\n").encode("utf-8")


_NON_SPACE = re.compile(r"\S")
_IN_STRING = re.compile(r'["\\]')
_OUTSIDE = re.compile(r'[{}"]')


class AnswerReader:
    """Feed text as it arrives; take() returns each complete answer object once."""

    def __init__(self) -> None:
        self._buf = ""
        self._scan = 0  # where the brace scan goes on
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._start = -1

    def feed(self, text: str) -> list[Answer]:
        self._buf += text
        out: list[Answer] = []
        while True:
            answer = self._next()
            if answer is None:
                return out
            out.append(answer)

    def pending(self) -> str:
        return self._buf

    def _next(self) -> Answer | None:
        """Scan on from where the last feed stopped, jumping between the characters that matter (braces
        and quotes outside strings, quotes and backslashes inside), so long answers cost little."""
        buf = self._buf
        i = self._scan
        while i < len(buf):
            if self._start < 0:
                m = _NON_SPACE.search(buf, i)
                if m is None:
                    i = len(buf)
                    break
                i = m.start()
                if buf[i] != "{":
                    raise ProtocolError(f"expected a JSON object from the REPL, got {buf[i:i + 80]!r}")
                self._start, self._depth = i, 0
            if self._escape:  # the character after a backslash in a string
                self._escape = False
                i += 1
                continue
            m = (_IN_STRING if self._in_string else _OUTSIDE).search(buf, i)
            if m is None:
                i = len(buf)
                break
            i = m.start()
            ch = buf[i]
            if self._in_string:
                self._escape = ch == "\\"
                self._in_string = self._escape
            elif ch == '"':
                self._in_string = True
            elif ch == "{":
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    raw = buf[self._start : i + 1]
                    self._buf, self._scan, self._start = buf[i + 1 :], 0, -1
                    try:
                        value = json.loads(raw)
                    except json.JSONDecodeError as e:
                        raise ProtocolError(f"the REPL printed invalid JSON: {e}") from e
                    return value
            i += 1
        self._scan = i
        return None
