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


def shifted(answer: Answer, lines: int) -> Answer:
    """The answer with every position (messages, sorries, tactics, infotree nodes) moved up by `lines`: the
    answer to code sent after a prefix of that many lines, as if it had been sent alone. A message about the
    prefix itself (at or before its last line) is kept only when it is an error: the prefix was checked alone
    before, so anything else there is its own news, not the code's."""
    def move(value):
        if isinstance(value, dict):
            if isinstance(value.get("line"), int) and "column" in value:
                return {**value, "line": value["line"] - lines}
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        return value

    def in_prefix(m: dict) -> bool:
        line = (m.get("pos") or {}).get("line")
        return isinstance(line, int) and line <= lines and m.get("severity") != "error"

    out = move(answer)
    if "messages" in out:
        out["messages"] = [m for m, raw in zip(out["messages"], answer["messages"]) if not in_prefix(raw)]
    return out


_NON_SPACE = re.compile(r"\S")
# Past this many characters an answer's closing braces are decoded as the text doubles (AnswerReader).
DEFER_FROM = 1 << 16
_DECODER = json.JSONDecoder()


class AnswerReader:
    """Feed text as it arrives; feed() returns each complete answer object once.

    No character is looked at in Python: an answer is decoded (json's C scanner) when the text so far ends
    with a closing brace or holds a blank line, the two ways an answer ends. A decode that fails at a closing
    brace is an answer cut inside (more text is due); one that fails where a blank line has come is garbage.
    Text is joined only when an answer may have ended, and past DEFER_FROM characters a closing brace is
    decoded at once only when the text has doubled since the last decode found it cut short; otherwise
    `deferred` is set and the owner calls settle() once the text stops coming. So an answer of n characters
    costs O(n) however its reads fall, not a copy and a decode a read."""

    def __init__(self) -> None:
        self._buf = ""  # text joined so far
        self._parts: list[str] = []  # text fed since, not joined yet
        self._scan = 0  # where the search for a blank line goes on
        self._last = ""  # the last character fed
        self._cut = 0  # the text's length when a decode last found it cut short (0: none since an answer)
        self.deferred = False  # a closing brace came and its decode was put off: settle() does it
        self._opened = False  # the answer under way has shown its opening brace

    def feed(self, text: str) -> list[Answer]:
        if not text:
            return []
        blank_across = self._last == "\n" and text[0] == "\n"
        self._last = text[-1]
        self._parts.append(text)
        if blank_across or "\n\n" in text or text.rstrip(" \t\r\n").endswith("}"):
            return self._drain(force=False)
        if not self._opened and (m := _NON_SPACE.search(text)):  # garbage is said at once, not at its end
            if text[m.start()] != "{":
                raise ProtocolError(f"expected a JSON object from the REPL, got {text[m.start():m.start() + 80]!r}")
            self._opened = True
        return []

    def settle(self) -> list[Answer]:
        """Decode what a deferred closing brace ended (the text has stopped coming)."""
        self.deferred = False
        return self._drain(force=True)

    def pending(self) -> str:
        return self._buf + "".join(self._parts)

    def _drain(self, force: bool) -> list[Answer]:
        parts = self._parts
        if len(parts) == 1 and not self._buf:
            self._buf = parts[0]  # the common case, an answer in one read: no copy
        elif parts:
            self._buf += "".join(parts)
        parts.clear()
        out: list[Answer] = []
        while (answer := self._next(force)) is not None:
            out.append(answer)
        self._opened = bool(self._buf) and _NON_SPACE.search(self._buf) is not None
        return out

    def _next(self, force: bool) -> Answer | None:
        buf = self._buf
        m = _NON_SPACE.search(buf)
        if m is None:
            return None
        start = m.start()
        if buf[start] != "{":
            raise ProtocolError(f"expected a JSON object from the REPL, got {buf[start:start + 80]!r}")
        blank = buf.find("\n\n", max(start, self._scan))
        end = len(buf)
        while buf[end - 1] in " \t\r\n":  # a non-space exists: the loop stops there
            end -= 1
        if blank < 0 and buf[end - 1] != "}":
            self._scan = max(start, len(buf) - 1)
            return None
        if blank < 0 and not force and len(buf) - start > DEFER_FROM and len(buf) < 2 * self._cut:
            self._scan, self.deferred = max(start, len(buf) - 1), True
            return None
        try:
            value, stop = _DECODER.raw_decode(buf, start)
        except json.JSONDecodeError as e:
            if blank < 0:  # cut at a brace inside the answer: the rest is on its way
                self._scan, self._cut = max(start, len(buf) - 1), len(buf)
                return None
            raise ProtocolError(f"the REPL printed invalid JSON: {e}") from e
        if not isinstance(value, dict):
            raise ProtocolError(f"expected a JSON object from the REPL, got {buf[start:start + 80]!r}")
        self._buf, self._scan, self._cut, self.deferred = buf[stop:], 0, 0, False
        return value
