"""The real Lean 4 (July 2021, core library only) and its REPL, unpacked once into a cache folder for the
real-Lean tier of the suite. A test instrument: the product never knows which Lean it talks to."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

RUNTIME = Path(__file__).resolve().parent / "data" / "lean" / "lean2021-runtime"
ARCHIVE = RUNTIME / "lean2021.tar.xz"


@dataclass(frozen=True, slots=True)
class RealLean:
    root: Path  # the unpacked lean2021/ folder
    repl: Path
    lean: Path
    lean_path: Path  # the core .olean files: LEAN_PATH for both executables

    def env(self) -> dict[str, str]:
        return dict(os.environ, LEAN_PATH=str(self.lean_path))


def expected_sha256() -> str:
    for line in (RUNTIME / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.partition("  ")
        if name.strip() == ARCHIVE.name:
            return digest.strip()
    raise RuntimeError(f"{RUNTIME / 'SHA256SUMS'}: no checksum for {ARCHIVE.name}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_root() -> Path:
    base = os.environ.get("FLYWHEEL_TEST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flywheel-tests")
    return Path(base)


def unpack() -> RealLean:
    """Unpack the archive (checksum checked) into the cache, once; concurrent callers wait on a lock."""
    if not ARCHIVE.is_file():
        raise FileNotFoundError(f"{ARCHIVE} is missing: the real-Lean tier needs it")
    want = expected_sha256()
    dest = cache_root() / f"lean2021-{want[:16]}"
    done = dest / ".unpacked"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.is_file():
            got = _sha256(ARCHIVE)
            if got != want:
                raise RuntimeError(f"{ARCHIVE}: sha256 {got}, SHA256SUMS says {want}")
            tmp = dest.with_name(dest.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            with tarfile.open(ARCHIVE, "r:xz") as tar:
                tar.extractall(tmp, filter="tar")
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)
            done.write_text(want + "\n")
    root = dest / "lean2021"
    return RealLean(root=root, repl=root / "bin" / "repl", lean=root / "bin" / "lean", lean_path=root / "lib" / "lean")
