"""Which toolchain a REPL command runs, asked of the REPL itself: what a cached verdict is valid for.

The config names the versions `flywheel lean setup` installs, but `lean.repl` may start any REPL, so the
id comes from what runs: Lean's own `Lean.versionString` (asked of a fresh process of the command), the
revisions pinned by the Lake manifest of the project it runs in (Mathlib, the REPL), and, where the REPL
answers no version, sha256 of the files its command names."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from flywheel.config import LeanConfig
from flywheel.lean.toolchain.paths import repl_command, repl_cwd

VERSION_QUERY = "#eval Lean.versionString"
PROBE_TIMEOUT_S = 120.0  # a bare Lean start (no imports) under `lake env`: seconds, never minutes
# A version as Lean prints it: 4.26.0, 4.9.0-rc1, 4.0.0-nightly-2021-07-15 (never spaces or quotes).
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+-]*")
_MANIFEST = "lake-manifest.json"
_lock = threading.Lock()


def toolchain_id(cfg: LeanConfig) -> str:
    """`lean=4.26.0;mathlib=<rev>;repl=<rev>` of the REPL that cfg starts; asked once per process of flywheel."""
    argv, cwd = repl_command(cfg), repl_cwd(cfg)
    with _lock:  # the checking threads all need it at once; one of them asks
        return identify(tuple(argv), cwd, cfg.memory_limit_mb)


@lru_cache(maxsize=None)
def identify(argv: tuple[str, ...], cwd: str | None, memory_limit_mb: int = 0) -> str:
    version = lean_version(argv, cwd, memory_limit_mb)
    revs = manifest_revs(find_manifest(argv, cwd))
    parts = [f"lean={version or 'unknown'}", f"mathlib={revs.get('mathlib', 'none')}"]
    if "REPL" in revs:
        parts.append(f"repl={revs['REPL']}")
    if version is None:  # nothing better answers: the bytes of what the command runs
        parts.append(f"sha256={command_sha256(argv, cwd)}")
    return ";".join(parts)


def lean_version(argv: Sequence[str], cwd: str | None, memory_limit_mb: int = 0) -> str | None:
    """What `#eval Lean.versionString` prints in a fresh process of the command, or None when it answers
    something else (an error, garbage, nothing in time). A REPL that cannot start at all raises LeanError."""
    from flywheel.lean.repl.client import LeanRepl, ReplFailure

    try:
        with LeanRepl(list(argv), "", timeout_s=PROBE_TIMEOUT_S, memory_limit_mb=memory_limit_mb, cwd=cwd) as repl:
            answer = repl.run(VERSION_QUERY)
    except ReplFailure:
        return None
    infos = [m.get("data") for m in answer.get("messages") or [] if m.get("severity") == "info"]
    if len(infos) != 1 or not isinstance(infos[0], str):
        return None
    text = infos[0].strip()
    if text.startswith('"'):  # #eval of a String prints its Repr
        try:
            text = json.loads(text)
        except json.JSONDecodeError:
            return None
    return text if isinstance(text, str) and _VERSION.fullmatch(text) else None


def _named_files(argv: Sequence[str], cwd: str | None) -> list[Path]:
    """The files a command names: its program (found on PATH) and every argument that is a file."""
    base = Path(cwd or os.getcwd())
    out = []
    for i, arg in enumerate(argv):
        found = shutil.which(arg) if i == 0 and os.sep not in arg else None
        path = Path(found) if found else base / arg
        if path.is_file():
            out.append(path.resolve())
    return out


def find_manifest(argv: Sequence[str], cwd: str | None) -> Path | None:
    """The Lake manifest of the project the REPL runs in: that of its working directory (where `lake env`
    reads it), else that of a file the command names by path (a REPL built in its own checkout)."""
    base = Path(cwd or os.getcwd()).resolve()
    starts = [base] + [(base / a).resolve().parent for a in reversed(argv) if os.sep in a and (base / a).is_file()]
    for start in starts:
        for folder in (start, *start.parents):
            if (folder / _MANIFEST).is_file():
                return folder / _MANIFEST
    return None


def manifest_revs(path: Path | None) -> dict[str, str]:
    """Package name → the git revision the manifest pins (an unreadable manifest pins nothing)."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    packages = data.get("packages") if isinstance(data, dict) else None
    return {p["name"]: p["rev"] for p in packages or []
            if isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("rev"), str)}


def command_sha256(argv: Sequence[str], cwd: str | None) -> str:
    digest = hashlib.sha256()
    for path in _named_files(argv, cwd):
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
