"""Verdict caches keyed by sha256(toolchain, header, code): a repeated proof costs one lookup."""

from __future__ import annotations

import threading
from typing import Protocol

from flywheel.lean.verdicts import Verdict
from flywheel.records import VerdictStatus

# Transient outcomes are never cached: the same code may well check next time.
UNCACHED = (VerdictStatus.TIMEOUT, VerdictStatus.CRASHED)


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
        if verdict.status not in UNCACHED:
            with self._lock:
                self._data[key] = verdict

    def close(self) -> None:
        pass
