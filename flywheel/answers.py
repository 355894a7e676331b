"""Lean code out of a model's answer: its thinking set aside, its code blocks found, the final one chosen.

Reasoning provers (Kimina-Prover, DeepSeek-Prover-V2, Goedel-Prover-V2) think first, in `<think>…</think>`
or in prose, then give the code in a last fenced block, often after drafts. Completion prompts open a
block themselves, and the model continues it (its end is the stop string, or a closing fence).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Callable

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
LEAN = ("", "lean", "lean4")
# A fence with a language on its own line opens a block; any other fence closes the open one (or opens one).
_FENCE = re.compile(r"```(?:([A-Za-z][\w+-]*)[ \t]*(?=\n|\Z))?")


class NoCode(str, enum.Enum):
    THINKING = "the answer ends inside <think>: the model gave no final answer"
    NO_BLOCK = "no complete Lean code block in the answer"


@dataclass(slots=True, frozen=True)
class Block:
    code: str  # as the model wrote it, indentation included
    lang: str
    complete: bool  # closed by a fence; the continued block also when the answer ends (the stop string)
    continued: bool  # the block the prompt opened


def after_thinking(text: str) -> str | None:
    """The answer after the model's reasoning: the text after the last `</think>` (a chat template may
    have put the `<think>` in the prompt), all of it without one; None when a `<think>` never closes."""
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        return text[close + len(THINK_CLOSE):]
    return None if THINK_OPEN in text else text


def code_blocks(text: str, opened: bool) -> list[Block]:
    """The fenced blocks of text in order; with opened, text starts inside the block the prompt opened."""
    blocks: list[Block] = []
    lang, start = ("lean4", 0) if opened else (None, 0)
    for fence in _FENCE.finditer(text):
        if lang is not None:
            # a fence with a language inside a block restarts: the block before it was abandoned
            closed = fence.group(1) is None
            blocks.append(Block(text[start:fence.start()], lang, closed, opened and not blocks))
            lang = None
            if closed:
                continue
        lang = (fence.group(1) or "").lower()
        start = fence.end() + (text.startswith("\n", fence.end()))
    if lang is not None:
        continued = opened and not blocks
        blocks.append(Block(text[start:], lang, continued, continued))
    return blocks


def final_block(text: str, opened: bool, wanted: Callable[[Block], bool]) -> Block | NoCode:
    """The last complete Lean block after the thinking that `wanted` accepts; text after a closing fence
    is never code. An answer that thought aloud starts outside any block, whatever the prompt opened."""
    answer = after_thinking(text)
    if answer is None:
        return NoCode.THINKING
    blocks = code_blocks(answer, opened and answer is text)
    return next((b for b in reversed(blocks) if b.complete and b.lang in LEAN and wanted(b)), NoCode.NO_BLOCK)
