"""Which code made something: the package version, and the git commit of the checkout it runs from."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flywheel import __version__


def code_version() -> dict:
    """{"package", "git_commit", "git_dirty"}; the git fields are None outside a git checkout (an installed wheel)."""
    root = Path(__file__).resolve().parent.parent
    out: dict = {"package": __version__, "git_commit": None, "git_dirty": None}
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return out
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):  # no git on this machine
        return out
    out["git_commit"] = commit.stdout.strip()
    out["git_dirty"] = bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
    return out
