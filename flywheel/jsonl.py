"""Reading JSON Lines (or one JSON array) at the boundary: every bad record is named FILE:LINE, and the
good ones still come through."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from flywheel.errors import InputError


@dataclass(slots=True, frozen=True)
class BadRecord:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


Record = tuple[int, dict[str, Any]]


def read_records(path: str | Path) -> Iterator[Record | BadRecord]:
    """Yield (line, object) for each record and BadRecord for each that is not a JSON object."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror}") from e
    if not data.strip():
        yield BadRecord(str(p), 1, "empty file: no records")
        return
    if data.lstrip()[:1] == b"[":
        yield from _read_array(str(p), data)
    else:
        yield from _read_lines(str(p), data)


def _check_object(path: str, line: int, value: Any) -> Record | BadRecord:
    if not isinstance(value, dict):
        return BadRecord(path, line, f"expected a JSON object, got {type(value).__name__}")
    return line, value


def _read_lines(path: str, data: bytes) -> Iterator[Record | BadRecord]:
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield BadRecord(path, number, f"not UTF-8 (byte {e.start + 1} of the line)")
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            yield BadRecord(path, number, f"bad JSON at column {e.colno}: {e.msg}")
            continue
        yield _check_object(path, number, value)


def _read_array(path: str, data: bytes) -> Iterator[Record | BadRecord]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        yield BadRecord(path, data.count(b"\n", 0, e.start) + 1, "not UTF-8")
        return
    decoder = json.JSONDecoder()
    i = text.index("[") + 1
    n = len(text)

    def skip_ws(j: int) -> int:
        while j < n and text[j] in " \t\r\n":
            j += 1
        return j

    i = skip_ws(i)
    if i < n and text[i] == "]":
        return
    while i < n:
        line = text.count("\n", 0, i) + 1
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as e:
            yield BadRecord(path, e.lineno, f"bad JSON at column {e.colno}: {e.msg}; the rest of the array is unread")
            return
        yield _check_object(path, line, value)
        i = skip_ws(end)
        if i < n and text[i] == ",":
            i = skip_ws(i + 1)
        elif i < n and text[i] == "]":
            return
        else:
            where = text.count("\n", 0, i) + 1
            yield BadRecord(path, where, "expected ',' or ']' in the JSON array; the rest is unread")
            return
    yield BadRecord(path, text.count("\n") + 1, "the JSON array is not closed")
