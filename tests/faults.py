"""Faults a long run meets, made on purpose for the fault tests: a disk that fills up under a CLI subprocess."""

from __future__ import annotations

import resource
import signal


def disk_full_after(max_bytes: int):
    """A preexec_fn: no file the process writes grows past max_bytes, as on a full disk. SIGXFSZ is ignored so
    the write fails with EFBIG (an OSError), as ENOSPC does, instead of killing the process."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit
