"""Output paths checked before the work that fills them, so a mistyped --out costs nothing."""

from __future__ import annotations

import os
from pathlib import Path

from flywheel.errors import ConfigError


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_out_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """A file we will write: not a folder, in a folder that exists and that we may write in."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{flag} {p}: is a folder; name the file to write")
    parent = p.parent
    if not parent.is_dir():
        raise ConfigError(f"{flag} {p}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ConfigError(f"{flag} {p}: not writable")
    return p


def check_out_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """A folder we will write in (made if missing): not a file, under something we may write in."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{flag} {p}: is a file, not a folder; name a folder (it is made if missing)")
    base = _nearest_existing(p)
    if not base.is_dir():
        raise ConfigError(f"{flag} {p}: {base} is a file, so the folder cannot be made")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {p}: {base} is not writable")
    return p
