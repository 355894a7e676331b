"""Verdict caches keyed by sha256(toolchain, header, code): a repeated proof costs one lookup; and the cache
of statement heads across runs."""

from __future__ import annotations

import functools
import json
import logging
import threading
from pathlib import Path
from typing import Protocol

from flywheel.hashing import sha256_text

from flywheel.lean.guard.verdicts import Verdict
from flywheel.records import VerdictStatus

log = logging.getLogger(__name__)

# Transient outcomes are never cached: the same code may well check next time.
UNCACHED = (VerdictStatus.TIMEOUT, VerdictStatus.CRASHED)


def cacheable(verdict: Verdict) -> bool:
    """A verdict later checks may reuse: neither transient nor one of our limits' (a larger lean.max_answer_mb
    next run reads the answer whole)."""
    return verdict.status not in UNCACHED and not verdict.limited


class VerdictCache(Protocol):
    def get(self, key: str) -> Verdict | None: ...

    def put(self, key: str, toolchain: str, verdict: Verdict) -> None: ...

    def close(self) -> None: ...  # write anything pending


class MemoryCache:
    def __init__(self) -> None:
        self._data: dict[str, Verdict] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Verdict | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, toolchain: str, verdict: Verdict) -> None:
        if cacheable(verdict):
            with self._lock:
                self._data[key] = verdict

    def close(self) -> None:
        pass


HEADS_MAX_BYTES = 64 * 2**20  # a heads file past this starts over (statements come and go across rounds)


@functools.cache
def code_fingerprint() -> str:
    """sha256 of the source of flywheel's own modules (the package and its Lean layer): a head cached by other
    code is never reused, whatever changed in the guard, the surgery or the rendering."""
    root = Path(__file__).resolve().parent.parent
    files = sorted(root.glob("*.py")) + sorted(root.glob("lean/*.py"))
    return sha256_text(*(f"{p.relative_to(root)}\n{p.read_text(encoding='utf-8')}" for p in files))


class HeadCache:
    """Statement heads (flywheel.lean.guard.verifier.build_head: everything of the code before the proof) kept across
    runs: a statement's head costs its scans and rendering once, not once per run. One JSON-lines file per
    version of the code (code_fingerprint), read on first use; what a run adds is appended when it closes.
    A line that does not read (a run killed mid-write) is skipped. The folder is the user's own, as the
    store is: what it holds is trusted as the store's verdicts are."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder).expanduser() / f"heads-{code_fingerprint()[:16]}.jsonl"
        self._data: dict[str, object] | None = None
        self._new: dict[str, object] = {}
        self._lock = threading.Lock()

    def _load(self) -> dict[str, object]:
        data: dict[str, object] = {}
        try:
            if self.path.stat().st_size > HEADS_MAX_BYTES:
                self.path.unlink()
                return data
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:  # none yet
            return data
        for line in text.splitlines():
            try:
                key, value = json.loads(line)
            except (ValueError, TypeError):
                continue
            data[key] = value
        return data

    def get(self, key: str) -> object | None:
        with self._lock:
            if self._data is None:
                self._data = self._load()
            return self._data.get(key)

    def put(self, key: str, value: object) -> None:
        """value: JSON (a list or a dict), as get() will give it back."""
        with self._lock:
            if self._data is None:
                self._data = self._load()
            self._data[key] = value
            self._new[key] = value

    def close(self) -> None:
        with self._lock:
            new, self._new = self._new, {}
        if not new:
            return
        text = "".join(json.dumps([k, v], ensure_ascii=False) + "\n" for k, v in new.items())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:  # one append: runs side by side add whole lines
                f.write(text)
        except OSError as e:
            log.warning("cannot keep statement heads in %s: %s", self.path, e)
